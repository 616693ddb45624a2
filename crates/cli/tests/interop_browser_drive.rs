//! The real Gateway's own browser client drives our node's Chromium: its `openclaw browser …`
//! CLI (open, type, click, screenshot: each CLI call costs seconds of Node.js start-up) and the
//! `browser.request` method that CLI calls, for the rest, pinned to our node with
//! `gateway.nodes.browser.node`, and raw `node.invoke browser.proxy`, against pages this test
//! serves on 127.0.0.1.
//!
//! open → snapshot → type and click by ref → navigate → screenshot and pdf (real PNG/PDF bytes)
//! → console → upload through `browser.proxy.upload.v1` → download → dialog → close. The
//! gateway checks every answer as it would from the TypeScript node host (result shapes, the
//! `files` envelope).
//!
//! Needs Debian's Chromium (`scripts/browser-deps`); without it the test says so and passes.

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

use openclaw_testkit::{Launch, Peer};
use serde_json::{json, Value};
use support::*;

const CHROMIUM: &str = "/usr/bin/chromium";
const NODE_NAME: &str = "rs-drive";
/// The bytes of the file the download page serves.
const REPORT: &str = "quarterly numbers\n";

/// Pages: a sign-in form that greets by the typed email, a second page, a file input that
/// reports the chosen file's name and size, a link to a download, a button that asks
/// `confirm()`.
fn serve_pages() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let n = stream.read(&mut buf).unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).to_string();
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                let (status, body) = match path.as_str() {
                    "/" => ("200 OK", concat!(
                        "<html><head><title>Sign in</title></head><body><main><h1>Sign in</h1>",
                        "<form><label>Email <input name=email></label>",
                        "<button type=button onclick=\"document.querySelector('main').innerHTML = ",
                        "'<h1>Welcome ' + document.querySelector('input').value + '</h1><a href=/second>next</a>'\">Sign in</button>",
                        "</form></main><script>console.log('hello from the page'); fetch('/missing')</script></body></html>")),
                    "/second" => ("200 OK", "<html><head><title>Second</title></head><body><main><h1>Second page</h1></main></body></html>"),
                    "/upload" => ("200 OK", concat!(
                        "<html><head><title>Upload</title></head><body><main><h1>Upload</h1>",
                        "<input type=file id=f onchange=\"document.querySelector('h1').textContent = ",
                        "'got ' + this.files[0].name + ' ' + this.files[0].size\"></main></body></html>")),
                    "/files" => ("200 OK", "<html><head><title>Files</title></head><body><main><a href=/report.bin>report</a></main></body></html>"),
                    "/dialog" => ("200 OK", concat!(
                        "<html><head><title>Dialog</title></head><body><main><h1>Ask</h1>",
                        "<button onclick=\"document.querySelector('h1').textContent = 'answer ' + confirm('Proceed?')\">Ask</button>",
                        "</main></body></html>")),
                    "/report.bin" => {
                        let _ = write!(stream, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=report.bin\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{REPORT}", REPORT.len());
                        return;
                    }
                    _ => ("404 Not Found", "nope"),
                };
                let _ = write!(stream, "HTTP/1.1 {status}\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
            });
        }
    });
    port
}

/// `browser.request` through the real Gateway (routed to our node by its config): the route's
/// result, or a panic with the gateway's error.
fn request(gw: &PeerGateway, method: &str, path: &str, query: Value, body: Value) -> Value {
    let res = gw.call(
        "browser.request",
        json!({"method": method, "path": path, "query": query, "body": body, "timeoutMs": 60000}),
    );
    assert!(res.get("ok") != Some(&json!(false)), "{method} {path}: {res}");
    res
}

fn ref_of(snapshot: &Value, role: &str, name: &str) -> String {
    snapshot["refs"]
        .as_object()
        .and_then(|refs| refs.iter().find(|(_, e)| e["role"] == role && e["name"] == name))
        .map(|(id, _)| id.clone())
        .unwrap_or_else(|| panic!("no {role} {name:?} in {snapshot}"))
}

