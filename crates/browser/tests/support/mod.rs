//! What the real-Chromium tests share: the browser's path, a `BrowserControl` on a CDP port of
//! its own, the route call, and a tiny HTTP server on 127.0.0.1 for the pages each test serves.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

use openclaw_browser::{BrowserControl, BrowserSettings, RouteRequest, RouteResponse};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Debian's Chromium, installed by `scripts/browser-deps`.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// True (and said loudly) when Chromium is not installed: the test then passes without running.
pub fn chromium_missing() -> bool {
    if Path::new(CHROMIUM).exists() {
        return false;
    }
    println!("browser: SKIPPED ({CHROMIUM} is not installed; run scripts/browser-deps)");
    eprintln!("browser: SKIPPED ({CHROMIUM} is not installed; run scripts/browser-deps)");
    true
}

/// A loopback port nothing listens on now (each test's browser gets its own CDP port).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A control service for a headless, sandbox-less Chromium (tests run as root) on `port`,
/// with pages on 127.0.0.1 allowed and downloads kept under `state`.
pub fn control(state: &Path, port: u16) -> BrowserControl {
    let settings = BrowserSettings::from_config(Some(&json!({
        "noSandbox": true,
        "headless": true,
        "executablePath": CHROMIUM,
        "profiles": {"openclaw": {"cdpPort": port}},
        "ssrfPolicy": {"dangerouslyAllowPrivateNetwork": true},
    })))
    .unwrap();
    BrowserControl::new(settings, state.to_path_buf()).with_downloads_dir(state.join("downloads"))
}

/// One route call.
pub async fn call(
    c: &BrowserControl,
    method: &str,
    path: &str,
    query: &[(&str, &str)],
    body: Option<Value>,
) -> RouteResponse {
    let query: BTreeMap<String, String> = query.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    c.dispatch(RouteRequest { method: method.into(), path: path.into(), query, body }).await
}

/// A single-threaded runtime, like the node host's.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// One answer of the test server.
pub struct Reply {
    pub status: &'static str,
    pub content_type: &'static str,
    /// Extra header lines, each ending in `\r\n`.
    pub headers: String,
    pub body: Vec<u8>,
}

/// A 200 HTML page.
pub fn html(body: &str) -> Reply {
    Reply { status: "200 OK", content_type: "text/html", headers: String::new(), body: body.as_bytes().to_vec() }
}

/// Serves `pages(path)` (the request target, query included) on 127.0.0.1, 404 for None;
/// returns the base URL. The server lives as long as the test's runtime.
pub async fn serve(pages: fn(&str) -> Option<Reply>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else { return };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut n = 0;
                while !buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf[n..]).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => n += k,
                    }
                    if n == buf.len() {
                        return;
                    }
                }
                let head = String::from_utf8_lossy(&buf[..n]).to_string();
                let target = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                let r = pages(&target).unwrap_or(Reply {
                    status: "404 Not Found",
                    content_type: "text/plain",
                    headers: String::new(),
                    body: b"nope".to_vec(),
                });
                let head = format!(
                    "HTTP/1.1 {}\r\nContent-Type: {}\r\n{}Content-Length: {}\r\nConnection: close\r\n\r\n",
                    r.status,
                    r.content_type,
                    r.headers,
                    r.body.len()
                );
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(&r.body).await;
            });
        }
    });
    format!("http://{addr}")
}
