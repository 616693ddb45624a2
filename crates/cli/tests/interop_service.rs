//! The pidfile service lifecycle for real, against the real Gateway: install → start →
//! connected → `kill -9` the node → restarted and connected → stop → start/restart →
//! uninstall leaves no file or process; and a wrong token makes the supervisor give up and
//! `status` say why.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use support::*;

/// Runs `openclaw node <args>` with a state dir and extra env; returns (exit code, stdout).
fn node_cmd(state: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let mut cmd = Command::new(openclaw_bin());
    cmd.arg("node").args(args).env("OPENCLAW_STATE_DIR", state).env_remove("OPENCLAW_GATEWAY_TOKEN");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run openclaw");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

fn status(state: &Path) -> (i32, Value) {
    let (code, out) = node_cmd(state, &["status", "--json"], &[]);
    (code, serde_json::from_str(&out).unwrap_or_else(|e| panic!("status JSON ({e}): {out}")))
}

fn alive(pid: u64) -> bool {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None).is_ok()
}

/// Uninstalls on drop, so a failed assert never leaves a supervisor running.
struct Installed(PathBuf);

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = node_cmd(&self.0, &["uninstall"], &[]);
    }
}

fn supervisor_pid(state: &Path) -> Option<u64> {
    std::fs::read_to_string(state.join("service/supervisor.pid")).ok()?.trim().parse().ok()
}

#[test]
fn pidfile_service_lifecycle_against_the_real_gateway() {
    if !peer_available() {
        return;
    }
    let gw = PeerGateway::start("service", &[]);
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("svc-state");
    let port = gw.port.to_string();
    let guard = Installed(state.clone());

    let (code, out) = node_cmd(
        &state,
        &[
            "install",
            "--supervisor",
            "pidfile",
            "--port",
            &port,
            "--display-name",
            "svc-node",
            "--runtime",
            "node",
            "--json",
        ],
        &[("OPENCLAW_GATEWAY_TOKEN", &gw.token)],
    );
    assert_eq!(code, 0, "{out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!((v["ok"].as_bool(), v["result"].as_str()), (Some(true), Some("installed")), "{v}");
    assert!(v["warnings"].to_string().contains("native binary"), "--runtime is explained: {v}");
    // Secrets only in the 0600 env file, never in the definition or the status output.
    let definition = std::fs::read_to_string(state.join("service/definition.json")).unwrap();
    assert!(!definition.contains(&gw.token));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(state.join("service/node.env")).unwrap().permissions().mode() & 0o777, 0o600);

    let first = wait_for_value(Duration::from_secs(30), "connected", || {
        let (code, s) = status(&state);
        (code == 0 && s["node"]["connected"] == true).then(|| s["service"]["runtime"]["pid"].as_u64().unwrap())
    });
    let (_, s) = status(&state);
    assert!(!s.to_string().contains(&gw.token), "status never shows the token");
    assert_eq!(s["service"]["command"]["environmentValueSources"]["OPENCLAW_GATEWAY_TOKEN"], "file");

    // The node dies hard: the supervisor brings it back and it reconnects.
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(first as i32), nix::sys::signal::Signal::SIGKILL).unwrap();
    let second = wait_for_value(Duration::from_secs(30), "restarted and connected", || {
        let (_, s) = status(&state);
        let pid = s["service"]["runtime"]["pid"].as_u64()?;
        (pid != first && s["node"]["connected"] == true && s["node"]["pid"].as_u64() == Some(pid)).then_some(pid)
    });
    let (_, s) = status(&state);
    assert!(s["service"]["runtime"]["restarts"].as_u64().unwrap() >= 1, "{s}");
    let log = std::fs::read_to_string(state.join("service/logs/node.log")).unwrap();
    assert!(log.contains("was killed by signal 9; restarting in"), "{log}");

    // Installing again without --force changes nothing.
    let (code, out) = node_cmd(&state, &["install", "--json"], &[]);
    assert_eq!(code, 0);
    assert!(out.contains("already-installed"), "{out}");

    let sup = supervisor_pid(&state).expect("supervisor pid");
    let (code, out) = node_cmd(&state, &["stop", "--json"], &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("\"stopped\""), "{out}");
    assert!(!alive(sup) && !alive(second), "stop ends the supervisor and the node");
    let (code, s) = status(&state);
    assert_eq!(code, 3, "status exits 3 when not running: {s}");
    assert_eq!(s["service"]["runtime"]["status"], "stopped");

    let (code, out) = node_cmd(&state, &["start", "--json"], &[]);
    assert_eq!(code, 0, "{out}");
    let third = wait_for_value(Duration::from_secs(30), "connected after start", || {
        let (code, s) = status(&state);
        (code == 0 && s["node"]["connected"] == true).then(|| s["service"]["runtime"]["pid"].as_u64().unwrap())
    });
    let (code, out) = node_cmd(&state, &["start", "--json"], &[]);
    assert_eq!(code, 0);
    assert!(out.contains("already-running"), "{out}");
    let (code, _) = node_cmd(&state, &["restart"], &[]);
    assert_eq!(code, 0);
    wait_for_value(Duration::from_secs(30), "connected after restart", || {
        let (_, s) = status(&state);
        let pid = s["service"]["runtime"]["pid"].as_u64()?;
        (pid != third && s["node"]["connected"] == true).then_some(())
    });

    let sup = supervisor_pid(&state).expect("supervisor pid");
    let node_pid = status(&state).1["service"]["runtime"]["pid"].as_u64().unwrap();
    let (code, out) = node_cmd(&state, &["uninstall", "--json"], &[]);
    assert_eq!(code, 0, "{out}");
    assert!(!alive(sup) && !alive(node_pid), "uninstall leaves no process");
    assert!(!state.join("service").exists(), "uninstall leaves no service file");
    assert!(state.join("state/openclaw.sqlite").exists(), "but keeps the identity and pairing");
    let (code, s) = status(&state);
    assert_eq!((code, s["service"]["loaded"].as_bool()), (3, Some(false)));
    drop(guard);

    // A wrong token: the supervisor stops restarting, and status says why.
    let bad = tmp.path().join("bad-state");
    let _bad_guard = Installed(bad.clone());
    let (code, out) = node_cmd(
        &bad,
        &["install", "--supervisor", "pidfile", "--port", &port],
        &[("OPENCLAW_GATEWAY_TOKEN", "wrong-token")],
    );
    assert_eq!(code, 0, "{out}");
    let s = wait_for_value(Duration::from_secs(30), "supervisor gives up", || {
        let (code, s) = status(&bad);
        (code == 3 && s["service"]["runtime"]["state"] == "gave-up").then_some(s)
    });
    let detail = s["service"]["runtime"]["detail"].as_str().unwrap();
    assert!(detail.contains("AUTH_TOKEN_MISMATCH") && detail.contains("not restarting"), "{s}");
    assert_eq!(s["node"]["state"], "failed");
    assert!(s["node"]["lastError"].as_str().unwrap().contains("AUTH_TOKEN_MISMATCH"));
    assert!(supervisor_pid(&bad).is_none_or(|p| !alive(p)), "the supervisor has exited");
    assert!(!s.to_string().contains("wrong-token"));
    let (_, text) = node_cmd(&bad, &["status"], &[]);
    assert!(text.contains("Detail: node host exited with code 1; not restarting"), "{text}");
}