#[test]
fn the_real_gateways_browser_client_drives_our_node() {
    if !peer_available() {
        return;
    }
    if !Path::new(CHROMIUM).exists() {
        println!("browser: SKIPPED ({CHROMIUM} is not installed; scripts/browser-deps installs it)");
        return;
    }
    let pin = json!({"gateway": {"nodes": {"browser": {"node": NODE_NAME}}}}).to_string();
    let name = format!("rs-browser-drive-{}", std::process::id());
    let gw = PeerGateway::try_start_with(
        Peer::installed(),
        &name,
        &[],
        &Launch::with_env(&[("PEER_EXTRA_CONFIG", pin.as_str())]),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("node");
    std::fs::create_dir_all(&state).unwrap();
    let config = json!({"browser": {"noSandbox": true, "headless": true,
        "ssrfPolicy": {"dangerouslyAllowPrivateNetwork": true},
        "profiles": {"openclaw": {"cdpPort": free_port()}}}});
    std::fs::write(state.join("openclaw.json"), config.to_string()).unwrap();
    let mut ours = OurNode::spawn(
        &state,
        &["--port", &gw.port.to_string(), "--display-name", NODE_NAME],
        &[("OPENCLAW_GATEWAY_TOKEN", &gw.token)],
    );
    ours.wait_for_log("node host gateway connected:", 1, Duration::from_secs(30));
    let ours_id = our_identity(&state)["deviceId"].as_str().unwrap().to_string();
    gw.approve_node_surface(&ours_id);
    let port = serve_pages();
    let base = format!("http://127.0.0.1:{port}");

    // Open with the gateway's CLI: the browser starts on our node.
    let opened = gw.cli_json(&["browser", "--json", "open", &format!("{base}/")]);
    let target = opened["targetId"].as_str().unwrap_or_else(|| panic!("open: {opened}")).to_string();
    assert_eq!(opened["title"], "Sign in", "{opened}");

    // Snapshot through browser.request, the way the agent tool asks after a navigate.
    let snap = request(&gw, "GET", "/snapshot", json!({"targetId": target, "mode": "efficient"}), json!(null));
    let email = ref_of(&snap, "textbox", "Email");
    let sign_in = ref_of(&snap, "button", "Sign in");
    assert_eq!(snap["stats"]["refs"], snap["refs"].as_object().unwrap().len());

    // Type and click by ref with the gateway's CLI; the page greets the typed address.
    gw.cli(&["browser", "type", &email, "alice@example.com", "--target-id", &target]);
    gw.cli(&["browser", "click", &sign_in, "--target-id", &target]);
    let text = request(&gw, "GET", "/text", json!({"targetId": target}), json!(null));
    assert!(text["text"].as_str().unwrap_or("").contains("Welcome alice@example.com"), "{text}");

    // The plain (option-less) snapshot sees the new page and its link.
    let plain = request(&gw, "GET", "/snapshot", json!({"targetId": target}), json!(null));
    assert!(plain["snapshot"].as_str().unwrap_or("").contains("link \"next\""), "{plain}");

    // Navigate, then screenshot and pdf: the gateway persists the files our node inlined.
    let nav =
        request(&gw, "POST", "/navigate", json!({}), json!({"url": format!("{base}/second"), "targetId": target}));
    assert_eq!(nav["url"], format!("{base}/second"), "{nav}");
    let shot = gw.cli_json(&["browser", "--json", "screenshot", &target]);
    let shot_path = shot["path"].as_str().unwrap_or_else(|| panic!("screenshot: {shot}"));
    let png = std::fs::read(shot_path).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{shot_path} is a PNG");
    let pdf = request(&gw, "POST", "/pdf", json!({}), json!({"targetId": target}));
    let pdf_path = pdf["path"].as_str().unwrap_or_else(|| panic!("pdf: {pdf}"));
    assert!(std::fs::read(pdf_path).unwrap().starts_with(b"%PDF-"), "{pdf_path} is a PDF");

    // Console of the first page (kept per tab) through raw node.invoke.
    let console = gw.invoke(
        &ours_id,
        "browser.proxy",
        json!({"method": "GET", "path": "/console", "query": {"targetId": target}, "errorEnvelope": "browser-v1"}),
    );
    let payload: Value = serde_json::from_str(console["payloadJSON"].as_str().unwrap_or("{}")).unwrap();
    let messages = payload["result"]["messages"].as_array().cloned().unwrap_or_default();
    assert!(messages.iter().any(|m| m["text"] == "hello from the page"), "{payload}");

    // Upload: the gateway reads the file from its upload dir and sends it through
    // browser.proxy.upload.v1; the page sees the file's name and size.
    request(&gw, "POST", "/navigate", json!({}), json!({"url": format!("{base}/upload"), "targetId": target}));
    let uploads = Path::new("/tmp/openclaw/uploads");
    std::fs::create_dir_all(uploads).unwrap();
    let file = uploads.join(format!("drive-{}.txt", std::process::id()));
    std::fs::write(&file, b"hello upload").unwrap();
    let up = request(
        &gw,
        "POST",
        "/hooks/file-chooser",
        json!({}),
        json!({"paths": [file.to_str().unwrap()], "element": "#f", "targetId": target}),
    );
    let _ = std::fs::remove_file(&file);
    let text = request(&gw, "GET", "/text", json!({"targetId": target}), json!(null));
    let expected = format!("got drive-{}.txt 12", std::process::id());
    assert!(text["text"].as_str().unwrap_or("").contains(&expected), "upload said {up}; page: {text}");

    // Download: the link clicked by ref, what it starts saved; the gateway gets the file
    // inlined and hands back its path.
    request(&gw, "POST", "/navigate", json!({}), json!({"url": format!("{base}/files"), "targetId": target}));
    let snap = request(&gw, "GET", "/snapshot", json!({"targetId": target, "mode": "efficient"}), json!(null));
    let link = ref_of(&snap, "link", "report");
    let saved = format!("drive-{}.bin", std::process::id());
    let dl = request(&gw, "POST", "/download", json!({}), json!({"ref": link, "path": saved, "targetId": target}));
    let dl_path = dl["download"]["path"].as_str().unwrap_or_else(|| panic!("download: {dl}"));
    assert_eq!(std::fs::read_to_string(dl_path).unwrap(), REPORT, "{dl}");
    assert_eq!(dl["download"]["suggestedFilename"], "report.bin", "{dl}");
    let _ = std::fs::remove_file(dl_path);

    // Dialog: armed first, then the click that opens it is answered.
    request(&gw, "POST", "/navigate", json!({}), json!({"url": format!("{base}/dialog"), "targetId": target}));
    let snap = request(&gw, "GET", "/snapshot", json!({"targetId": target, "mode": "efficient"}), json!(null));
    let ask = ref_of(&snap, "button", "Ask");
    request(&gw, "POST", "/hooks/dialog", json!({}), json!({"accept": true, "targetId": target}));
    request(&gw, "POST", "/act", json!({}), json!({"kind": "click", "ref": ask, "targetId": target}));
    let text = request(&gw, "GET", "/text", json!({"targetId": target}), json!(null));
    assert!(text["text"].as_str().unwrap_or("").contains("answer true"), "{text}");

    // Close; the tab is gone.
    request(&gw, "DELETE", &format!("/tabs/{target}"), json!({}), json!(null));
    let tabs = request(&gw, "GET", "/tabs", json!({}), json!(null));
    assert!(!tabs["tabs"].as_array().unwrap().iter().any(|t| t["targetId"] == target.as_str()), "{tabs}");
    assert_eq!(ours.stop(), Some(143));
}
