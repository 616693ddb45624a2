//! Content sniffing as the npm package `file-type@22.1.0` does it (`fileTypeFromBuffer`),
//! which upstream's `file.fetch` runs on the first MiB of every fetched file (through
//! `detectMime`; the `file.fetch` row of `../shared/spec/node-commands.md` A3–A8).
//!
//! The package walks its detectors in a fixed order over a tokenizer on the buffer: a
//! "confident" pass (magic numbers, a few container walks) and, only when that pass returned
//! nothing without moving the read position, an "imprecise" one (MPEG frames, ICO, TTF). The
//! order matters, since some signatures overlap (`MZ`, `BM`, `%!` catch plain text that starts
//! with those letters), and so do the tokenizer's rules, which this module keeps as they are:
//!
//! - every pass peeks into a fresh 4100-byte zeroed window, so a check past the end of a short
//!   buffer compares against zeros (`WEBVTT` followed by "nothing" matches its `\0` case);
//! - a read past the end (an `OggS` or PNG signature with too little behind it) ends the whole
//!   detection with no type, and so does a skip the parser refuses (a length beyond the
//!   buffer), while skipping past the end just stops at the end;
//! - once a detector has moved the position (the BOM strip, an ID3 skip, a TIFF walk) and
//!   found nothing, the imprecise pass does not run.
//!
//! The container walks are ported with their limits: ZIP (OOXML, ODF, EPUB, JAR, APK, XPI,
//! iWork; `[Content_Types].xml` and `mimetype` inflated, at most 1 MiB), PNG/APNG chunks,
//! EBML (WebM/Matroska), ASF, TIFF IFDs (CR2, NEF, ARW, DNG), ID3-prefixed audio.
//!
//! Not ported: the nested probe inside gzip (file-type inflates a gzip stream to tell
//! `tar.gz` from `gz`; both have the MIME `application/gzip`, so ours answers that without
//! inflating), and file-type's stream-only paths (unknown-size inputs never occur here). Every
//! other detector of the package is here, so ours answers as file-type does for every format
//! it knows.

/// Why a detection stopped early, as file-type's tokenizer and parser signal it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stop {
    /// `EndOfStreamError`: a read needed more bytes than the buffer has. Detection yields nothing.
    EndOfStream,
    /// `ParserHardLimitError`: a length field beyond what the parser admits. Detection yields nothing.
    HardLimit,
    /// Any other error: `fileTypeFromBuffer` throws (upstream then falls back to the extension).
    Thrown,
}

type R<T> = Result<T, Stop>;

/// The size of file-type's peek window (`reasonableDetectionSizeInBytes`).
const WINDOW: usize = 4100;
/// How often the BOM strip and the ID3 skip may re-enter detection.
const MAX_REENTRY: u32 = 256;
/// `maximumZipEntrySizeInBytes`.
const ZIP_ENTRY_MAX: u64 = 1024 * 1024;
/// The ZIP data-descriptor signature.
const ZIP_DD_SIGNATURE: u32 = 0x0807_4B50;

/// The MIME type file-type gives `data` (not yet normalised), `Ok(None)` when it knows none,
/// or `Err(Stop::Thrown)` where the package throws.
pub(super) fn detect(data: &[u8]) -> Result<Option<&'static str>, Stop> {
    if data.len() <= 1 {
        return Ok(None);
    }
    let mut parser = Parser { data, pos: 0, buf: vec![0; WINDOW], reentry: 0 };
    match parser.parse(0) {
        Err(Stop::Thrown) => Err(Stop::Thrown),
        Err(_) => Ok(None),
        Ok(found) => Ok(found),
    }
}

/// The tokenizer over the buffer plus file-type's parser state.
struct Parser<'a> {
    data: &'a [u8],
    /// The tokenizer position.
    pos: usize,
    /// The detector's window (`this.buffer`).
    buf: Vec<u8>,
    /// `detectionReentryCount`.
    reentry: u32,
}

fn u16_le(b: &[u8], at: usize) -> u32 {
    u32::from(b[at]) | u32::from(b[at + 1]) << 8
}
fn u16_be(b: &[u8], at: usize) -> u32 {
    u32::from(b[at]) << 8 | u32::from(b[at + 1])
}
fn u32_le(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn u32_be(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// `checkBytes`: `header` at `offset` of `buffer` (past the end never matches).
fn bytes_at(buffer: &[u8], header: &[u8], offset: usize) -> bool {
    buffer.get(offset..offset + header.len()) == Some(header)
}

/// JavaScript's `String.prototype.trim` on a string of Latin-1 or decoded UTF-8 characters.
pub(super) fn js_trim(s: &str) -> &str {
    s.trim_matches(|c: char| {
        matches!(
            c,
            '\t' | '\n' | '\u{0B}' | '\u{0C}' | '\r' | ' ' | '\u{A0}' | '\u{1680}' | '\u{2000}'
                ..='\u{200A}' | '\u{2028}' | '\u{2029}' | '\u{202F}' | '\u{205F}' | '\u{3000}' | '\u{FEFF}'
        )
    })
}

fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// `new TextDecoder("utf-8").decode(bytes)`: lossy, and a leading BOM is dropped.
fn utf8_decode(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF][..]).unwrap_or(bytes);
    String::from_utf8_lossy(bytes).into_owned()
}

/// Removes the first `\0` whose remainder holds no line terminator, and everything after it
/// (`.replace(/\0.*$/v, "")`).
fn strip_nul_tail(s: &str) -> &str {
    for (i, c) in s.char_indices() {
        if c == '\0' && !s[i..].contains(['\n', '\r', '\u{2028}', '\u{2029}']) {
            return &s[..i];
        }
    }
    s
}

/// UTF-16 bytes of an ASCII string (`stringToBytes(s, "utf-16le"|"utf-16be")`).
fn utf16(s: &str, big_endian: bool) -> Vec<u8> {
    s.bytes().flat_map(|b| if big_endian { [0, b] } else { [b, 0] }).collect()
}

