//! `POST /act`, `/hooks/dialog` and `/hooks/file-chooser` against a real Chromium
//! (`/usr/bin/chromium`), on pages served by a tiny HTTP server on 127.0.0.1 inside the test.
//!
//! Each test has its own state directory and CDP port and stops its browser even when an
//! assertion fails (the panic is caught, the browser shut down, then the panic resumed).

mod support;

use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;
use openclaw_browser::BrowserControl;
use serde_json::{json, Value};
use support::{call, chromium_missing, control, free_port, html, serve, Reply};

const LOGIN: &str = r#"<html><head><title>Sign in</title></head><body>
<form id="f" action="/home" method="get">
<label>Email <input id="email" name="email"></label>
<label>Password <input id="pw" type="password" name="pw"></label>
<label><input id="remember" type="checkbox" name="remember"> Remember me</label>
<label>Colour <select id="color" name="color"><option value="r">Red</option><option value="g">Green</option></select></label>
<button id="go" type="submit">Sign in</button>
</form>
<div style="position:relative"><button id="covered" onclick="document.title='covered clicked'">Covered</button>
<div id="overlay" style="position:absolute;left:0;top:0;width:300px;height:60px;background:rgba(0,0,0,.4)"></div></div>
<button id="off" disabled>Disabled</button>
<input id="ro" readonly value="fixed">
<input id="k" onkeydown="document.getElementById('out').textContent='key:'+event.key+(event.shiftKey?'+shift':'')">
<div id="out"></div>
</body></html>"#;

const HOME: &str = r#"<html><head><title>Home</title></head><body><h1>Welcome</h1><p id="q"></p>
<script>document.getElementById('q').textContent = decodeURIComponent(location.search);</script></body></html>"#;

const DIALOGS: &str = r#"<html><head><title>Dialogs</title></head><body>
<button id="a" onclick="alert('hello')">Alert</button>
<button id="c" onclick="document.getElementById('r').textContent = 'confirm:' + confirm('sure?')">Confirm</button>
<button id="p" onclick="document.getElementById('r').textContent = 'prompt:' + prompt('name?', 'bob')">Prompt</button>
<div id="r"></div></body></html>"#;

const UPLOAD: &str = r#"<html><head><title>Upload</title></head><body>
<label>Attachment <input type="file" id="file" multiple onchange="document.getElementById('n').textContent = 'got:' + Array.from(this.files).map(f => f.name).join(',')"></label>
<button id="pick" onclick="document.getElementById('file').click()">Pick a file</button>
<div id="n"></div></body></html>"#;

const LINKS: &str = r#"<html><head><title>Links</title></head><body><a id="next" href="/one">Next page</a>
<input id="k"></body></html>"#;

const ONE: &str = "<html><head><title>One</title></head><body><main>Page one</main></body></html>";

/// The pages of these tests (the query string is ignored).
fn pages(target: &str) -> Option<Reply> {
    let page = match target.split('?').next().unwrap_or("/") {
        "/login" => LOGIN,
        "/home" => HOME,
        "/dialogs" => DIALOGS,
        "/upload" => UPLOAD,
        "/links" => LINKS,
        "/one" => ONE,
        _ => return None,
    };
    Some(html(page))
}

async fn ok(c: &BrowserControl, method: &str, path: &str, body: Value) -> Value {
    let r = call(c, method, path, &[], Some(body)).await;
    assert_eq!(r.status, 200, "{method} {path}: {}", r.body);
    r.body
}

async fn act(c: &BrowserControl, body: Value) -> Value {
    ok(c, "POST", "/act", body).await
}

async fn act_err(c: &BrowserControl, body: Value) -> (u16, Value) {
    let r = call(c, "POST", "/act", &[], Some(body.clone())).await;
    assert_ne!(r.status, 200, "{body} must fail: {}", r.body);
    (r.status, r.body)
}

