//! Pinning the bound file: its real path and SHA-256 at approval, the run-time recheck, and
//! whether a path is one the user could swap (writable, in a writable directory, behind a
//! mutable symlink) or is a script rather than a known binary.
//!
//! The only part of the binding that reads the file system's ownership and contents, so it
//! is kept apart from the argv rules that decide which file to pin.

use std::path::{Component, Path, PathBuf};

use super::locate::{resolve_lexically, trimmed};
use super::BindingRefused;

/// The script operand an approval is bound to: `{argvIndex, path, sha256}` in the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperandSnapshot {
    /// Which argv entry names the file.
    pub argv_index: usize,
    /// Its real path.
    pub path: PathBuf,
    /// SHA-256 of its contents, lower-case hex.
    pub sha256: String,
}

impl OperandSnapshot {
    /// The plan's `mutableFileOperand` object.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({"argvIndex": self.argv_index, "path": self.path.to_string_lossy(), "sha256": self.sha256})
    }
}

/// Pins a file by real path and content hash.
pub fn snapshot_file(argv_index: usize, path: &Path) -> Result<OperandSnapshot, BindingRefused> {
    let real = std::fs::canonicalize(path).map_err(|_| BindingRefused::ExistingOperand)?;
    let meta = std::fs::metadata(&real).map_err(|_| BindingRefused::ExistingOperand)?;
    if !meta.is_file() {
        return Err(BindingRefused::FileOperand);
    }
    let sha256 = crate::binding::file_sha256(&real).ok_or(BindingRefused::ReadableOperand)?;
    Ok(OperandSnapshot { argv_index, path: real, sha256 })
}

/// The run-time recheck (`revalidateApprovedMutableFileOperand`): the argv entry the plan
/// named must still resolve, from the run's cwd, to the pinned real path with the pinned hash.
pub fn operand_unchanged(snapshot: &OperandSnapshot, argv: &[String], cwd: &Path) -> bool {
    let operand = trimmed(argv, snapshot.argv_index);
    if operand.is_empty() {
        return false;
    }
    let Ok(real) = std::fs::canonicalize(resolve_lexically(cwd, operand)) else { return false };
    real == snapshot.path && crate::binding::file_sha256(&real).as_deref() == Some(snapshot.sha256.as_str())
}

/// Whether the current user could change `path` (write access, or ownership).
fn is_mutable(path: &Path) -> bool {
    if nix::unistd::access(path, nix::unistd::AccessFlags::W_OK).is_ok() {
        return true;
    }
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).is_ok_and(|m| m.uid() == nix::unistd::getuid().as_raw())
}

/// A symlink on the way to `path` that sits in a directory the user can change (or a
/// component that cannot be inspected).
pub fn has_mutable_symlink_component(path: &Path) -> bool {
    let mut cursor = PathBuf::from("/");
    let mut components = vec![cursor.clone()];
    for component in path.components() {
        if let Component::Normal(c) = component {
            cursor.push(c);
            components.push(cursor.clone());
        }
    }
    components.iter().any(|component| match std::fs::symlink_metadata(component) {
        Ok(m) => m.file_type().is_symlink() && component.parent().is_some_and(is_mutable),
        Err(_) => true,
    })
}

/// Rule: a path the user could swap: writable itself, in a writable directory, or reached
/// through a symlink in one (before or after resolving it).
pub fn path_looks_mutable(path: &Path) -> bool {
    let dir_mutable = |p: &Path| p.parent().is_some_and(is_mutable);
    if is_mutable(path) || dir_mutable(path) || has_mutable_symlink_component(path) {
        return true;
    }
    let Ok(real) = std::fs::canonicalize(path) else { return true };
    is_mutable(&real) || dir_mutable(&real) || has_mutable_symlink_component(&real)
}

const BINARY_MAGICS: &[u32] = &[
    0x7F45_4C46,
    0xFEED_FACE,
    0xCEFA_EDFE,
    0xFEED_FACF,
    0xCFFA_EDFE,
    0xCAFE_BABE,
    0xBEBA_FECA,
    0xCAFE_BABF,
    0xBFBA_FECA,
];

/// Rule: anything but a known binary executable (ELF, Mach-O, PE) counts as a script: a
/// shebang, text, an empty or unreadable file.
pub fn is_likely_script(path: &Path) -> bool {
    use std::io::Read;
    if !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        return true;
    }
    let mut header = Vec::with_capacity(1024);
    let Ok(file) = std::fs::File::open(path) else { return true };
    if file.take(1024).read_to_end(&mut header).is_err() {
        return true;
    }
    if header.is_empty() || header.starts_with(b"#!") {
        return true;
    }
    let be32 = |at: usize| header.get(at..at + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    if be32(0).is_some_and(|m| BINARY_MAGICS.contains(&m)) {
        return false;
    }
    if header.len() < 64 || header[0..2] != *b"MZ" {
        return true;
    }
    let pe = u32::from_le_bytes([header[60], header[61], header[62], header[63]]) as usize;
    !(pe <= header.len() - 4 && be32(pe) == Some(0x5045_0000))
}