impl Parser<'_> {
    fn size(&self) -> usize {
        self.data.len()
    }

    /// `peekBuffer(this.buffer, {length, mayBeLess: true})` at the current position: copies
    /// what there is over the start of the window, leaving the rest as it was.
    fn peek(&mut self, length: usize) {
        let start = self.pos.min(self.data.len());
        let n = length.min(self.data.len() - start);
        self.buf[..n].copy_from_slice(&self.data[start..start + n]);
    }

    /// `readBuffer`/`readToken` of `n` bytes: all of them or `EndOfStream`.
    fn read(&mut self, n: usize) -> R<&[u8]> {
        let start = self.pos;
        if n > self.data.len().saturating_sub(start) {
            return Err(Stop::EndOfStream);
        }
        self.pos += n;
        Ok(&self.data[start..start + n])
    }

    /// `peekToken` of `n` bytes.
    fn peek_exact(&self, n: usize) -> R<&[u8]> {
        self.data.get(self.pos..self.pos + n).ok_or(Stop::EndOfStream)
    }

    /// `ignore(n)`: skips, stopping at the end.
    fn ignore(&mut self, n: u64) {
        let left = self.data.len().saturating_sub(self.pos) as u64;
        self.pos += n.min(left) as usize;
    }

    /// `safeIgnore(n, {maximumLength})`: a length above the maximum is a hard limit.
    fn safe_ignore(&mut self, n: f64, maximum: u64) -> R<()> {
        if !n.is_finite() || n < 0.0 || n > maximum as f64 {
            return Err(Stop::HardLimit);
        }
        self.ignore(n as u64);
        Ok(())
    }

    fn check(&self, header: &[u8]) -> bool {
        bytes_at(&self.buf, header, 0)
    }

    fn check_at(&self, header: &[u8], offset: usize) -> bool {
        bytes_at(&self.buf, header, offset)
    }

    /// `check(header, {offset, mask})`.
    fn check_masked(&self, header: &[u8], offset: usize, mask: &[u8]) -> bool {
        header.iter().zip(mask).enumerate().all(|(i, (h, m))| self.buf.get(offset + i).is_some_and(|b| *h == m & b))
    }

    fn check_str(&self, s: &str) -> bool {
        self.check_at(s.as_bytes(), 0)
    }

    fn check_str_at(&self, s: &str, offset: usize) -> bool {
        self.check_at(s.as_bytes(), offset)
    }

    /// `parseTokenizer`: the confident pass, then the imprecise one unless the first moved.
    fn parse(&mut self, reentry: u32) -> R<Option<&'static str>> {
        self.reentry = reentry;
        let initial = self.pos;
        match self.confident() {
            Ok(Some(t)) => return Ok(Some(t)),
            Ok(None) if self.pos != initial => return Ok(None),
            Ok(None) => {}
            Err(Stop::Thrown) => return Err(Stop::Thrown),
            Err(_) => return Ok(None),
        }
        match self.imprecise() {
            Ok(found) => Ok(found),
            Err(Stop::Thrown) => Err(Stop::Thrown),
            Err(_) => Ok(None),
        }
    }

    /// `detectConfident`.
    fn confident(&mut self) -> R<Option<&'static str>> {
        self.buf = vec![0; WINDOW];
        self.peek(32);
        let found = |m: &'static str| Ok(Some(m));

        // -- 2-byte signatures --
        if self.check(&[0x42, 0x4D]) {
            return found("image/bmp");
        }
        if self.check(&[0x0B, 0x77]) {
            return found("audio/vnd.dolby.dd-raw");
        }
        if self.check(&[0x78, 0x01]) {
            return found("application/x-apple-diskimage");
        }
        if self.check(&[0x4D, 0x5A]) {
            return found("application/x-msdownload");
        }
        if self.check(&[0x25, 0x21]) {
            self.peek(24);
            if self.check_str_at("PS-Adobe-", 2) && self.check_str_at(" EPSF-", 14) {
                return found("application/eps");
            }
            return found("application/postscript");
        }
        if self.check(&[0x1F, 0xA0]) || self.check(&[0x1F, 0x9D]) {
            return found("application/x-compress");
        }
        if self.check(&[0xC7, 0x71]) {
            return found("application/x-cpio");
        }
        if self.check(&[0x60, 0xEA]) {
            return found("application/x-arj");
        }

        // -- 3-byte signatures --
        if self.check(&[0xEF, 0xBB, 0xBF]) {
            if self.reentry >= MAX_REENTRY {
                return Ok(None);
            }
            self.reentry += 1;
            self.ignore(3);
            return self.confident();
        }
        if self.check(&[0x47, 0x49, 0x46]) {
            return found("image/gif");
        }
        if self.check(&[0x49, 0x49, 0xBC]) {
            return found("image/vnd.ms-photo");
        }
        if self.check(&[0x1F, 0x8B, 0x08]) {
            // file-type inflates to tell tar.gz from gz; both are application/gzip.
            return found("application/gzip");
        }
        if self.check(&[0x42, 0x5A, 0x68]) {
            return found("application/x-bzip2");
        }
        if self.check_str("ID3") {
            return self.id3();
        }
        if self.check_str("MP+") {
            return found("audio/x-musepack");
        }
        if (self.buf[0] == 0x43 || self.buf[0] == 0x46) && self.check_at(&[0x57, 0x53], 1) {
            return found("application/x-shockwave-flash");
        }

        // -- 4-byte signatures --
        if self.check(&[0xFF, 0xD8, 0xFF]) {
            if self.check_at(&[0xF7], 3) {
                return found("image/jls");
            }
            return found("image/jpeg");
        }
        if self.check(&[0x4F, 0x62, 0x6A, 0x01]) {
            return found("application/avro");
        }
        for (magic, mime) in [
            ("FLIF", "image/flif"),
            ("8BPS", "image/vnd.adobe.photoshop"),
            ("MPCK", "audio/x-musepack"),
            ("FORM", "audio/aiff"),
            ("icns", "image/icns"),
        ] {
            if self.check_str(magic) {
                return found(mime);
            }
        }
        if self.check(&[0x50, 0x4B, 0x03, 0x04]) {
            return self.zip().map(Some);
        }
        if self.check_str("OggS") {
            return self.ogg().map(Some);
        }
        if self.check(&[0x50, 0x4B])
            && matches!(self.buf[2], 0x03 | 0x05 | 0x07)
            && matches!(self.buf[3], 0x04 | 0x06 | 0x08)
        {
            return found("application/zip");
        }
        if self.check_str("MThd") {
            return found("audio/midi");
        }
        let font_flavour = self.check_at(&[0x00, 0x01, 0x00, 0x00], 4) || self.check_str_at("OTTO", 4);
        if self.check_str("wOFF") && font_flavour {
            return found("font/woff");
        }
        if self.check_str("wOF2") && font_flavour {
            return found("font/woff2");
        }
        if self.check(&[0xD4, 0xC3, 0xB2, 0xA1]) || self.check(&[0xA1, 0xB2, 0xC3, 0xD4]) {
            return found("application/vnd.tcpdump.pcap");
        }
        for (magic, mime) in [("DSD ", "audio/x-dsf"), ("LZIP", "application/lzip"), ("fLaC", "audio/flac")] {
            if self.check_str(magic) {
                return found(mime);
            }
        }
        if self.check(&[0x42, 0x50, 0x47, 0xFB]) {
            return found("image/bpg");
        }
        if self.check_str("wvpk") {
            return found("audio/wavpack");
        }
        if self.check_str("%PDF") {
            return found("application/pdf");
        }
        if self.check(&[0x00, 0x61, 0x73, 0x6D]) {
            return found("application/wasm");
        }
        if self.check(&[0x49, 0x49]) {
            if let Some(t) = self.tiff(false)? {
                return found(t);
            }
        }
        if self.check(&[0x4D, 0x4D]) {
            if let Some(t) = self.tiff(true)? {
                return found(t);
            }
        }
        if self.check_str("MAC ") {
            return found("audio/ape");
        }
        if self.check(&[0x1A, 0x45, 0xDF, 0xA3]) {
            return self.ebml();
        }
        if self.check_str("SQLi") {
            return found("application/x-sqlite3");
        }
        if self.check(&[0x4E, 0x45, 0x53, 0x1A]) {
            return found("application/x-nintendo-nes-rom");
        }
        if self.check_str("Cr24") {
            return found("application/x-google-chrome-extension");
        }
        if self.check_str("MSCF") || self.check_str("ISc(") {
            return found("application/vnd.ms-cab-compressed");
        }
        for (magic, mime) in [
            (&[0xED, 0xAB, 0xEE, 0xDB], "application/x-rpm"),
            (&[0xC5, 0xD0, 0xD3, 0xC6], "application/eps"),
            (&[0x28, 0xB5, 0x2F, 0xFD], "application/zstd"),
            (&[0x7F, 0x45, 0x4C, 0x46], "application/x-elf"),
            (&[0x21, 0x42, 0x44, 0x4E], "application/vnd.ms-outlook"),
        ] {
            if self.check(magic) {
                return found(mime);
            }
        }
        if self.check_str("PAR1") || self.check_str("PARE") {
            return found("application/vnd.apache.parquet");
        }
        if self.check_str("ttcf") {
            return found("font/collection");
        }
        if self.check(&[0xFE, 0xED, 0xFA, 0xCE])
            || self.check(&[0xFE, 0xED, 0xFA, 0xCF])
            || self.check(&[0xCE, 0xFA, 0xED, 0xFE])
            || self.check(&[0xCF, 0xFA, 0xED, 0xFE])
        {
            return found("application/x-mach-binary");
        }
        if self.check(&[0x04, 0x22, 0x4D, 0x18]) {
            return found("application/x-lz4");
        }
        if self.check_str("regf") {
            return found("application/x-ft-windows-registry-hive");
        }
        if self.check_str("$FL2") || self.check_str("$FL3") {
            return found("application/x-spss-sav");
        }

        // -- 5-byte signatures --
        if self.check(&[0x4F, 0x54, 0x54, 0x4F, 0x00]) {
            return found("font/otf");
        }
        if self.check_str("#!AMR") {
            return found("audio/amr");
        }
        if self.check_str("{\\rtf") {
            return found("application/rtf");
        }
        if self.check(&[0x46, 0x4C, 0x56, 0x01]) {
            return found("video/x-flv");
        }
        if self.check_str("IMPM") {
            return found("audio/x-it");
        }
        const LZH: [&str; 12] = [
            "-lh0-", "-lh1-", "-lh2-", "-lh3-", "-lh4-", "-lh5-", "-lh6-", "-lh7-", "-lzs-", "-lz4-", "-lz5-", "-lhd-",
        ];
        if LZH.iter().any(|m| self.check_str_at(m, 2)) {
            return found("application/x-lzh-compressed");
        }
        if self.check(&[0x00, 0x00, 0x01, 0xBA]) {
            if self.check_masked(&[0x21], 4, &[0xF1]) {
                return found("video/MP1S");
            }
            if self.check_masked(&[0x44], 4, &[0xC4]) {
                return found("video/MP2P");
            }
        }
        if self.check_str("ITSF") {
            return found("application/vnd.ms-htmlhelp");
        }
        if self.check(&[0xCA, 0xFE, 0xBA, 0xBE]) {
            let architectures = u32_be(&self.buf, 4);
            let java_major = u16_be(&self.buf, 6);
            if architectures > 0 && architectures <= 30 {
                return found("application/x-mach-binary");
            }
            if java_major > 30 {
                return found("application/java-vm");
            }
        }
        if self.check_str(".RMF") {
            return found("application/vnd.rn-realmedia");
        }
        if self.check_str("DRACO") {
            return found("application/x-ft-draco");
        }

        // -- 6-byte signatures --
        if self.check(&[0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]) {
            return found("application/x-xz");
        }
        if self.check_str("<?xml ") {
            return found("application/xml");
        }
        if self.check(&[0x37, 0x7A, 0xBC, 0xAF, 0x27, 0x1C]) {
            return found("application/x-7z-compressed");
        }
        if self.check(&[0x52, 0x61, 0x72, 0x21, 0x1A, 0x07]) && matches!(self.buf[6], 0x00 | 0x01) {
            return found("application/x-rar-compressed");
        }
        if self.check_str("solid ") {
            return found("model/stl");
        }
        if self.check_str("AC") {
            let version = &self.buf[2..6];
            if version.iter().all(u8::is_ascii_digit) {
                let v: u32 = version.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0'));
                if (1000..=1050).contains(&v) {
                    return found("image/vnd.dwg");
                }
            }
        }
        if self.check_str("070707") {
            return found("application/x-cpio");
        }

        // -- 7-byte signatures --
        if self.check_str("BLENDER") {
            return found("application/x-blender");
        }
        if self.check_str("!<arch>") {
            self.ignore(8);
            // An ASCII string token: each byte with its high bit cleared.
            let name: Vec<u8> = self.read(13)?.iter().map(|b| b & 0x7F).collect();
            return found(if name == b"debian-binary" { "application/x-deb" } else { "application/x-unix-archive" });
        }
        if self.check_str("WEBVTT") && [b'\n', b'\r', b'\t', b' ', 0].iter().any(|c| self.buf[6] == *c) {
            return found("text/vtt");
        }

        // -- 8-byte signatures --
        if self.check(&[0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) {
            return self.png();
        }
        if self.check(&[0x41, 0x52, 0x52, 0x4F, 0x57, 0x31, 0x00, 0x00]) {
            return found("application/vnd.apache.arrow.file");
        }
        if self.check(&[0x67, 0x6C, 0x54, 0x46, 0x02, 0x00, 0x00, 0x00]) {
            return found("model/gltf-binary");
        }
        if ["free", "mdat", "moov", "wide"].iter().any(|m| self.check_str_at(m, 4)) {
            return found("video/quicktime");
        }

        // -- 9-byte signatures --
        if self.check(&[0x49, 0x49, 0x52, 0x4F, 0x08, 0x00, 0x00, 0x00, 0x18]) {
            return found("image/x-olympus-orf");
        }
        if self.check_str("gimp xcf ") {
            return found("image/x-xcf");
        }
        if self.check_str_at("ftyp", 4) && self.buf[8] & 0x60 != 0 {
            return found(self.ftyp_brand());
        }

        // -- 10-byte signatures --
        if self.check_str("REGEDIT4\r\n") {
            return found("application/x-ms-regedit");
        }

        // -- 12-byte signatures --
        if self.check_str("RIFF") {
            if self.check_str_at("WEBP", 8) {
                return found("image/webp");
            }
            if self.check_str_at("AVI", 8) {
                return found("video/vnd.avi");
            }
            if self.check_str_at("WAVE", 8) {
                return found("audio/wav");
            }
            if self.check_str_at("QLCM", 8) {
                return found("audio/qcelp");
            }
        }
        if self.check(&[0x49, 0x49, 0x55, 0x00, 0x18, 0x00, 0x00, 0x00, 0x88, 0xE7, 0x74, 0xD8]) {
            return found("image/x-panasonic-rw2");
        }
        if self.check(&[0x30, 0x26, 0xB2, 0x75, 0x8E, 0x66, 0xCF, 0x11, 0xA6, 0xD9]) {
            return self.asf();
        }
        if self.check(&[0xAB, 0x4B, 0x54, 0x58, 0x20, 0x31, 0x31, 0xBB, 0x0D, 0x0A, 0x1A, 0x0A]) {
            return found("image/ktx");
        }
        if (self.check(&[0x7E, 0x10, 0x04]) || self.check(&[0x7E, 0x18, 0x04]))
            && self.check_at(&[0x30, 0x4D, 0x49, 0x45], 4)
        {
            return found("application/x-mie");
        }
        if self.check_at(&[0x27, 0x0A, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 2) {
            return found("application/x-esri-shape");
        }
        if self.check(&[0xFF, 0x4F, 0xFF, 0x51]) {
            return found("image/j2c");
        }
        if self.check(&[0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20, 0x0D, 0x0A, 0x87, 0x0A]) {
            self.ignore(20);
            let kind: Vec<u8> = self.read(4)?.iter().map(|b| b & 0x7F).collect();
            return Ok(match &kind[..] {
                b"jp2 " => Some("image/jp2"),
                b"jpx " => Some("image/jpx"),
                b"jpm " => Some("image/jpm"),
                b"mjp2" => Some("image/mj2"),
                _ => None,
            });
        }
        if self.check(&[0xFF, 0x0A])
            || self.check(&[0x00, 0x00, 0x00, 0x0C, 0x4A, 0x58, 0x4C, 0x20, 0x0D, 0x0A, 0x87, 0x0A])
        {
            return found("image/jxl");
        }
        if self.check(&[0xFE, 0xFF]) {
            if self.check_at(&utf16("<?xml ", true), 2) {
                return found("application/xml");
            }
            return Ok(None);
        }
        if self.check(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
            return found("application/x-cfb");
        }

        self.peek(256.min(self.size()));
        if self.check_at(&[0x61, 0x63, 0x73, 0x70], 36) {
            return found("application/vnd.iccprofile");
        }
        if self.check_str_at("**ACE", 7) && self.check_str_at("**", 12) {
            return found("application/x-ace-compressed");
        }
        if self.check_str("BEGIN:") {
            if self.check_str_at("VCARD", 6) {
                return found("text/vcard");
            }
            if self.check_str_at("VCALENDAR", 6) {
                return found("text/calendar");
            }
        }
        for (magic, mime) in [
            ("FUJIFILMCCD-RAW", "image/x-fujifilm-raf"),
            ("Extended Module:", "audio/x-xm"),
            ("Creative Voice File", "audio/x-voc"),
        ] {
            if self.check_str(magic) {
                return found(mime);
            }
        }
        if self.check(&[0x04, 0x00, 0x00, 0x00]) && self.is_asar() {
            return found("application/x-asar");
        }
        if self.check(&[0x06, 0x0E, 0x2B, 0x34, 0x02, 0x05, 0x01, 0x01, 0x0D, 0x01, 0x02, 0x01, 0x01, 0x02]) {
            return found("application/mxf");
        }
        if self.check_str_at("SCRM", 44) {
            return found("audio/x-s3m");
        }
        if self.check(&[0x47]) && self.check_at(&[0x47], 188) {
            return found("video/mp2t");
        }
        if self.check_at(&[0x47], 4) && self.check_at(&[0x47], 196) {
            return found("video/mp2t");
        }
        if self.check_str_at("BOOKMOBI", 60) {
            return found("application/x-mobipocket-ebook");
        }
        if self.check_str_at("DICM", 128) {
            return found("application/dicom");
        }
        if self.check(&[
            0x4C, 0x00, 0x00, 0x00, 0x01, 0x14, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0xC0, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x46,
        ]) {
            return found("application/x-ms-shortcut");
        }
        if self.check(&[0x62, 0x6F, 0x6F, 0x6B, 0, 0, 0, 0, 0x6D, 0x61, 0x72, 0x6B, 0, 0, 0, 0]) {
            return found("application/x-ft-apple.alias");
        }
        if self.check_str("Kaydara FBX Binary  \0") {
            return found("application/x-ft-fbx");
        }
        if self.check_at(&[0x4C, 0x50], 34)
            && (self.check_at(&[0x00, 0x00, 0x01], 8)
                || self.check_at(&[0x01, 0x00, 0x02], 8)
                || self.check_at(&[0x02, 0x00, 0x02], 8))
        {
            return found("application/vnd.ms-fontobject");
        }
        if self.check(&[0x06, 0x06, 0xED, 0xF5, 0xD8, 0x1D, 0x46, 0xE5, 0xBD, 0x31, 0xEF, 0xE7, 0xFE, 0x74, 0xB7, 0x1D])
        {
            return found("application/x-indesign");
        }
        if self.check(&[0xFF, 0xFF, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00])
            || self.check(&[
                0x00, 0x00, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x04, 0x00, 0x01, 0x00, 0x01,
            ])
        {
            return found("application/x-jmp-data");
        }

        self.peek(512.min(self.size()));
        if (self.check_str_at("ustar", 257) && (self.check_at(&[0], 262) || self.check_str_at(" ", 262)))
            || (self.check_at(&[0; 6], 257) && tar_checksum_matches(&self.buf))
        {
            return found("application/x-tar");
        }
        if self.check(&[0xFF, 0xFE]) {
            if self.check_at(&utf16("<?xml ", false), 2) {
                return found("application/xml");
            }
            if self.check_at(&[0xFF, 0x0E], 2) && self.check_at(&utf16("SketchUp Model", false), 4) {
                return found("application/vnd.sketchup.skp");
            }
            if self.check_at(&utf16("Windows Registry Editor Version 5.00\r\n", false), 2) {
                return found("application/x-ms-regedit");
            }
            return Ok(None);
        }
        if self.check_str("-----BEGIN PGP MESSAGE-----") {
            return found("application/pgp-encrypted");
        }
        const ISO_OFFSET: usize = 32_769;
        if self.size() >= ISO_OFFSET + 5 && bytes_at(self.data, b"CD001", ISO_OFFSET) {
            return found("application/x-iso9660-image");
        }
        Ok(None)
    }

    /// `detectImprecise` (file-type's default MPEG offset tolerance is 0).
    fn imprecise(&mut self) -> R<Option<&'static str>> {
        self.buf = vec![0; WINDOW];
        self.peek(8.min(self.size()));
        if self.check(&[0x00, 0x00, 0x01, 0xBA]) || self.check(&[0x00, 0x00, 0x01, 0xB3]) {
            return Ok(Some("video/mpeg"));
        }
        if self.check(&[0x00, 0x01, 0x00, 0x00, 0x00]) {
            return Ok(Some("font/ttf"));
        }
        if self.check(&[0x00, 0x00, 0x01, 0x00]) || self.check(&[0x00, 0x00, 0x02, 0x00]) {
            return Ok(Some("image/x-icon"));
        }
        self.peek(4.min(self.size()));
        Ok(self.scan_mpeg())
    }

    /// `scanMpeg(0)`: an ADTS or MPEG audio frame header at the start.
    fn scan_mpeg(&self) -> Option<&'static str> {
        if !self.check_masked(&[0xFF, 0xE0], 0, &[0xFF, 0xE0]) {
            return None;
        }
        if self.check_masked(&[0x10], 1, &[0x16]) {
            return Some("audio/aac");
        }
        if self.check(&[0xFF, 0xFE])
            || self.check_masked(&[0x08], 1, &[0x18])
            || self.check_masked(&[0xF0], 2, &[0xF0])
            || self.check_masked(&[0x0C], 2, &[0x0C])
        {
            return None;
        }
        // Layer III, II or I.
        [0x02, 0x04, 0x06].iter().any(|l| self.check_masked(&[*l], 1, &[0x06])).then_some("audio/mpeg")
    }

    /// The ID3 tag: skip it and detect again behind it (an oversized tag still means MP3).
    fn id3(&mut self) -> R<Option<&'static str>> {
        self.ignore(6);
        let b = self.read(4)?;
        let len = (u32::from(b[3]) & 0x7F)
            | (u32::from(b[2]) & 0x7F) << 7
            | (u32::from(b[1]) & 0x7F) << 14
            | (u32::from(b[0]) & 0x7F) << 21;
        if self.pos + len as usize > self.size() {
            return Ok(Some("audio/mpeg"));
        }
        self.safe_ignore(f64::from(len), self.size() as u64)?;
        if self.reentry >= MAX_REENTRY {
            return Ok(None);
        }
        self.reentry += 1;
        self.parse(self.reentry)
    }

    /// The Ogg container: the first page's codec header names the type.
    fn ogg(&mut self) -> R<&'static str> {
        self.ignore(28);
        let kind = self.read(8)?;
        let is = |header: &[u8]| bytes_at(kind, header, 0);
        Ok(if is(b"OpusHead") {
            "audio/ogg; codecs=opus"
        } else if is(b"\x80theora") || is(b"\x01video\x00") {
            "video/ogg"
        } else if is(b"\x7FFLAC") || is(b"Speex  ") || is(b"\x01vorbis") {
            "audio/ogg"
        } else {
            "application/ogg"
        })
    }

    /// The ISO-BMFF `ftyp` major brand.
    fn ftyp_brand(&self) -> &'static str {
        let raw = latin1(&self.buf[8..12]).replacen('\0', " ", 1);
        match js_trim(&raw) {
            "avif" | "avis" => "image/avif",
            "mif1" => "image/heif",
            "msf1" => "image/heif-sequence",
            "heic" | "heix" => "image/heic",
            "hevc" | "hevx" => "image/heic-sequence",
            "qt" => "video/quicktime",
            "M4V" | "M4VH" | "M4VP" => "video/x-m4v",
            "M4P" | "F4V" | "F4P" => "video/mp4",
            "M4B" | "F4A" | "F4B" => "audio/mp4",
            "M4A" => "audio/x-m4a",
            "crx" => "image/x-canon-cr3",
            b if b.starts_with("3g2") => "video/3gpp2",
            b if b.starts_with("3g") => "video/3gpp",
            _ => "video/mp4",
        }
    }

    /// A TIFF header (`II*\0` / `MM\0*`): CR2 and NEF by their header, ARW and DNG by an IFD tag.
    fn tiff(&mut self, big_endian: bool) -> R<Option<&'static str>> {
        let u16_at = |b: &[u8], at| if big_endian { u16_be(b, at) } else { u16_le(b, at) };
        let version = u16_at(&self.buf, 2);
        let ifd_offset = if big_endian { u32_be(&self.buf, 4) } else { u32_le(&self.buf, 4) };
        if version == 43 {
            return Ok(Some("image/tiff"));
        }
        if version != 42 {
            return Ok(None);
        }
        if ifd_offset >= 6 {
            if self.check_str_at("CR", 8) {
                return Ok(Some("image/x-canon-cr2"));
            }
            if ifd_offset >= 8 {
                let (id1, id2) = (u16_at(&self.buf, 8), u16_at(&self.buf, 10));
                if (id1 == 0x1C && id2 == 0xFE) || (id1 == 0x1F && id2 == 0x0B) {
                    return Ok(Some("image/x-nikon-nef"));
                }
            }
        }
        self.safe_ignore(f64::from(ifd_offset), self.size() as u64)?;
        let tags = match self.read(2) {
            Ok(b) => u16_at(b, 0),
            Err(Stop::EndOfStream) => return Ok(None),
            Err(e) => return Err(e),
        };
        if tags <= 512 {
            for _ in 0..tags {
                let tag = match self.read(2) {
                    Ok(b) => u16_at(b, 0),
                    Err(Stop::EndOfStream) => return Ok(None),
                    Err(e) => return Err(e),
                };
                self.ignore(10);
                match tag {
                    50_341 => return Ok(Some("image/x-sony-arw")),
                    50_706 => return Ok(Some("image/x-adobe-dng")),
                    _ => {}
                }
            }
        }
        Ok(Some("image/tiff"))
    }

    /// An EBML field (ID or size): its length is given by the first byte's leading zeros.
    fn ebml_field(&mut self) -> R<Vec<u8>> {
        let msb = self.peek_exact(1)?[0];
        let mut mask = 0x80u8;
        let mut ic = 0;
        while msb & mask == 0 && mask != 0 {
            ic += 1;
            mask >>= 1;
        }
        Ok(self.read(ic + 1)?.to_vec())
    }

    /// An EBML element header: its ID (none past six bytes) and payload length.
    fn ebml_element(&mut self) -> R<(Option<u64>, u64)> {
        let id = self.ebml_field()?;
        let mut len = self.ebml_field()?;
        let n = len.len();
        len[0] ^= 0x80u8.checked_shr(n as u32 - 1).unwrap_or(0);
        let be = |b: &[u8]| b.iter().fold(0u64, |v, x| v << 8 | u64::from(*x));
        let id = (id.len() <= 6).then(|| be(&id));
        Ok((id, be(&len[n - n.min(6)..])))
    }

    /// EBML: the `DocType` of the header names WebM or Matroska.
    fn ebml(&mut self) -> R<Option<&'static str>> {
        let (_, mut children) = self.ebml_element()?;
        let mut count = 0;
        let doc_type = loop {
            if children == 0 {
                break None;
            }
            count += 1;
            if count > 256 {
                break None;
            }
            let previous = self.pos;
            let (id, len) = self.ebml_element()?;
            if id == Some(0x4282) {
                if len > 64 {
                    break None;
                }
                let raw = String::from_utf8_lossy(self.read(len as usize)?).into_owned();
                break Some(strip_nul_tail(&raw).to_string());
            }
            self.safe_ignore(len as f64, self.size() as u64)?;
            children -= 1;
            if self.pos <= previous {
                break None;
            }
        };
        Ok(match doc_type.as_deref() {
            Some("webm") => Some("video/webm"),
            Some("matroska") => Some("video/matroska"),
            _ => None,
        })
    }

    /// ASF: the first stream-properties object tells audio from video.
    fn asf(&mut self) -> R<Option<&'static str>> {
        const STREAM_PROPERTIES: [u8; 16] =
            [0x91, 0x07, 0xDC, 0xB7, 0xB7, 0xA9, 0xCF, 0x11, 0x8E, 0xE6, 0x00, 0xC0, 0x0C, 0x20, 0x53, 0x65];
        const AUDIO: [u8; 16] =
            [0x40, 0x9E, 0x69, 0xF8, 0x4D, 0x5B, 0xCF, 0x11, 0xA8, 0xFD, 0x00, 0x80, 0x5F, 0x5C, 0x44, 0x2B];
        const VIDEO: [u8; 16] =
            [0xC0, 0xEF, 0x19, 0xBC, 0x4D, 0x5B, 0xCF, 0x11, 0xA8, 0xFD, 0x00, 0x80, 0x5F, 0x5C, 0x44, 0x2B];
        let walk = |p: &mut Self| -> R<Option<Option<&'static str>>> {
            p.ignore(30);
            let mut count = 0;
            while p.pos + 24 < p.size() {
                count += 1;
                if count > 512 {
                    break;
                }
                let previous = p.pos;
                let guid: [u8; 16] = p.read(16)?.try_into().unwrap_or_default();
                let size = u64::from_le_bytes(p.read(8)?.try_into().unwrap_or_default()) as f64;
                let payload = size - 24.0;
                if payload < 0.0 {
                    return Ok(Some(None));
                }
                if guid == STREAM_PROPERTIES {
                    let kind = p.read(16)?;
                    if kind == AUDIO {
                        return Ok(Some(Some("audio/x-ms-asf")));
                    }
                    if kind == VIDEO {
                        return Ok(Some(Some("video/x-ms-asf")));
                    }
                    break;
                }
                p.safe_ignore(payload, p.size() as u64)?;
                if p.pos <= previous {
                    return Ok(Some(None));
                }
            }
            Ok(None)
        };
        match walk(self) {
            Ok(Some(decided)) => Ok(decided),
            Ok(None) | Err(Stop::EndOfStream) | Err(Stop::HardLimit) => Ok(Some("application/vnd.ms-asf")),
            Err(Stop::Thrown) => Err(Stop::Thrown),
        }
    }

    /// PNG: an `acTL` chunk before the first `IDAT` makes it APNG (normalised to PNG later).
    fn png(&mut self) -> R<Option<&'static str>> {
        self.ignore(8);
        let mut count = 0;
        let mut seen_header = false;
        loop {
            count += 1;
            if count > 512 {
                break;
            }
            let previous = self.pos;
            let length = i32::from_be_bytes(self.read(4)?.try_into().unwrap_or_default());
            let kind = latin1(self.read(4)?);
            if length < 0 {
                return Ok(None);
            }
            if kind == "IHDR" {
                if length != 13 {
                    return Ok(None);
                }
                seen_header = true;
            }
            match kind.as_str() {
                "IDAT" => return Ok(Some("image/png")),
                "acTL" => return Ok(Some("image/apng")),
                _ => {
                    if !seen_header && kind != "CgBI" {
                        return Ok(None);
                    }
                    if self.safe_ignore(f64::from(length) + 4.0, self.size() as u64).is_err() {
                        return Ok(Some("image/png"));
                    }
                }
            }
            if self.pos <= previous || self.pos + 8 >= self.size() {
                break;
            }
        }
        Ok(Some("image/png"))
    }

    /// The Pickle/ASAR check: a JSON header whose `files` member is truthy.
    fn is_asar(&self) -> bool {
        let json_size = u32_le(&self.buf, 12) as usize;
        if json_size <= 12 || WINDOW < json_size + 16 {
            return false;
        }
        let header = utf8_decode(&self.buf[16..json_size + 16]);
        match serde_json::from_str::<serde_json::Value>(&header) {
            Ok(serde_json::Value::Object(m)) => m.get("files").is_some_and(js_truthy),
            _ => false,
        }
    }

    /// ZIP: names the container by its well-known entries.
    fn zip(&mut self) -> R<&'static str> {
        let mut state = ZipState::default();
        if let Err(e) = self.unzip(&mut state) {
            if e == ZipError::Thrown {
                return Err(Stop::Thrown);
            }
            if state.parsing_content_types {
                state.parsing_content_types = false;
                state.unparseable_content_types = true;
            }
            if state.found.is_none() && e == ZipError::EndOfStream && !state.has_content_types {
                state.found = state.by_directory_names();
            }
        }
        Ok(state.found.or_else(|| state.open_xml_from_entries()).or_else(|| state.iwork()).unwrap_or("application/zip"))
    }

    /// file-type's replacement for `ZipHandler.unzip`: local headers in order, each entry the
    /// callback asks for inflated (at most 1 MiB).
    fn unzip(&mut self, state: &mut ZipState) -> Result<(), ZipError> {
        let mut count = 0;
        let mut descriptor_scanned = 0u64;
        while let Some(header) = self.zip_local_header()? {
            count += 1;
            if count > 1024 {
                return Err(ZipError::Recoverable);
            }
            let (stop, handler) = state.on_entry(&header);
            self.ignore(u64::from(header.extra_len));
            let max_descriptor = ZIP_ENTRY_MAX.min(ZIP_ENTRY_MAX.saturating_sub(descriptor_scanned));
            let data = if header.data_descriptor && header.compressed == 0 {
                self.zip_descriptor_entry(handler.is_some(), max_descriptor, &mut descriptor_scanned)?
            } else if handler.is_none() {
                self.safe_ignore(f64::from(header.compressed), self.size() as u64).map_err(ZipError::from)?;
                None
            } else {
                let maximum = (self.size() - self.pos).min((1 << 31) - 1);
                if header.compressed as usize > maximum {
                    return Err(ZipError::Recoverable);
                }
                Some(self.read(header.compressed as usize)?.to_vec())
            };
            if let Some(handler) = handler {
                let content = inflate(&header, &data.unwrap_or_default())?;
                state.handle(handler, &content);
            }
            if header.data_descriptor {
                let descriptor = self.read(16)?;
                if u32_le(descriptor, 0) != ZIP_DD_SIGNATURE {
                    return Err(ZipError::Recoverable);
                }
            }
            if stop {
                break;
            }
        }
        Ok(())
    }

    /// `readLocalFileHeader`: a local header, `None` at the central directory.
    fn zip_local_header(&mut self) -> Result<Option<ZipHeader>, ZipError> {
        let signature = u32_le(self.peek_exact(4)?, 0);
        match signature {
            0x0403_4B50 => {
                let h = self.read(30)?;
                let flags = u16_le(h, 6);
                let mut header = ZipHeader {
                    data_descriptor: flags & 0x0008 != 0,
                    method: u16_le(h, 8),
                    compressed: u32_le(h, 18),
                    uncompressed: u32_le(h, 22),
                    extra_len: u16_le(h, 28),
                    filename: String::new(),
                };
                let name_len = u16_le(h, 26) as usize;
                header.filename = utf8_decode(self.read(name_len)?);
                Ok(Some(header))
            }
            0x0201_4B50 => Ok(None),
            _ => Err(ZipError::Recoverable),
        }
    }

    /// An entry whose size is in a trailing data descriptor: scan for the descriptor whose
    /// compressed size matches what precedes it.
    fn zip_descriptor_entry(
        &mut self,
        buffer: bool,
        maximum: u64,
        scanned: &mut u64,
    ) -> Result<Option<Vec<u8>>, ZipError> {
        const SYNC: usize = 256 * 1024;
        let mut out = Vec::new();
        let mut consumed = 0u64;
        loop {
            let start = self.pos.min(self.size());
            let len = SYNC.min(self.size() - start);
            let window = &self.data[start..start + len];
            let found = find_data_descriptor(window, consumed);
            let retained = match found {
                Some(_) => 0,
                None if len == SYNC => 15.min(len - 1),
                None => 0,
            };
            let chunk = found.unwrap_or(len - retained);
            if chunk == 0 {
                break;
            }
            consumed += chunk as u64;
            if consumed > maximum {
                return Err(ZipError::Recoverable);
            }
            if buffer {
                out.extend_from_slice(self.read(chunk)?);
            } else {
                self.ignore(chunk as u64);
            }
            if found.is_some() {
                break;
            }
        }
        *scanned += consumed;
        Ok(buffer.then_some(out))
    }
}

