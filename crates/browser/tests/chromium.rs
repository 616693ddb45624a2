//! The routes against a real Chromium (`/usr/bin/chromium`, installed by scripts/browser-deps),
//! with pages served by a tiny HTTP server on 127.0.0.1 inside the test.
//!
//! Each test uses its own state directory and CDP port, so they run in parallel, and stops
//! every browser it started through `shutdown` (process group SIGKILL as the last resort).

mod support;

use std::path::Path;
use std::time::Duration;

use openclaw_browser::{BrowserControl, BrowserSettings};
use serde_json::{json, Value};
use support::{call, chromium_missing, control, free_port, html, rt, serve, Reply, CHROMIUM};

/// The pages of these tests.
fn pages(target: &str) -> Option<Reply> {
    Some(match target {
        "/one" => html("<html><head><title>Page One</title></head><body><main><h1>First page</h1><p>Hello from one.</p></main></body></html>"),
        "/two" => html(concat!(
            "<html><head><title>Page Two</title></head><body style=\"height:3000px\">",
            "<article>Second page text</article>",
            "<script>console.log('hello', 42); console.error('bad thing');",
            "fetch('/missing').catch(()=>{});",
            "setTimeout(() => { throw new TypeError('boom'); }, 0);</script>",
            "</body></html>")),
        "/signin" => html(concat!(
            "<html><head><title>Sign in</title></head><body><main>",
            "<h1>Sign in</h1><form><label>Email <input name=email></label>",
            "<label>Password <input type=password name=pw></label>",
            "<label><input type=checkbox checked> Remember me</label>",
            "<button type=button>Save</button><button type=button>Save</button>",
            "<div onclick=\"1\" style=\"cursor:pointer\">Clickable Card</div>",
            "<a href=/one>Docs</a></form>",
            "<iframe srcdoc=\"<button>Inner</button>\"></iframe></main>",
            "<script>onhashchange = () => { const b = document.createElement('button'); b.textContent = 'More'; document.querySelector('form').append(b); };</script>",
            "</body></html>")),
        _ => return None,
    })
}

async fn ok(c: &BrowserControl, method: &str, path: &str, query: &[(&str, &str)], body: Option<Value>) -> Value {
    let r = call(c, method, path, query, body).await;
    assert_eq!(r.status, 200, "{method} {path}: {}", r.body);
    r.body
}

fn png_dimensions(b: &[u8]) -> (u32, u32) {
    assert_eq!(&b[..8], b"\x89PNG\r\n\x1a\n", "PNG magic");
    assert_eq!(&b[12..16], b"IHDR");
    (u32::from_be_bytes(b[16..20].try_into().unwrap()), u32::from_be_bytes(b[20..24].try_into().unwrap()))
}