/// The ref of the snapshot line `- <role> "<name>" … [ref=eN]`.
fn ref_of(snapshot: &str, role: &str, name: &str) -> String {
    let needle = format!("{role} \"{name}\"");
    let line = snapshot.lines().find(|l| l.contains(&needle)).unwrap_or_else(|| panic!("no {needle} in\n{snapshot}"));
    let start = line.find("[ref=").unwrap_or_else(|| panic!("no ref on {line}")) + 5;
    line[start..].split(']').next().unwrap().to_string()
}

async fn snapshot(c: &BrowserControl, target: &str) -> String {
    let r = call(c, "GET", "/snapshot", &[("targetId", target)], None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["snapshot"].as_str().unwrap().to_string()
}

async fn eval(c: &BrowserControl, target: &str, f: &str) -> Value {
    act(c, json!({"kind": "evaluate", "targetId": target, "fn": f})).await["result"].clone()
}

/// Runs `body` against a fresh browser and always shuts the browser down.
fn with_browser<F>(body: impl FnOnce(BrowserControl, String) -> F)
where
    F: std::future::Future<Output = ()>,
{
    if chromium_missing() {
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let c = control(state.path(), free_port());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let base = serve(pages).await;
        let outcome = AssertUnwindSafe(Box::pin(body(c.clone(), base))).catch_unwind().await;
        c.shutdown().await;
        assert!(c.browser_pids().is_empty());
        if let Err(p) = outcome {
            std::panic::resume_unwind(p);
        }
    });
}

async fn open(c: &BrowserControl, url: String) -> String {
    ok(c, "POST", "/tabs/open", json!({"url": url})).await["targetId"].as_str().unwrap().to_string()
}

