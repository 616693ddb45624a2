//! `dir.fetch`: a directory tree as a gzip'd tar, as upstream's file-transfer plugin serves
//! it (`handleDirFetch`; the shared node-side rules and the `dir.fetch` row of
//! `../shared/spec/node-commands.md` A3–A8).
//!
//! The tree is packed by the same `/usr/bin/tar -czf - .` upstream runs, so both nodes send
//! the same bytes for the same tree. Upstream runs tar from a child Node process that changes
//! into the directory and re-checks its real path and identity first (exit 78 when they
//! changed); we open the directory, check the descriptor's real path and `fstat` identity, and
//! start tar with that descriptor as its working directory (`fchdir` before `exec`), so the
//! packed directory is the checked one even if the path is swapped meanwhile. A preflight
//! walks the tree instead (at most 5000 entries, depth first), and a real fetch first asks
//! `du` for an estimate (failing open) and afterwards inspects the archive ([`archive`]):
//! anything but files and directories, name collisions on a case-insensitive volume, and the
//! size and count limits refuse it.

use openclaw_file_transfer::archive;

use std::ffi::OsStr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::process::Stdio;
use std::time::Duration;

use base64::Engine;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{fstat, fstatat, Mode};
use openclaw_protocol::node::InvokeError;
use serde_json::{json, Map, Value};
use tokio::io::AsyncReadExt;

use super::collate::sort_key;
use super::list::{open_bound_directory, read_names, ListFailure};
use super::{
    classify_safe_read, flag, params_object, payload, read_absolute_path, resolve_bound_read_directory, sha256_hex,
    stat_required_directory, FileError, FsFailure, Identity,
};
use crate::invoke::{Command, InvokeContext};
use crate::offload::{off_thread_within, Lane};
use crate::params::{FromParams, Params};

/// Packs a directory tree.
#[derive(Clone)]
pub struct DirFetch;

/// The raw params object (upstream reads each field itself, uncoerced).
#[derive(Debug, Clone)]
pub struct DirFetchParams(pub Map<String, Value>);

impl FromParams for DirFetchParams {
    /// A missing `paramsJSON` is `{}`.
    const OPTIONAL: bool = true;

    fn from_params(params: Params) -> Result<Self, InvokeError> {
        params_object(params.value(), true).map(DirFetchParams)
    }
}

/// The default limit on the gzip'd tar.
pub const DEFAULT_MAX_BYTES: u64 = 8_388_608;
/// The largest limit a caller may ask for.
pub const HARD_MAX_BYTES: u64 = 16_777_216;
/// Entries a preflight walk may find.
pub const MAX_TREE_ENTRIES: usize = 5000;
/// The tar the tree is packed with.
const TAR: &str = "/usr/bin/tar";
/// tar's wall-clock bound.
const TAR_TIMEOUT: Duration = Duration::from_secs(60);
/// `du`'s bound and output cap (past either, the estimate passes).
const DU_TIMEOUT: Duration = Duration::from_secs(10);
const DU_MAX_OUTPUT: usize = 65_536;
/// The archive inspection's bound.
const INSPECT_TIMEOUT: Duration = Duration::from_millis(10_000);
/// Bound for the path resolution and the preflight walk (upstream has none; a walk stops at
/// 5000 entries, but reads every name of each directory it enters).
const WALK_TIMEOUT: Duration = Duration::from_secs(60);

impl Command for DirFetch {
    const NAME: &'static str = "dir.fetch";
    const CAP: &'static str = "file";
    type Params = DirFetchParams;

    async fn run(&self, cx: InvokeContext, params: DirFetchParams) -> Result<Value, InvokeError> {
        Ok(payload(fetch(&cx, params.0).await?))
    }
}

/// `dir.fetch`'s error codes (`classifyFsError`): `EACCES` is a `READ_ERROR` here.
pub fn classify(failure: &FsFailure) -> &'static str {
    classify_safe_read(failure).unwrap_or(match failure.errno_name().as_deref() {
        Some("ENOENT") => "NOT_FOUND",
        _ => "READ_ERROR",
    })
}

