//! Our node host against a scripted gateway on 127.0.0.1, for what the real Gateway never
//! sends: garbage frames, malformed invokes, silence (tick watchdog), retry hints, and a
//! long-running command next to many short ones. The real Gateway is covered by the
//! interop tests in crates/cli.

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures_util::{SinkExt, StreamExt};
use openclaw_node_host::NodeExit;
use openclaw_state::node_status::{self, ConnectionState, NodeHostStatus};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test(flavor = "current_thread")]
async fn hostile_frames_never_crash_and_every_invoke_gets_one_result() {
    let h = start_node().await;
    let mut ws = accept(&h.listener).await;
    let params = handshake(&mut ws, |id| hello(id, 30_000)).await;
    assert_eq!(params.client.id, "node-host");
    // The browser proxy is advertised exactly when a Chromium is installed.
    let settings = openclaw_browser::BrowserSettings::from_config(None).unwrap();
    let browser: &[&str] = if openclaw_browser::detect_executable(&settings).is_some() {
        &["browser.proxy", "browser.proxy.upload.v1"]
    } else {
        &[]
    };
    let expected: Vec<&str> = browser
        .iter()
        .copied()
        .chain([
            "dir.fetch",
            "dir.list",
            "file.fetch",
            "file.stat",
            "file.write",
            "fs.listDir",
            "system.execApprovals.get",
            "system.execApprovals.set",
            "system.run",
            "system.run.prepare",
            "system.which",
            "terminal.upload",
            "test.sleep",
        ])
        .collect();
    assert_eq!(params.commands.as_deref().unwrap(), expected);
    assert_eq!(params.auth.as_ref().unwrap().token.as_deref(), Some("shared-secret"));

    // Garbage of every kind first; the node must shrug it off.
    ws.send(Message::text("not json at all")).await.unwrap();
    ws.send(Message::text(r#"{"type":"event"}"#)).await.unwrap();
    ws.send(Message::binary(vec![0u8, 159, 146, 150])).await.unwrap();
    send(&mut ws, json!({"type":"event","event":"something.new","payload":{"x":1}})).await;
    send(&mut ws, json!({"type":"event","event":"node.invoke.request","payload":{"bad":true}})).await;
    send(&mut ws, json!({"type":"event","event":"node.invoke.cancel","payload":{"invokeId":"unknown","nodeId":"n"}}))
        .await;
    send(&mut ws, json!({"type":"res","id":"never-sent","ok":false,"error":{"code":"X","message":"y"}})).await;

    send(&mut ws, json!({"type":"event","event":"node.invoke.request","payload":{"id":"0-no-command","nodeId":"n"}}))
        .await;
    send(&mut ws, invoke("a", "nope.command", json!("{}"))).await;
    send(&mut ws, invoke("b", "system.which", json!("{not json"))).await;
    send(&mut ws, invoke("c", "system.which", Value::Null)).await;
    send(&mut ws, invoke("d", "system.which", json!(r#"{"bins":"sh"}"#))).await;
    send(&mut ws, invoke("e", "system.which", json!(r#"{"bins":["sh"]}"#))).await;
    send(&mut ws, json!({"type":"event","event":"node.invoke.request","payload":{"id":"f","nodeId":"n","command":"system.which","paramsJSON":null,"params":{"bins":["sh"]}}})).await;
    let mut got = results(&mut ws, 7).await;
    got.sort_by(|x, y| x["id"].as_str().cmp(&y["id"].as_str()));
    // A request with a readable id but no command still gets its one (error) result.
    let malformed = got.remove(0);
    assert_eq!(malformed["id"], "0-no-command");
    assert_eq!(malformed["error"]["code"], "INVALID_REQUEST");
    let err = |r: &Value| {
        (r["error"]["code"].as_str().unwrap().to_string(), r["error"]["message"].as_str().unwrap().to_string())
    };
    assert_eq!(err(&got[0]), ("UNAVAILABLE".into(), "command not supported".into()));
    assert_eq!(err(&got[1]), ("INVALID_REQUEST".into(), "Error: INVALID_REQUEST: paramsJSON malformed JSON".into()));
    assert_eq!(err(&got[2]), ("INVALID_REQUEST".into(), "Error: INVALID_REQUEST: paramsJSON required".into()));
    assert_eq!(err(&got[3]), ("INVALID_REQUEST".into(), "Error: INVALID_REQUEST: bins required".into()));
    for ok in &got[4..] {
        assert_eq!(ok["ok"], true, "{ok}");
        let payload: Value = serde_json::from_str(ok["payloadJSON"].as_str().unwrap()).unwrap();
        assert!(payload["bins"]["sh"].as_str().unwrap().ends_with("/sh"));
    }
    assert!(got.iter().all(|r| r["nodeId"].as_str().unwrap().len() == 64), "results carry our device id");

    // A long command does not block short ones, and a cancel ends it with one result.
    send(&mut ws, invoke("long", "test.sleep", json!("{}"))).await;
    for i in 0..50 {
        send(&mut ws, invoke(&format!("w{i}"), "system.which", json!(r#"{"bins":["sh"]}"#))).await;
    }
    let quick = results(&mut ws, 50).await;
    assert!(quick.iter().all(|r| r["id"].as_str().unwrap().starts_with('w') && r["ok"] == true));
    send(&mut ws, json!({"type":"event","event":"node.invoke.cancel","payload":{"invokeId":"long","nodeId":"n"}}))
        .await;
    let cancelled = results(&mut ws, 1).await;
    assert_eq!(cancelled[0]["id"], "long");
    assert_eq!(cancelled[0]["error"]["message"], "cancelled");
    // Exactly one result per invoke: nothing else follows.
    assert!(recv(&mut ws, Duration::from_millis(300)).await.is_none_or(|f| f["method"] != "node.invoke.result"));

    h.shutdown.send(Some(130)).unwrap();
    assert_eq!(h.node.await.unwrap(), NodeExit::Signal(130));
}

#[tokio::test(flavor = "current_thread")]
async fn silence_trips_the_tick_watchdog_and_stats_are_published() {
    let h = start_node().await;
    let mut ws = accept(&h.listener).await;
    handshake(&mut ws, |id| hello(id, 1000)).await;
    // Right after hello: host stats, and a skills.bins request (in either order).
    let mut stats = Value::Null;
    let mut asked_skills = false;
    while stats.is_null() || !asked_skills {
        let frame = recv(&mut ws, Duration::from_secs(5)).await.expect("stats and skills.bins after hello");
        match frame["method"].as_str() {
            Some("skills.bins") => asked_skills = true,
            Some("node.event") => stats = frame,
            _ => {}
        }
    }
    assert_eq!(stats["method"], "node.event");
    assert_eq!(stats["params"]["event"], "node.host.stats");
    // Stats go out after hello, so by now the connected state is on disk.
    let status_file = h._state.path().join("oc").join(node_status::FILE_NAME);
    let status = NodeHostStatus::read(&status_file).expect("status file");
    assert_eq!((status.state, status.pid), (ConnectionState::Connected, std::process::id()));
    let payload: Value = serde_json::from_str(stats["params"]["payloadJSON"].as_str().unwrap()).unwrap();
    assert!(payload["cpuCount"].as_u64().unwrap() >= 1);
    // Say nothing: after 2 × 1 s the node closes 4000 and dials again.
    let started = Instant::now();
    let close = loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await.expect("closed in time") {
            Some(Ok(Message::Close(c))) => break c,
            Some(Ok(_)) => continue,
            other => panic!("unexpected {other:?}"),
        }
    };
    let close = close.expect("close frame");
    assert_eq!((u16::from(close.code), close.reason.as_str()), (4000, "tick timeout"));
    assert!(started.elapsed() >= Duration::from_millis(1500), "{:?}", started.elapsed());
    // It reconnects by itself, and now presents the stored device token only with the
    // shared token absent, i.e. here still the shared token.
    let mut ws2 = accept(&h.listener).await;
    let params = handshake(&mut ws2, |id| hello(id, 30_000)).await;
    assert_eq!(params.auth.unwrap().token.as_deref(), Some("shared-secret"));
    h.shutdown.send(Some(143)).unwrap();
    assert_eq!(h.node.await.unwrap(), NodeExit::Signal(143));
}

#[tokio::test(flavor = "current_thread")]
async fn retry_hints_are_honoured_and_bad_credentials_are_terminal() {
    let h = start_node().await;
    // Gateway still starting: UNAVAILABLE + retryAfterMs, close 1013.
    let mut ws = accept(&h.listener).await;
    handshake(&mut ws, |id| json!({"type":"res","id":id,"ok":false,"error":{"code":"UNAVAILABLE","message":"gateway starting; retry shortly","retryable":true,"retryAfterMs":1500,"details":{"reason":"startup-sidecars"}}})).await;
    ws.close(Some(tokio_tungstenite::tungstenite::protocol::CloseFrame {
        code: 1013.into(),
        reason: "gateway starting".into(),
    }))
    .await
    .unwrap();
    let refused_at = Instant::now();
    let mut ws = accept(&h.listener).await;
    let waited = refused_at.elapsed();
    assert!(waited >= Duration::from_millis(1400), "retried after {waited:?}, before retryAfterMs");
    assert!(waited < Duration::from_secs(5), "retried after {waited:?}");
    // Now a terminal refusal: the run ends with exit 1.
    handshake(&mut ws, |id| json!({"type":"res","id":id,"ok":false,"error":{"code":"INVALID_REQUEST","message":"unauthorized: gateway password mismatch","details":{"code":"AUTH_PASSWORD_MISMATCH"}}})).await;
    let _ = ws.close(None).await;
    let exit = tokio::time::timeout(Duration::from_secs(10), h.node).await.expect("exits").unwrap();
    assert_eq!(exit, NodeExit::Terminal);
    assert_eq!(exit.code(), 1);
    // `node status` will read why.
    let status = NodeHostStatus::read(&h._state.path().join("oc").join(node_status::FILE_NAME)).expect("status file");
    assert_eq!(status.state, ConnectionState::Failed);
    assert!(status.last_error.unwrap().contains("AUTH_PASSWORD_MISMATCH"));
}

/// `PAIRING_REQUIRED` with upstream's `wait_then_retry` hint (an SSH verification running on
/// the gateway) is retried after the first backoff step, a second, not the 10 s an operator
/// approval gets; the same refusal without the hint waits the 10 s.
#[tokio::test(flavor = "current_thread")]
async fn wait_then_retry_pairing_is_retried_within_seconds() {
    let h = start_node().await;
    let refuse = |hint: bool| {
        move |id: &str| {
            let mut details = json!({"code":"PAIRING_REQUIRED","reason":"not-paired","requestId":"req-1",
                "remediationHint":"Approve this device from the pending pairing requests."});
            if hint {
                details["recommendedNextStep"] = json!("wait_then_retry");
                details["retryable"] = json!(true);
                details["pauseReconnect"] = json!(false);
            }
            details["deviceId"] = json!("d");
            details["requestedRole"] = json!("node");
            json!({"type":"res","id":id,"ok":false,"error":{"code":"NOT_PAIRED","message":"pairing required: device is not approved yet","details":details}})
        }
    };
    let mut ws = accept(&h.listener).await;
    handshake(&mut ws, refuse(true)).await;
    close_1008(&mut ws).await;
    let refused_at = Instant::now();
    let mut ws = accept(&h.listener).await;
    let waited = refused_at.elapsed();
    assert!(waited < Duration::from_millis(2500), "wait_then_retry retried after {waited:?}");
    // Without the hint: the operator's pace.
    handshake(&mut ws, refuse(false)).await;
    close_1008(&mut ws).await;
    let refused_at = Instant::now();
    let mut ws = accept(&h.listener).await;
    let waited = refused_at.elapsed();
    assert!(waited >= Duration::from_secs(9), "plain PAIRING_REQUIRED retried after {waited:?}");
    // Approved meanwhile: the next connect is the session.
    handshake(&mut ws, |id| hello(id, 30_000)).await;
    h.shutdown.send(Some(143)).unwrap();
    assert_eq!(h.node.await.unwrap(), NodeExit::Signal(143));
}

async fn close_1008(ws: &mut Ws) {
    let frame = tokio_tungstenite::tungstenite::protocol::CloseFrame {
        code: 1008.into(),
        reason: "pairing required: device is not approved yet (requestId: req-1)".into(),
    };
    let _ = ws.close(Some(frame)).await;
}
