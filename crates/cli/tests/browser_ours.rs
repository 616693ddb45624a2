//! Our node's browser through our gateway, and what happens to Chromium when the node dies:
//! a node killed with SIGKILL while its browser runs leaves no Chromium behind (the browser
//! is in its own process group under a parent-death signal), and a node stopped normally
//! stops its browser too.
//!
//! Needs Debian's Chromium (`scripts/browser-deps`); without it the test says so and passes.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::*;

const CHROMIUM: &str = "/usr/bin/chromium";

/// Live (not zombie) processes in process group `pgid`.
fn live_in_group(pgid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        // Fields after the command's closing parenthesis: state, ppid, pgrp, …
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r.split_whitespace().collect::<Vec<_>>()) else {
            continue;
        };
        if rest.first() != Some(&"Z") && rest.get(2).and_then(|g| g.parse::<i32>().ok()) == Some(pgid) {
            out.push(pid);
        }
    }
    out
}

fn invoke(gw: &OurGateway, node: &str, params: Value) -> Value {
    let res = operator_call(
        &gw.url(),
        None,
        &gw.token,
        "node.invoke",
        json!({"nodeId": node, "command": "browser.proxy", "params": params, "timeoutMs": 90000,
               "idempotencyKey": uuid::Uuid::new_v4().to_string()}),
    );
    assert_eq!(res["ok"], true, "{res}");
    serde_json::from_str(res["payloadJSON"].as_str().unwrap()).unwrap()
}

/// Our node with a browser, paired with our gateway (loopback: silent), its surface approved.
fn node_with_browser(dir: &Path, gw: &OurGateway) -> (OurNode, String) {
    let state = dir.join("node");
    std::fs::create_dir_all(&state).unwrap();
    let config =
        json!({"browser": {"noSandbox": true, "headless": true, "profiles": {"openclaw": {"cdpPort": free_port()}}}});
    std::fs::write(state.join("openclaw.json"), config.to_string()).unwrap();
    let mut node = OurNode::spawn(&state, &["--port", &gw.port.to_string()], &[("OPENCLAW_GATEWAY_TOKEN", &gw.token)]);
    node.wait_for_log("node host gateway connected:", 1, Duration::from_secs(30));
    assert!(node.log_text().contains("browser.proxy"), "advertised: {}", node.log_text());
    let id = our_identity(&state)["deviceId"].as_str().unwrap().to_string();
    let pending = operator_call(&gw.url(), None, &gw.token, "node.pair.list", json!({}));
    for r in pending["pending"].as_array().into_iter().flatten().filter(|r| r["nodeId"] == id.as_str()) {
        operator_call(&gw.url(), None, &gw.token, "node.pair.approve", json!({"requestId": r["requestId"]}));
    }
    (node, id)
}

/// Starts the browser and returns its pid (its process group's id).
fn start_browser(gw: &OurGateway, id: &str) -> i32 {
    invoke(gw, id, json!({"path": "/start", "method": "POST", "timeoutMs": 60000}));
    let status = invoke(gw, id, json!({"path": "/"}));
    assert_eq!(status["result"]["running"], true, "{status}");
    let pid = status["result"]["pid"].as_i64().unwrap_or_else(|| panic!("{status}")) as i32;
    assert!(!live_in_group(pid).is_empty(), "Chromium runs in its own group");
    pid
}

fn gone_within(pgid: i32, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let live = live_in_group(pgid);
        if live.is_empty() {
            return start.elapsed();
        }
        assert!(start.elapsed() < limit, "Chromium left behind after {limit:?}: {live:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_killed_or_stopped_node_takes_its_chromium_with_it() {
    if !Path::new(CHROMIUM).exists() {
        println!("browser: SKIPPED ({CHROMIUM} is not installed; scripts/browser-deps installs it)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let gw = OurGateway::start(&dir.path().join("gw"), &[]);

    let (mut node, id) = node_with_browser(dir.path(), &gw);
    let pgid = start_browser(&gw, &id);
    node.signal(Signal::SIGKILL);
    let took = gone_within(pgid, Duration::from_secs(5));
    println!("SIGKILL: Chromium gone {took:?} after the node");
    node.wait_exit(Duration::from_secs(5));

    let (mut node, id) = node_with_browser(dir.path(), &gw);
    let pgid = start_browser(&gw, &id);
    assert_eq!(node.stop(), Some(143));
    let took = gone_within(pgid, Duration::from_secs(5));
    println!("SIGTERM: Chromium gone {took:?} after the node");
}