/// `clampMaxBytes`: not a positive number → 8 MiB; else `min(floor(x), 16 MiB)`.
pub fn clamp_max_bytes(value: Option<&Value>) -> u64 {
    match value.and_then(Value::as_f64) {
        Some(x) if x > 0.0 => (x.floor() as u64).min(HARD_MAX_BYTES),
        _ => DEFAULT_MAX_BYTES,
    }
}

fn overrun(e: crate::offload::Overrun) -> InvokeError {
    InvokeError::unavailable(e.to_string())
}

async fn fetch(cx: &InvokeContext, params: Map<String, Value>) -> Result<Result<Value, FileError>, InvokeError> {
    let requested = match read_absolute_path(params.get("path")) {
        Ok(p) => p,
        Err(e) => return Ok(Err(e)),
    };
    let max_bytes = clamp_max_bytes(params.get("maxBytes"));
    let preflight = flag(&params, "preflightOnly");
    let bound = off_thread_within(Lane::Lookup, "dir.fetch", WALK_TIMEOUT, move || {
        let (canonical, identity) = resolve_bound_read_directory(&params, &requested, classify, "directory not found")?;
        let walked = if preflight {
            match walk_tree(&canonical, &identity) {
                Ok(Some(entries)) => Some(entries),
                Ok(None) => {
                    return Err(FileError::at(
                        "TREE_TOO_LARGE",
                        "directory tree exceeds 5000 entries during preflight",
                        &canonical,
                    ))
                }
                Err(WalkError::IdentityChanged) => {
                    return Err(FileError::at(
                        "CANONICAL_PATH_CHANGED",
                        "preflight readdir failed: Error: filesystem identity differs from the authorized target",
                        &canonical,
                    ))
                }
                Err(WalkError::Fs(failure)) => {
                    return Err(FileError::at(
                        classify(&failure),
                        format!("preflight readdir failed: {failure}"),
                        &canonical,
                    ))
                }
            }
        } else {
            None
        };
        Ok((canonical, identity, walked))
    })
    .await
    .map_err(overrun)?;
    let (canonical, identity, walked) = match bound {
        Ok(b) => b,
        Err(e) => return Ok(Err(e)),
    };
    if !preflight && !du_estimate_fits(cx, &canonical, max_bytes).await {
        return Ok(Err(FileError::at(
            "TREE_TOO_LARGE",
            format!("directory tree exceeds estimated size limit ({max_bytes} bytes raw)"),
            &canonical,
        )));
    }
    // Upstream's command runner reads an output limit of 0 as "the default" (16 MiB).
    let tar_cap = if max_bytes == 0 { HARD_MAX_BYTES } else { max_bytes };
    let tarball = match run_tar(cx, &canonical, &identity, tar_cap).await? {
        TarOutcome::Archive(bytes) => bytes,
        TarOutcome::TooLarge => {
            let when = if preflight { "during preflight" } else { "mid-stream" };
            return Ok(Err(FileError::at(
                "TREE_TOO_LARGE",
                format!("tarball exceeded {max_bytes} byte limit {when}"),
                &canonical,
            )));
        }
        TarOutcome::Timeout => {
            return Ok(Err(FileError::at(
                "READ_ERROR",
                "tar command exceeded 60s wall-clock timeout (slow filesystem or symlink loop?)",
                &canonical,
            )))
        }
        TarOutcome::IdentityChanged => {
            return Ok(Err(FileError::at(
                "CANONICAL_PATH_CHANGED",
                "canonical path differs from the authorized target",
                &canonical,
            )))
        }
        TarOutcome::Failed => {
            if preflight {
                let c = canonical.clone();
                let rechecked = off_thread_within(Lane::Lookup, "dir.fetch", WALK_TIMEOUT, move || {
                    stat_required_directory(&c, classify)
                })
                .await
                .map_err(overrun)?;
                if let Err(e) = rechecked {
                    return Ok(Err(e));
                }
            }
            return Ok(Err(FileError::at("READ_ERROR", "tar command failed", &canonical)));
        }
    };
    if let Some(entries) = walked {
        let mut out = Map::new();
        out.insert("ok".into(), json!(true));
        out.insert("path".into(), json!(canonical));
        out.insert("tarBase64".into(), json!(""));
        out.insert("tarBytes".into(), json!(0));
        out.insert("sha256".into(), json!(""));
        out.insert("fileCount".into(), json!(entries.len()));
        out.insert("entries".into(), json!(entries));
        out.insert("preflightOnly".into(), json!(true));
        out.insert("binding".into(), identity.existing_binding());
        return Ok(Ok(Value::Object(out)));
    }
    let done = off_thread_within(Lane::Lookup, "dir.fetch archive", INSPECT_TIMEOUT, move || {
        let inspected = archive::inspect(&tarball);
        (tarball, inspected)
    })
    .await;
    let (tarball, entries) = match done {
        Ok((tarball, Ok(entries))) => (tarball, entries),
        Ok((_, Err(refused))) => {
            let (code, message) = match refused {
                archive::InspectError::Limit(m) => ("TREE_TOO_LARGE", m.to_string()),
                archive::InspectError::Refused(m) => ("READ_ERROR", m),
            };
            return Ok(Err(FileError::at(code, format!("archive inspection failed: {message}"), &canonical)));
        }
        Err(_) => {
            return Ok(Err(FileError::at(
                "READ_ERROR",
                "archive inspection failed: inspect tar timed out after 10000ms",
                &canonical,
            )))
        }
    };
    let mut out = Map::new();
    out.insert("ok".into(), json!(true));
    out.insert("path".into(), json!(canonical));
    // `Value::String`, not `json!`: the macro serialises a copy of the (large) string.
    out.insert("tarBase64".into(), Value::String(base64::engine::general_purpose::STANDARD.encode(&tarball)));
    out.insert("tarBytes".into(), json!(tarball.len()));
    out.insert("sha256".into(), json!(sha256_hex(&tarball)));
    out.insert("fileCount".into(), json!(entries.len()));
    out.insert("entries".into(), json!(entries));
    out.insert("binding".into(), identity.existing_binding());
    Ok(Ok(Value::Object(out)))
}