/// `tarHeaderChecksumMatches`: the octal checksum at 148 equals the header's byte sum with the
/// checksum field counted as spaces.
fn tar_checksum_matches(header: &[u8]) -> bool {
    let field = String::from_utf8_lossy(&header[148..154]).into_owned();
    let text = js_trim(strip_nul_tail(&field));
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let digits: String = digits.chars().take_while(|c| ('0'..='7').contains(c)).collect();
    if digits.is_empty() {
        return false;
    }
    let Ok(read) = i64::from_str_radix(&digits, 8) else { return false };
    let read = if negative { -read } else { read };
    let sum: i64 = 8 * 0x20
        + header[..148].iter().map(|b| i64::from(*b)).sum::<i64>()
        + header[156..512].iter().map(|b| i64::from(*b)).sum::<i64>();
    read == sum
}

/// JavaScript truthiness of a parsed JSON value.
fn js_truthy(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Null => false,
        serde_json::Value::Bool(b) => *b,
        serde_json::Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        serde_json::Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

/// Errors of the ZIP walk: the ones file-type recovers from (end of data, limits, malformed
/// entries, inflate failures) and the rest, which it rethrows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ZipError {
    EndOfStream,
    Recoverable,
    Thrown,
}

impl From<Stop> for ZipError {
    fn from(s: Stop) -> Self {
        match s {
            Stop::EndOfStream => ZipError::EndOfStream,
            Stop::HardLimit => ZipError::Recoverable,
            Stop::Thrown => ZipError::Thrown,
        }
    }
}

