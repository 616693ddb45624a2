//! Starting a `system.run` command: in its own session (so its own process group, whose id is
//! its pid), on the stdio descriptors the runner made for it, with exactly the environment it
//! is given.
//!
//! Why not `std::process::Command` alone: a new session needs `setsid` in the child, which std
//! offers only through a `pre_exec` closure, and a closure makes std `fork`. Forking the node,
//! a multi-threaded process (tokio's blocking pool), copies its page tables and write-protects
//! its private pages, with a TLB-shootdown interrupt to the other core each time, and the child
//! then tears that copy down again at `exec`; under load that was most of the node's own CPU
//! per command (BENCHMARKS.md, 2026-12-02). glibc's `posix_spawn` starts the child with
//! `CLONE_VM | CLONE_VFORK` (nothing is copied) and can make it a session leader
//! (`POSIX_SPAWN_SETSID`, glibc 2.26), so this module uses it on Linux with glibc.
//!
//! The semantics are those of the fork path it replaces (std's `Command` with `env_clear`,
//! `setsid` in `pre_exec`, the given stdio, `current_dir`), so callers see no difference:
//! - the program is looked up as `execvp` in the child looked it up: on the child's `PATH`
//!   (`/bin:/usr/bin` when it has none), an empty entry meaning the working directory, a name
//!   with a `/` used as is (relative to the working directory), `EACCES` remembered while
//!   the search goes on, and `ENOENT`-like errors skipped ([`search`]);
//! - a working directory that cannot be entered fails with the error `chdir` gave, checked
//!   before the search as the child checked it before `exec`;
//! - signals: an empty mask and `SIGPIPE` at its default (the Rust runtime ignores it);
//! - every descriptor of the node is close-on-exec, so the child gets only 0, 1 and 2.
//!
//! What that fast path does not cover goes through std's fork path exactly as before
//! ([`forked`]): a program that is not an executable format (`ENOEXEC`: `execvp` then runs it
//! with `/bin/sh`), a NUL byte in an argument, the environment or the directory (std's own
//! error), overlong names, a stdio descriptor numbered 0, 1 or 2 (a node started with those
//! closed), a kernel without `pidfd_open` (Linux < 5.3), and other platforms.
//!
//! The spawn itself suspends its thread until the child has called `exec` (the fork path
//! waited for that too), so the runner calls it on the blocking pool ([`spawn_off_thread`]).
//! A child started here is waited for through a pidfd (readable once it exits), so the
//! runtime thread never blocks; a [`Child`] dropped before its exit was collected is reaped in
//! the background, as tokio does with its own children.

use std::collections::BTreeMap;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};

/// A started command.
pub struct Child {
    pid: i32,
    waiter: Waiter,
}

/// The child's stdin, stdout and stderr: close-on-exec descriptors the child gets as 0, 1
/// and 2; the node's copies are closed once the child has its own.
pub type ChildStdio = [OwnedFd; 3];

enum Waiter {
    /// Started by `posix_spawn`; waited for through its pidfd.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    Pidfd(fast::PidfdWaiter),
    /// Started by std's fork path; tokio waits for it.
    Forked(tokio::process::Child),
}

impl Child {
    /// The child's process group (it leads its own session, so this is its pid), for
    /// `killpg` on timeout or cancel.
    pub fn process_group(&self) -> i32 {
        self.pid
    }

    /// Waits for the child to exit. Cancel-safe; once it has exited, returns the same status
    /// again.
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        match &mut self.waiter {
            #[cfg(all(target_os = "linux", target_env = "gnu"))]
            Waiter::Pidfd(w) => w.wait(self.pid).await,
            Waiter::Forked(child) => child.wait().await,
        }
    }
}

