//! `dir.fetch`'s archive inspection (`inspectDirFetchArchive` over fs-safe's
//! `inspectTarArchive`; the `dir.fetch` row of `../shared/spec/node-commands.md` A3–A8): the
//! gzip'd tar that `/usr/bin/tar` produced is decoded and read member by member, and the whole
//! archive is refused when a member is anything but a file or a directory, when two members
//! would land on the same path on a case-insensitive volume, or past the size and count
//! limits. The answer is the sorted list of member paths.
//!
//! Upstream parses with fs-safe's native addon, then re-checks the manifest in JavaScript. The
//! native parser's own refusals (observed with the peer's Node: invalid paths, a GNU long
//! name that is not UTF-8, the count and decoded-size limits) come first, in stream order,
//! with its texts; then every path is validated; then each member is planned in order.

use std::io::Read;

use unicode_normalization::UnicodeNormalization;

use crate::collate::sort_by_locale;

/// The largest archive accepted.
pub const MAX_ARCHIVE_BYTES: usize = 16_777_216;
/// Members, counting the leading `./`.
pub const MAX_ENTRIES: usize = 5001;
/// The sum of the members' declared sizes.
pub const MAX_EXTRACTED_BYTES: u64 = 67_108_864;
/// One member's declared size.
pub const MAX_ENTRY_BYTES: u64 = 16_777_216;
/// A GNU long name or pax header.
pub const MAX_META_ENTRY_BYTES: u64 = 1_048_576;
/// Path components of one member.
pub const MAX_PATH_COMPONENTS: usize = 256;
/// Decoded tar bytes: the extracted budget plus the archive budget (fs-safe's meter).
pub const MAX_DECODED_BYTES: u64 = MAX_EXTRACTED_BYTES + MAX_ARCHIVE_BYTES as u64;

/// Why the archive was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InspectError {
    /// An `ArchiveLimitError` (reported as `TREE_TOO_LARGE`), with its message.
    Limit(&'static str),
    /// Any other refusal (reported as `READ_ERROR`), with upstream's formatted message.
    Refused(String),
}

/// The kind of a tar member, as fs-safe's planner sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Directory,
    Other,
}

/// One member of the manifest.
#[derive(Debug, Clone)]
struct Member {
    path: String,
    kind: Kind,
    size: u64,
}

/// How the native parser words a path it refuses (its error text plus the N-API code).
fn native_path_error(from_long_name: bool) -> InspectError {
    let code = if from_long_name { "archive-gnu-path-invalid" } else { "archive-entry-path-invalid" };
    InspectError::Refused(format!("admit tar: {code} | GenericFailure"))
}

/// Inspects the gzip'd tar `archive`: the sorted member paths, or the refusal.
pub fn inspect(archive: &[u8]) -> Result<Vec<String>, InspectError> {
    if archive.len() > MAX_ARCHIVE_BYTES {
        return Err(InspectError::Limit("archive size exceeds limit"));
    }
    let manifest = read_manifest(archive)?;
    // The JavaScript side re-validates the whole manifest before planning any member.
    for member in &manifest {
        validate_entry_path(&member.path)?;
    }
    let mut planned = plan(&manifest)?;
    sort_by_locale(&mut planned, |s| s);
    Ok(planned)
}

/// Reads exactly `buf.len()` decoded bytes, counting them against the decoded budget;
/// `Ok(false)` at a clean end of stream.
struct Decoded<R> {
    inner: R,
    total: u64,
}

impl<R: Read> Decoded<R> {
    fn fill(&mut self, buf: &mut [u8]) -> Result<bool, InspectError> {
        let mut read = 0;
        while read < buf.len() {
            match self.inner.read(&mut buf[read..]) {
                Ok(0) if read == 0 => return Ok(false),
                Ok(0) => return Err(format_error("unexpected end of archive")),
                Ok(n) => {
                    read += n;
                    self.count(n as u64)?;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format_error(&e.to_string())),
            }
        }
        Ok(true)
    }

    fn count(&mut self, n: u64) -> Result<(), InspectError> {
        self.total += n;
        if self.total > MAX_DECODED_BYTES {
            return Err(InspectError::Limit("archive decoded size exceeds limit"));
        }
        Ok(())
    }