/// The fields of a local file header that detection reads.
struct ZipHeader {
    data_descriptor: bool,
    method: u32,
    compressed: u32,
    uncompressed: u32,
    extra_len: u32,
    filename: String,
}

/// Which entry's content the walk wants.
#[derive(Clone, Copy)]
enum ZipHandler {
    Mimetype,
    ContentTypes,
}

/// What the walk has seen so far (file-type's OpenXML and iWork detection states).
#[derive(Default)]
struct ZipState {
    found: Option<&'static str>,
    has_content_types: bool,
    parsed_content_types: bool,
    parsing_content_types: bool,
    unparseable_content_types: bool,
    word: bool,
    ppt: bool,
    xl: bool,
    model_3d: bool,
    iwork_document: bool,
    iwork_master_slide: bool,
    iwork_tables: bool,
}

impl ZipState {
    /// The per-entry callback: whether to stop after this entry, and which content to read.
    fn on_entry(&mut self, header: &ZipHeader) -> (bool, Option<ZipHandler>) {
        let name = header.filename.as_str();
        self.word |= name.starts_with("word/");
        self.ppt |= name.starts_with("ppt/");
        self.xl |= name.starts_with("xl/");
        self.model_3d |= name.starts_with("3D/") && name.ends_with(".model");
        self.iwork_document |= name == "Index/Document.iwa";
        self.iwork_master_slide |= name.starts_with("Index/MasterSlide");
        self.iwork_tables |= name.starts_with("Index/Tables/");
        if self.iwork_document && (self.iwork_master_slide || self.iwork_tables) {
            self.found = self.iwork();
            return (true, None);
        }
        let is_content_types = name == "[Content_Types].xml";
        if let (false, Some(t)) = (is_content_types, self.open_xml_from_entries()) {
            self.found = Some(t);
            return (true, None);
        }
        let readable = u64::from(header.compressed) <= ZIP_ENTRY_MAX && u64::from(header.uncompressed) <= ZIP_ENTRY_MAX;
        match name {
            "META-INF/mozilla.rsa" => {
                self.found = Some("application/x-xpinstall");
                (true, None)
            }
            "META-INF/MANIFEST.MF" => {
                self.found = Some("application/java-archive");
                (true, None)
            }
            "mimetype" if !readable => (false, None),
            "mimetype" => (true, Some(ZipHandler::Mimetype)),
            "[Content_Types].xml" => {
                self.has_content_types = true;
                if !readable {
                    self.unparseable_content_types = true;
                    return (false, None);
                }
                self.parsing_content_types = true;
                (true, Some(ZipHandler::ContentTypes))
            }
            _ if is_dex(name) => {
                self.found = Some("application/vnd.android.package-archive");
                (true, None)
            }
            _ => (false, None),
        }
    }

