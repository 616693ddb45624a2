//! `terminal.upload`: a file dropped on a node terminal in the Control UI, staged in a private
//! directory of its own under the system temporary directory (node-commands.md A2), so the
//! terminal can paste its path.
//!
//! Upstream's limits and texts: at most 16 MiB, canonical padded base64 only; at most 64
//! staged directories or 256 MiB staged at once (counted on disk, so other processes and
//! restarts are seen); each staged directory removed 24 hours after it was made; uploads
//! staged one at a time, with at most 64 (or 256 MiB of base64) waiting. The file is created
//! exclusively with mode 0600 in a fresh `openclaw-terminal-upload-XXXXXX` directory (0700),
//! under a name cleaned of path separators, control and Windows-reserved characters.
//!
//! Staging is serialised between processes with an `flock` on a file in the per-user
//! `.openclaw-terminal-staging-<uid>` directory. Upstream uses its own lock-file protocol
//! there; the two do not exclude each other, so a TypeScript and a Rust host staging at the
//! same instant on one machine may each count the other's upload one scan late, and our scan
//! leaves empty staged directories younger than a minute alone (upstream removes every empty
//! one under its lock; the differential test caught ours removing the TypeScript host's
//! directory between its `mkdtemp` and its write).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use base64::Engine;
use openclaw_protocol::node::InvokeError;
use serde_json::{json, Value};

use crate::invoke::{Command, InvokeContext};
use crate::offload::{off_thread, Lane};
use crate::params::{js_whitespace, thrown_invalid_request, FromParams, Params};

use super::thrown;

/// The largest file one upload stages.
pub const MAX_UPLOAD_BYTES: usize = 16 * 1024 * 1024;
/// Its base64 length.
const MAX_UPLOAD_BASE64: usize = MAX_UPLOAD_BYTES.div_ceil(3) * 4;
/// The most bytes staged at once, on disk.
const MAX_RETAINED_BYTES: u64 = 256 * 1024 * 1024;
/// The most staged directories at once, on disk.
const MAX_RETAINED_DIRECTORIES: usize = 64;
/// How long a staged directory is kept.
const RETENTION: Duration = Duration::from_secs(24 * 3600);
/// The longest staged file name, in UTF-8 bytes.
const MAX_NAME_BYTES: usize = 180;
/// How long an empty staged directory is left alone (another process may be staging into it).
const FRESH: Duration = Duration::from_secs(60);
/// The prefix of every staged directory.
const PREFIX: &str = "openclaw-terminal-upload-";

/// Stages one uploaded file.
#[derive(Clone)]
pub struct TerminalUpload;

/// `{name, contentBase64}`, both strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadParams {
    /// The file's name as the browser gave it.
    pub name: String,
    /// Its content, canonical padded base64.
    pub content_base64: String,
}

impl FromParams for UploadParams {
    fn from_params(params: Params) -> Result<Self, InvokeError> {
        if params.value().is_null() {
            return Err(thrown("TypeError: Cannot read properties of null (reading 'name')"));
        }
        match (params.str("name"), params.str("contentBase64")) {
            (Some(name), Some(content)) => {
                Ok(UploadParams { name: name.to_string(), content_base64: content.to_string() })
            }
            _ => Err(thrown_invalid_request("terminal upload name and content are required")),
        }
    }
}

/// Uploads admitted and not finished, and their base64 bytes: upstream's bounded queue.
static PENDING: AtomicUsize = AtomicUsize::new(0);
static PENDING_WEIGHT: AtomicUsize = AtomicUsize::new(0);
/// One upload stages at a time in this process (the file lock orders processes).
static STAGING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Releases an admitted upload's place in the queue.
struct Admitted(usize);

impl Drop for Admitted {
    fn drop(&mut self) {
        PENDING.fetch_sub(1, Ordering::SeqCst);
        PENDING_WEIGHT.fetch_sub(self.0, Ordering::SeqCst);
    }
}

