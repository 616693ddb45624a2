//! `system.run` end to end through a scripted gateway: a long command does not block 100
//! `system.which` calls, cancel kills it, an approval is honoured only with its exact plan
//! (upstream #8682), events precede results, and every decision lands in the audit trail.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

/// Reads frames until the result for `id`, collecting the `node.event`s sent before it.
async fn result_with_events(ws: &mut Ws, id: &str) -> (Value, Vec<Value>) {
    let mut events = Vec::new();
    loop {
        let frame = recv(ws, Duration::from_secs(20)).await.expect("frame");
        match frame["method"].as_str() {
            Some("node.event") => events.push(frame["params"].clone()),
            Some("node.invoke.result") if frame["params"]["id"] == id => return (frame["params"].clone(), events),
            _ => {}
        }
    }
}

fn payload(result: &Value) -> Value {
    serde_json::from_str(result["payloadJSON"].as_str().unwrap_or_else(|| panic!("no payload: {result}"))).unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn long_command_concurrency_cancel_approval_plan_and_audit() {
    let h = start_node().await;
    let mut ws = accept(&h.listener).await;
    handshake(&mut ws, |id| hello(id, 30_000)).await;

    // A 60-second command; meanwhile 100 which calls are answered.
    send(&mut ws, invoke("long", "system.run", json!(json!({"command": ["sleep", "60"]}).to_string()))).await;
    for i in 0..100 {
        send(&mut ws, invoke(&format!("w{i}"), "system.which", json!(r#"{"bins":["sh"]}"#))).await;
    }
    let quick = results(&mut ws, 100).await;
    assert!(quick.iter().all(|r| r["ok"] == true && r["id"].as_str().unwrap().starts_with('w')));
    let started = std::time::Instant::now();
    send(&mut ws, json!({"type":"event","event":"node.invoke.cancel","payload":{"invokeId":"long","nodeId":"n"}}))
        .await;
    let (cancelled, _) = result_with_events(&mut ws, "long").await;
    assert!(started.elapsed() < Duration::from_secs(5), "cancel kills the process group promptly");
    assert_eq!(cancelled["ok"], false);

    // exec.finished precedes the result, echoing runId and sessionKey.
    let params = json!({"command": ["sh", "-c", "echo hi; exit 2"], "runId": "run-1", "sessionKey": "agent:main:main"});
    send(&mut ws, invoke("r1", "system.run", json!(params.to_string()))).await;
    let (r1, events) = result_with_events(&mut ws, "r1").await;
    assert_eq!(
        payload(&r1),
        json!({"exitCode": 2, "timedOut": false, "success": false, "stdout": "hi\n", "stderr": "", "error": null})
    );
    let finished: Value = serde_json::from_str(events.last().unwrap()["payloadJSON"].as_str().unwrap()).unwrap();
    assert_eq!(events.last().unwrap()["event"], "exec.finished");
    assert_eq!(
        finished,
        json!({"sessionKey": "agent:main:main", "runId": "run-1", "host": "node", "command": "sh -c \"echo hi; exit 2\"",
               "exitCode": 2, "timedOut": false, "success": false, "output": "hi", "suppressNotifyOnExit": false})
    );

    // Approval flow: require approval for everything, then approve with the prepared plan.
    send(&mut ws, invoke("set", "system.execApprovals.get", Value::Null)).await;
    let (got, _) = result_with_events(&mut ws, "set").await;
    let hash = payload(&got)["hash"].as_str().unwrap().to_string();
    let set = json!({"file": {"version": 1, "defaults": {"security": "full", "ask": "always"}}, "baseHash": hash});
    send(&mut ws, invoke("set2", "system.execApprovals.set", json!(set.to_string()))).await;
    let (set_result, _) = result_with_events(&mut ws, "set2").await;
    assert_eq!(set_result["ok"], true, "{set_result}");

    send(&mut ws, invoke("d1", "system.run", json!(json!({"command": ["echo", "x"]}).to_string()))).await;
    let (denied, events) = result_with_events(&mut ws, "d1").await;
    assert_eq!(
        denied["error"],
        json!({"code": "SYSTEM_RUN_DENIED", "message": "SYSTEM_RUN_DENIED: approval required"})
    );
    assert_eq!(events.last().unwrap()["event"], "exec.denied", "exec.denied precedes the denial");

    let cwd = std::env::temp_dir().canonicalize().unwrap();
    let prep = json!({"command": ["echo", "approved"], "cwd": cwd, "sessionKey": "s1"});
    send(&mut ws, invoke("p1", "system.run.prepare", json!(prep.to_string()))).await;
    let (prepared, _) = result_with_events(&mut ws, "p1").await;
    let plan = payload(&prepared)["plan"].clone();
    let run = json!({"command": plan["argv"], "cwd": cwd, "sessionKey": "s1", "approved": true, "systemRunPlan": plan});
    send(&mut ws, invoke("a1", "system.run", json!(run.to_string()))).await;
    let (approved, _) = result_with_events(&mut ws, "a1").await;
    assert_eq!(payload(&approved)["stdout"], "approved\n", "{approved}");

    // "Allow always" under an allowlist policy: the approved command is remembered for this
    // cwd and these arguments, and then runs without asking; other arguments still ask.
    send(&mut ws, invoke("g2", "system.execApprovals.get", Value::Null)).await;
    let (got, _) = result_with_events(&mut ws, "g2").await;
    let hash = payload(&got)["hash"].as_str().unwrap().to_string();
    let set =
        json!({"file": {"version": 1, "defaults": {"security": "allowlist", "ask": "on-miss"}}, "baseHash": hash});
    send(&mut ws, invoke("s3", "system.execApprovals.set", json!(set.to_string()))).await;
    assert_eq!(result_with_events(&mut ws, "s3").await.0["ok"], true);
    let prep = json!({"command": ["echo", "again"], "cwd": cwd, "sessionKey": "s1"});
    send(&mut ws, invoke("p2", "system.run.prepare", json!(prep.to_string()))).await;
    let plan2 = payload(&result_with_events(&mut ws, "p2").await.0)["plan"].clone();
    let always = json!({"command": plan2["argv"], "cwd": cwd, "sessionKey": "s1", "approvalDecision": "allow-always", "systemRunPlan": plan2});
    send(&mut ws, invoke("aa", "system.run", json!(always.to_string()))).await;
    assert_eq!(payload(&result_with_events(&mut ws, "aa").await.0)["stdout"], "again\n");
    let repeat = json!({"command": plan2["argv"], "cwd": cwd});
    send(&mut ws, invoke("rp", "system.run", json!(repeat.to_string()))).await;
    let (rp, _) = result_with_events(&mut ws, "rp").await;
    assert_eq!(payload(&rp)["stdout"], "again\n", "remembered: {rp}");
    let other = json!({"command": [plan2["argv"][0], "other"], "cwd": cwd});
    send(&mut ws, invoke("ot", "system.run", json!(other.to_string()))).await;
    assert_eq!(result_with_events(&mut ws, "ot").await.0["error"]["message"], "SYSTEM_RUN_DENIED: approval required");

    // A payload with `&&` (or `;`, `|`, `<`, `>`) cannot be bound to an approval at all.
    let chained = json!({"command": ["/bin/sh", "-c", "uname -s && id -u"], "cwd": cwd, "sessionKey": "s1"});
    send(&mut ws, invoke("pc", "system.run.prepare", json!(chained.to_string()))).await;
    let (pc, _) = result_with_events(&mut ws, "pc").await;
    assert!(
        pc["error"]["message"].as_str().is_some_and(
            |m| m.starts_with("SYSTEM_RUN_DENIED: approval cannot safely bind this interpreter/runtime command\n")
        ),
        "{pc}"
    );

    // "Allow always" for a shell payload persists its executable (cwd-bound) plus the
    // command's =node-command: marker; the same payload then runs without asking.
    let shell_cmd = json!(["/bin/sh", "-c", "uname -s"]);
    let prep = json!({"command": shell_cmd, "cwd": cwd, "sessionKey": "s1"});
    send(&mut ws, invoke("p3", "system.run.prepare", json!(prep.to_string()))).await;
    let plan3 = payload(&result_with_events(&mut ws, "p3").await.0)["plan"].clone();
    let always = json!({"command": plan3["argv"], "cwd": cwd, "sessionKey": "s1", "approvalDecision": "allow-always", "systemRunPlan": plan3});
    send(&mut ws, invoke("sa", "system.run", json!(always.to_string()))).await;
    let (sa, _) = result_with_events(&mut ws, "sa").await;
    assert!(payload(&sa)["stdout"].as_str().unwrap().starts_with("Linux\n"), "{sa}");
    send(&mut ws, invoke("g3", "system.execApprovals.get", Value::Null)).await;
    let doc = payload(&result_with_events(&mut ws, "g3").await.0)["file"].clone();
    let patterns: Vec<String> = doc["agents"]["*"]["allowlist"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["pattern"].as_str().unwrap().to_string())
        .collect();
    assert!(patterns.iter().any(|p| p.ends_with("/uname")), "{patterns:?}");
    assert!(patterns.iter().any(|p| p.starts_with("=node-command:")), "{patterns:?}");
    let repeat = json!({"command": shell_cmd, "cwd": cwd});
    send(&mut ws, invoke("sr", "system.run", json!(repeat.to_string()))).await;
    let (sr, _) = result_with_events(&mut ws, "sr").await;
    assert!(payload(&sr)["stdout"].as_str().is_some_and(|o| o.starts_with("Linux\n")), "remembered: {sr}");
    let changed = json!({"command": ["/bin/sh", "-c", "uname -a"], "cwd": cwd});
    send(&mut ws, invoke("sc", "system.run", json!(changed.to_string()))).await;
    assert_eq!(result_with_events(&mut ws, "sc").await.0["error"]["message"], "SYSTEM_RUN_DENIED: approval required");

    // The #8682 shapes: approval fields without the exact plan are refused before policy.
    let tampered_plan = json!({"argv": ["echo", "other"], "commandText": "echo other", "cwd": cwd, "sessionKey": "s1", "policySnapshot": plan["policySnapshot"]});
    for (i, params) in [
        json!({"command": ["echo", "x"], "approved": true}),
        json!({"command": ["echo", "x"], "approvalDecision": "allow-always"}),
        json!({"command": plan["argv"], "cwd": cwd, "sessionKey": "s1", "approved": true, "systemRunPlan": tampered_plan}),
        json!({"command": plan["argv"], "cwd": "/", "sessionKey": "s1", "approved": true, "systemRunPlan": plan}),
        json!({"command": plan["argv"], "cwd": cwd, "sessionKey": "other", "approved": true, "systemRunPlan": plan}),
    ]
    .into_iter()
    .enumerate()
    {
        let id = format!("t{i}");
        send(&mut ws, invoke(&id, "system.run", json!(params.to_string()))).await;
        let (r, _) = result_with_events(&mut ws, &id).await;
        assert_eq!(
            r["error"],
            json!({"code": "INVALID_REQUEST", "message": "explicit approval requires matching systemRunPlan"}),
            "case {i}"
        );
    }
    let fallback = json!({"command": ["echo", "x"], "approvalSource": "ask-fallback"});
    send(&mut ws, invoke("f1", "system.run", json!(fallback.to_string()))).await;
    let (f1, _) = result_with_events(&mut ws, "f1").await;
    assert_eq!(f1["error"]["message"], "approvalSource requires matching systemRunPlan");

    h.shutdown.send(Some(143)).unwrap();
    h.node.await.unwrap();
    // Every decision is in the audit trail, newest first, without env or output.
    let paths = openclaw_state::StatePaths {
        state_dir: h._state.path().join("oc"),
        config_path: h._state.path().join("oc/openclaw.json"),
    };
    let db = openclaw_state::StateDb::open_existing_read_only(&paths).unwrap().unwrap();
    let trail = db.audit_records(100).unwrap();
    let decisions: Vec<(&str, Option<&str>)> =
        trail.iter().map(|r| (r.decision.as_str(), r.invoke_id.as_deref())).collect();
    assert!(
        decisions.contains(&("allowed", Some("a1")))
            && decisions.contains(&("denied", Some("d1")))
            && decisions.contains(&("rejected", Some("t0"))),
        "{decisions:?}"
    );
    let r1 = trail.iter().find(|r| r.invoke_id.as_deref() == Some("r1")).unwrap();
    assert_eq!(
        (r1.exit_code, r1.argv.clone()),
        (Some(2), vec!["sh".to_string(), "-c".into(), "echo hi; exit 2".into()])
    );
    assert_eq!(r1.requester["runId"], "run-1");
}

/// autoAllowSkills: the node asks the gateway for `skills.bins` after hello; a skill binary then
/// runs by bare name under an allowlist policy, but not by path, and not without the flag.
#[tokio::test(flavor = "current_thread")]
async fn skill_bins_from_the_gateway_are_auto_allowed() {
    let h = start_node().await;
    let mut ws = accept(&h.listener).await;
    handshake(&mut ws, |id| hello(id, 30_000)).await;
    // Answer the node's skills.bins request.
    loop {
        let frame = recv(&mut ws, Duration::from_secs(5)).await.expect("skills.bins after hello");
        if frame["method"] == "skills.bins" {
            let answer = json!({"type": "res", "id": frame["id"], "ok": true, "payload": {"bins": ["uname"]}});
            send(&mut ws, answer).await;
            break;
        }
    }
    let set_policy = |auto: bool| json!({"file": {"version": 1, "defaults": {"security": "allowlist", "ask": "off", "autoAllowSkills": auto}}});
    send(&mut ws, invoke("g", "system.execApprovals.get", Value::Null)).await;
    let (got, _) = result_with_events(&mut ws, "g").await;
    let mut set = set_policy(true);
    set["baseHash"] = payload(&got)["hash"].clone();
    send(&mut ws, invoke("s", "system.execApprovals.set", json!(set.to_string()))).await;
    let (set_result, _) = result_with_events(&mut ws, "s").await;
    assert_eq!(set_result["ok"], true, "{set_result}");

    send(&mut ws, invoke("bare", "system.run", json!(json!({"command": ["uname", "-s"]}).to_string()))).await;
    let (bare, _) = result_with_events(&mut ws, "bare").await;
    assert_eq!(payload(&bare)["stdout"], "Linux\n", "{bare}");
    send(&mut ws, invoke("path", "system.run", json!(json!({"command": ["/usr/bin/uname", "-s"]}).to_string()))).await;
    let (by_path, _) = result_with_events(&mut ws, "path").await;
    assert_eq!(by_path["error"]["code"], "SYSTEM_RUN_DENIED", "{by_path}");
    send(&mut ws, invoke("other", "system.run", json!(json!({"command": ["id", "-u"]}).to_string()))).await;
    let (other, _) = result_with_events(&mut ws, "other").await;
    assert_eq!(other["error"]["code"], "SYSTEM_RUN_DENIED", "{other}");

    // Without autoAllowSkills the same bare name is an allowlist miss.
    send(&mut ws, invoke("g2", "system.execApprovals.get", Value::Null)).await;
    let (got, _) = result_with_events(&mut ws, "g2").await;
    let mut set = set_policy(false);
    set["baseHash"] = payload(&got)["hash"].clone();
    send(&mut ws, invoke("s2", "system.execApprovals.set", json!(set.to_string()))).await;
    result_with_events(&mut ws, "s2").await;
    send(&mut ws, invoke("bare2", "system.run", json!(json!({"command": ["uname", "-s"]}).to_string()))).await;
    let (bare2, _) = result_with_events(&mut ws, "bare2").await;
    assert_eq!(bare2["error"]["code"], "SYSTEM_RUN_DENIED", "{bare2}");

    h.shutdown.send(Some(143)).unwrap();
    h.node.await.unwrap();
}