#[test]
fn sign_in_form_by_selector_and_ref() {
    with_browser(|c, base| async move {
        let t = open(&c, format!("{base}/login")).await;
        let r =
            act(&c, json!({"kind": "type", "selector": "#email", "text": "alice@example.com", "targetId": t})).await;
        assert_eq!(r, json!({"ok": true, "targetId": t, "url": format!("{base}/login")}));
        act(&c, json!({"kind": "type", "selector": "#pw", "text": "secret", "slowly": true})).await;

        // Refs from a real snapshot: the checkbox through fill, the select by label.
        let snap = snapshot(&c, &t).await;
        let remember = ref_of(&snap, "checkbox", "Remember me");
        let colour = ref_of(&snap, "combobox", "Colour");
        act(&c, json!({"kind": "fill", "fields": [{"ref": remember, "type": "checkbox", "value": true}]})).await;
        act(&c, json!({"kind": "select", "ref": colour, "values": ["Green"]})).await;
        let state = eval(&c, &t, "() => [document.getElementById('remember').checked, document.getElementById('color').value, document.getElementById('pw').value]").await;
        assert_eq!(state, json!([true, "g", "secret"]));
        let tag = act(&c, json!({"kind": "evaluate", "ref": remember, "fn": "(el) => el.id"})).await;
        assert_eq!(tag["result"], "remember");
        assert_eq!(eval(&c, &t, "document.title").await, "Sign in", "an expression works too");
        assert_eq!(eval(&c, &t, "const a = 2; return a * 21;").await, 42, "so do statements");

        // Keys: a chord reaches the focused input.
        act(&c, json!({"kind": "click", "selector": "#k"})).await;
        act(&c, json!({"kind": "press", "key": "Shift+a"})).await;
        assert_eq!(eval(&c, &t, "() => document.getElementById('out').textContent").await, "key:A+shift");
        act(&c, json!({"kind": "press", "key": "return"})).await;
        assert_eq!(eval(&c, &t, "() => document.getElementById('out').textContent").await, "key:Enter");

        // Waits: text that appears later; text that never does.
        eval(&c, &t, "() => { setTimeout(() => { document.getElementById('out').textContent = 'ready now'; }, 300); }")
            .await;
        act(&c, json!({"kind": "wait", "text": "Ready now", "timeoutMs": 5000})).await;
        let (s, e) = act_err(&c, json!({"kind": "wait", "text": "never there", "timeoutMs": 500})).await;
        assert_eq!(s, 500);
        assert!(
            e["error"].as_str().unwrap().starts_with("TimeoutError: locator.waitFor: Timeout 500ms exceeded."),
            "{e}"
        );

        // What cannot be clicked, and why.
        let (s, e) = act_err(&c, json!({"kind": "click", "selector": "#covered", "timeoutMs": 600})).await;
        assert_eq!((s, e["code"].as_str()), (500, Some("ACT_OPERATION_FAILED")));
        assert_eq!(e["error"], "Element \"#covered\" is not interactable (covered; another element intercepts pointer events). Try scrolling it into view, closing overlays, or re-snapshotting.");
        assert_eq!(eval(&c, &t, "document.title").await, "Sign in", "the covered button was not clicked");
        let (_, e) = act_err(&c, json!({"kind": "click", "selector": "#off", "timeoutMs": 600})).await;
        assert_eq!(e["error"], "Element \"#off\" is not enabled. Complete any prerequisites that enable the control.");
        let (_, e) = act_err(&c, json!({"kind": "type", "selector": "#ro", "text": "x", "timeoutMs": 600})).await;
        assert_eq!(e["error"], "Element \"#ro\" is not editable (for example, read-only). Use an editable control.");
        let (_, e) = act_err(&c, json!({"kind": "click", "selector": "#nope", "timeoutMs": 500})).await;
        assert_eq!(
            e,
            json!({"error": "Element \"#nope\" not found or not visible. Run a new snapshot to see current page elements.", "code": "ACT_OPERATION_FAILED"})
        );
        let (_, e) = act_err(&c, json!({"kind": "click", "selector": "button", "timeoutMs": 500})).await;
        assert!(e["error"].as_str().unwrap().starts_with("Selector \"button\" matched 3 elements."), "{e}");
        let (s, e) = act_err(&c, json!({"kind": "click", "ref": "e999"})).await;
        assert_eq!(
            (s, e),
            (
                500,
                json!({"error": "Error: Unknown ref \"e999\". Run a new snapshot and use a ref from that snapshot."})
            )
        );
        let (s, e) = act_err(&c, json!({"kind": "press", "key": "Hyper"})).await;
        assert_eq!((s, e["error"].as_str()), (500, Some("Error: keyboard.press: Unknown key: \"Hyper\"")));

        // Resize, then submit by clicking the button's ref: the page changes.
        act(&c, json!({"kind": "resize", "width": 640, "height": 480})).await;
        assert_eq!(eval(&c, &t, "() => [innerWidth, innerHeight]").await, json!([640, 480]));
        let go = ref_of(&snap, "button", "Sign in");
        let r = act(&c, json!({"kind": "click", "ref": go})).await;
        assert!(r["url"].as_str().unwrap().starts_with(&format!("{base}/home?")), "{r}");
        act(&c, json!({"kind": "wait", "text": "Welcome", "url": "**/home?*"})).await;
        let text = call(&c, "GET", "/text", &[("targetId", &t)], None).await.body["text"].clone();
        assert_eq!(text, "Welcome\n\n?email=alice@example.com&pw=secret&remember=on&color=g");
        let (_, e) = act_err(&c, json!({"kind": "click", "ref": go})).await;
        assert!(e["error"].as_str().unwrap().contains("Unknown ref"), "refs die with their document: {e}");
    });
}