fn admit(weight: usize) -> Option<Admitted> {
    let max_weight = (MAX_RETAINED_BYTES as usize).div_ceil(3) * 4;
    // Both counters are raised first, so the guard that lowers them is always balanced.
    let pending = PENDING.fetch_add(1, Ordering::SeqCst);
    let pending_weight = PENDING_WEIGHT.fetch_add(weight, Ordering::SeqCst);
    let admitted = Admitted(weight);
    (pending < MAX_RETAINED_DIRECTORIES && pending_weight + weight <= max_weight).then_some(admitted)
}

impl Command for TerminalUpload {
    const NAME: &'static str = "terminal.upload";
    const CAP: &'static str = "system";
    type Params = UploadParams;

    async fn run(&self, _cx: InvokeContext, params: UploadParams) -> Result<Value, InvokeError> {
        let size = validate(&params.content_base64)?;
        let Some(_place) = admit(params.content_base64.len()) else {
            return Err(thrown("Error: terminal upload staging is busy; retry after current uploads finish"));
        };
        let _serial = STAGING.lock().await;
        let root = temp_root();
        let staged = off_thread(Lane::Lookup, "staging a terminal upload", move || {
            stage(&root, &params.name, &params.content_base64, size, SystemTime::now())
        })
        .await
        .map_err(|e| InvokeError::unavailable(e.to_string()))??;
        // Removal after the retention period, as upstream's timer does (a scan removes every
        // expired directory, this one included).
        let root = staged.root.clone();
        tokio::spawn(async move {
            tokio::time::sleep(RETENTION + Duration::from_secs(1)).await;
            let _ =
                tokio::task::spawn_blocking(move || with_lock(&root, |root| scan(root, None, SystemTime::now()))).await;
        });
        Ok(json!({"path": staged.path.to_string_lossy(), "size": size}))
    }
}

/// The decoded size of base64 text as upstream counts it (padding subtracted).
fn decoded_size(b64: &str) -> usize {
    if b64.is_empty() {
        return 0;
    }
    let padding = if b64.ends_with("==") {
        2
    } else if b64.ends_with('=') {
        1
    } else {
        0
    };
    (b64.len() / 4 * 3).saturating_sub(padding)
}

fn base64_value(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// Canonical padded base64: a multiple of 4 long, only the standard alphabet before the
/// padding, and zero bits where the last character carries less than 6.
fn is_canonical_base64(b64: &str) -> bool {
    let bytes = b64.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return false;
    }
    let padding = bytes.iter().rev().take(2).take_while(|b| **b == b'=').count();
    let data = &bytes[..bytes.len() - padding];
    if !data.iter().all(|b| base64_value(*b).is_some()) {
        return false;
    }
    match (padding, data.last().and_then(|b| base64_value(*b))) {
        (0, _) => true,
        (p, Some(last)) => last & if p == 2 { 15 } else { 3 } == 0,
        (_, None) => false,
    }
}

/// The decoded size of a valid upload, or upstream's refusal.
fn validate(b64: &str) -> Result<usize, InvokeError> {
    if b64.len() > MAX_UPLOAD_BASE64 || decoded_size(b64) > MAX_UPLOAD_BYTES {
        return Err(thrown(&format!("Error: terminal upload exceeds {MAX_UPLOAD_BYTES} bytes")));
    }
    if !is_canonical_base64(b64) {
        return Err(thrown("Error: invalid terminal upload encoding"));
    }
    Ok(decoded_size(b64))
}

/// `con`, `prn`, `aux`, `nul`, `com1`–`com9`, `lpt1`–`lpt9` (and their superscript-digit
/// forms), alone or before a dot, in any case.
fn windows_reserved(name: &str) -> bool {
    let lower = name.to_lowercase();
    let stem = lower.split('.').next().unwrap_or_default();
    let digit = |c: Option<char>| c.is_some_and(|c| ('1'..='9').contains(&c) || matches!(c, '¹' | '²' | '³'));
    match stem {
        "con" | "prn" | "aux" | "nul" => true,
        s if s.starts_with("com") || s.starts_with("lpt") => {
            let mut rest = s[3..].chars();
            digit(rest.next()) && rest.next().is_none()
        }
        _ => false,
    }
}