    /// Skips `n` bytes (a member's data and padding).
    fn skip(&mut self, n: u64) -> Result<(), InspectError> {
        let mut left = n;
        let mut buf = [0u8; 64 * 1024];
        while left > 0 {
            let want = left.min(buf.len() as u64) as usize;
            if !self.fill(&mut buf[..want])? {
                return Err(format_error("unexpected end of archive"));
            }
            left -= want as u64;
        }
        Ok(())
    }

    /// Reads `n` bytes of metadata (a long name, a pax header).
    fn take(&mut self, n: u64) -> Result<Vec<u8>, InspectError> {
        if n > MAX_META_ENTRY_BYTES {
            return Err(InspectError::Limit("archive metadata entry size exceeds limit"));
        }
        let mut data = vec![0u8; n as usize];
        if !self.fill(&mut data)? {
            return Err(format_error("unexpected end of archive"));
        }
        self.skip(padding(n))?;
        Ok(data)
    }
}

/// A header the native parser cannot read.
fn format_error(detail: &str) -> InspectError {
    InspectError::Refused(format!("admit tar: archive-header-invalid: {detail} | GenericFailure"))
}

fn padding(size: u64) -> u64 {
    (512 - size % 512) % 512
}

/// A numeric header field: octal text, or GNU's base-256 when the high bit is set.
fn header_number(field: &[u8]) -> Result<u64, InspectError> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        let mut n: u64 = u64::from(field[0] & 0x7f);
        for &b in &field[1..] {
            n = n.checked_mul(256).and_then(|n| n.checked_add(u64::from(b))).ok_or_else(|| format_error("size"))?;
        }
        return Ok(n);
    }
    let text: Vec<u8> = field.iter().copied().take_while(|&b| b != 0).filter(|&b| b != b' ').collect();
    if text.is_empty() {
        return Ok(0);
    }
    let text = std::str::from_utf8(&text).map_err(|_| format_error("size"))?;
    u64::from_str_radix(text, 8).map_err(|_| format_error("size"))
}

fn c_string(field: &[u8]) -> &[u8] {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    &field[..end]
}

/// The members of the archive, in order, with the native parser's refusals.
fn read_manifest(archive: &[u8]) -> Result<Vec<Member>, InspectError> {
    let mut stream = Decoded { inner: flate2::read::MultiGzDecoder::new(archive), total: 0 };
    let mut manifest = Vec::new();
    let mut long_name: Option<String> = None;
    let mut pax_path: Option<String> = None;
    let mut pax_size: Option<u64> = None;
    let mut header = [0u8; 512];
    loop {
        if !stream.fill(&mut header)? || header.iter().all(|&b| b == 0) {
            break;
        }
        let typeflag = header[156];
        let size = header_number(&header[124..136])?;
        match typeflag {
            b'L' => {
                let data = stream.take(size)?;
                let name = String::from_utf8(c_string(&data).to_vec())
                    .map_err(|_| format_error("GNU name is not valid UTF-8"))?;
                long_name = Some(name);
                continue;
            }
            b'K' => {
                stream.take(size)?;
                continue;
            }
            b'x' => {
                let data = stream.take(size)?;
                for (key, value) in pax_records(&data) {
                    match key.as_str() {
                        "path" => pax_path = Some(value),
                        "size" => pax_size = value.parse().ok(),
                        _ => {}
                    }
                }
                continue;
            }
            b'g' => {
                stream.take(size)?;
                continue;
            }
            _ => {}
        }
        let size = pax_size.take().unwrap_or(size);
        let (path, from_long_name) = if let Some(p) = pax_path.take() {
            long_name = None;
            (p, false)
        } else if let Some(p) = long_name.take() {
            (p, true)
        } else {
            let name = c_string(&header[0..100]);
            let posix = &header[257..263] == b"ustar\0";
            let prefix = if posix { c_string(&header[345..500]) } else { &[][..] };
            let mut raw = Vec::with_capacity(prefix.len() + 1 + name.len());
            if !prefix.is_empty() {
                raw.extend_from_slice(prefix);
                raw.push(b'/');
            }
            raw.extend_from_slice(name);
            (String::from_utf8(raw).map_err(|_| native_path_error(false))?, false)
        };
        if manifest.len() + 1 > MAX_ENTRIES {
            return Err(InspectError::Limit("archive entry count exceeds limit"));
        }
        if !native_path_ok(&path) {
            return Err(native_path_error(from_long_name));
        }
        let kind = match typeflag {
            b'0' | 0 | b'7' => Kind::File,
            b'5' | b'D' => Kind::Directory,
            _ => Kind::Other,
        };
        // Hard links, symlinks, devices and FIFOs carry no data; a regular member's data
        // follows its header.
        let data = if matches!(typeflag, b'1' | b'2' | b'3' | b'4' | b'5' | b'6') { 0 } else { size };
        stream.skip(data + padding(data))?;
        manifest.push(Member { path, kind, size });
    }
    Ok(manifest)
}