    fn handle(&mut self, handler: ZipHandler, content: &[u8]) {
        let text = utf8_decode(content);
        match handler {
            ZipHandler::Mimetype => self.found = zip_container_type(js_trim(&text)),
            ZipHandler::ContentTypes => {
                if let Some(mime) = open_xml_main_type(&text) {
                    self.found = zip_container_type(mime);
                }
                self.parsed_content_types = true;
                self.parsing_content_types = false;
            }
        }
    }

    fn iwork(&self) -> Option<&'static str> {
        if !self.iwork_document {
            return None;
        }
        Some(if self.iwork_master_slide {
            "application/vnd.apple.keynote"
        } else if self.iwork_tables {
            "application/vnd.apple.numbers"
        } else {
            "application/vnd.apple.pages"
        })
    }

    fn by_directory_names(&self) -> Option<&'static str> {
        if self.word {
            Some("application/vnd.openxmlformats-officedocument.wordprocessingml.document")
        } else if self.ppt {
            Some("application/vnd.openxmlformats-officedocument.presentationml.presentation")
        } else if self.xl {
            Some("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        } else if self.model_3d {
            Some("model/3mf")
        } else {
            None
        }
    }

    /// The directory-name guess, only once `[Content_Types].xml` was seen but skipped.
    fn open_xml_from_entries(&self) -> Option<&'static str> {
        if !self.has_content_types
            || self.unparseable_content_types
            || self.parsing_content_types
            || self.parsed_content_types
        {
            return None;
        }
        self.by_directory_names()
    }
}

