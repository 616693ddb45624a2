//! The browser proxy side by side: our node host and the TypeScript node host on the same real
//! Gateway, each with the same `browser` / `nodeHost.browserProxy` config, answer every
//! `browser.proxy` request whose answer does not depend on Playwright the same way: the policy
//! refusals and their texts (`nodehost.md` §7.4), the `browser-v1` error envelope, and the
//! status and profile shapes. Then ours drives a real Chromium through the real Gateway:
//! open a page the test serves, navigate, screenshot and pdf come back as real files inlined
//! exactly as the gateway checks them.
//!
//! Needs Debian's Chromium (`scripts/browser-deps`); without it the test says so and passes.

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

use base64::Engine;
use serde_json::{json, Value};
use support::*;

const CHROMIUM: &str = "/usr/bin/chromium";

/// The node config both hosts get: a sandbox-less headless browser (tests run as root), pages
/// on 127.0.0.1 allowed, one allowed profile on a CDP port of its own (not 18800, which another
/// test's browser may hold).
fn node_config() -> Value {
    json!({
        "browser": {"noSandbox": true, "headless": true, "ssrfPolicy": {"dangerouslyAllowPrivateNetwork": true},
                    "profiles": {"openclaw": {"cdpPort": free_port()}}},
        "nodeHost": {"browserProxy": {"allowProfiles": ["openclaw"]}},
    })
}

fn proxy(gw: &PeerGateway, node: &str, command: &str, params: Value) -> Value {
    gw.invoke(node, command, params)
}

/// What both hosts must agree on: ok, the error code and text, or the payload without what
/// is per machine (ports, pids, paths, fingerprints, times).
fn comparable(res: &Value) -> Value {
    if res["ok"] != true {
        return json!({"ok": false, "code": res["error"]["code"], "message": res["error"]["message"]});
    }
    let payload: Value =
        res["payloadJSON"].as_str().and_then(|p| serde_json::from_str(p).ok()).unwrap_or(res["payload"].clone());
    json!({"ok": true, "payload": payload})
}

/// A tiny HTTP server for the pages the browser opens; stopped with the test process.
fn serve_pages() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut buf = [0u8; 4096];
                let n = stream.read(&mut buf).unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).to_string();
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                let (status, body) = match path.as_str() {
                    "/" => ("200 OK", "<html><head><title>Sign in</title></head><body><form><label>User <input name=u></label><button type=button onclick=\"console.log('clicked')\">Sign in</button></form><a href=/second>next</a><script>console.log('hello from the page');fetch('/missing')</script></body></html>"),
                    "/second" => ("200 OK", "<html><head><title>Second</title></head><body><main><h1>Second page</h1></main></body></html>"),
                    _ => ("404 Not Found", "nope"),
                };
                let _ = write!(stream, "HTTP/1.1 {status}\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
            });
        }
    });
    port
}

/// The TypeScript node host with the same browser config, in a HOME of its own: its run
/// directory is named after this process, so a leftover identity or a concurrent run of the
/// suite (another clone on the machine) never shares it.
fn start_ts_node(gw: &PeerGateway, display: &str) -> TsNode {
    let name = format!("{display}-{}", std::process::id());
    let home = TsNode::home_for(gw, &name);
    let _ = std::fs::remove_dir_all(&home);
    write_config(&home.join(".openclaw/openclaw.json"));
    TsNode::start(gw, &name, display).unwrap_or_else(|e| panic!("{e}"))
}

/// The real Gateway with our node and the TypeScript node host on it, both with
/// [`node_config`] and their command surfaces approved.
struct Hosts {
    gw: PeerGateway,
    /// Our node's state directory (removed on drop).
    _dir: tempfile::TempDir,
    ours: OurNode,
    ours_id: String,
    ts: TsNode,
    ts_id: String,
}

impl Hosts {
    /// None (and says why) without the peer or Chromium.
    fn start(gateway: &str, ours_name: &str, ts_name: &str) -> Option<Hosts> {
        if !peer_available() {
            return None;
        }
        if !Path::new(CHROMIUM).exists() {
            println!("browser: SKIPPED ({CHROMIUM} is not installed; scripts/browser-deps installs it)");
            return None;
        }
        let gw = PeerGateway::start(gateway, &[]);
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("ours");
        write_config(&state.join("openclaw.json"));
        let mut ours = OurNode::spawn(
            &state,
            &["--port", &gw.port.to_string(), "--display-name", ours_name],
            &[("OPENCLAW_GATEWAY_TOKEN", &gw.token)],
        );
        ours.wait_for_log("node host gateway connected:", 1, Duration::from_secs(30));
        let ours_id = our_identity(&state)["deviceId"].as_str().unwrap().to_string();
        let ts = start_ts_node(&gw, ts_name);
        let ts_id = ts.identity()["deviceId"].as_str().unwrap().to_string();
        gw.approve_node_surface(&ours_id);
        gw.approve_node_surface(&ts_id);
        Some(Hosts { gw, _dir: dir, ours, ours_id, ts, ts_id })
    }
}

