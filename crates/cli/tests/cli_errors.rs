//! Start-up refusals of `openclaw node run`, `node identity` and `gateway run`: each exits 1
//! with an actionable message before any network traffic, and never prints a secret. And a
//! generated sweep of hostile values over every numeric, URL, address, fingerprint, path,
//! duration and name flag (alone, and against a live gateway with a node): never a panic.

mod support;

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
            &["gateway", "run", "--port", "9", "--token", " "],
            "openclaw: --token is blank: pass a non-empty secret, or --auth none to accept any client that can reach the port\n",
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

/// Hostile values for every flag that takes a number, URL, address, fingerprint, path,
/// duration or name: each run must end in a clean error (or, where the value happens to be
/// valid, keep running until stopped), never in a panic (exit 101). NUL bytes cannot reach a
/// process through `execve`, so they are not among them.
fn hostile_values() -> Vec<std::ffi::OsString> {
    use std::os::unix::ffi::OsStringExt;
    let mut v: Vec<std::ffi::OsString> = [
        "",
        " ",
        "-1",
        "0",
        "65536",
        "4294967296",
        "18446744073709551615",
        "18446744073709551616",
        "99999999999999999999999999999999",
        "1e3",
        "0x10",
        "+5",
        "é",
        "🦀",
        "\u{202e}evil",
        "\t\n",
        "%",
        "\\",
        "/",
        "/dev/null",
        "../../../../../../etc/passwd",
        "ws://",
        "ws://[::1",
        "ws://127.0.0.1:99999",
        "ws://127.0.0.1:-1",
        "wss://127.0.0.1:9",
        "http://127.0.0.1:9",
        "ws://u:p@127.0.0.1:9/é?q=é#f",
        "10.0.0.0/40",
        "::/129",
        "127.0.0.1/8/8",
        "sha256:",
        "sha25\u{e9}:00",
        "a:b:c:d",
    ]
    .iter()
    .map(|s| s.into())
    .collect();
    v.push("é".repeat(32).into()); // 64 bytes, 32 characters
    v.push("ｆ".repeat(64).into()); // 64 characters that look hex, 192 bytes
    v.push(format!("sha256:{}", "é".repeat(32)).into());
    v.push(format!("{}:", "AB:".repeat(31)).into());
    v.push("ü".repeat(200).into());
    v.push("9".repeat(5_000).into());
    v.push("a".repeat(100_000).into());
    v.push(std::ffi::OsString::from_vec(vec![0xff, 0xfe, b'x']));
    v
}

/// Runs the binary with `args`, stopping it (by pid) if it is still running after `limit`
/// (a value that happened to be valid); returns the exit code (`None`: stopped) and stderr.
fn run_bounded(
    state: &std::path::Path,
    args: &[std::ffi::OsString],
    env: &[(&str, &str)],
    limit: std::time::Duration,
) -> (Option<i32>, String) {
    use std::io::Read;
    let mut child = Command::new(env!("CARGO_BIN_EXE_openclaw"));
    child
        .env_remove("OPENCLAW_GATEWAY_TOKEN")
        .env_remove("OPENCLAW_GATEWAY_PASSWORD")
        .env_remove("OPENCLAW_ALLOW_INSECURE_PRIVATE_WS")
        .env_remove("OPENCLAW_GATEWAY_PORT");
    for (k, v) in env {
        child.env(k, v);
    }
    let mut child = child
        .args(args)
        .env("OPENCLAW_STATE_DIR", state)
        .env("HOME", state)
        .env("XDG_CONFIG_HOME", state.join("xdg"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run openclaw");
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stderr.read_to_end(&mut s);
        String::from_utf8_lossy(&s).to_string()
    });
    let started = std::time::Instant::now();
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    (code, reader.join().unwrap())
}