/// Why the preflight walk stopped.
#[derive(Debug)]
enum WalkError {
    /// The directory at the path is no longer the authorized one.
    IdentityChanged,
    /// A directory or entry could not be read.
    Fs(FsFailure),
}

/// `listTreeEntries`: the relative paths of the tree, depth first, each directory's names in
/// `localeCompare` order (ties in UTF-16 order), symlinks listed but not entered; `None` past
/// 5000 entries. Everything is read through descriptors opened from the bound one.
fn walk_tree(canonical: &str, identity: &Identity) -> Result<Option<Vec<String>>, WalkError> {
    let root = nix::fcntl::open(
        canonical,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK,
        Mode::empty(),
    )
    .map_err(|e| match e {
        nix::Error::ENOENT => WalkError::Fs(FsFailure::Safe("not-found", "root dir not found".into())),
        e => WalkError::Fs(FsFailure::os(std::io::Error::from(e), "open", canonical)),
    })?;
    let st = fstat(&root).map_err(|e| WalkError::Fs(FsFailure::os(e.into(), "stat", canonical)))?;
    if st.st_dev != identity.device || st.st_ino != identity.inode {
        return Err(WalkError::IdentityChanged);
    }
    let mut results = Vec::new();
    let complete = visit(&root, canonical, "", &mut results)?;
    Ok(complete.then_some(results))
}