fn write_config(path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, node_config().to_string()).unwrap();
}

#[test]
fn browser_proxy_policy_matches_the_typescript_node_host_and_drives_chromium() {
    let Some(Hosts { gw, _dir, mut ours, ours_id, ts, ts_id }) =
        Hosts::start("browser-diff", "rs-browser", "ts-browser")
    else {
        return;
    };

    let b64 = base64::engine::general_purpose::STANDARD.encode(b"hi");
    let upload = json!({"envelope": "browser-upload-v1", "files": [{"name": "a.txt", "contentBase64": b64}]});
    let cases: Vec<(&str, Value)> = vec![
        ("browser.proxy", json!({"path": ""})),
        ("browser.proxy", json!({"path": "/", "method": "PUT"})),
        ("browser.proxy", json!({"path": "/__openclaw/session-tab/close-owned"})),
        ("browser.proxy", json!({"path": "/__openclaw/session-tab/close-owned", "method": "POST", "body": {}})),
        ("browser.proxy", json!({"path": "/profiles/create", "method": "POST", "body": {"name": "x"}})),
        ("browser.proxy", json!({"path": "profiles/openclaw/", "method": "DELETE"})),
        ("browser.proxy", json!({"path": "/reset-profile", "method": "POST"})),
        ("browser.proxy", json!({"path": "/system-profiles"})),
        ("browser.proxy", json!({"path": "/system-profile-import/dismiss", "method": "POST"})),
        ("browser.proxy", json!({"path": "/tabs", "profile": "user"})),
        ("browser.proxy", json!({"path": "/tabs", "query": {"profile": "work"}, "errorEnvelope": "browser-v1"})),
        ("browser.proxy", json!({"path": "/hooks/file-chooser", "method": "POST", "upload": upload})),
        ("browser.proxy.upload.v1", json!({"path": "/hooks/file-chooser", "method": "POST"})),
        ("browser.proxy.upload.v1", json!({"path": "/act", "method": "POST", "body": {}, "upload": upload})),
        (
            "browser.proxy.upload.v1",
            json!({"path": "/hooks/file-chooser", "method": "POST", "body": {"paths": ["/x"]}, "upload": upload}),
        ),
        (
            "browser.proxy.upload.v1",
            json!({"path": "/hooks/file-chooser", "method": "POST", "body": {}, "upload": {"envelope": "nope"}}),
        ),
        ("browser.proxy", json!({"path": "/tabs"})),
    ];
    let mut answers = Vec::new();
    for (i, (command, params)) in cases.iter().enumerate() {
        let a = comparable(&proxy(&gw, &ours_id, command, params.clone()));
        let b = comparable(&proxy(&gw, &ts_id, command, params.clone()));
        assert_eq!(a, b, "case {i}: {command} {params}\nours: {a}\nts:   {b}");
        answers.push(a);
    }
    // The nodes were reached: each refusal is the node's own text, the last answer a listing.
    println!("browser proxy answers, equal on both hosts:\n{}", serde_json::to_string_pretty(&answers).unwrap());
    // (The gateway relays a node's refusal as `INVALID_REQUEST: <the node's message>`.)
    let said = |i: usize, text: &str| {
        assert_eq!(answers[i]["message"], format!("INVALID_REQUEST: Error: INVALID_REQUEST: {text}"), "case {i}")
    };
    said(1, "method must be GET, POST, or DELETE");
    said(7, "browser.proxy cannot run host-local browser routes");
    said(9, "browser profile not allowed");
    said(13, "browser proxy upload requires the file chooser route");
    assert_eq!(answers[16]["ok"], true, "{}", answers[16]);
    // Profiles: both list only the allowed one, with the same fields.
    let keys = |res: &Value| {
        let p = &comparable(res)["payload"]["result"]["profiles"];
        p.as_array().map(|a| {
            a.iter()
                .map(|e| (e["name"].clone(), e.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>())))
                .collect::<Vec<_>>()
        })
    };
    let profiles = json!({"path": "/profiles", "errorEnvelope": "browser-v1"});
    assert_eq!(
        keys(&proxy(&gw, &ours_id, "browser.proxy", profiles.clone())),
        keys(&proxy(&gw, &ts_id, "browser.proxy", profiles))
    );
    drop(ts);

    // Ours drives a real Chromium: open, navigate, screenshot, pdf, text, console.
    let port = serve_pages();
    let call = |path: &str, method: &str, body: Value| {
        let res = proxy(
            &gw,
            &ours_id,
            "browser.proxy",
            json!({"path": path, "method": method, "body": body, "timeoutMs": 60000, "errorEnvelope": "browser-v1"}),
        );
        assert_eq!(res["ok"], true, "{path}: {res}");
        let payload: Value = serde_json::from_str(res["payloadJSON"].as_str().unwrap()).unwrap();
        assert!(payload.get("error").is_none(), "{path}: {payload}");
        payload
    };
    let opened = call("/tabs/open", "POST", json!({"url": format!("http://127.0.0.1:{port}/")}));
    let target = opened["result"]["targetId"].as_str().unwrap().to_string();
    assert_eq!(opened["route"], json!({"status": "resolved", "profile": "openclaw", "driver": "openclaw"}));
    call("/navigate", "POST", json!({"url": format!("http://127.0.0.1:{port}/second"), "targetId": target}));
    let shot = call("/screenshot", "POST", json!({"targetId": target, "type": "png"}));
    let path = shot["result"]["path"].as_str().unwrap();
    let files = shot["files"].as_array().unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0]["path"], path, "exactly the path the result names");
    assert_eq!(files[0]["mimeType"], "image/png");
    let png = base64::engine::general_purpose::STANDARD.decode(files[0]["base64"].as_str().unwrap()).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
    let pdf = call("/pdf", "POST", json!({"targetId": target}));
    let bytes = base64::engine::general_purpose::STANDARD.decode(pdf["files"][0]["base64"].as_str().unwrap()).unwrap();
    assert!(bytes.starts_with(b"%PDF-"));
    let text = proxy(&gw, &ours_id, "browser.proxy", json!({"path": "/text", "query": {"targetId": target}}));
    assert!(text["payloadJSON"].as_str().unwrap().contains("Second page"), "{text}");
    call("/stop", "POST", json!({}));
    assert_eq!(ours.stop(), Some(143));
}