#[test]
fn hostile_flag_values_never_panic() {
    // (the command before the flag, the flag, what follows it). The rest of each command line
    // keeps the run on loopback: a closed port for dialers, port 0 for the gateway, and
    // `--runtime nope` so that `node install` stops right after parsing.
    let closed = "ws://127.0.0.1:9";
    let matrix: Vec<(Vec<&str>, &str, Vec<&str>)> = vec![
        (vec!["gateway", "run", "--token", "t"], "--port", vec![]),
        (vec!["gateway", "run", "--token", "t", "--port", "0"], "--bind", vec![]),
        (vec!["gateway", "run", "--port", "0"], "--auth", vec![]),
        (vec!["gateway", "run", "--port", "0"], "--token", vec![]),
        (vec!["gateway", "run", "--port", "0"], "--password", vec![]),
        (vec!["gateway", "run", "--token", "t", "--port", "0", "--tls-key", "/dev/null"], "--tls-cert", vec![]),
        (vec!["gateway", "run", "--token", "t", "--port", "0", "--tls-cert", "/dev/null"], "--tls-key", vec![]),
        (vec!["node", "run", "--port", "9"], "--host", vec![]),
        (vec!["node", "run"], "--port", vec![]),
        (vec!["node", "run", "--port", "9"], "--context-path", vec![]),
        (vec!["node", "run", "--port", "9"], "--tls-fingerprint", vec![]),
        (vec!["node", "run", "--port", "9"], "--node-id", vec![]),
        (vec!["node", "run", "--port", "9"], "--display-name", vec![]),
        (vec!["node", "run", "--port", "9"], "--commands", vec![]),
        (vec!["node", "install", "--runtime", "nope"], "--host", vec![]),
        (vec!["node", "install", "--runtime", "nope"], "--port", vec![]),
        (vec!["node", "install", "--runtime", "nope"], "--tls-fingerprint", vec![]),
        (vec!["node", "install", "--runtime", "nope"], "--runtime", vec![]),
        (vec!["node", "status"], "--supervisor", vec![]),
        (vec!["node", "audit"], "--limit", vec![]),
        (vec!["nodes", "list"], "--url", vec![]),
        (vec!["nodes", "list", "--url", closed], "--token", vec![]),
        (vec!["nodes", "list", "--url", closed], "--password", vec![]),
        (vec!["nodes", "list", "--url", closed], "--tls-fingerprint", vec![]),
        (vec!["nodes", "list", "--url", "wss://127.0.0.1:9"], "--tls-fingerprint", vec![]),
        (vec!["nodes", "list", "--url", closed], "--timeout", vec![]),
        (vec!["devices", "list", "--url", closed], "--timeout", vec![]),
        (vec!["nodes", "describe", "--url", closed], "--node", vec![]),
        (vec!["nodes", "invoke", "--url", closed, "--node", "n", "--command", "system.which"], "--params", vec![]),
        (
            vec!["nodes", "invoke", "--url", closed, "--node", "n", "--command", "system.which"],
            "--invoke-timeout",
            vec![],
        ),
        (vec!["nodes", "run", "--url", closed, "--node", "n"], "--command-timeout", vec!["--", "true"]),
        (vec!["nodes", "run", "--url", closed, "--node", "n"], "--cwd", vec!["--", "true"]),
        (vec!["nodes", "run", "--url", closed, "--node", "n"], "--env", vec!["--", "true"]),
        (vec!["approvals", "set", "--url", closed, "--node", "n"], "--file", vec![]),
        (vec!["approvals", "allowlist", "add", "x", "--url", closed, "--node", "n"], "--agent", vec![]),
    ];
    let mut cases = Vec::new();
    for (before, flag, after) in &matrix {
        for value in hostile_values() {
            let mut args: Vec<std::ffi::OsString> = before.iter().map(|s| s.into()).collect();
            args.push(flag.into());
            args.push(value);
            args.extend(after.iter().map(|s| s.into()));
            cases.push(args);
        }
    }
    sweep("alone", cases, &[]);
}