/// Starts `program` with `args` in a new session, in `cwd` (the node's own when `None`),
/// with exactly `env` as its environment. The error is what starting it failed with, as std's
/// `Command::spawn` reported it on the fork path. Call it inside a tokio runtime (the child's
/// pipes and exit are registered with its reactor), as `tokio::process::Command::spawn`.
pub fn spawn(
    program: &str,
    args: &[String],
    env: &BTreeMap<String, String>,
    cwd: Option<&Path>,
    stdio: ChildStdio,
) -> io::Result<Child> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    let stdio = match fast::spawn(program, args, env, cwd, stdio) {
        fast::Outcome::Started(child) => return Ok(*child),
        fast::Outcome::Failed(e) => return Err(e),
        fast::Outcome::NotCovered(stdio) => stdio,
    };
    forked(program, args, env, cwd, stdio)
}

/// [`spawn`] on tokio's blocking pool. `posix_spawn` suspends the calling thread until the
/// child has called `exec` (vfork semantics; the fork path waited for the exec too), and on a
/// busy machine the child may first wait for a CPU: on the node's only runtime thread that
/// stall held up every other invoke, ping and result meanwhile.
pub async fn spawn_off_thread(
    program: String,
    args: Vec<String>,
    env: BTreeMap<String, String>,
    cwd: Option<PathBuf>,
    stdio: ChildStdio,
) -> io::Result<Child> {
    tokio::task::spawn_blocking(move || spawn(&program, &args, &env, cwd.as_deref(), stdio))
        .await
        .map_err(|e| io::Error::other(format!("starting the command did not finish: {e}")))?
}

/// std's fork path with `setsid` in the child: what every command went through before, and
/// what the cases the fast path does not cover still go through.
pub fn forked(
    program: &str,
    args: &[String],
    env: &BTreeMap<String, String>,
    cwd: Option<&Path>,
    stdio: ChildStdio,
) -> io::Result<Child> {
    let [stdin, stdout, stderr] = stdio;
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .env_clear()
        .envs(env)
        .stdin(Stdio::from(stdin))
        .stdout(Stdio::from(stdout))
        .stderr(Stdio::from(stderr));
    if let Some(cwd) = cwd {
        cmd.current_dir(cwd);
    }
    // SAFETY: setsid is async-signal-safe. The child leads its own session and process group,
    // so a timeout or cancel can kill everything it started with one killpg.
    unsafe {
        cmd.pre_exec(|| nix::unistd::setsid().map(|_| ()).map_err(std::io::Error::from));
    }
    let spawned = cmd.spawn();
    // The command holds the child's ends; the caller's must be the only ones left.
    drop(cmd);
    let child = spawned?;
    let pid = child.id().map(|p| p as i32).ok_or_else(|| io::Error::other("the child has no pid"))?;
    Ok(Child { pid, waiter: Waiter::Forked(child) })
}