fn strip_trailing_dots_and_spaces(s: &str) -> &str {
    s.trim_end_matches(['.', ' '])
}

/// The staged file's name: the last path segment, forbidden characters replaced by `_`,
/// trimmed, trailing dots and spaces dropped, reserved names prefixed with `_`, at most 180
/// UTF-8 bytes, `upload` when nothing is left.
pub fn sanitize_name(name: &str) -> String {
    let slashed = name.replace('\\', "/");
    let base = slashed.trim_end_matches('/').rsplit('/').next().unwrap_or_default();
    let cleaned: String = base
        .chars()
        .map(|c| if c <= '\u{1f}' || c == '\u{7f}' || "<>:\"/\\|?*%!".contains(c) { '_' } else { c })
        .collect();
    let cleaned = strip_trailing_dots_and_spaces(cleaned.trim_matches(js_whitespace)).to_string();
    let portable = if windows_reserved(&cleaned) { format!("_{cleaned}") } else { cleaned };
    let chosen =
        if portable.is_empty() || portable == "." || portable == ".." { "upload".to_string() } else { portable };
    let mut truncated = String::new();
    for c in chosen.chars() {
        if truncated.len() + c.len_utf8() > MAX_NAME_BYTES {
            break;
        }
        truncated.push(c);
    }
    let truncated = strip_trailing_dots_and_spaces(&truncated).to_string();
    let reserved = if windows_reserved(&truncated) { format!("_{truncated}") } else { truncated };
    if reserved.is_empty() {
        "upload".to_string()
    } else {
        reserved
    }
}

/// Node's `os.tmpdir()`: `TMPDIR`, `TMP` or `TEMP`, else `/tmp`, without a trailing slash.
fn temp_root() -> PathBuf {
    let dir = ["TMPDIR", "TMP", "TEMP"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "/tmp".to_string());
    let trimmed = dir.trim_end_matches('/');
    PathBuf::from(if trimmed.is_empty() { "/" } else { trimmed })
}

fn io_error(e: std::io::Error) -> InvokeError {
    thrown(&format!("Error: {e}"))
}

/// Runs `f` on the real staging root with the per-user staging lock held.
fn with_lock<T>(root: &Path, f: impl FnOnce(&Path) -> Result<T, InvokeError>) -> Result<T, InvokeError> {
    let root = fs::canonicalize(root).map_err(io_error)?;
    let private = root.join(format!(".openclaw-terminal-staging-{}", nix::unistd::getuid()));
    let lock_dir = private.join("terminal-upload-lock");
    fs::DirBuilder::new().recursive(true).mode(0o700).create(&lock_dir).map_err(io_error)?;
    let meta = fs::symlink_metadata(&private).map_err(io_error)?;
    if !meta.is_dir() || meta.uid() != nix::unistd::getuid().as_raw() {
        return Err(thrown("Error: terminal upload staging directory is not private to this user"));
    }
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(lock_dir.join("admission.flock"))
        .map_err(io_error)?;
    let locked = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| io_error(std::io::Error::from(e)))?;
    let out = f(&root);
    drop(locked);
    out
}

/// What is staged now, after expired directories were removed.
#[derive(Debug, Default, PartialEq, Eq)]
struct Retained {
    bytes: u64,
    directories: usize,
}

fn tree_bytes(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            Ok(t) if t.is_dir() => tree_bytes(&e.path()),
            _ => 0,
        })
        .sum()
}