/// `/classes\d*\.dex/` anywhere in the name.
fn is_dex(name: &str) -> bool {
    name.match_indices("classes").any(|(i, _)| {
        let rest = name[i + 7..].trim_start_matches(|c: char| c.is_ascii_digit());
        rest.starts_with(".dex")
    })
}

/// The main part's content type in `[Content_Types].xml` (a string scan, as file-type does).
fn open_xml_main_type(xml: &str) -> Option<&str> {
    let Some(end) = xml.find(".main+xml\"") else {
        let model = "application/vnd.ms-package.3dmanufacturing-3dmodel+xml";
        return xml.contains(&format!("ContentType=\"{model}\"")).then_some(model);
    };
    let head = &xml[..end];
    Some(match head.rfind('"') {
        Some(q) => &head[q + 1..],
        None => head,
    })
}

/// `getFileTypeFromMimeType` of the ZIP walk: the container types a `mimetype` entry or a
/// content-types part may name.
fn zip_container_type(mime: &str) -> Option<&'static str> {
    const EXACT: &[&str] = &[
        "application/epub+zip",
        "application/vnd.oasis.opendocument.text",
        "application/vnd.oasis.opendocument.text-template",
        "application/vnd.oasis.opendocument.spreadsheet",
        "application/vnd.oasis.opendocument.spreadsheet-template",
        "application/vnd.oasis.opendocument.presentation",
        "application/vnd.oasis.opendocument.presentation-template",
        "application/vnd.oasis.opendocument.graphics",
        "application/vnd.oasis.opendocument.graphics-template",
        "application/vnd.openxmlformats-officedocument.presentationml.slideshow",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.template",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.template",
        "application/vnd.openxmlformats-officedocument.presentationml.template",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ];
    let lower = mime.to_lowercase();
    if let Some(m) = EXACT.iter().find(|m| **m == lower) {
        return Some(m);
    }
    Some(match lower.as_str() {
        "application/vnd.ms-excel.sheet.macroenabled" => "application/vnd.ms-excel.sheet.macroenabled.12",
        "application/vnd.ms-excel.template.macroenabled" => "application/vnd.ms-excel.template.macroenabled.12",
        "application/vnd.ms-powerpoint.slideshow.macroenabled" => {
            "application/vnd.ms-powerpoint.slideshow.macroenabled.12"
        }
        "application/vnd.ms-word.document.macroenabled" => "application/vnd.ms-word.document.macroenabled.12",
        "application/vnd.ms-word.template.macroenabledtemplate" => "application/vnd.ms-word.template.macroenabled.12",
        "application/vnd.ms-powerpoint.template.macroenabled" => {
            "application/vnd.ms-powerpoint.template.macroenabled.12"
        }
        "application/vnd.ms-powerpoint.presentation.macroenabled" => {
            "application/vnd.ms-powerpoint.presentation.macroenabled.12"
        }
        "application/vnd.ms-visio.drawing" => "application/vnd.visio",
        "application/vnd.ms-package.3dmanufacturing-3dmodel+xml" => "model/3mf",
        _ => return None,
    })
}

