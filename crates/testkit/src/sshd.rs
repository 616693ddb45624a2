//! An OpenSSH server inside a network namespace, for the SSH-verified pairing tests: Debian's
//! `sshd` on port 22 of the node's namespace, with a host key, a client key and a login profile
//! generated for one test, so the gateway can log in to the node's address exactly as upstream
//! does (`ssh … root@<node ip> "sh -lc 'openclaw node identity --json'"`) without the test
//! reading or writing anything under `/root/.ssh` or `/etc/ssh`.
//!
//! What lives where (all under the test's directory):
//! - `sshd_config`, `host_ed25519` (the server's key), `authorized_keys` (holding
//!   `client_ed25519.pub`) and `sshd.log` (`sshd -D -e`: every connection and login is logged).
//! - `client_ed25519`: the key the gateway logs in with (`sshVerify.identity`), and
//!   `known_hosts`: the server's key under the node's address, for `StrictHostKeyChecking=yes`.
//! - `home/.profile`: the login shell's profile. sshd's `SetEnv HOME=…` points the session's
//!   HOME here, so `sh -lc` reads this file after `/etc/profile` (which resets root's PATH on
//!   Debian): the test decides which `openclaw` the remote command runs and which state
//!   directory it reports, with [`NsSshd::set_profile`].
//! - `gateway-bin/ssh`: a wrapper for the gateway's PATH ([`NsSshd::gateway_path`]); see
//!   [`NsSshd::write_ssh_wrapper`].
//!
//! The only thing outside the test directory it may create is `/run/sshd`, sshd's standard
//! privilege-separation directory (an empty root-owned directory the package normally creates
//! when its service starts; it is left in place for any other sshd).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::faults::netns::NetPair;
use crate::faults::Unavailable;
use crate::process::kill_tree;
use crate::{Error, Result};

/// Debian's sshd; `scripts/ssh-deps` installs it (package `openssh-server`).
pub const SSHD: &str = "/usr/sbin/sshd";

/// Checks that this machine can run the SSH pairing tests: root, `ip`, sshd, the ssh client and
/// ssh-keygen, and a namespace pair that can actually be created. `Err` carries the reason for
/// the loud `ssh-verify: SKIPPED (<reason>)` line.
pub fn preflight() -> std::result::Result<(), Unavailable> {
    if !nix::unistd::geteuid().is_root() {
        return Err(Unavailable::NotRoot);
    }
    for (tool, present) in [
        ("ip", which("ip")),
        ("sshd (scripts/ssh-deps installs openssh-server)", Path::new(SSHD).exists()),
        ("ssh", which("ssh")),
        ("ssh-keygen", which("ssh-keygen")),
    ] {
        if !present {
            return Err(Unavailable::MissingTool(tool));
        }
    }
    crate::faults::sweep_leftovers();
    NetPair::create()
        .map(drop)
        .map_err(|e| Unavailable::Refused { what: "network namespaces with a veth pair", detail: e.to_string() })
}

/// Prints the loud skip line (stdout and stderr, so it shows with and without capture).
pub fn print_skip(reason: &Unavailable) {
    println!("ssh-verify: SKIPPED ({reason})");
    eprintln!("ssh-verify: SKIPPED ({reason})");
}

fn which(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn run(program: &str, args: &[&str]) -> Result<()> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| Error::Spawn { program: program.into(), source })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::Script {
            script: format!("{program} {}", args.join(" ")),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| Error::io(path, e))
}

/// A running sshd in a namespace, stopped (with everything it started) on drop.
pub struct NsSshd {
    child: Option<Child>,
    /// The directory holding its keys, config, profile and log.
    pub dir: PathBuf,
    /// The address it listens on (port 22).
    pub addr: String,
    /// The private key authorised to log in (for `sshVerify.identity`).
    pub client_key: PathBuf,
    /// A known_hosts file holding its host key under `addr`.
    pub known_hosts: PathBuf,
    /// Its log (`sshd -e`).
    pub log: PathBuf,
}