/// The `key=value` records of a pax extended header.
fn pax_records(data: &[u8]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let Some(space) = rest.iter().position(|&b| b == b' ') else { break };
        let Some(len) = std::str::from_utf8(&rest[..space]).ok().and_then(|s| s.parse::<usize>().ok()) else { break };
        if len <= space + 1 || len > rest.len() {
            break;
        }
        let record = &rest[space + 1..len];
        let record = record.strip_suffix(b"\n").unwrap_or(record);
        if let Some(eq) = record.iter().position(|&b| b == b'=') {
            if let (Ok(k), Ok(v)) = (std::str::from_utf8(&record[..eq]), std::str::from_utf8(&record[eq + 1..])) {
                out.push((k.to_string(), v.to_string()));
            }
        }
        rest = &rest[len..];
    }
    out
}

/// The native parser's path admission: no drive letters, no `..`, not absolute, no
/// component longer than 255 bytes in any normal form.
fn native_path_ok(path: &str) -> bool {
    !path.contains('\0')
        && !is_windows_drive_path(path)
        && !path.replace('\\', "/").split('/').any(|s| s == "..")
        && !path.starts_with('/')
        && !path.starts_with('\\')
        && path.replace('\\', "/").split('/').all(|s| max_normalized_utf8_bytes(s) <= 255)
}

/// `/(?:^|\/)[a-zA-Z]:/` on the slash-normalised path.
fn is_windows_drive_path(path: &str) -> bool {
    let p = path.replace('\\', "/");
    let b = p.as_bytes();
    (0..b.len().saturating_sub(1))
        .any(|i| (i == 0 || b[i - 1] == b'/') && b[i].is_ascii_alphabetic() && b[i + 1] == b':')
}

/// fs-safe's `maxNormalizedUtf8Bytes`: the UTF-8 length of the longer of NFC and NFD.
fn max_normalized_utf8_bytes(s: &str) -> usize {
    if s.is_ascii() {
        return s.len();
    }
    let nfc: String = s.nfc().collect();
    let nfd: String = s.nfd().collect();
    nfc.len().max(nfd.len())
}

/// `formatErrorDetail`: C0/C1 controls and the line/paragraph separators as `\uXXXX`.
fn error_detail(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c as u32, 0..=0x1f | 0x7f..=0x9f | 0x2028 | 0x2029) {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// `path.posix.normalize`, for a relative path.
fn posix_normalize_relative(path: &str) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let absolute = path.starts_with('/');
    let trailing = path.ends_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let mut out = parts.join("/");
    if absolute {
        out.insert(0, '/');
    }
    if out.is_empty() {
        out = if absolute { "/".into() } else { ".".into() };
    }
    if trailing && !out.ends_with('/') {
        out.push('/');
    }
    out
}

/// `validateArchiveEntryPath`, with its texts.
fn validate_entry_path(path: &str) -> Result<(), InspectError> {
    if path.is_empty() || path == "." || path == "./" {
        return Ok(());
    }
    let refuse = |what: &str| Err(InspectError::Refused(format!("archive entry {what}: {}", error_detail(path))));
    if is_windows_drive_path(path) {
        return refuse("uses a drive path");
    }
    if path.contains('\0') {
        return refuse("contains a NUL byte");
    }
    let slashed = path.replace('\\', "/");
    let normalized = posix_normalize_relative(&slashed);
    if normalized.split('/').any(|s| max_normalized_utf8_bytes(s) > 255) {
        return refuse("has an overlong path component");
    }
    if normalized == ".." || normalized.starts_with("../") {
        return refuse("escapes destination");
    }
    if normalized.starts_with('/') {
        return refuse("is absolute");
    }
    if slashed.split('/').any(|s| s == "..") {
        return refuse("contains a parent segment");
    }
    Ok(())
}

