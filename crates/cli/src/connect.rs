//! `openclaw connect <target>`: onboard this machine as a node in one step (`onboarding.md`).
//!
//! The target is a gateway's join URL (`openclaw devices join-code` prints one), an
//! `oc-pair://` URL or a bare setup code; `--target-file` reads it from a file and removes the
//! file at once, so the secret does not linger on disk or in shell history. The node then runs
//! with the setup code's bootstrap token, which the gateway accepts as pairing and as approval
//! of the node's first command surface. Without `--service` it keeps running in the
//! foreground, as `node run`; with it, it stops at the first `hello-ok` (the device token is
//! stored by then) and installs and starts the node service, whose command line holds no
//! secret. Errors print upstream's message alone and exit 1.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use openclaw_node_host::join::resolve_target;
use openclaw_node_host::startup::Pairing;
use openclaw_node_host::{NodeExit, NodeRunOptions};

use openclaw_service::SupervisorKind;

use crate::node::{command_allowlist, parse_command_ids, parse_supervisor, run_node_host, service};

/// The largest `--target-file` read.
const MAX_TARGET_FILE_BYTES: u64 = 64 * 1024;

/// `openclaw connect`.
#[derive(Args)]
pub(crate) struct ConnectArgs {
    /// oc-pair URL, setup code, or HTTPS Gateway join URL
    target: Option<String>,
    /// Read the target from a private file and remove it
    #[arg(long, value_name = "path")]
    target_file: Option<PathBuf>,
    /// The name the gateway shows for this node (persisted)
    #[arg(long, value_name = "name")]
    display_name: Option<String>,
    /// Exact comma-separated command allowlist (repeatable; persisted)
    #[arg(long, value_name = "ids", value_parser = parse_command_ids, action = clap::ArgAction::Append)]
    commands: Vec<Vec<String>>,
    /// Forget a saved command allowlist and advertise every command
    #[arg(long)]
    all_commands: bool,
    /// Install and start the node host as a service once paired
    #[arg(long)]
    service: bool,
    /// With --service: force a supervisor (systemd, launchd, schtasks or pidfile), as `node install`
    #[arg(long, value_parser = parse_supervisor, requires = "service", hide = true)]
    supervisor: Option<SupervisorKind>,
}

/// Runs `openclaw connect`.
pub(crate) fn run(args: ConnectArgs) -> ExitCode {
    match connect(args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::from(1)
        }
    }
}

fn connect(args: ConnectArgs) -> Result<ExitCode, String> {
    if args.all_commands && !args.commands.is_empty() {
        return Err("--all-commands cannot be combined with --commands".into());
    }
    let commands = command_allowlist(args.commands);
    let target = match (args.target, &args.target_file) {
        (Some(_), Some(_)) => return Err("Provide the connect target or --target-file, not both.".into()),
        (None, None) => return Err("Connect target is required.".into()),
        (Some(target), None) => target,
        (None, Some(path)) => read_target_file(path)?,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let payload = runtime.block_on(resolve_target(&target, openclaw_state::now_ms())).map_err(|e| {
        if let openclaw_node_host::join::JoinError::Unfetchable(cause) = &e {
            // Upstream says only the sentence; the cause helps whoever runs it.
            eprintln!("openclaw: join URL: {cause}");
        }
        e.to_string()
    })?;
    drop(runtime);
    let opts = NodeRunOptions {
        display_name: args.display_name.clone(),
        commands: commands.clone(),
        all_commands: args.all_commands,
        pairing: Some(Pairing { payload, prefer_bootstrap: true }),
        stop_after_hello: args.service,
        ..Default::default()
    };
    match run_node_host(&opts)? {
        NodeExit::Onboarded => {}
        other => return Ok(ExitCode::from(other.code() as u8)),
    }
    // Paired: the service authenticates with the stored device token, never the setup code.
    Ok(service::install(service::InstallOptions {
        endpoint: Default::default(),
        node_id: None,
        display_name: args.display_name,
        commands,
        all_commands: args.all_commands,
        force: true,
        runtime: None,
        supervisor: args.supervisor,
        json: false,
    }))
}

/// The target from `--target-file`: a regular file of at most 64 KiB, removed as soon as it
/// is read (a symlink itself is removed, not what it points to). An empty file is kept.
fn read_target_file(path: &Path) -> Result<String, String> {
    let unreadable = |cause: &dyn std::fmt::Display| {
        format!("Could not read --target-file {} (max {MAX_TARGET_FILE_BYTES} bytes): {cause}", path.display())
    };
    let real = std::fs::canonicalize(path).map_err(|e| unreadable(&e))?;
    let file = std::fs::File::open(&real).map_err(|e| unreadable(&e))?;
    if !file.metadata().map_err(|e| unreadable(&e))?.is_file() {
        return Err(unreadable(&"not a regular file"));
    }
    // Bounded by what is read, not by what the file claims (it may grow, or be a /proc file).
    let mut bytes = Vec::new();
    file.take(MAX_TARGET_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(|e| unreadable(&e))?;
    if bytes.len() as u64 > MAX_TARGET_FILE_BYTES {
        return Err(unreadable(&"the file is larger"));
    }
    let text = String::from_utf8(bytes).map_err(|e| unreadable(&e))?;
    let target = text.trim().to_string();
    if target.is_empty() {
        return Err("Connect target file is empty.".into());
    }
    if let Err(e) = std::fs::remove_file(path) {
        if e.kind() != std::io::ErrorKind::NotFound {
            eprintln!("openclaw: could not remove --target-file {}: {e}", path.display());
        }
    }
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Upstream's `--target-file` rules: read, trimmed, removed; empty kept; size bound.
    #[test]
    fn target_files_are_read_once_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("code");
        std::fs::write(&file, "  oc-pair://abc \n").unwrap();
        assert_eq!(read_target_file(&file).unwrap(), "oc-pair://abc");
        assert!(!file.exists(), "removed right after the read");

        std::fs::write(&file, " \n").unwrap();
        assert_eq!(read_target_file(&file).unwrap_err(), "Connect target file is empty.");
        assert!(file.exists(), "an empty file is kept");

        std::fs::write(&file, vec![b'a'; MAX_TARGET_FILE_BYTES as usize + 1]).unwrap();
        assert!(read_target_file(&file).unwrap_err().starts_with("Could not read --target-file"));
        let missing = read_target_file(&dir.path().join("nope")).unwrap_err();
        assert!(missing.contains("(max 65536 bytes): No such file"), "{missing}");

        let target = dir.path().join("target");
        std::fs::write(&target, "code").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert_eq!(read_target_file(&link).unwrap(), "code");
        assert!(!link.exists() && target.exists(), "the link goes, the file it names stays");
    }
}