#[test]
fn full_flow_against_real_chromium() {
    if chromium_missing() {
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let port = free_port();
    let c = control(state.path(), port);
    rt().block_on(async {
        let base = serve(pages).await;
        let result = Box::pin(async {
            // Status before start: nothing runs, Chromium is detected.
            let st = ok(&c, "GET", "/", &[], None).await;
            assert_eq!((st["running"].as_bool(), st["pid"].clone()), (Some(false), Value::Null));
            assert_eq!(st["detectedExecutablePath"], CHROMIUM);
            assert_eq!(st["cdpPort"], port);
            let tabs = ok(&c, "GET", "/tabs", &[], None).await;
            assert_eq!(tabs, json!({"running": false, "tabs": []}), "GET /tabs must not launch");

            // Start; status after.
            let started = ok(&c, "POST", "/start", &[], None).await;
            assert_eq!(started, json!({"ok": true, "profile": "openclaw"}));
            let st = ok(&c, "GET", "/", &[], None).await;
            assert_eq!((st["running"].as_bool(), st["cdpReady"].as_bool()), (Some(true), Some(true)));
            assert!(st["pid"].as_u64().is_some());
            assert_eq!(st["chosenBrowser"], "chromium");
            let udd = state.path().join("browser/openclaw/user-data");
            assert_eq!(st["userDataDir"], udd.display().to_string());
            assert_eq!(st["headless"], true);

            // Open a tab.
            let tab =
                ok(&c, "POST", "/tabs/open", &[], Some(json!({"url": format!("{base}/one"), "label": "main"}))).await;
            let target = tab["targetId"].as_str().unwrap().to_string();
            assert_eq!(tab["url"], format!("{base}/one"));
            assert_eq!(tab["title"], "Page One");
            assert_eq!(tab["type"], "page");
            assert_eq!(tab["suggestedTargetId"], "main");
            assert_eq!(tab["label"], "main");
            assert!(tab["tabId"].as_str().unwrap().starts_with('t'));
            assert_eq!(tab["resolvedProfile"], "openclaw");
            assert_eq!(tab["ownership"]["status"], "durable");
            assert_eq!(tab["ownership"]["nativeTargetId"], target.as_str());
            assert!(tab["ownership"]["browserInstanceFingerprint"].as_str().unwrap().starts_with("sha256:"));

            let tabs = ok(&c, "GET", "/tabs", &[], None).await;
            assert_eq!(tabs["running"], true);
            assert!(tabs["tabs"].as_array().unwrap().iter().any(|t| t["targetId"] == target.as_str()));

            // Text of the first page (the <main> element).
            let text = ok(&c, "GET", "/text", &[("targetId", "main")], None).await;
            assert_eq!(text["text"], "First page\n\nHello from one.", "innerText of <main>");
            assert_eq!(text["truncated"], false);

            // Navigate to the second page by label.
            let nav =
                ok(&c, "POST", "/navigate", &[], Some(json!({"url": format!("{base}/two"), "targetId": "main"}))).await;
            assert_eq!(nav, json!({"ok": true, "url": format!("{base}/two"), "targetId": target}));

            // Console messages, a failing request, and the page error.
            tokio::time::sleep(Duration::from_millis(500)).await;
            let console = ok(&c, "GET", "/console", &[], None).await;
            let msgs = console["messages"].as_array().unwrap();
            assert!(msgs.iter().any(|m| m["type"] == "log" && m["text"] == "hello 42"), "{console}");
            let errors_only = ok(&c, "GET", "/console", &[("level", "error")], None).await;
            assert!(errors_only["messages"].as_array().unwrap().iter().all(|m| m["type"] == "error"));
            assert!(errors_only["messages"].as_array().unwrap().iter().any(|m| m["text"] == "bad thing"));
            let reqs = ok(&c, "GET", "/requests", &[], None).await;
            let reqs = reqs["requests"].as_array().unwrap();
            let missing = reqs.iter().find(|r| r["url"] == format!("{base}/missing")).expect("the fetch was recorded");
            assert_eq!((missing["status"].as_i64(), missing["ok"].as_bool()), (Some(404), Some(false)), "{missing}");
            assert_eq!(missing["resourceType"], "fetch");
            assert!(reqs.iter().any(|r| r["url"] == format!("{base}/two") && r["status"] == 200));
            let errs = ok(&c, "GET", "/errors", &[("clear", "true")], None).await;
            assert!(
                errs["errors"].as_array().unwrap().iter().any(|e| e["message"] == "boom" && e["name"] == "TypeError"),
                "{errs}"
            );
            let errs = ok(&c, "GET", "/errors", &[], None).await;
            assert_eq!(errs["errors"], json!([]));

            // Screenshots: viewport and full page, real PNGs written under the state dir.
            let shot = ok(&c, "POST", "/screenshot", &[], Some(json!({"type": "png"}))).await;
            assert_eq!(shot["targetId"], target.as_str());
            let path = shot["path"].as_str().unwrap();
            assert!(path.starts_with(&state.path().join("media/browser").display().to_string()), "{path}");
            assert!(path.ends_with(".png"));
            let (w, h) = png_dimensions(&std::fs::read(path).unwrap());
            assert!(w >= 300 && h >= 200 && w <= 2000 && h <= 2000, "{w}x{h}");
            let full = ok(&c, "POST", "/screenshot", &[], Some(json!({"fullPage": true}))).await;
            let (fw, fh) = png_dimensions(&std::fs::read(full["path"].as_str().unwrap()).unwrap());
            assert!(fh > h && fh <= 2000 && fw <= 2000, "full page {fw}x{fh} vs viewport {w}x{h}");

            // PDF.
            let pdf = ok(&c, "POST", "/pdf", &[], None).await;
            let bytes = std::fs::read(pdf["path"].as_str().unwrap()).unwrap();
            assert!(bytes.starts_with(b"%PDF-"));

            // Target resolution errors.
            let r = call(&c, "POST", "/tabs/focus", &[], Some(json!({"targetId": "nope"}))).await;
            assert_eq!(r.status, 404, "{}", r.body);
            let focus = ok(&c, "POST", "/tabs/focus", &[], Some(json!({"targetId": "main"}))).await;
            assert_eq!(focus, json!({"ok": true, "targetId": target}));

            // Close the tab by raw id, then stop.
            let r = call(&c, "DELETE", &format!("/tabs/{}", &target[..6]), &[("targetIdMode", "raw")], None).await;
            assert_eq!(r.status, 404, "raw mode takes only the exact id: {}", r.body);
            let closed = ok(&c, "DELETE", &format!("/tabs/{target}"), &[("targetIdMode", "raw")], None).await;
            assert_eq!(closed, json!({"ok": true, "targetId": target}));
            let tabs = ok(&c, "GET", "/tabs", &[], None).await;
            assert!(!tabs["tabs"].as_array().unwrap().iter().any(|t| t["targetId"] == target.as_str()));

            let pid = c.browser_pids()[0];
            let stopped = ok(&c, "POST", "/stop", &[], None).await;
            assert_eq!(stopped, json!({"ok": true, "stopped": true, "profile": "openclaw"}));
            assert!(!Path::new(&format!("/proc/{pid}")).exists(), "browser pid {pid} is gone after stop");
            let st = ok(&c, "GET", "/", &[], None).await;
            assert_eq!(st["running"], false);
            let r = call(&c, "GET", "/console", &[("targetId", "t1")], None).await;
            assert_eq!(r.status, 409, "{}", r.body);
            assert!(r.body["error"].as_str().unwrap().contains("is not running"));
        })
        .await;
        c.shutdown().await;
        result
    });
}

#[test]
fn default_policy_blocks_loopback_navigation() {
    if chromium_missing() {
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let port = free_port();
    let settings = BrowserSettings::from_config(Some(&json!({
        "noSandbox": true, "headless": true, "executablePath": CHROMIUM,
        "profiles": {"openclaw": {"cdpPort": port}},
    })))
    .unwrap();
    let c = BrowserControl::new(settings, state.path().to_path_buf());
    rt().block_on(async {
        let base = serve(pages).await;
        let r = call(&c, "POST", "/navigate", &[], Some(json!({"url": format!("{base}/one")}))).await;
        assert_eq!(r.status, 400, "{}", r.body);
        assert_eq!(r.body, json!({"error": "browser navigation blocked by policy", "reason": "navigation_blocked"}));
        // The tab-scoped route started the browser (upstream does too) on about:blank.
        let tabs = ok(&c, "GET", "/tabs", &[], None).await;
        assert_eq!(tabs["tabs"][0]["url"], "about:blank");
        c.shutdown().await;
        assert!(c.browser_pids().is_empty());
    });
}

/// The ref of the first `role` named `name` in a snapshot answer.
fn refs_of(snapshot: &Value, role: &str, name: &str) -> Option<String> {
    snapshot["refs"].as_object()?.iter().find(|(_, e)| e["role"] == role && e["name"] == name).map(|(id, _)| id.clone())
}

#[test]
fn snapshots_of_a_real_page() {
    if chromium_missing() {
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let c = control(state.path(), free_port());
    rt().block_on(async {
        let base = serve(pages).await;
        let result = Box::pin(async {
            let opened = ok(&c, "POST", "/tabs/open", &[], Some(json!({"url": format!("{base}/signin")}))).await;
            let target = opened["targetId"].as_str().unwrap().to_string();

            // The efficient snapshot the gateway asks for after every navigate.
            let s = ok(&c, "GET", "/snapshot", &[("targetId", &target), ("mode", "efficient")], None).await;
            println!("efficient snapshot:\n{}", s["snapshot"].as_str().unwrap());
            assert_eq!(
                (s["ok"].clone(), s["format"].clone(), s["targetId"].clone()),
                (json!(true), json!("ai"), json!(target))
            );
            let text = s["snapshot"].as_str().unwrap();
            let refs = s["refs"].as_object().unwrap();
            for line in text.lines() {
                assert!(line.trim_start().starts_with("- "), "grammar: {line:?}");
            }
            let find = |role: &str, name: &str| -> String {
                refs.iter()
                    .find(|(_, e)| e["role"] == role && e["name"] == name)
                    .map(|(id, _)| id.clone())
                    .unwrap_or_else(|| panic!("no {role} {name:?} in {refs:?}"))
            };
            let email = find("textbox", "Email");
            assert!(text.contains(&format!("textbox \"Email\" [ref={email}]")), "{text}");
            assert_eq!(refs[&email]["backendDOMNodeId"].as_i64().map(|b| b > 0), Some(true));
            // Two buttons named alike: nth 0 and 1, the second line says so.
            let saves: Vec<_> = refs.iter().filter(|(_, e)| e["name"] == "Save").collect();
            assert_eq!(saves.len(), 2);
            assert_eq!((saves[0].1["nth"].clone(), saves[1].1["nth"].clone()), (json!(0), json!(1)));
            assert!(text.contains(&format!("[ref={}] [nth=1]", saves[1].0)));
            assert!(text.contains("[checked]"), "{text}");
            assert!(text.contains("\"Clickable Card\""), "cursor-interactive div: {text}");
            assert!(text.contains("[cursor:pointer, onclick]"), "{text}");
            // Role-option snapshots are of the main document: the iframe is a line of its own.
            assert!(refs.values().all(|e| e["name"] != "Inner"), "{text}");
            assert!(refs.values().any(|e| e["role"] == "iframe" && e["frameId"].is_string()), "{refs:?}");
            let stats = &s["stats"];
            assert_eq!(stats["lines"].as_u64().unwrap() as usize, text.split('\n').count());
            assert_eq!(stats["chars"].as_u64().unwrap() as usize, text.encode_utf16().count());
            assert_eq!(stats["refs"].as_u64().unwrap() as usize, refs.len());
            assert!(s.get("newElements").is_none(), "the first snapshot has no delta");

            // The same snapshot again: a delta with nothing new. Then the page grows a button
            // (same document: a fragment navigation) and only that one is new.
            let again = ok(&c, "GET", "/snapshot", &[("targetId", &target), ("mode", "efficient")], None).await;
            assert_eq!(again["newElements"], 0, "{again}");
            ok(&c, "POST", "/navigate", &[], Some(json!({"url": format!("{base}/signin#more"), "targetId": target})))
                .await;
            let mut grown = json!(null);
            for _ in 0..50 {
                grown = ok(&c, "GET", "/snapshot", &[("targetId", &target), ("mode", "efficient")], None).await;
                if grown["newElements"] != 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            assert_eq!(grown["newElements"], 1, "{grown}");
            let text = grown["snapshot"].as_str().unwrap();
            assert!(text.contains("button \"More\"") && text.contains("] [new]"), "{text}");
            assert!(text.ends_with("\n1 new element(s) since last snapshot"), "{text}");

            // The plain snapshot: compact, the whole tree, with urls on demand.
            let plain = ok(&c, "GET", "/snapshot", &[("targetId", &target), ("urls", "1")], None).await;
            let text = plain["snapshot"].as_str().unwrap();
            assert!(text.starts_with("- RootWebArea \"Sign in\""), "{text}");
            assert!(text.contains(&format!("[url={base}/one]")), "{text}");
            assert!(plain["refs"].as_object().unwrap().values().any(|e| e["role"] == "heading"));
            // Without role options (urls is one) the snapshot is compact, and the iframe's
            // document follows its line, its refs carrying the frame.
            let plain = ok(&c, "GET", "/snapshot", &[("targetId", &target)], None).await;
            let text = plain["snapshot"].as_str().unwrap();
            assert!(!text.contains("- none") && !text.contains("- generic\n"), "compact: {text}");
            let inner = plain["refs"].as_object().unwrap().values().find(|e| e["name"] == "Inner").cloned();
            assert!(inner.as_ref().is_some_and(|e| e["frameId"].is_string()), "{text}");
            let iframe_line = text.lines().position(|l| l.contains("- Iframe")).unwrap();
            let after: Vec<&str> = text.lines().skip(iframe_line + 1).take(2).collect();
            assert!(after[0].contains("- RootWebArea") && after[1].contains("button \"Inner\""), "{text}");

            // A budget cuts whole lines and keeps only the refs still shown.
            let small = ok(&c, "GET", "/snapshot", &[("targetId", &target), ("maxChars", "200")], None).await;
            assert_eq!(small["truncated"], true);
            let text = small["snapshot"].as_str().unwrap();
            assert!(text.encode_utf16().count() <= 200 && text.ends_with("[...TRUNCATED - page too large]"));
            for id in small["refs"].as_object().unwrap().keys() {
                assert!(text.contains(&format!("[ref={id}]")), "{id} is not shown: {text}");
            }

            // Element screenshots: by ref and by selector, cut to the element.
            let fresh = ok(&c, "GET", "/snapshot", &[("targetId", &target), ("interactive", "1")], None).await;
            let email = refs_of(&fresh, "textbox", "Email").unwrap();
            let shot = ok(&c, "POST", "/screenshot", &[], Some(json!({"targetId": target, "ref": email}))).await;
            let (w, h) = png_dimensions(&std::fs::read(shot["path"].as_str().unwrap()).unwrap());
            assert!(w > 20 && w < 400 && h > 5 && h < 60, "a text box, not the page: {w}x{h}");
            let shot = ok(&c, "POST", "/screenshot", &[], Some(json!({"targetId": target, "element": "h1"}))).await;
            let (w, h) = png_dimensions(&std::fs::read(shot["path"].as_str().unwrap()).unwrap());
            assert!(h > 10 && h < 100 && w > 50, "the heading: {w}x{h}");
            let r =
                call(&c, "POST", "/screenshot", &[], Some(json!({"targetId": target, "ref": email, "fullPage": true})))
                    .await;
            assert_eq!(
                (r.status, r.body["error"].clone()),
                (400, json!("fullPage is not supported for element screenshots"))
            );
            let r = call(&c, "POST", "/screenshot", &[], Some(json!({"targetId": target, "labels": true}))).await;
            assert_eq!(r.status, 501, "{}", r.body);

            // Scoped to one element.
            let form = ok(&c, "GET", "/snapshot", &[("targetId", &target), ("selector", "form")], None).await;
            let text = form["snapshot"].as_str().unwrap();
            assert!(!text.contains("RootWebArea") && !text.contains("heading"), "{text}");
            assert!(text.contains("textbox \"Email\""), "{text}");
            let r = call(&c, "GET", "/snapshot", &[("targetId", &target), ("selector", "#nope")], None).await;
            assert_eq!(r.status, 500, "{}", r.body);

            // format=aria: the flat node list.
            let aria =
                ok(&c, "GET", "/snapshot", &[("targetId", &target), ("format", "aria"), ("limit", "5")], None).await;
            let nodes = aria["nodes"].as_array().unwrap();
            assert_eq!(nodes.len(), 5);
            assert_eq!((nodes[0]["ref"].clone(), nodes[0]["depth"].clone()), (json!("ax1"), json!(0)));
            let r = call(&c, "GET", "/snapshot", &[("format", "aria"), ("mode", "efficient")], None).await;
            assert_eq!((r.status, r.body["error"].clone()), (400, json!("labels/mode=efficient require format=ai")));
            let r = call(&c, "GET", "/snapshot", &[("labels", "1")], None).await;
            assert_eq!((r.status, r.body["error"].clone()), (501, json!("Snapshot labels require Playwright.")));
        })
        .await;
        c.shutdown().await;
        result
    });
}