/// The candidates `execvp` tries for `program` with this `PATH` (`None`: the variable is
/// absent), in order; relative ones are relative to the child's working directory.
pub fn search(program: &str, path: Option<&str>) -> Vec<String> {
    if program.contains('/') {
        return vec![program.to_string()];
    }
    // glibc's execvpe: no PATH means confstr(_CS_PATH); an empty entry is the current directory.
    path.unwrap_or("/bin:/usr/bin")
        .split(':')
        .map(|dir| if dir.is_empty() { program.to_string() } else { format!("{dir}/{program}") })
        .collect()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod fast {
    //! `posix_spawn` with `POSIX_SPAWN_SETSID`, and the pidfd the child is waited for with.

    use std::collections::BTreeMap;
    use std::ffi::{CStr, CString};
    use std::io;
    use std::mem::MaybeUninit;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::process::ExitStatusExt;
    use std::path::Path;
    use std::process::ExitStatus;
    use std::sync::OnceLock;

    use nix::errno::Errno;
    use nix::sys::signal::{SigSet, Signal};
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    use nix::unistd::Pid;
    use tokio::io::unix::AsyncFd;

    use super::{search, Child, ChildStdio, Waiter};

    /// Longest program name and `PATH` the search handles itself (glibc refuses longer ones
    /// with `ENAMETOOLONG`; std's path reports that).
    const NAME_MAX: usize = 255;
    const PATH_MAX: usize = 4096;

    pub(super) enum Outcome {
        Started(Box<Child>),
        Failed(io::Error),
        /// Not a case this path handles: use the fork path (with the stdio given back).
        NotCovered(ChildStdio),
    }

    /// Whether this kernel has `pidfd_open` (Linux 5.3), probed once on the node itself.
    fn pidfds_work() -> bool {
        static WORKS: OnceLock<bool> = OnceLock::new();
        *WORKS.get_or_init(|| pidfd_open(std::process::id() as i32).is_ok())
    }

    fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
        // SAFETY: pidfd_open(pid, flags) takes two integers and returns a new descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, libc::PIDFD_NONBLOCK) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the syscall returned a fresh descriptor that nothing else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
    }

    fn cstring(text: &str) -> Option<CString> {
        CString::new(text).ok()
    }

    pub(super) fn spawn(
        program: &str,
        args: &[String],
        env: &BTreeMap<String, String>,
        cwd: Option<&Path>,
        stdio: ChildStdio,
    ) -> Outcome {
        let path_var = env.get("PATH").map(String::as_str);
        if program.is_empty() || program.len() > NAME_MAX || path_var.is_some_and(|p| p.len() > PATH_MAX) {
            return Outcome::NotCovered(stdio);
        }
        if !pidfds_work() {
            return Outcome::NotCovered(stdio);
        }
        // NUL bytes: std reports its own error for them; leave them to it.
        let Some(argv) =
            std::iter::once(program).chain(args.iter().map(String::as_str)).map(cstring).collect::<Option<Vec<_>>>()
        else {
            return Outcome::NotCovered(stdio);
        };
        let Some(envp) = env.iter().map(|(k, v)| cstring(&format!("{k}={v}"))).collect::<Option<Vec<_>>>() else {
            return Outcome::NotCovered(stdio);
        };
        let cwd_c = match cwd.map(|c| CString::new(c.as_os_str().as_encoded_bytes())) {
            None => None,
            Some(Ok(c)) => Some(c),
            Some(Err(_)) => return Outcome::NotCovered(stdio),
        };
        // The fork path's child entered the directory before exec and failed with chdir's error.
        if let Some(cwd) = cwd {
            if let Err(e) = enterable(cwd) {
                return Outcome::Failed(e);
            }
        }
        // A descriptor already numbered 0-2 could be overwritten by another's dup2 (or keep
        // its close-on-exec flag): leave that to std, which handles it.
        if stdio.iter().any(|fd| fd.as_raw_fd() < 3) {
            return Outcome::NotCovered(stdio);
        }

        // execvp's search, with a stat first so names that are not there cost no clone. As in
        // glibc, the error is EACCES if any candidate gave it, else the last candidate's.
        let mut saw_eacces = false;
        let mut last = Errno::ENOENT;
        for candidate in search(program, path_var) {
            let on_disk = match cwd {
                Some(dir) if !candidate.starts_with('/') => dir.join(&candidate),
                _ => candidate.clone().into(),
            };
            if let Err(e) = std::fs::metadata(&on_disk) {
                if let Some(errno @ (Errno::ENOENT | Errno::ENOTDIR)) = e.raw_os_error().map(Errno::from_raw) {
                    last = errno; // what exec would have said
                    continue;
                }
            }
            let Some(file) = cstring(&candidate) else { return Outcome::NotCovered(stdio) };
            match posix_spawn_session(&file, &argv, &envp, cwd_c.as_deref(), &stdio) {
                Ok(pid) => return started(pid, stdio),
                Err(Errno::ENOEXEC) => return Outcome::NotCovered(stdio),
                Err(Errno::EACCES) => {
                    saw_eacces = true;
                    last = Errno::EACCES;
                }
                Err(e @ (Errno::ENOENT | Errno::ESTALE | Errno::ENOTDIR | Errno::ENODEV | Errno::ETIMEDOUT)) => {
                    last = e
                }
                Err(e) => return Outcome::Failed(e.into()),
            }
        }
        Outcome::Failed(if saw_eacces { Errno::EACCES } else { last }.into())
    }

    /// `chdir`'s answer for `dir`, without changing the node's own directory.
    fn enterable(dir: &Path) -> io::Result<()> {
        let meta = std::fs::metadata(dir)?;
        if !meta.is_dir() {
            return Err(Errno::ENOTDIR.into());
        }
        nix::unistd::access(dir, nix::unistd::AccessFlags::X_OK).map_err(io::Error::from)
    }

    fn started(pid: i32, stdio: ChildStdio) -> Outcome {
        // The child has its copies; the node's are closed now.
        drop(stdio);
        // SAFETY (register): the AsyncFd owns the OwnedFd, so the descriptor stays open and
        // the same for the AsyncFd's whole life.
        let registered = pidfd_open(pid).and_then(|fd| unsafe { AsyncFd::register(fd) }.map_err(|e| e.into_parts().1));
        match registered {
            Ok(fd) => Outcome::Started(Box::new(Child {
                pid,
                waiter: Waiter::Pidfd(PidfdWaiter { fd: Some(fd), status: None }),
            })),
            Err(e) => {
                // Unreachable in practice (probed at first use); do not leave a zombie.
                let _ = nix::sys::signal::killpg(Pid::from_raw(pid), Signal::SIGKILL);
                let _ = waitpid(Pid::from_raw(pid), None);
                Outcome::Failed(e)
            }
        }
    }

    /// Destroys the spawn attributes however the spawn ends.
    struct Attr<'a>(&'a mut MaybeUninit<libc::posix_spawnattr_t>);
    impl Drop for Attr<'_> {
        fn drop(&mut self) {
            // SAFETY: constructed only after posix_spawnattr_init succeeded on this storage.
            unsafe { libc::posix_spawnattr_destroy(self.0.as_mut_ptr()) };
        }
    }

    /// Destroys the file actions however the spawn ends.
    struct Actions<'a>(&'a mut MaybeUninit<libc::posix_spawn_file_actions_t>);
    impl Drop for Actions<'_> {
        fn drop(&mut self) {
            // SAFETY: constructed only after posix_spawn_file_actions_init succeeded on this storage.
            unsafe { libc::posix_spawn_file_actions_destroy(self.0.as_mut_ptr()) };
        }
    }

    fn check(rc: libc::c_int) -> Result<(), Errno> {
        if rc == 0 {
            Ok(())
        } else {
            Err(Errno::from_raw(rc))
        }
    }

    /// One `posix_spawn` of `file` (no PATH search): a new session, an empty signal mask,
    /// `SIGPIPE` at its default, the pipes on 0/1/2, then `chdir(cwd)`, then exec. The error
    /// is the first of those steps that failed, as glibc reports it.
    fn posix_spawn_session(
        file: &CStr,
        argv: &[CString],
        envp: &[CString],
        cwd: Option<&CStr>,
        stdio: &ChildStdio,
    ) -> Result<i32, Errno> {
        let argv_ptrs: Vec<*mut libc::c_char> =
            argv.iter().map(|a| a.as_ptr().cast_mut()).chain(std::iter::once(std::ptr::null_mut())).collect();
        let envp_ptrs: Vec<*mut libc::c_char> =
            envp.iter().map(|e| e.as_ptr().cast_mut()).chain(std::iter::once(std::ptr::null_mut())).collect();
        let mut sigdefault = SigSet::empty();
        sigdefault.add(Signal::SIGPIPE);
        let empty_mask = SigSet::empty();
        let flags =
            libc::POSIX_SPAWN_SETSID | (libc::POSIX_SPAWN_SETSIGMASK | libc::POSIX_SPAWN_SETSIGDEF) as libc::c_short;
        let [stdin, stdout, stderr] = [0, 1, 2].map(|i| stdio[i].as_raw_fd());
        let mut attr_storage = MaybeUninit::<libc::posix_spawnattr_t>::uninit();
        let mut actions_storage = MaybeUninit::<libc::posix_spawn_file_actions_t>::uninit();
        let mut pid: libc::pid_t = 0;
        // SAFETY: each object is initialised before use and destroyed by its guard; the
        // pointers passed to posix_spawn (file, argv, envp, the sets, cwd) outlive the call and
        // the argv/envp arrays are NULL-terminated; the descriptors are open (owned by `pipes`).
        unsafe {
            check(libc::posix_spawnattr_init(attr_storage.as_mut_ptr()))?;
            let attr = Attr(&mut attr_storage);
            check(libc::posix_spawnattr_setflags(attr.0.as_mut_ptr(), flags))?;
            check(libc::posix_spawnattr_setsigmask(attr.0.as_mut_ptr(), empty_mask.as_ref()))?;
            check(libc::posix_spawnattr_setsigdefault(attr.0.as_mut_ptr(), sigdefault.as_ref()))?;
            check(libc::posix_spawn_file_actions_init(actions_storage.as_mut_ptr()))?;
            let actions = Actions(&mut actions_storage);
            for (fd, target) in [(stdin, 0), (stdout, 1), (stderr, 2)] {
                check(libc::posix_spawn_file_actions_adddup2(actions.0.as_mut_ptr(), fd, target))?;
            }
            if let Some(cwd) = cwd {
                check(libc::posix_spawn_file_actions_addchdir_np(actions.0.as_mut_ptr(), cwd.as_ptr()))?;
            }
            check(libc::posix_spawn(
                &mut pid,
                file.as_ptr(),
                actions.0.as_ptr(),
                attr.0.as_ptr(),
                argv_ptrs.as_ptr(),
                envp_ptrs.as_ptr(),
            ))?;
        }
        Ok(pid)
    }

    /// Waits for a spawned child through its pidfd; reaps it in the background if dropped first.
    pub(super) struct PidfdWaiter {
        fd: Option<AsyncFd<OwnedFd>>,
        status: Option<ExitStatus>,
    }

    /// The child's status if it has exited (and is now reaped).
    fn try_reap(pid: i32) -> io::Result<Option<ExitStatus>> {
        let raw = match waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)).map_err(io::Error::from)? {
            WaitStatus::Exited(_, code) => (code & 0xff) << 8,
            WaitStatus::Signaled(_, signal, core) => signal as i32 | if core { 0x80 } else { 0 },
            _ => return Ok(None),
        };
        Ok(Some(ExitStatus::from_raw(raw)))
    }

    impl PidfdWaiter {
        pub(super) async fn wait(&mut self, pid: i32) -> io::Result<ExitStatus> {
            if let Some(status) = self.status {
                return Ok(status);
            }
            let fd = self.fd.as_ref().ok_or_else(|| io::Error::other("child already collected"))?;
            loop {
                let mut ready = fd.readable().await?;
                if let Some(status) = try_reap(pid)? {
                    self.status = Some(status);
                    self.fd = None;
                    return Ok(status);
                }
                ready.clear_ready();
            }
        }

        /// Leaves the reaping of a still-running child to a background task (or thread).
        pub(super) fn orphan(&mut self, pid: i32) {
            let Some(fd) = self.fd.take() else { return };
            if self.status.is_some() || matches!(try_reap(pid), Ok(Some(_)) | Err(_)) {
                return;
            }
            match tokio::runtime::Handle::try_current() {
                Ok(rt) => {
                    rt.spawn(async move {
                        while let Ok(mut ready) = fd.readable().await {
                            if !matches!(try_reap(pid), Ok(None)) {
                                return;
                            }
                            ready.clear_ready();
                        }
                    });
                }
                Err(_) => {
                    drop(fd);
                    std::thread::spawn(move || waitpid(Pid::from_raw(pid), None));
                }
            }
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        match &mut self.waiter {
            #[cfg(all(target_os = "linux", target_env = "gnu"))]
            Waiter::Pidfd(w) => w.orphan(self.pid),
            // tokio reaps its own orphans.
            Waiter::Forked(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use tokio::io::AsyncReadExt;

    #[test]
    fn the_search_is_execvps() {
        assert_eq!(search("ls", Some("/usr/bin:/bin")), vec!["/usr/bin/ls", "/bin/ls"]);
        assert_eq!(search("ls", None), vec!["/bin/ls", "/usr/bin/ls"], "glibc's default PATH");
        assert_eq!(search("ls", Some(":/bin:")), vec!["ls", "/bin/ls", "ls"], "empty entries are the cwd");
        assert_eq!(search("ls", Some("")), vec!["ls"]);
        assert_eq!(search("./run.sh", Some("/bin")), vec!["./run.sh"], "a name with a slash is not searched");
    }

    /// The node's ends of a child's stdio (stdin's is closed at once: EOF).
    struct Ours {
        out: std::os::unix::net::UnixStream,
        _err: std::os::unix::net::UnixStream,
    }

    /// Socket pairs for stdin, stdout and stderr, as the runner makes them.
    fn stdio() -> (ChildStdio, Ours) {
        let pair = || std::os::unix::net::UnixStream::pair().unwrap();
        let ((_, stdin), (out, stdout), (err, stderr)) = (pair(), pair(), pair());
        ([stdin.into(), stdout.into(), stderr.into()], Ours { out, _err: err })
    }

    /// What a start ended in: its stdout and exit code, or the error it failed with.
    async fn outcome(
        started: io::Result<Child>,
        ours: Ours,
    ) -> Result<(String, Option<i32>), (io::ErrorKind, Option<i32>)> {
        let mut child = started.map_err(|e| (e.kind(), e.raw_os_error()))?;
        ours.out.set_nonblocking(true).unwrap();
        let mut out = String::new();
        tokio::net::UnixStream::from_std(ours.out).unwrap().read_to_string(&mut out).await.expect("read");
        let status = child.wait().await.expect("wait");
        Ok((out, status.code()))
    }

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[tokio::test]
    async fn commands_start_without_fork_in_their_own_session_with_only_their_env() {
        let (io, ours) = stdio();
        let child = spawn(
            "sh",
            &["-c".into(), "cat /proc/self/stat; env".into()],
            &env(&[("PATH", "/usr/bin:/bin"), ("A", "1")]),
            None,
            io,
        )
        .unwrap();
        assert!(matches!(child.waiter, Waiter::Pidfd(_)), "the posix_spawn path was taken");
        let pid = child.process_group();
        let (out, code) = outcome(Ok(child), ours).await.unwrap();
        assert_eq!(code, Some(0));
        let mut lines = out.lines();
        // cat's own stat: pid (comm) state ppid pgrp session …; cat is sh's child, in sh's group
        // and session, which sh leads.
        let stat = lines.next().unwrap();
        let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
        assert_eq!((fields[2], fields[3]), (pid.to_string().as_str(), pid.to_string().as_str()), "{stat}");
        let mut vars: Vec<&str> =
            lines.filter(|l| !l.starts_with("PWD=") && !l.starts_with("SHLVL=") && !l.starts_with('_')).collect();
        vars.sort();
        assert_eq!(vars, vec!["A=1", "PATH=/usr/bin:/bin"]);
    }

    /// The posix_spawn path and std's fork path agree on what runs and on every error, case
    /// by case: the search, the working directory, scripts without `#!`, permissions.
    #[tokio::test]
    async fn the_fast_path_starts_and_fails_exactly_as_the_fork_path() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let write = |name: &str, text: &str, mode: u32| {
            std::fs::write(d.join(name), text).unwrap();
            std::fs::set_permissions(d.join(name), std::fs::Permissions::from_mode(mode)).unwrap();
        };
        write("hello", "#!/bin/sh\necho hello from $0\n", 0o755);
        write("noshebang", "echo no shebang\n", 0o755);
        write("notexec", "#!/bin/sh\necho never\n", 0o644);
        write("afile", "", 0o644);
        std::fs::create_dir(d.join("sub")).unwrap();
        write("sub/hello", "#!/bin/sh\necho sub hello\n", 0o755);
        let ds = d.to_str().unwrap();
        let path_dirs = format!("/nonexistent:{ds}/afile:{ds}:/usr/bin:/bin");
        /// Program, arguments, environment, working directory.
        type Case<'a> = (&'a str, Vec<&'a str>, BTreeMap<String, String>, Option<PathBuf>);
        let cases: Vec<Case> = vec![
            ("echo", vec!["hi"], env(&[("PATH", "/usr/bin:/bin")]), None),
            ("echo", vec!["no", "path"], env(&[]), None),
            ("hello", vec![], env(&[("PATH", &path_dirs)]), None),
            ("noshebang", vec![], env(&[("PATH", &path_dirs)]), None),
            ("notexec", vec![], env(&[("PATH", &path_dirs)]), None),
            ("notexec", vec![], env(&[("PATH", &format!("{ds}:/nonexistent"))]), None),
            ("missing-xyz", vec![], env(&[("PATH", &path_dirs)]), None),
            ("missing-xyz", vec![], env(&[("PATH", &format!("/nonexistent:{ds}/afile"))]), None),
            ("hello", vec![], env(&[("PATH", "sub")]), Some(d.to_path_buf())),
            ("hello", vec![], env(&[("PATH", "")]), Some(d.join("sub"))),
            ("./hello", vec![], env(&[]), Some(d.to_path_buf())),
            ("sub/hello", vec![], env(&[]), Some(d.to_path_buf())),
            ("./missing", vec![], env(&[]), Some(d.to_path_buf())),
            ("./afile/x", vec![], env(&[]), Some(d.to_path_buf())),
            ("./notexec", vec![], env(&[]), Some(d.to_path_buf())),
            ("sub", vec![], env(&[("PATH", ds)]), None),
            (ds, vec![], env(&[]), None),
            ("pwd", vec![], env(&[("PATH", "/usr/bin:/bin")]), Some(d.join("sub"))),
            ("true", vec![], env(&[("PATH", "/usr/bin:/bin")]), Some(d.join("nonexistent"))),
            ("true", vec![], env(&[("PATH", "/usr/bin:/bin")]), Some(d.join("afile"))),
            ("echo", vec!["nul\0byte"], env(&[("PATH", "/usr/bin:/bin")]), None),
            ("echo", vec![], env(&[("PATH", "/usr/bin:/bin"), ("NUL", "a\0b")]), None),
            ("", vec![], env(&[("PATH", "/usr/bin:/bin")]), None),
        ];
        // Left to the fork path: no executable format (execvp runs it with /bin/sh), NUL bytes
        // (std's own error), an empty name.
        for (program, args, env, cwd) in cases {
            let args: Vec<String> = args.into_iter().map(String::from).collect();
            #[cfg(all(target_os = "linux", target_env = "gnu"))]
            {
                let (io, ours) = stdio();
                let covered = match fast::spawn(program, &args, &env, cwd.as_deref(), io) {
                    fast::Outcome::Started(child) => {
                        let _ = outcome(Ok(*child), ours).await;
                        true
                    }
                    fast::Outcome::Failed(_) => true,
                    fast::Outcome::NotCovered(_) => false,
                };
                let expected = !(["noshebang", ""].contains(&program)
                    || args.iter().chain(env.values()).any(|t| t.contains('\0')));
                assert_eq!(covered, expected, "{program:?} {args:?} {env:?}");
            }
            let (io, ours) = stdio();
            let fast = outcome(spawn(program, &args, &env, cwd.as_deref(), io), ours).await;
            let (io, ours) = stdio();
            let forked = outcome(forked(program, &args, &env, cwd.as_deref(), io), ours).await;
            assert_eq!(fast, forked, "{program:?} {args:?} {env:?} {cwd:?}");
        }
    }
}
