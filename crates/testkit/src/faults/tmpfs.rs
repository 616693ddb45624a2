//! A small tmpfs the test mounts for a node's state dir, and a filler file that takes every
//! free byte of it: a full disk without touching the machine's real disks.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{run, unique_name, CleanupWatch, FaultError};

/// A mounted tmpfs of a fixed size, unmounted on drop (lazily, so a process still holding a
/// file in it cannot keep the mount alive) and its empty mount point removed.
pub struct SmallTmpfs {
    /// Where it is mounted.
    pub dir: PathBuf,
    _watch: Option<CleanupWatch>,
}

impl SmallTmpfs {
    /// Mounts a `bytes`-sized tmpfs on `dir` (created if needed); the mount's source is a
    /// unique name carrying this process's pid, so a leftover can be recognised.
    pub fn mount(dir: &Path, bytes: u64) -> Result<SmallTmpfs, FaultError> {
        std::fs::create_dir_all(dir)
            .map_err(|source| FaultError::Io { what: format!("mkdir {}", dir.display()), source })?;
        let target = dir.to_string_lossy().to_string();
        let watch = CleanupWatch::start(&format!("umount -l '{target}' 2>/dev/null")).ok();
        run("mount", &["-t", "tmpfs", "-o", &format!("size={bytes},mode=0700"), &unique_name(), &target])?;
        Ok(SmallTmpfs { dir: dir.to_path_buf(), _watch: watch })
    }

    /// The filler's path.
    pub fn filler(&self) -> PathBuf {
        self.dir.join("filler")
    }

    /// Writes the filler until the file system says it is full (ENOSPC); returns its size.
    pub fn fill(&self) -> Result<u64, FaultError> {
        let path = self.filler();
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|source| FaultError::Io { what: format!("open {}", path.display()), source })?;
        let chunk = vec![0x5au8; 4096];
        let mut written = 0u64;
        loop {
            match f.write(&chunk) {
                Ok(0) => break,
                Ok(n) => written += n as u64,
                Err(e) if e.raw_os_error() == Some(nix::libc::ENOSPC) => break,
                Err(source) => return Err(FaultError::Io { what: format!("fill {}", path.display()), source }),
            }
        }
        // The last partial page too.
        for _ in 0..4096 {
            if f.write(&[0x5a]).map(|n| n == 0).unwrap_or(true) {
                break;
            }
            written += 1;
        }
        Ok(written)
    }

    /// Removes the filler: the space is free again.
    pub fn free(&self) -> Result<(), FaultError> {
        match std::fs::remove_file(self.filler()) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(FaultError::Io { what: "remove the filler".into(), source }),
        }
    }
}

impl Drop for SmallTmpfs {
    fn drop(&mut self) {
        let _ = run("umount", &["-l", &self.dir.to_string_lossy()]);
        // The mount point, when it is empty again (never anything the test did not make).
        let _ = std::fs::remove_dir(&self.dir);
    }
}