/// A snapshot answer without what is per browser instance (backend node ids, frame ids,
/// target ids), so two Chromiums showing the same page compare equal.
fn snapshot_shape(res: &Value) -> Value {
    let payload: Value = serde_json::from_str(res["payloadJSON"].as_str().unwrap_or("null")).unwrap_or(Value::Null);
    let mut r = payload["result"].clone();
    if let Some(refs) = r.get_mut("refs").and_then(Value::as_object_mut) {
        for e in refs.values_mut() {
            if let Some(e) = e.as_object_mut() {
                e.remove("backendDOMNodeId");
                e.remove("frameId");
            }
        }
    }
    if let Some(nodes) = r.get_mut("nodes").and_then(Value::as_array_mut) {
        for n in nodes {
            if let Some(n) = n.as_object_mut() {
                n.remove("backendDOMNodeId");
            }
        }
    }
    if let Some(o) = r.as_object_mut() {
        o.remove("targetId");
    }
    if payload.get("error").is_some() {
        return payload["error"].clone();
    }
    r
}

/// The role snapshots the gateway asks for (and that upstream takes over raw CDP even with
/// Playwright present) are the same, line for line and ref for ref, on both hosts showing
/// the same page in the same Chromium; so are the aria snapshots, and the answers of `/act`,
/// the hooks, downloads and emulation: refusals, codes and texts, an evaluate's result, a
/// click by ref, and a stale ref after another snapshot replaced the refs.
#[test]
fn snapshots_and_acts_match_the_typescript_node_host() {
    let Some(Hosts { gw, _dir, mut ours, ours_id, ts, ts_id }) = Hosts::start("browser-snap", "rs-snap", "ts-snap")
    else {
        return;
    };
    let port = serve_pages();

    let proxy_v1 = |node: &str, method: &str, path: &str, query: Value, body: Value| {
        proxy(
            &gw,
            node,
            "browser.proxy",
            json!({"method": method, "path": path, "query": query, "body": body, "timeoutMs": 60000, "errorEnvelope": "browser-v1"}),
        )
    };
    let mut targets = Vec::new();
    for node in [&ours_id, &ts_id] {
        let opened =
            proxy_v1(node, "POST", "/tabs/open", json!({}), json!({"url": format!("http://127.0.0.1:{port}/")}));
        let payload: Value = serde_json::from_str(opened["payloadJSON"].as_str().unwrap_or("null")).unwrap();
        let target = payload["result"]["targetId"].as_str().unwrap_or_else(|| panic!("open: {opened}")).to_string();
        targets.push(target);
    }
    let queries = [
        json!({"mode": "efficient"}),
        json!({"mode": "efficient"}),
        json!({"interactive": true}),
        json!({"compact": true}),
        json!({"depth": 3}),
        json!({"compact": true, "maxChars": 150}),
        json!({"interactive": true, "urls": true}),
        json!({"format": "aria", "limit": 25}),
        json!({"format": "aria", "mode": "efficient"}),
    ];
    let mut compared = Vec::new();
    for q in &queries {
        let mut answers = Vec::new();
        for (node, target) in [&ours_id, &ts_id].into_iter().zip(&targets) {
            let mut query = q.clone();
            query["targetId"] = json!(target);
            answers.push(snapshot_shape(&proxy_v1(node, "GET", "/snapshot", query, Value::Null)));
        }
        assert_eq!(answers[0], answers[1], "snapshot {q}\nours: {:#}\nts:   {:#}", answers[0], answers[1]);
        compared.push(answers.remove(0));
    }
    println!("snapshots equal on both hosts:\n{}", serde_json::to_string_pretty(&compared).unwrap());

    // /act, the hooks, downloads and emulation: refusals and results, on both hosts. The
    // refs are the efficient snapshot's, equal on both.
    let sign_in = compared[0]["refs"]
        .as_object()
        .and_then(|r| r.iter().find(|(_, e)| e["name"] == "Sign in"))
        .map(|(id, _)| id.clone())
        .unwrap();
    let calls = [
        ("POST", "/act", json!({})),
        ("POST", "/act", json!({"kind": "nope"})),
        ("POST", "/act", json!({"kind": "click"})),
        ("POST", "/act", json!({"kind": "click", "ref": "e999"})),
        ("POST", "/act", json!({"kind": "press", "key": "a", "selector": "input"})),
        ("POST", "/act", json!({"kind": "type", "ref": sign_in, "text": 5})),
        ("POST", "/act", json!({"kind": "wait"})),
        ("POST", "/act", json!({"kind": "resize", "width": 0, "height": 10})),
        ("POST", "/act", json!({"kind": "fill", "fields": []})),
        ("POST", "/act", json!({"kind": "batch", "actions": [{"kind": "nope"}]})),
        ("POST", "/act", json!({"kind": "evaluate"})),
        ("POST", "/act", json!({"kind": "click", "ref": sign_in, "targetId": "someone-else"})),
        ("POST", "/hooks/dialog", json!({})),
        ("POST", "/hooks/dialog", json!({"accept": true, "dialogId": "d9"})),
        ("POST", "/download", json!({})),
        ("POST", "/download", json!({"ref": sign_in, "path": "../x"})),
        ("POST", "/wait/download", json!({"path": "/etc/passwd"})),
        ("POST", "/set/device", json!({"name": "Nokia 3310"})),
        ("POST", "/set/media", json!({"colorScheme": "sepia"})),
        ("POST", "/set/timezone", json!({})),
        ("POST", "/set/locale", json!({})),
        ("POST", "/act", json!({"kind": "evaluate", "fn": "() => 6 * 7"})),
        ("POST", "/act", json!({"kind": "press", "key": "Tab"})),
        // The aria snapshot above replaced the role refs on both hosts: the old ref is unknown.
        ("POST", "/act", json!({"kind": "click", "ref": sign_in})),
        ("GET", "/snapshot", json!({"mode": "efficient"})),
        ("POST", "/act", json!({"kind": "click", "ref": sign_in})),
    ];
    let mut acted = Vec::new();
    for (method, path, body) in &calls {
        let mut answers = Vec::new();
        for (node, target) in [&ours_id, &ts_id].into_iter().zip(&targets) {
            let mut body = body.clone();
            if body.get("targetId").is_none() {
                body["targetId"] = json!(target);
            }
            let answer = match *method {
                "GET" => proxy_v1(node, method, path, body, Value::Null),
                _ => proxy_v1(node, method, path, json!({}), body),
            };
            answers.push(snapshot_shape(&answer));
        }
        assert_eq!(answers[0], answers[1], "{method} {path} {body}\nours: {:#}\nts:   {:#}", answers[0], answers[1]);
        acted.push(json!({"request": [method, path, body], "answer": answers.remove(0)}));
    }
    println!(
        "act, hooks, downloads, emulation equal on both hosts:\n{}",
        serde_json::to_string_pretty(&acted).unwrap()
    );
    assert_eq!(acted.last().unwrap()["answer"]["ok"], true, "the click by ref worked on both");
    assert!(compared[0]["snapshot"].as_str().unwrap().contains("textbox \"User\""), "{}", compared[0]);
    assert_eq!(compared[1]["newElements"], 0, "the second efficient snapshot is a delta");
    for node in [&ours_id, &ts_id] {
        proxy_v1(node, "POST", "/stop", json!({}), json!({}));
    }
    drop(ts);
    assert_eq!(ours.stop(), Some(143));
}