/// Runs every case (6 at a time, each with a fresh state dir and `env`), and fails on any
/// panic, exit 101 or failure without a message.
fn sweep(label: &str, cases: Vec<Vec<std::ffi::OsString>>, env: &[(&str, &str)]) {
    let cases = std::sync::Mutex::new(cases);
    let failures = std::sync::Mutex::new(Vec::new());
    let (ran, errors, stopped) = (
        std::sync::atomic::AtomicUsize::new(0),
        std::sync::atomic::AtomicUsize::new(0),
        std::sync::atomic::AtomicUsize::new(0),
    );
    std::thread::scope(|s| {
        for _ in 0..6 {
            s.spawn(|| loop {
                let Some(args) = cases.lock().unwrap().pop() else { return };
                let tmp = tempfile::tempdir().unwrap();
                let (code, err) = run_bounded(tmp.path(), &args, env, std::time::Duration::from_millis(1500));
                ran.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if code.is_some_and(|c| c != 0) {
                    errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                if code.is_none() {
                    stopped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                let shown: Vec<String> =
                    args.iter().map(|a| a.to_string_lossy().chars().take(80).collect::<String>()).collect();
                if code == Some(101) || err.contains("panicked") {
                    failures
                        .lock()
                        .unwrap()
                        .push(format!("{shown:?} → {code:?}: {}", err.chars().take(400).collect::<String>()));
                } else if code.is_some_and(|c| c != 0) && err.trim().is_empty() {
                    failures.lock().unwrap().push(format!("{shown:?} → {code:?} with no message"));
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    eprintln!(
        "hostile flags ({label}): {} runs, {} clean errors, {} still running (valid values) when stopped, {} panics or silent failures",
        ran.into_inner(),
        errors.into_inner(),
        stopped.into_inner(),
        failures.len()
    );
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn hostile_operator_values_against_a_live_gateway_never_panic() {
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let op = dir.path().join("operator");
    let gw = support::OurGateway::start(&dir.path().join("gw"), &[]);
    let port = gw.port.to_string();
    let node_args = ["--host", "127.0.0.1", "--port", port.as_str(), "--display-name", "box"];
    let mut node =
        support::OurNode::spawn(&dir.path().join("node"), &node_args, &[("OPENCLAW_GATEWAY_TOKEN", gw.token.as_str())]);
    node.wait_for_log("gateway connected", 1, Duration::from_secs(30));
    let pending = gw.cli_json(&op, &["nodes", "pending"]);
    let request_id = pending[0]["requestId"].as_str().unwrap().to_string();
    gw.cli_json(&op, &["nodes", "approve", &request_id]);

    let url = gw.url();
    let auth = ["--url", url.as_str(), "--token", gw.token.as_str()];
    let invoke = ["nodes", "invoke", "--node", "box", "--command", "system.which", "--params", r#"{"bins":["sh"]}"#];
    let matrix: Vec<(Vec<&str>, &str, Vec<&str>)> = vec![
        ([&["nodes", "list"][..], &auth].concat(), "--timeout", vec![]),
        ([&["nodes", "describe"][..], &auth].concat(), "--node", vec![]),
        ([&["nodes", "rename", "--node", "box"][..], &auth].concat(), "--name", vec![]),
        ([&["nodes", "invoke", "--command", "system.which"][..], &auth].concat(), "--node", vec![]),
        ([&["nodes", "invoke", "--node", "box"][..], &auth].concat(), "--command", vec![]),
        ([&["nodes", "invoke", "--node", "box", "--command", "system.which"][..], &auth].concat(), "--params", vec![]),
        ([&invoke[..], &auth].concat(), "--invoke-timeout", vec![]),
        ([&invoke[..], &auth].concat(), "--idempotency-key", vec![]),
        ([&["nodes", "run", "--node", "box"][..], &auth].concat(), "--command-timeout", vec!["--", "true"]),
        ([&["nodes", "run", "--node", "box"][..], &auth].concat(), "--cwd", vec!["--", "true"]),
        ([&["nodes", "run", "--node", "box"][..], &auth].concat(), "--env", vec!["--", "true"]),
        ([&["approvals", "get"][..], &auth].concat(), "--node", vec![]),
        ([&["approvals", "set", "--node", "box"][..], &auth].concat(), "--file", vec![]),
        ([&["approvals", "allowlist", "add", "x", "--node", "box"][..], &auth].concat(), "--agent", vec![]),
        (
            [&["devices", "approve", "--token", gw.token.as_str(), "--url", url.as_str()][..]].concat(),
            "--timeout",
            vec!["nope"],
        ),
    ];
    let mut cases = Vec::new();
    for (before, flag, after) in &matrix {
        for value in hostile_values() {
            let mut args: Vec<std::ffi::OsString> = before.iter().map(|s| s.into()).collect();
            args.push(flag.into());
            args.push(value);
            args.extend(after.iter().map(|s| s.into()));
            cases.push(args);
        }
    }
    // Hostile positional values too: request ids and allowlist patterns.
    for value in hostile_values() {
        for verb in [&["devices", "approve"][..], &["nodes", "reject"], &["approvals", "allowlist", "remove"]] {
            let mut args: Vec<std::ffi::OsString> = verb.iter().map(|s| s.into()).collect();
            args.push(value.clone());
            args.extend(auth.iter().map(|s| s.into()));
            if verb[0] == "approvals" {
                args.extend(["--node", "box"].iter().map(|s| s.into()));
            }
            cases.push(args);
        }
    }
    sweep("against a live gateway", cases, &[]);
    // Both ends survived all of it.
    let nodes = gw.cli_json(&op, &["nodes", "status"]);
    assert_eq!(nodes["nodes"][0]["connected"], true, "{nodes}");
}