#[test]
fn dialogs_block_acts_and_hooks_answer_them() {
    with_browser(|c, base| async move {
        let t = open(&c, format!("{base}/dialogs")).await;
        let r = act(&c, json!({"kind": "click", "selector": "#a"})).await;
        assert_eq!(r["blockedByDialog"], true, "{r}");
        let pending = &r["browserState"]["dialogs"]["pending"];
        assert_eq!((pending[0]["id"].as_str(), pending[0]["type"].as_str()), (Some("d1"), Some("alert")));
        assert_eq!(pending[0]["message"], "hello");
        assert!(pending[0]["openedAt"].as_str().unwrap().ends_with('Z'));
        let again = act(&c, json!({"kind": "evaluate", "fn": "() => 1"})).await;
        assert_eq!(again["blockedByDialog"], true, "a pending dialog blocks every act");
        // A snapshot says so too, without touching the frozen page.
        let snap = call(&c, "GET", "/snapshot", &[("mode", "efficient")], None).await;
        assert_eq!(
            (snap.body["blockedByDialog"].clone(), snap.body["snapshot"].clone()),
            (json!(true), json!("")),
            "{}",
            snap.body
        );
        assert_eq!(snap.body["browserState"]["dialogs"]["pending"][0]["id"], "d1");
        let snap = call(&c, "GET", "/snapshot", &[("format", "aria")], None).await;
        assert_eq!(snap.body["nodes"], json!([]), "{}", snap.body);
        let d = call(&c, "GET", "/dialogs", &[], None).await;
        assert_eq!(d.body["browserState"]["dialogs"]["pending"][0]["message"], "hello", "{}", d.body);
        assert_eq!(d.body["targetId"], json!(t), "{}", d.body);
        assert_eq!(ok(&c, "POST", "/hooks/dialog", json!({"accept": true})).await, json!({"ok": true}));
        assert_eq!(eval(&c, &t, "() => 1 + 1").await, 2);

        // Armed before the dialog: answered as it opens, the act is not blocked.
        ok(&c, "POST", "/hooks/dialog", json!({"accept": false})).await;
        let r = act(&c, json!({"kind": "click", "selector": "#c"})).await;
        assert!(r.get("blockedByDialog").is_none(), "{r}");
        act(&c, json!({"kind": "wait", "text": "confirm:false"})).await;

        // A prompt answered by id with text.
        let r = act(&c, json!({"kind": "click", "selector": "#p"})).await;
        let d = &r["browserState"]["dialogs"]["pending"][0];
        assert_eq!((d["type"].as_str(), d["defaultValue"].as_str()), (Some("prompt"), Some("bob")), "{r}");
        let id = d["id"].as_str().unwrap().to_string();
        assert_eq!(id, "d3");
        let r = call(&c, "POST", "/hooks/dialog", &[], Some(json!({"accept": true, "dialogId": "d9"}))).await;
        assert_eq!((r.status, r.body["error"].as_str()), (500, Some("Error: Dialog \"d9\" is not pending.")));
        ok(&c, "POST", "/hooks/dialog", json!({"accept": true, "promptText": "alice", "dialogId": id})).await;
        act(&c, json!({"kind": "wait", "text": "prompt:alice"})).await;
        let r = call(&c, "POST", "/hooks/dialog", &[], Some(json!({"promptText": "x"}))).await;
        assert_eq!((r.status, r.body["error"].as_str()), (400, Some("accept is required")));
    });
}

#[test]
fn file_chooser_hook_by_element_input_ref_click_and_arming() {
    with_browser(|c, base| async move {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, name).unwrap();
            p.display().to_string()
        };
        let t = open(&c, format!("{base}/upload")).await;
        let r = ok(&c, "POST", "/hooks/file-chooser", json!({"paths": [file("one.txt")], "element": "#file"})).await;
        assert_eq!(r, json!({"ok": true}));
        act(&c, json!({"kind": "wait", "text": "got:one.txt"})).await;

        let snap = snapshot(&c, &t).await;
        println!("{snap}");
        let pick = ref_of(&snap, "button", "Pick a file");
        ok(&c, "POST", "/hooks/file-chooser", json!({"paths": [file("two.txt")], "ref": pick})).await;
        act(&c, json!({"kind": "wait", "text": "got:two.txt"})).await;

        let input = ref_of(&snap, "button", "Attachment");
        ok(
            &c,
            "POST",
            "/hooks/file-chooser",
            json!({"paths": [file("three.txt"), file("four.txt")], "inputRef": input}),
        )
        .await;
        act(&c, json!({"kind": "wait", "text": "got:three.txt,four.txt"})).await;

        // Armed: the next chooser the page opens gets the files.
        ok(&c, "POST", "/hooks/file-chooser", json!({"paths": [file("five.txt")]})).await;
        act(&c, json!({"kind": "click", "selector": "#pick"})).await;
        act(&c, json!({"kind": "wait", "text": "got:five.txt"})).await;

        let missing = dir.path().join("missing.txt").display().to_string();
        let r =
            call(&c, "POST", "/hooks/file-chooser", &[], Some(json!({"paths": [missing], "element": "#file"}))).await;
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(r.body["error"].as_str().unwrap().starts_with("Invalid path:"), "{}", r.body);
        let r = call(
            &c,
            "POST",
            "/hooks/file-chooser",
            &[],
            Some(json!({"paths": [file("x")], "ref": pick, "element": "#file"})),
        )
        .await;
        assert_eq!((r.status, r.body["error"].as_str()), (400, Some("ref cannot be combined with inputRef/element")));
    });
}