/// Scans the staging root (disk is the truth): removes this user's staged directories older
/// than the retention period and empty ones, and counts the rest when an upload is coming.
fn scan(root: &Path, incoming: Option<u64>, now: SystemTime) -> Result<Retained, InvokeError> {
    let mut retained = Retained::default();
    let uid = nix::unistd::getuid().as_raw();
    let entries = fs::read_dir(root).map_err(io_error)?;
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(PREFIX) {
            continue;
        }
        let dir = entry.path();
        let Ok(meta) = fs::symlink_metadata(&dir) else { continue };
        if !meta.is_dir() || meta.uid() != uid {
            continue;
        }
        let made = meta.modified().unwrap_or(now).min(now);
        if made + RETENTION <= now {
            let _ = fs::remove_dir_all(&dir);
            continue;
        }
        let Some(incoming) = incoming else { continue };
        if retained.bytes + incoming <= MAX_RETAINED_BYTES {
            // An empty directory is removed, unless it is new: another host's upload (a
            // TypeScript host on this machine does not take our lock) may be about to write
            // into it.
            let young = now.duration_since(made).unwrap_or_default() < FRESH;
            if !young && fs::read_dir(&dir).map(|mut d| d.next().is_none()).unwrap_or(false) {
                let _ = fs::remove_dir(&dir);
                continue;
            }
            retained.bytes += tree_bytes(&dir);
        }
        retained.directories += 1;
    }
    Ok(retained)
}

/// A staged upload.
#[derive(Debug)]
struct Staged {
    root: PathBuf,
    path: PathBuf,
}

/// A fresh `openclaw-terminal-upload-XXXXXX` directory (mode 0700) under `root`.
fn make_staging_dir(root: &Path) -> Result<PathBuf, InvokeError> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    for _ in 0..100 {
        let suffix: String = (0..6)
            .map(|_| ALPHABET[rand::Rng::gen_range(&mut rand::thread_rng(), 0..ALPHABET.len())] as char)
            .collect();
        let dir = root.join(format!("{PREFIX}{suffix}"));
        match fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io_error(e)),
        }
    }
    Err(thrown("Error: could not create a staging directory"))
}