/// One directory of the walk; `false` once the limit is passed.
fn visit(dir: &OwnedFd, real: &str, relative: &str, results: &mut Vec<String>) -> Result<bool, WalkError> {
    let not_found = || WalkError::Fs(FsFailure::Safe("not-found", "directory not found".into()));
    let names = read_names(dir).map_err(|e| match e {
        nix::Error::ENOENT => not_found(),
        e => WalkError::Fs(FsFailure::os(e.into(), "scandir", real)),
    })?;
    // fs-safe reads and `lstat`s every name before the walk goes on (by the decoded name, so
    // a name that is not UTF-8 is not found).
    let mut entries = Vec::with_capacity(names.len());
    for (_, name) in names {
        let st =
            fstatat(dir, OsStr::from_bytes(name.as_bytes()), AtFlags::AT_SYMLINK_NOFOLLOW).map_err(|e| match e {
                nix::Error::ENOENT => not_found(),
                e => WalkError::Fs(FsFailure::os(e.into(), "lstat", format!("{real}/{name}"))),
            })?;
        entries.push((name, (st.st_mode & 0o170000) == 0o040000));
    }
    entries.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
    entries.sort_by_cached_key(|(name, _)| sort_key(name));
    for (name, is_dir) in entries {
        let rel = if relative.is_empty() { name.clone() } else { format!("{relative}/{name}") };
        results.push(rel.clone());
        if results.len() > MAX_TREE_ENTRIES {
            return Ok(false);
        }
        if is_dir {
            // fs-safe expands a leading `~` of a relative path to the home directory, which
            // is outside the tree.
            if rel == "~" || rel.starts_with("~/") {
                return Err(WalkError::Fs(FsFailure::Safe("path-alias", "path alias escape blocked".into())));
            }
            let child = nix::fcntl::openat(
                dir,
                OsStr::from_bytes(name.as_bytes()),
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK,
                Mode::empty(),
            )
            .map_err(|e| match e {
                nix::Error::ENOENT => not_found(),
                e => WalkError::Fs(FsFailure::os(e.into(), "open", format!("{real}/{name}"))),
            })?;
            if !visit(&child, &format!("{real}/{name}"), &rel, results)? {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// `preflightDu`: whether `du -sk` puts the tree within four times the byte limit. Any
/// failure to get a number passes.
async fn du_estimate_fits(cx: &InvokeContext, canonical: &str, max_bytes: u64) -> bool {
    let Some(du) = crate::path_env::find_executable("du", &cx.env.path) else { return true };
    let child = tokio::process::Command::new(du)
        .args(["-sk", canonical])
        .env("PATH", &cx.env.path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(true)
        .spawn();
    let Ok(mut child) = child else { return true };
    let Some(mut stdout) = child.stdout.take() else { return true };
    let run = async {
        let mut out = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            match stdout.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => {
                    out.extend_from_slice(&buf[..n]);
                    if out.len() > DU_MAX_OUTPUT {
                        return None;
                    }
                }
                Err(_) => return None,
            }
        }
        let status = child.wait().await.ok()?;
        (status.code() == Some(0)).then_some(out)
    };
    let Ok(Some(out)) = tokio::time::timeout(DU_TIMEOUT, run).await else { return true };
    let text = String::from_utf8_lossy(&out);
    let digits: String = text.trim().chars().take_while(|c| c.is_ascii_digit()).collect();
    let Ok(kib) = digits.parse::<f64>() else { return true };
    kib <= (max_bytes as f64 * 4.0 / 1024.0).ceil()
}

/// What packing the tree gave.
#[derive(Debug)]
enum TarOutcome {
    Archive(Vec<u8>),
    TooLarge,
    Timeout,
    IdentityChanged,
    Failed,
}

/// Runs `/usr/bin/tar -czf - .` in the checked directory, keeping at most `max_bytes` of its
/// output; its process group is killed past the limit or the timeout.
async fn run_tar(
    cx: &InvokeContext,
    canonical: &str,
    identity: &Identity,
    max_bytes: u64,
) -> Result<TarOutcome, InvokeError> {
    let (c, id) = (canonical.to_string(), *identity);
    let opened = off_thread_within(Lane::Lookup, "dir.fetch", WALK_TIMEOUT, move || open_bound_directory(&c, &id))
        .await
        .map_err(overrun)?;
    Ok(match opened {
        Ok(dir) => tar_in(dir, &cx.env.path, max_bytes).await,
        Err(ListFailure::IdentityChanged) => TarOutcome::IdentityChanged,
        Err(ListFailure::Failed) => TarOutcome::Failed,
    })
}

/// Runs tar with the open directory `dir` as its working directory.
async fn tar_in(dir: OwnedFd, path_env: &str, max_bytes: u64) -> TarOutcome {
    let dir_fd = dir.as_fd().as_raw_fd();
    let mut command = tokio::process::Command::new(TAR);
    command
        .args(["-czf", "-", "."])
        .env("PATH", path_env)
        .env("OPENCLAW_CLI", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    // The child enters the directory through the descriptor (its `/proc/self/fd` link names
    // the open directory itself, not the path); `dir` stays open until `spawn` returns.
    command.current_dir(format!("/proc/self/fd/{dir_fd}"));
    let spawned = command.spawn();
    drop(dir);
    let Ok(mut child) = spawned else { return TarOutcome::Failed };
    let pgid = child.id().map(|id| nix::unistd::Pid::from_raw(id as i32));
    let kill = move || {
        if let Some(pgid) = pgid {
            let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
        }
    };
    let Some(mut stdout) = child.stdout.take() else { return TarOutcome::Failed };
    let run = async {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match stdout.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => {
                    out.extend_from_slice(&buf[..n]);
                    if out.len() as u64 > max_bytes {
                        return TarOutcome::TooLarge;
                    }
                }
                Err(_) => return TarOutcome::Failed,
            }
        }
        match child.wait().await {
            Ok(status) if status.code() == Some(0) => TarOutcome::Archive(out),
            _ => TarOutcome::Failed,
        }
    };
    let outcome = tokio::time::timeout(TAR_TIMEOUT, run).await.unwrap_or(TarOutcome::Timeout);
    if !matches!(outcome, TarOutcome::Archive(_)) {
        kill();
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rule (upstream's `clampMaxBytes`): maxBytes defaults to 8 MiB unless a positive number,
    /// floors, caps at 16 MiB.
    #[test]
    fn max_bytes_clamps_as_upstream() {
        let c = |v: Value| clamp_max_bytes(Some(&v));
        assert_eq!(c(json!(0)), DEFAULT_MAX_BYTES);
        assert_eq!(c(json!(1000.9)), 1000);
        assert_eq!(c(json!(1e12)), HARD_MAX_BYTES);
        assert_eq!(c(json!("5")), DEFAULT_MAX_BYTES);
    }

    /// Rule (the tar worker of upstream's `createTarArchive`, exit 78): tar packs the directory
    /// that was checked, even when the path is swapped after the check; past the byte limit it
    /// is stopped.
    #[tokio::test(flavor = "current_thread")]
    async fn tar_packs_the_checked_directory_after_a_swap() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let target = root.join("d");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("original"), "1").unwrap();
        let canonical = target.to_string_lossy().into_owned();
        let identity = Identity::of(&std::fs::metadata(&target).unwrap());
        let path_env = std::env::var("PATH").unwrap_or_default();
        let fd = open_bound_directory(&canonical, &identity).unwrap();
        std::fs::rename(&target, root.join("moved")).unwrap();
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("impostor"), "2").unwrap();
        let TarOutcome::Archive(bytes) = tar_in(fd, &path_env, HARD_MAX_BYTES).await else { panic!("tar failed") };
        assert_eq!(archive::inspect(&bytes).unwrap(), ["original"]);
        let fd = open_bound_directory(&root.join("moved").to_string_lossy(), &identity).unwrap();
        assert!(matches!(tar_in(fd, &path_env, 10).await, TarOutcome::TooLarge));
    }

    /// Rule (upstream's `listTreeEntries`): the preflight walk is depth first, each directory in
    /// localeCompare order, symlinks listed and not entered.
    #[test]
    fn walks_depth_first() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join("assets/activity")).unwrap();
        std::fs::write(root.join("assets/activity/dir_fetch.svg"), "x").unwrap();
        std::fs::write(root.join("assets/activity.svg"), "x").unwrap();
        std::os::unix::fs::symlink(root.join("assets"), root.join("link")).unwrap();
        let canonical = root.to_string_lossy().into_owned();
        let identity = Identity::of(&std::fs::metadata(&root).unwrap());
        let walked = walk_tree(&canonical, &identity).unwrap().unwrap();
        assert_eq!(
            walked,
            ["assets", "assets/activity", "assets/activity/dir_fetch.svg", "assets/activity.svg", "link"]
        );
    }
}
