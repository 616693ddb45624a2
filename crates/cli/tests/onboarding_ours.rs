//! One-step onboarding through our gateway (`onboarding.md`, issue 15), with local
//! auto-approval off so nothing is approved silently:
//! - a join URL from our `openclaw devices join-code` onboards the TypeScript node host
//!   (`openclaw connect` of the peer) and ours, and both serve `system.which` without any
//!   `devices approve` or `nodes approve`;
//! - a code from our `openclaw qr --node` pairs our node with `node run --pair`;
//! - spent codes are refused with upstream's text, and no log holds the token;
//! - `device.pair.setupCode` and the join endpoint answer as the real Gateway does, side by side.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use serde_json::{json, Value};
use support::*;

/// Our gateway on a free port whose setup codes point at itself, auto-approval off.
fn our_gateway(dir: &Path) -> OurGateway {
    our_gateway_with(dir, false)
}

/// [`our_gateway`], with loopback auto-approval as given.
fn our_gateway_with(dir: &Path, auto_approve_local: bool) -> OurGateway {
    let port = free_port();
    let config = dir.join("gateway-openclaw.json");
    let body = json!({
        "gateway": {"nodes": {"pairing": {"autoApproveLocal": auto_approve_local}}},
        "plugins": {"entries": {"device-pair": {"config": {"publicUrl": format!("ws://127.0.0.1:{port}")}}}},
    });
    std::fs::write(&config, body.to_string()).unwrap();
    OurGateway::start_at(&dir.join("gw"), port, &[], &[("OPENCLAW_CONFIG_PATH", config.to_str().unwrap())])
}

/// Our operator CLI against `gw`, as an admin from another state dir.
fn ours_json(gw: &OurGateway, dir: &Path, args: &[&str]) -> Value {
    our_cli_json(&gw.url(), &gw.token, &dir.join("operator"), args)
}

