//! Start-up refusals of `openclaw node run`, `node identity` and `gateway run`: each exits 1
//! with an actionable message before any network traffic, and never prints a secret.

use std::process::{Command, Output};

fn run(state: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_openclaw"));
    cmd.args(args)
        .env("OPENCLAW_STATE_DIR", state)
        .env_remove("OPENCLAW_GATEWAY_TOKEN")
        .env_remove("OPENCLAW_GATEWAY_PASSWORD")
        .env_remove("OPENCLAW_ALLOW_INSECURE_PRIVATE_WS");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run openclaw")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

#[test]
fn unresolvable_secret_ref_fails_closed() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("oc");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(
        state.join("openclaw.json"),
        "{ gateway: { auth: { token: { source: 'env', provider: 'default', id: 'MISSING_NODE_TOKEN' } } } } // JSON5",
    )
    .unwrap();
    let out = run(&state, &["node", "run", "--port", "9"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("gateway.auth.token is configured as a secret reference but is unavailable"), "{err}");
    assert!(!err.contains("connecting"), "must not dial: {err}");
    // With the env override the same config is fine (it then tries to dial the closed port).
    std::fs::write(state.join("openclaw.json"), r#"{"gateway":{"auth":{"token":"$MISSING_NODE_TOKEN"}}}"#).unwrap();
    let out = run(&state, &["node", "identity", "--json"], &[]);
    assert_eq!(out.status.code(), Some(0), "identity was created by the first run: {}", stderr(&out));
}

#[test]
fn plaintext_to_a_public_host_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("oc");
    for host in ["8.8.8.8", "gateway.example.com"] {
        let out = run(
            &state,
            &["node", "run", "--host", host, "--port", "18789"],
            &[("OPENCLAW_GATEWAY_TOKEN", "tok-secret")],
        );
        assert_eq!(out.status.code(), Some(1));
        let err = stderr(&out);
        assert!(err.contains(&format!("SECURITY ERROR: Cannot connect to \"{host}\" over plaintext ws://")), "{err}");
        assert!(err.contains("OPENCLAW_ALLOW_INSECURE_PRIVATE_WS=1"), "{err}");
        assert!(!err.contains("tok-secret") && !err.contains("connecting"), "{err}");
    }
    // The break-glass admits hostnames but never public IP literals.
    let out = run(&state, &["node", "run", "--host", "8.8.8.8"], &[("OPENCLAW_ALLOW_INSECURE_PRIVATE_WS", "1")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!stderr(&out).contains("Break-glass"), "{}", stderr(&out));
}

#[test]
fn bad_flags_and_empty_allowlists_exit_1() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("oc");
    let cases: &[(&[&str], &str)] = &[
        (&["node", "run", "--port", "70000"], "Invalid --port. Use a port number from 1 to 65535, for example 18789."),
        (
            &["node", "run", "--tls-fingerprint", "abc"],
            "Invalid TLS fingerprint; expected a SHA-256 certificate fingerprint.",
        ),
        (
            &["node", "run", "--no-tls", "--tls-fingerprint", &"a".repeat(64)],
            "--no-tls cannot be combined with --tls-fingerprint",
        ),
        (
            &["node", "--commands", "system.which", "run", "--all-commands"],
            "--all-commands cannot be combined with --commands",
        ),
        (
            &["node", "run", "--commands", "nope.x,other.y"],
            "Node command allowlist retained no available commands. Unknown or unavailable ids: nope.x, other.y.",
        ),
    ];
    for (args, message) in cases {
        let out = run(&state, args, &[]);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(message), "{args:?}: {}", stderr(&out));
    }
    let out = run(&state, &["node", "run", "--commands", "a,,b"], &[]);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("--commands requires comma-separated non-empty command ids"), "{}", stderr(&out));
}

#[test]
fn identity_is_read_only_and_reports_absence() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("never-created");
    let out = run(&state, &["node", "identity"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no node device identity found"), "{}", stderr(&out));
    assert!(!state.exists(), "identity must not create the state dir");
}

#[test]
fn legacy_files_are_imported_on_start() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("oc");
    std::fs::create_dir_all(state.join("identity")).unwrap();
    std::fs::write(
        state.join("node.json"),
        r#"{"version":1,"nodeId":"legacy-node","token":"old","displayName":"Old Box","gateway":{"host":"127.0.0.1","port":9,"tls":false}}"#,
    )
    .unwrap();
    // Port 9 is closed: the node imports, persists, then fails to dial; stop it via the timeout.
    let child = Command::new(env!("CARGO_BIN_EXE_openclaw"))
        .args(["node", "run"])
        .env("OPENCLAW_STATE_DIR", &state)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(143));
    let err = stderr(&out);
    assert!(err.contains("imported legacy") && err.contains("node.json"), "{err}");
    assert!(err.contains("node host gateway connecting: ws://127.0.0.1:9"), "the saved endpoint is used: {err}");
    assert!(!state.join("node.json").exists() && state.join("node.json.migrated").exists());
}

#[test]
fn gateway_run_refuses_missing_or_broken_settings_before_listening() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("gw");
    std::fs::create_dir_all(&state).unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["gateway", "run", "--port", "9"],
            "openclaw: no gateway auth configured: pass --token (or --password), or --auth none to accept any client that can reach the port\n",
        ),
        (
            &["gateway", "run", "--port", "9", "--auth", "token", "--password", "pw-secret"],
            "openclaw: gateway auth mode token needs a token: pass --token, set OPENCLAW_GATEWAY_TOKEN, or set gateway.auth.token in openclaw.json\n",
        ),
        (
            &["gateway", "run", "--port", "9", "--auth", "password", "--token", "tok-secret"],
            "openclaw: gateway auth mode password needs a password: pass --password, set OPENCLAW_GATEWAY_PASSWORD, or set gateway.auth.password\n",
        ),
        (
            &["gateway", "run", "--port", "9", "--token", "tok-secret", "--bind", "everywhere"],
            "openclaw: invalid --bind \"everywhere\": use loopback, lan or an IP address\n",
        ),
    ];
    for (args, message) in cases {
        let out = run(&state, args, &[]);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert_eq!(stderr(&out), *message, "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}: nothing listens");
    }
    // Settings from openclaw.json: an unresolvable token reference fails closed, without the
    // secret's name turning into a value, and a bad CIDR list is named.
    std::fs::write(
        state.join("openclaw.json"),
        "{ gateway: { auth: { token: { source: 'env', provider: 'default', id: 'MISSING_GW_TOKEN' } } } }",
    )
    .unwrap();
    let out = run(&state, &["gateway", "run", "--port", "9"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with(
            "openclaw: gateway.auth.token: secret reference env:default:MISSING_GW_TOKEN could not be resolved"
        ),
        "{}",
        stderr(&out)
    );
    std::fs::write(
        state.join("openclaw.json"),
        r#"{"gateway":{"nodes":{"pairing":{"autoApproveCidrs":["10.0.0.0/40"]}}}}"#,
    )
    .unwrap();
    let out = run(&state, &["gateway", "run", "--port", "9"], &[("OPENCLAW_GATEWAY_TOKEN", "tok-secret")]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out), "openclaw: invalid CIDR \"10.0.0.0/40\": bad prefix\n");
}