#[test]
fn batches_stop_at_navigation_failure_and_close() {
    with_browser(|c, base| async move {
        let t = open(&c, format!("{base}/links")).await;
        let r = act(
            &c,
            json!({"kind": "batch", "actions": [
                {"kind": "click", "selector": "#k"},
                {"kind": "click", "selector": "#next"},
                {"kind": "press", "key": "a"},
                {"kind": "wait", "timeMs": 10},
            ]}),
        )
        .await;
        let one = format!("{base}/one");
        assert_eq!(r["results"], json!([{"ok": true}, {"ok": true, "navigated": true, "url": one}]), "{r}");
        assert_eq!(r["aborted"], json!({"reason": "navigation", "afterAction": 2, "url": one, "skipped": 2}));
        assert_eq!(r["url"], one);

        // The first failure stops the batch, unless told otherwise.
        let failing = json!([{"kind": "click", "selector": "#nope", "timeoutMs": 500}, {"kind": "wait", "timeMs": 1}]);
        let r = act(&c, json!({"kind": "batch", "actions": failing})).await;
        assert_eq!(r["results"].as_array().unwrap().len(), 1, "{r}");
        assert!(r["results"][0]["error"].as_str().unwrap().starts_with("Element \"#nope\" not found"));
        let r = act(&c, json!({"kind": "batch", "actions": failing, "stopOnError": false})).await;
        assert_eq!(r["results"][1], json!({"ok": true}), "{r}");

        // Another tab's id inside a batch is refused.
        let other = open(&c, format!("{base}/one")).await;
        let (s, e) = act_err(
            &c,
            json!({"kind": "batch", "targetId": t, "actions": [{"kind": "wait", "timeMs": 1, "targetId": other}]}),
        )
        .await;
        assert_eq!((s, e["code"].as_str()), (403, Some("ACT_TARGET_ID_MISMATCH")));

        // Closing inside a batch skips the rest; close on its own closes the tab.
        let r = act(&c, json!({"kind": "batch", "targetId": other, "actions": [{"kind": "wait", "timeMs": 1}, {"kind": "close"}, {"kind": "wait", "timeMs": 1}]})).await;
        assert_eq!(r["aborted"]["reason"], "closed", "{r}");
        assert_eq!((r["aborted"]["afterAction"].as_u64(), r["aborted"]["skipped"].as_u64()), (Some(2), Some(1)));
        let r = act(&c, json!({"kind": "close", "targetId": t})).await;
        assert_eq!((r["ok"].as_bool(), r["targetId"].as_str()), (Some(true), Some(t.as_str())));
        let tabs = call(&c, "GET", "/tabs", &[], None).await.body;
        let ids: Vec<&str> = tabs["tabs"].as_array().unwrap().iter().filter_map(|x| x["targetId"].as_str()).collect();
        assert!(!ids.contains(&t.as_str()) && !ids.contains(&other.as_str()), "{tabs}");
        // With the acted-on tab gone, an act without targetId picks (or opens) another tab.
        let r = act(&c, json!({"kind": "wait", "timeMs": 1})).await;
        assert_ne!(r["targetId"].as_str(), Some(t.as_str()), "{r}");
    });
}