/// `openclaw qr` of ours against `gw` (its `--url` is the code's URL, so the gateway is named
/// with `--gateway-url`).
fn our_qr(gw: &OurGateway, dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(openclaw_bin())
        .arg("qr")
        .args(["--gateway-url", &gw.url(), "--token", &gw.token])
        .args(args)
        .env("OPENCLAW_STATE_DIR", dir.join("operator"))
        .env_remove("OPENCLAW_GATEWAY_TOKEN")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// A raw HTTP/1.1 request to a loopback port: status and body.
fn http(port: u16, method: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(stream, "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    let _ = stream.read_to_string(&mut text);
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    let body = if body.starts_with('{') || body.is_empty() { body } else { body.lines().nth(1).unwrap_or("").into() };
    (status, body)
}

fn path_of(url: &str) -> String {
    let rest = url.split_once("://").unwrap().1;
    rest[rest.find('/').unwrap()..].to_string()
}

/// Nothing waits for an operator, and the node answers `system.which`.
fn serves_without_approval(gw: &OurGateway, dir: &Path, node_id: &str) {
    let res = wait_for_value(Duration::from_secs(60), "system.which answered", || {
        let out = our_cli(
            &gw.url(),
            &gw.token,
            &dir.join("operator"),
            &[
                "nodes",
                "invoke",
                "--node",
                node_id,
                "--command",
                "system.which",
                "--params",
                r#"{"bins":["sh"]}"#,
                "--json",
            ],
        );
        out.status.success().then(|| serde_json::from_slice::<Value>(&out.stdout).unwrap_or(Value::Null))
    });
    assert!(res.to_string().contains("/sh"), "{res}");
    let devices = ours_json(gw, dir, &["devices", "list"]);
    assert!(devices["pending"].as_array().unwrap().is_empty(), "no device request: {devices}");
    let paired = devices["paired"].as_array().unwrap().iter().find(|d| d["deviceId"] == node_id).cloned();
    assert_eq!(paired.map(|d| d["approvedVia"].clone()), Some(json!("bootstrap")), "{devices}");
    let pending = ours_json(gw, dir, &["nodes", "pending"]);
    assert!(pending.as_array().is_none_or(|p| p.is_empty()), "no surface request: {pending}");
}

/// The peer's `openclaw connect <url>` in a fresh HOME, without any gateway secret.
struct TsConnect {
    child: Child,
    home: PathBuf,
    log: PathBuf,
}

impl TsConnect {
    fn start(dir: &Path, url: &str, display: &str) -> TsConnect {
        let home = dir.join("ts-home");
        std::fs::create_dir_all(&home).unwrap();
        let log = dir.join("ts-connect.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = openclaw_testkit::Peer::installed()
            .openclaw()
            .args(["connect", url, "--display-name", display])
            .env("HOME", &home)
            .env_remove("OPENCLAW_STATE_DIR")
            .env_remove("OPENCLAW_GATEWAY_TOKEN")
            .env_remove("OPENCLAW_GATEWAY_PASSWORD")
            .env_remove("OPENCLAW_CONFIG_PATH")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        TsConnect { child, home, log }
    }

    fn device_id(&self) -> String {
        let out = openclaw_testkit::Peer::installed()
            .openclaw()
            .args(["node", "identity", "--json"])
            .env("HOME", &self.home)
            .env_remove("OPENCLAW_STATE_DIR")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text.lines().find(|l| l.starts_with('{')).unwrap_or_else(|| panic!("no identity: {text}"));
        let v: Value = serde_json::from_str(line).unwrap();
        v["deviceId"].as_str().unwrap().to_string()
    }
}

impl Drop for TsConnect {
    fn drop(&mut self) {
        openclaw_testkit::process::stop_tree(&mut self.child, Duration::from_secs(5));
    }
}

#[test]
fn a_join_url_from_our_gateway_onboards_the_typescript_node_host_in_one_step() {
    if !peer_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let gw = our_gateway(dir.path());
    let join = ours_json(&gw, dir.path(), &["devices", "join-code"]);
    let url = join["joinUrl"].as_str().unwrap_or_else(|| panic!("{join}")).to_string();
    assert_eq!(join["command"], json!(format!("openclaw connect {url}")));
    assert!(url.starts_with(&format!("http://127.0.0.1:{}/j/", gw.port)), "{url}");

    let ts = TsConnect::start(dir.path(), &url, "ts-joined");
    let log = ts.log.clone();
    wait_until(Duration::from_secs(90), "the TypeScript node connected", || {
        let nodes = ours_json(&gw, dir.path(), &["nodes", "status"]);
        nodes.to_string().contains("ts-joined") && nodes.to_string().contains("\"connected\":true")
    });
    let id = ts.device_id();
    serves_without_approval(&gw, dir.path(), &id);
    assert_eq!(http(gw.port, "GET", &path_of(&url)).0, 404, "the join URL is single use");
    drop(ts);
    let text = std::fs::read_to_string(log).unwrap_or_default();
    assert!(!text.contains("AUTH_BOOTSTRAP_TOKEN_INVALID"), "{text}");
}

#[test]
fn our_qr_and_join_codes_onboard_our_node_once_and_never_log_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let gw = our_gateway(dir.path());

    // `qr --node`: a setup code `node run --pair` onboards with.
    let out = our_qr(&gw, dir.path(), &["--node", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let qr: Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys: Vec<&str> = qr.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["setupCode", "gatewayUrl", "auth", "urlSource", "access"], "{qr}");
    assert_eq!(qr["access"], "node");
    assert_eq!(qr["auth"], "token");
    assert_eq!(qr["urlSource"], "plugins.entries.device-pair.config.publicUrl");
    let code = qr["setupCode"].as_str().unwrap().to_string();
    let payload: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&code).unwrap()).unwrap();
    let token = payload["bootstrapToken"].as_str().unwrap().to_string();
    assert_eq!(token.len(), 43);

    let state = dir.path().join("paired");
    let mut node = OurNode::spawn(&state, &["--pair", &code], &[]);
    node.wait_for_log("node host gateway connected:", 1, Duration::from_secs(30));
    let id = our_identity(&state)["deviceId"].as_str().unwrap().to_string();
    serves_without_approval(&gw, dir.path(), &id);
    assert_eq!(node.stop(), Some(143));

    // Spent: a second node with the same code is refused as upstream words it, and exits 1.
    let mut reused = OurNode::spawn(&dir.path().join("reused"), &["--pair", &code], &[]);
    assert_eq!(reused.wait_exit(Duration::from_secs(30)), Some(1));
    let log = reused.log_text();
    assert!(log.contains("setup code invalid, expired, revoked, or already used"), "{log}");
    assert!(log.contains("detail=AUTH_BOOTSTRAP_TOKEN_INVALID"), "{log}");

    // A join URL onboards `openclaw connect` of ours, once.
    let join = ours_json(&gw, dir.path(), &["devices", "join-code"]);
    let url = join["joinUrl"].as_str().unwrap().to_string();
    let joined = dir.path().join("joined");
    let mut node = OurNode::connect(&joined, &[&url, "--display-name", "rs-joined"]);
    node.wait_for_log("node host gateway connected:", 1, Duration::from_secs(30));
    serves_without_approval(&gw, dir.path(), our_identity(&joined)["deviceId"].as_str().unwrap());
    assert_eq!(node.stop(), Some(143));
    let mut again = OurNode::connect(&dir.path().join("again"), &[&url]);
    assert_eq!(again.wait_exit(Duration::from_secs(30)), Some(1));
    assert!(again.log_text().contains("Gateway join code was not found or has expired."), "{}", again.log_text());

    // The human `qr` output: the code, its oc-pair URL, and a QR drawn in half blocks.
    let out = our_qr(&gw, dir.path(), &["--node"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Setup code: ") && text.contains("Pair URL: oc-pair://"), "{text}");
    assert!(text.contains('▀') && text.contains("openclaw node run --pair"), "{text}");

    let gateway_log = gw.log_text();
    for (what, text) in [("gateway", gateway_log.as_str()), ("node", &node.log_text()), ("reused", &log)] {
        assert!(!text.contains(&token), "the bootstrap token reached the {what} log");
    }
}

/// Answers of `device.pair.setupCode` that do not depend on the token: the error texts, the
/// result's keys and values other than secrets and times.
fn setup_code_answers(call: &dyn Fn(Value) -> Value) -> Vec<Value> {
    let strip = |mut v: Value| {
        if let Some(o) = v.as_object_mut() {
            if let Some(qr) = o.get("qrDataUrl").and_then(Value::as_str) {
                assert!(qr.starts_with("data:image/png;base64,iVBORw0KGgo"), "a PNG: {qr}");
            }
            for k in ["setupId", "expiresAtMs", "setupCode", "joinUrl", "qrDataUrl"] {
                if let Some(x) = o.get_mut(k) {
                    *x = json!(format!("<{}>", if x.is_string() { "string" } else { "number" }));
                }
            }
            // Each gateway names itself on its own port.
            if o.get("gatewayUrl").and_then(Value::as_str).is_some_and(|u| u.starts_with("ws://127.0.0.1:")) {
                o.insert("gatewayUrl".into(), json!("<self>"));
            }
        }
        v
    };
    [
        json!({"bootstrapProfile": "node", "includeQr": false, "joinUrl": true}),
        json!({"bootstrapProfile": "limited", "joinUrl": true}),
        json!({"includeQr": false}),
        json!({"includeQr": false, "bootstrapProfile": "limited"}),
        json!({"includeQr": false, "bootstrapProfile": "voice-node"}),
        json!({"includeQr": false, "publicUrl": "ws://192.168.7.7:1234"}),
        json!({"includeQr": false, "publicUrl": "ws://8.8.8.8:1234"}),
        json!({"includeQr": false, "publicUrl": "wss://gw.example.com/base"}),
        json!({"includeQr": false, "publicUrl": "mailto:x"}),
        json!({"joinUrl": true, "publicUrl": "ws://192.168.7.7:1234"}),
        json!({"joinUrl": true, "publicUrl": "wss://gw.example.com/base"}),
        json!({"bogus": 1}),
    ]
    .into_iter()
    .map(|params| strip(call(params)))
    .collect()
}

#[test]
fn setup_codes_and_the_join_endpoint_answer_as_the_real_gateway_does() {
    if !peer_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ours = our_gateway(dir.path());
    let port = free_port();
    let config =
        json!({"plugins": {"entries": {"device-pair": {"config": {"publicUrl": format!("ws://127.0.0.1:{port}")}}}}});
    std::env::set_var("PEER_EXTRA_CONFIG", config.to_string());
    let real = PeerGateway::start("onboard-diff", &["--no-local-auto-approve", &port.to_string()]);
    std::env::remove_var("PEER_EXTRA_CONFIG");

    let ours_answers =
        setup_code_answers(&|params| operator_call(&ours.url(), None, &ours.token, "device.pair.setupCode", params));
    let real_answers = setup_code_answers(&|params| real.call("device.pair.setupCode", params));
    for (i, (a, b)) in ours_answers.iter().zip(&real_answers).enumerate() {
        assert_eq!(a, b, "case {i}: ours vs the real Gateway");
    }

    // Our CLI mints from the real Gateway as well.
    let real_url = format!("ws://127.0.0.1:{port}");
    let join = our_cli_json(&real_url, &real.token, &dir.path().join("op-real"), &["devices", "join-code"]);
    let minted = join["joinUrl"].as_str().unwrap_or_else(|| panic!("{join}"));
    assert!(minted.starts_with(&format!("http://127.0.0.1:{port}/j/")), "{join}");
    let out = Command::new(openclaw_bin())
        .args(["qr", "--json", "--limited", "--gateway-url", &real_url, "--token", &real.token])
        .env("OPENCLAW_STATE_DIR", dir.path().join("op-real"))
        .output()
        .unwrap();
    let qr: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!((qr["access"].as_str(), qr["auth"].as_str()), (Some("limited"), Some("token")), "{qr}");

    // The join endpoint: one GET serves, everything else is the same 404; then the lockout.
    for (gw_port, name, mint) in [
        (
            ours.port,
            "ours",
            Box::new(|| ours_json(&ours, dir.path(), &["devices", "join-code"])) as Box<dyn Fn() -> Value>,
        ),
        (port, "real", Box::new(|| real.cli_json(&["devices", "join-code", "--json"]))),
    ] {
        let url = mint()["joinUrl"].as_str().unwrap().to_string();
        let path = path_of(&url);
        for (method, p) in [("HEAD", path.clone()), ("POST", path.clone()), ("GET", format!("{path}?x=1"))] {
            let (status, body) = http(gw_port, method, &p);
            assert_eq!(status, 404, "{name} {method} {p}");
            if method != "HEAD" {
                assert_eq!(body, r#"{"error":"not_found"}"#, "{name} {method}");
            }
        }
        // Those were failures but did not spend the code.
        let (status, body) = http(gw_port, "GET", &path);
        assert_eq!(status, 200, "{name}: {body}");
        let payload: Value = serde_json::from_str(&body).unwrap();
        let keys: Vec<&str> = payload.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["url", "bootstrapToken", "expiresAtMs"], "{name}: {payload}");
        assert_eq!(http(gw_port, "GET", &path).0, 404, "{name}: single use");
        // The success reset the count; with the spent GET that is one failure. Ten lock the
        // address out, and the next request is refused before it is looked at.
        for n in 0..9 {
            assert_eq!(http(gw_port, "GET", &format!("/j/{}", "A".repeat(22 + n % 2))).0, 404, "{name} {n}");
        }
        let (status, body) = http(gw_port, "GET", "/j/AAAAAAAAAAAAAAAAAAAAAA");
        assert_eq!((status, body.as_str()), (429, r#"{"error":"rate_limited"}"#), "{name}: locked out");
    }
}

#[test]
fn connect_service_pairs_once_then_installs_a_service_without_the_code() {
    let dir = tempfile::tempdir().unwrap();
    let gw = our_gateway(dir.path());
    // What `devices join-code` asks for, read whole so the test knows the token to look for.
    let setup = operator_call(
        &gw.url(),
        None,
        &gw.token,
        "device.pair.setupCode",
        json!({"bootstrapProfile": "node", "includeQr": false, "joinUrl": true}),
    );
    let url = setup["joinUrl"].as_str().unwrap_or_else(|| panic!("{setup}")).to_string();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let payload: Value = serde_json::from_slice(&b64.decode(setup["setupCode"].as_str().unwrap()).unwrap()).unwrap();
    let token = payload["bootstrapToken"].as_str().unwrap().to_string();
    let state = dir.path().join("svc");
    struct Uninstall(PathBuf);
    impl Drop for Uninstall {
        fn drop(&mut self) {
            let _ = Command::new(openclaw_bin())
                .args(["node", "uninstall"])
                .env("OPENCLAW_STATE_DIR", &self.0)
                .env_remove("OPENCLAW_GATEWAY_TOKEN")
                .output();
        }
    }
    let _guard = Uninstall(state.clone());
    let mut connect =
        OurNode::connect(&state, &[&url, "--display-name", "svc-joined", "--service", "--supervisor", "pidfile"]);
    assert_eq!(connect.wait_exit(Duration::from_secs(60)), Some(0), "{}", connect.log_text());
    let id = our_identity(&state)["deviceId"].as_str().unwrap().to_string();
    // The service runs on the device token: connected, serving, nothing to approve.
    serves_without_approval(&gw, dir.path(), &id);
    let status = Command::new(openclaw_bin())
        .args(["node", "status", "--json"])
        .env("OPENCLAW_STATE_DIR", &state)
        .env_remove("OPENCLAW_GATEWAY_TOKEN")
        .output()
        .unwrap();
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["node"]["connected"], true, "{status}");
    // The spent code is nowhere in the service's files.
    let payload = http(gw.port, "GET", &path_of(&url));
    assert_eq!(payload.0, 404, "spent");
    for entry in walk(&state) {
        let text = std::fs::read(&entry).unwrap_or_default();
        assert!(!String::from_utf8_lossy(&text).contains(&token), "{}", entry.display());
    }
    assert!(!connect.log_text().contains(&token) && !gw.log_text().contains(&token));
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// On loopback with local approval on, a setup code still pairs as `bootstrap` (upstream tries
/// the hand-off before local approval), so the node's first surface comes with it.
#[test]
fn a_setup_code_wins_over_local_approval() {
    let dir = tempfile::tempdir().unwrap();
    let gw = our_gateway_with(dir.path(), true);
    let out = our_qr(&gw, dir.path(), &["--node", "--setup-code-only"]);
    let code = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let state = dir.path().join("local");
    let mut node = OurNode::spawn(&state, &["--pair", &code], &[]);
    node.wait_for_log("node host gateway connected:", 1, Duration::from_secs(30));
    serves_without_approval(&gw, dir.path(), our_identity(&state)["deviceId"].as_str().unwrap());
    assert_eq!(node.stop(), Some(143));
}