/// The data descriptor in `window` whose compressed-size field equals the bytes before it.
fn find_data_descriptor(window: &[u8], consumed: u64) -> Option<usize> {
    if window.len() < 16 {
        return None;
    }
    (0..=window.len() - 16)
        .find(|&i| u32_le(window, i) == ZIP_DD_SIGNATURE && u64::from(u32_le(window, i + 8)) == consumed + i as u64)
}

/// An entry's content: stored as is, or raw-deflated (at most 1 MiB out; data after the end
/// of the deflate stream is ignored, as Node's decompressor reports but file-type tolerates).
fn inflate(header: &ZipHeader, data: &[u8]) -> Result<Vec<u8>, ZipError> {
    match header.method {
        0 => Ok(data.to_vec()),
        8 => miniz_oxide::inflate::decompress_to_vec_with_limit(data, ZIP_ENTRY_MAX as usize)
            .map_err(|_| ZipError::Recoverable),
        _ => Err(ZipError::Recoverable),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rule (`fileTypeFromBuffer`): a few signatures and the tokenizer's end-of-data rules.
    #[test]
    fn signatures_and_end_of_data() {
        assert_eq!(detect(b"\x89PNG\r\n\x1a\n"), Ok(None), "a PNG signature alone reads past the end");
        assert_eq!(detect(b"WEBVTT"), Ok(Some("text/vtt")), "the zero-filled window counts as end of file");
        assert_eq!(detect(b"BM hello"), Ok(Some("image/bmp")));
        assert_eq!(detect(b"x"), Ok(None));
        assert_eq!(detect(b"\xEF\xBB\xBF<?xml version"), Ok(Some("application/xml")));
        assert_eq!(detect(b"\xFF\xFB\x90\x00"), Ok(Some("audio/mpeg")));
        assert!(is_dex("classes12.dex") && is_dex("a/classes.dex") && !is_dex("classes.dx"));
    }
}