fn stage(root: &Path, name: &str, b64: &str, size: usize, now: SystemTime) -> Result<Staged, InvokeError> {
    with_lock(root, |root| {
        let retained = scan(root, Some(size as u64), now)?;
        if retained.directories >= MAX_RETAINED_DIRECTORIES || retained.bytes + size as u64 > MAX_RETAINED_BYTES {
            return Err(thrown(
                "Error: terminal upload staging limit reached (256 MiB or 64 files). Move or remove staged files, then \
                 retry, or wait for the 24-hour cleanup.",
            ));
        }
        let dir = make_staging_dir(root)?;
        let path = dir.join(sanitize_name(name));
        let written = (|| {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            let mut file: File = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path)?;
            file.write_all(&bytes)?;
            file.sync_all()
        })();
        if let Err(e) = written {
            let _ = fs::remove_dir_all(&dir);
            return Err(io_error(e));
        }
        Ok(Staged { root: root.to_path_buf(), path })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rule (A2): canonical padded base64 only, and upstream's size arithmetic.
    #[test]
    fn only_canonical_base64_is_staged() {
        assert!(is_canonical_base64("aGk=") && is_canonical_base64("") && is_canonical_base64("aGVsbG8h"));
        assert!(!is_canonical_base64("aGk"), "unpadded");
        assert!(!is_canonical_base64("aGl="), "non-zero unused bits");
        assert!(!is_canonical_base64("aG k"), "whitespace");
        assert!(!is_canonical_base64("aGk=\n"));
        assert!(!is_canonical_base64("a-_="), "url alphabet");
        assert_eq!(validate("aGk").unwrap_err().message, "Error: invalid terminal upload encoding");
        assert_eq!(decoded_size("aGk="), 2);
        let too_big = "A".repeat(MAX_UPLOAD_BASE64 + 4);
        assert_eq!(validate(&too_big).unwrap_err().message, "Error: terminal upload exceeds 16777216 bytes");
    }

    /// Rule (A2): the observed `../we ird:name?.txt` → `we ird_name_.txt`, and the other
    /// cleaning steps.
    #[test]
    fn names_are_cleaned_as_upstream() {
        assert_eq!(sanitize_name("../we ird:name?.txt"), "we ird_name_.txt");
        assert_eq!(sanitize_name("a\\b\\c.txt"), "c.txt");
        assert_eq!(sanitize_name("dir/"), "dir");
        assert_eq!(sanitize_name(".."), "upload");
        assert_eq!(sanitize_name(" .. . "), "upload");
        assert_eq!(sanitize_name("CON.txt"), "_CON.txt");
        assert_eq!(sanitize_name("com1"), "_com1");
        assert_eq!(sanitize_name("com10"), "com10");
        assert_eq!(sanitize_name("lpt²"), "_lpt²");
        assert_eq!(sanitize_name("\u{feff}name\u{3000}"), "name");
        assert_eq!(sanitize_name("a\u{7}b%c!"), "a_b_c_");
        let long = format!("{}é.txt", "x".repeat(179));
        assert_eq!(sanitize_name(&long), "x".repeat(179), "cut at 180 bytes, never inside a character");
    }

    /// Rule (A2): the file is created 0600 in a fresh 0700 directory; the limits count
    /// what is on disk; expired and empty directories are removed by the scan.
    #[test]
    fn stages_privately_within_the_limits() {
        let root = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let staged = stage(root.path(), "../note.txt", "aGk=", 2, now).unwrap();
        assert_eq!(staged.path.file_name().unwrap(), "note.txt");
        assert_eq!(fs::read(&staged.path).unwrap(), b"hi");
        assert_eq!(fs::metadata(&staged.path).unwrap().mode() & 0o777, 0o600);
        let dir = staged.path.parent().unwrap();
        assert_eq!(fs::metadata(dir).unwrap().mode() & 0o777, 0o700);
        assert!(dir.file_name().unwrap().to_string_lossy().starts_with(PREFIX));
        let real_root = fs::canonicalize(root.path()).unwrap();
        assert_eq!(scan(&real_root, Some(0), now).unwrap(), Retained { bytes: 2, directories: 1 });
        fs::create_dir(real_root.join(format!("{PREFIX}empty1"))).unwrap();
        assert_eq!(scan(&real_root, Some(0), now).unwrap().directories, 2, "a new empty one is left alone");
        let a_minute_on = now + FRESH + Duration::from_secs(1);
        assert_eq!(scan(&real_root, Some(0), a_minute_on).unwrap().directories, 1, "an old empty one is removed");
        assert!(!real_root.join(format!("{PREFIX}empty1")).exists());
        let later = now + RETENTION + Duration::from_secs(1);
        assert_eq!(scan(&real_root, Some(0), later).unwrap(), Retained::default(), "expired");
        assert!(!dir.exists());
        for i in 0..MAX_RETAINED_DIRECTORIES {
            stage(root.path(), &format!("f{i}"), "aGk=", 2, now).unwrap();
        }
        let full = stage(root.path(), "one-more", "aGk=", 2, now).unwrap_err();
        assert!(full.message.starts_with("Error: terminal upload staging limit reached (256 MiB or 64 files)."));
    }

    /// Rule (A2): at most 64 uploads wait; a refused one leaves the counters as they were.
    #[test]
    fn the_queue_bound_is_balanced() {
        let held: Vec<Admitted> = (0..MAX_RETAINED_DIRECTORIES).map(|_| admit(10).expect("room")).collect();
        assert!(admit(10).is_none(), "the 65th waits for nobody");
        drop(held);
        assert_eq!((PENDING.load(Ordering::SeqCst), PENDING_WEIGHT.load(Ordering::SeqCst)), (0, 0));
        assert!(admit(usize::MAX / 2).is_none(), "too heavy");
        assert_eq!((PENDING.load(Ordering::SeqCst), PENDING_WEIGHT.load(Ordering::SeqCst)), (0, 0));
    }
}