impl NsSshd {
    /// Generates the keys and config in `dir` and starts `sshd -D -e` inside `ns`, listening on
    /// `addr:22` and accepting only `user` with the client key; waits until it listens.
    pub fn start(ns: &str, addr: &str, user: &str, dir: &Path) -> Result<NsSshd> {
        std::fs::create_dir_all(dir.join("home")).map_err(|e| Error::io(dir, e))?;
        let host_key = dir.join("host_ed25519");
        let client_key = dir.join("client_ed25519");
        for (key, comment) in [(&host_key, "ssh-verify-test-host"), (&client_key, "ssh-verify-test-gateway")] {
            let key = key.to_string_lossy();
            run("ssh-keygen", &["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", &key])?;
        }
        let read = |p: PathBuf| std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e));
        let authorized = dir.join("authorized_keys");
        write(&authorized, &read(dir.join("client_ed25519.pub"))?)?;
        let host_pub = read(dir.join("host_ed25519.pub"))?;
        let host_pub: Vec<&str> = host_pub.split_whitespace().take(2).collect();
        let known_hosts = dir.join("known_hosts");
        write(&known_hosts, &format!("{addr} {}\n", host_pub.join(" ")))?;
        let config = dir.join("sshd_config");
        write(
            &config,
            &format!(
                "Port 22\n\
                 ListenAddress {addr}\n\
                 HostKey {host}\n\
                 PidFile none\n\
                 AuthorizedKeysFile {authorized}\n\
                 # The test directory lives under /tmp, which StrictModes would refuse.\n\
                 StrictModes no\n\
                 PubkeyAuthentication yes\n\
                 PasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\n\
                 PermitRootLogin prohibit-password\n\
                 AllowUsers {user}\n\
                 UsePAM no\n\
                 PrintMotd no\n\
                 PrintLastLog no\n\
                 LogLevel VERBOSE\n\
                 # The session's HOME is the test's, so `sh -lc` reads the test's .profile.\n\
                 SetEnv HOME={home}\n",
                host = host_key.display(),
                authorized = authorized.display(),
                home = dir.join("home").display(),
            ),
        )?;
        std::fs::create_dir_all("/run/sshd").map_err(|e| Error::io("/run/sshd", e))?;
        let log = dir.join("sshd.log");
        let log_file = std::fs::File::create(&log).map_err(|e| Error::io(&log, e))?;
        // `ip netns exec` execs sshd in place, so the pid is sshd's; it stays in the test's
        // process group, so a test killed by nextest takes it along.
        let child = NetPair::command(ns, SSHD)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .map_err(|source| Error::Spawn { program: SSHD.into(), source })?;
        let mut sshd =
            NsSshd { child: Some(child), dir: dir.to_path_buf(), addr: addr.into(), client_key, known_hosts, log };
        sshd.wait_listening(Duration::from_secs(10))?;
        Ok(sshd)
    }

    fn wait_listening(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.log_text().contains("Server listening on") {
                return Ok(());
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                return Err(Error::NotReady { what: format!("sshd exited ({status})"), log: self.log_text() });
            }
            if Instant::now() >= deadline {
                return Err(Error::NotReady { what: "sshd did not listen".into(), log: self.log_text() });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Writes the login profile the remote `sh -lc` reads: `openclaw` from `bin_dir`, and
    /// `OPENCLAW_STATE_DIR=state_dir`, so `openclaw node identity --json` reports that state
    /// directory's identity.
    pub fn set_profile(&self, bin_dir: &Path, state_dir: &Path) -> Result<()> {
        let profile = self.dir.join("home/.profile");
        write(
            &profile,
            &format!(
                "PATH='{}':\"$PATH\"\nexport PATH\nOPENCLAW_STATE_DIR='{}'\nexport OPENCLAW_STATE_DIR\n",
                bin_dir.display(),
                state_dir.display()
            ),
        )
    }

    /// Writes `dir/ssh`, a wrapper for the front of the gateway's PATH, and returns `dir`.
    ///
    /// The gateway runs `ssh` from its PATH with upstream's options and its own user's files
    /// (as root: `/root/.ssh/known_hosts` and `/root/.ssh/config`), which a test must not read
    /// or write. The wrapper puts `-F none` (no config file), this server's known_hosts and an
    /// empty global one *before* the gateway's arguments, then runs the real ssh: everything
    /// the gateway passes reaches ssh unchanged, and the options added are only about where
    /// host keys are looked up. It also appends its argv to `ssh-argv.log` beside it, so a test
    /// can check the exact command line the gateway used.
    pub fn write_ssh_wrapper(&self, dir: &Path) -> Result<PathBuf> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let real = Command::new("sh")
            .args(["-c", "command -v ssh"])
            .output()
            .map_err(|source| Error::Spawn { program: "sh".into(), source })?;
        let real = String::from_utf8_lossy(&real.stdout).trim().to_string();
        let wrapper = dir.join("ssh");
        write(
            &wrapper,
            &format!(
                "#!/bin/sh\n\
                 # Test wrapper (crates/testkit/src/sshd.rs): the test's known_hosts, no user config.\n\
                 printf '%s\\n' \"$*\" >> '{log}'\n\
                 exec '{real}' -F none -o UserKnownHostsFile='{known}' -o GlobalKnownHostsFile=/dev/null \"$@\"\n",
                log = dir.join("ssh-argv.log").display(),
                known = self.known_hosts.display(),
            ),
        )?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| Error::io(&wrapper, e))?;
        Ok(dir.to_path_buf())
    }

    /// `dir` (holding the wrapper) in front of this process's PATH, for the gateway's env.
    pub fn gateway_path(dir: &Path) -> String {
        format!("{}:{}", dir.display(), std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()))
    }

    /// The log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// How many logins with the client key it accepted.
    pub fn accepted_logins(&self) -> usize {
        self.log_text().matches("Accepted publickey for").count()
    }

    /// How many TCP connections it saw.
    pub fn connections(&self) -> usize {
        self.log_text().matches("Connection from").count()
    }
}

impl Drop for NsSshd {
    fn drop(&mut self) {
        // sshd and any session it forked, by pid (never by name).
        if let Some(mut child) = self.child.take() {
            kill_tree(&mut child);
        }
    }
}