/// `stripArchivePath(path, 0)`: the canonical relative path, or `None` for the root.
fn strip_archive_path(path: &str) -> Option<String> {
    let raw = path.replace('\\', "/");
    if raw.is_empty() || raw == "." || raw == "./" {
        return None;
    }
    let joined = raw.split('/').filter(|p| !p.is_empty() && *p != ".").collect::<Vec<_>>().join("/");
    let result = posix_normalize_relative(&joined);
    (!(result.is_empty() || result == "." || result == "./")).then_some(result)
}

/// `lowerCaseNfc`: the collision key.
fn lower_case_nfc(s: &str) -> String {
    if s.is_ascii() {
        return s.to_lowercase();
    }
    let nfc: String = s.nfc().collect();
    nfc.to_lowercase().nfc().collect()
}

/// fs-safe's planner over the manifest: the accepted member paths, in order.
fn plan(manifest: &[Member]) -> Result<Vec<String>, InspectError> {
    let mut seen = std::collections::HashSet::new();
    let mut total: u64 = 0;
    let mut out = Vec::new();
    for (count, member) in manifest.iter().enumerate() {
        if count + 1 > MAX_ENTRIES {
            return Err(InspectError::Limit("archive entry count exceeds limit"));
        }
        validate_entry_path(&member.path)?;
        let Some(rel) = strip_archive_path(&member.path) else { continue };
        validate_entry_path(&rel)?;
        let components = rel.split(['/', '\\']).filter(|c| !c.is_empty() && *c != ".").count();
        if components > MAX_PATH_COMPONENTS {
            return Err(InspectError::Limit("archive entry path components exceed limit"));
        }
        let normalized = posix_normalize_relative(&rel.replace('\\', "/"));
        if !seen.insert(lower_case_nfc(&normalized)) {
            return Err(InspectError::Refused(format!(
                "archive entries collide at output path {}: {}",
                error_detail(&normalized),
                error_detail(&member.path)
            )));
        }
        if member.kind == Kind::Other {
            return Err(InspectError::Refused(format!("archive entry rejected by filter: {}", error_detail(&rel))));
        }
        if member.size > MAX_ENTRY_BYTES {
            return Err(InspectError::Limit("archive entry extracted size exceeds limit"));
        }
        total += member.size;
        if total > MAX_EXTRACTED_BYTES {
            return Err(InspectError::Limit("archive extracted size exceeds limit"));
        }
        out.push(rel);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn header(name: &str, typeflag: u8, size: u64) -> Vec<u8> {
        let mut h = vec![0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        h[124..135].copy_from_slice(format!("{size:011o}").as_bytes());
        h[156] = typeflag;
        h[257..265].copy_from_slice(b"ustar  \0");
        h
    }

    fn archive(members: &[(&str, u8, &[u8])]) -> Vec<u8> {
        let mut tar = Vec::new();
        for (name, typeflag, data) in members {
            tar.extend(header(name, *typeflag, data.len() as u64));
            tar.extend_from_slice(data);
            tar.extend(vec![0u8; padding(data.len() as u64) as usize]);
        }
        tar.extend(vec![0u8; 1024]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        gz.finish().unwrap()
    }

    /// Rule (`inspectDirFetchArchive`'s answer): the root is skipped, files and directories are
    /// listed without `./` or a trailing slash, sorted by localeCompare.
    #[test]
    fn lists_files_and_directories_sorted() {
        let a = archive(&[("./", b'5', b""), ("./b", b'0', b"x"), ("./A/", b'5', b""), ("./A/c", b'0', b"yy")]);
        assert_eq!(inspect(&a).unwrap(), ["A", "A/c", "b"]);
    }

    /// Rule (`inspectDirFetchArchive`'s `reject-archive` filter): any member other than a file
    /// or directory refuses the archive; a case-insensitive collision too.
    #[test]
    fn refuses_links_and_collisions() {
        let link = archive(&[("./", b'5', b""), ("./l", b'2', b"")]);
        assert_eq!(inspect(&link), Err(InspectError::Refused("archive entry rejected by filter: l".into())));
        let clash = archive(&[("./", b'5', b""), ("./Dir/", b'5', b""), ("./dir", b'0', b"")]);
        assert_eq!(
            inspect(&clash),
            Err(InspectError::Refused("archive entries collide at output path dir: ./dir".into()))
        );
        let drive = archive(&[("./C:x", b'0', b"")]);
        assert_eq!(inspect(&drive), Err(native_path_error(false)));
    }
}
