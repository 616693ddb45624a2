//! A command printing 200 MB leaves the node host's memory flat: output beyond the cap is read
//! and dropped, never buffered. Its own test binary, so the peak RSS measured is this node's.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()).unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn printing_200_mb_keeps_rss_under_32_mb() {
    let h = start_node().await;
    let mut ws = accept(&h.listener).await;
    handshake(&mut ws, |id| hello(id, 30_000)).await;
    let params = json!({"command": ["sh", "-c", "head -c 200000000 /dev/zero"]});
    send(&mut ws, invoke("big", "system.run", json!(params.to_string()))).await;
    let result = loop {
        let frame = recv(&mut ws, Duration::from_secs(120)).await.expect("result");
        if frame["method"] == "node.invoke.result" {
            break frame["params"].clone();
        }
    };
    let payload: Value = serde_json::from_str(result["payloadJSON"].as_str().unwrap()).unwrap();
    assert_eq!(payload["exitCode"], 0);
    let stdout = payload["stdout"].as_str().unwrap();
    assert!(stdout.ends_with("\n... (truncated)"), "capped with the upstream suffix");
    assert_eq!(stdout.len(), 200_000 + "\n... (truncated)".len());
    let peak = peak_rss_kib();
    assert!(peak < 32 * 1024, "peak RSS {peak} KiB (node and test harness together)");
    h.shutdown.send(Some(143)).unwrap();
    h.node.await.unwrap();
}
