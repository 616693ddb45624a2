//! Differential tests: the same `system.run` / `system.run.prepare` / approvals requests sent
//! through the real Gateway to the real TypeScript node host and to ours; results and error
//! codes/messages must match field for field.
//!
//! Coverage so far (issue 3 is in progress): full/deny/allowlist/ask policies on direct argv,
//! env overrides, cwd, timeouts, capped output, missing binaries, rawCommand checks, prepare,
//! malformed plans and caller-supplied approval fields. Shell payloads in allowlist mode are not analysed yet and
//! are therefore not compared here.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::*;

struct Pair<'a> {
    gw: &'a PeerGateway,
    ours: String,
    theirs: String,
}

impl Pair<'_> {
    /// Invokes on both nodes concurrently.
    fn both(&self, command: &str, params: Value) -> (Value, Value) {
        std::thread::scope(|s| {
            let a = s.spawn(|| invoke_outcome(&self.gw.invoke(&self.ours, command, params.clone())));
            let b = s.spawn(|| invoke_outcome(&self.gw.invoke(&self.theirs, command, params.clone())));
            (a.join().unwrap(), b.join().unwrap())
        })
    }

    fn set_approvals(&self, file: Value) {
        std::thread::scope(|s| {
            for node in [&self.ours, &self.theirs] {
                let file = file.clone();
                s.spawn(move || {
                    let current = self.gw.call("exec.approvals.node.get", json!({"nodeId": node}));
                    let hash = current["hash"].as_str().unwrap_or_else(|| panic!("no hash: {current}")).to_string();
                    let set = self
                        .gw
                        .call("exec.approvals.node.set", json!({"nodeId": node, "file": file, "baseHash": hash}));
                    assert!(set["hash"].is_string(), "set failed on {node}: {set}");
                });
            }
        });
    }
}

/// Counts compared cases and collects differences, so one run reports all of them.
#[derive(Default)]
struct Tally {
    compared: usize,
    failures: Vec<String>,
}

impl Tally {
    fn check(&mut self, name: &str, ours: Value, theirs: Value) {
        self.compared += 1;
        if ours != theirs {
            self.failures.push(format!("{name}:\n  ours:   {ours}\n  theirs: {theirs}"));
        }
    }
}

#[test]
fn system_run_matches_the_typescript_node_host() {
    if !peer_available() {
        return;
    }
    let gw = PeerGateway::start("exec", &[]);
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("ours");
    let port = gw.port.to_string();
    let mut node = OurNode::spawn(
        &state,
        &["--port", &port, "--display-name", "rs-diff"],
        &[("OPENCLAW_GATEWAY_TOKEN", &gw.token)],
    );
    node.wait_for_log("node host gateway connected:", 1, Duration::from_secs(30));
    let ts_name = format!("rs-diff-ts-{}", std::process::id());
    let ts = TsNode::start(&gw, &ts_name, "ts-diff").expect("TS node connects");
    let pair = Pair {
        gw: &gw,
        ours: our_identity(&state)["deviceId"].as_str().unwrap().to_string(),
        theirs: ts.identity()["deviceId"].as_str().unwrap().to_string(),
    };
    gw.approve_node_surface(&pair.ours);
    gw.approve_node_surface(&pair.theirs);

    let full_cases: Vec<(&str, &str, Value)> = vec![
        (
            "exit code and both streams",
            "system.run",
            json!({"command": ["sh", "-c", "echo out; echo err >&2; exit 3"]}),
        ),
        ("plain argv", "system.run", json!({"command": ["echo", "hello world"]})),
        ("missing binary", "system.run", json!({"command": ["definitely-not-here-xyz"]})),
        ("timeout", "system.run", json!({"command": ["sleep", "5"], "timeoutMs": 300})),
        ("output cap", "system.run", json!({"command": ["sh", "-c", "head -c 250000 /dev/zero | tr '\\0' x"]})),
        ("cwd", "system.run", json!({"command": ["pwd"], "cwd": "/tmp"})),
        ("missing cwd", "system.run", json!({"command": ["pwd"], "cwd": "/nonexistent-xyz"})),
        ("accepted override", "system.run", json!({"command": ["printenv", "FOO"], "env": {"FOO": "bar"}})),
        (
            "shell wrapper drops overrides",
            "system.run",
            json!({"command": ["sh", "-c", "echo \"[$FOO][$LC_ALL]\""], "env": {"FOO": "bar", "LC_ALL": "C"}}),
        ),
        (
            "blocked overrides",
            "system.run",
            json!({"command": ["env"], "env": {"PATH": "/x", "LD_PRELOAD": "y", "HOME": "/h", "BAD-KEY": "1"}}),
        ),
        ("env assignment in argv", "system.run", json!({"command": ["env", "LD_PRELOAD=x", "ls"]})),
        ("rawCommand mismatch", "system.run", json!({"command": ["ls", "-la"], "rawCommand": "ls  -la"})),
        ("rawCommand payload", "system.run", json!({"command": ["/bin/sh", "-c", "echo hi"], "rawCommand": "echo hi"})),
        ("no command", "system.run", json!({"rawCommand": "ls"})),
        ("empty command", "system.run", json!({"command": []})),
        ("pipeline", "system.run", json!({"command": ["sh", "-c", "echo abc | tr a z"]})),
        ("approvalSource invalid", "system.run", json!({"command": ["echo", "x"], "approvalSource": "me"})),
        ("approved without plan (#8682)", "system.run", json!({"command": ["echo", "x"], "approved": true})),
        (
            "decision without plan (#8682)",
            "system.run",
            json!({"command": ["echo", "x"], "approvalDecision": "allow-once"}),
        ),
        (
            "fallback without plan (#8682)",
            "system.run",
            json!({"command": ["echo", "x"], "approvalSource": "ask-fallback"}),
        ),
        (
            "tampered plan (#8682)",
            "system.run",
            json!({"command": ["echo", "x"], "approved": true, "systemRunPlan": {"argv": ["echo", "y"], "commandText": "echo y"}}),
        ),
        ("malformed plan", "system.run", json!({"command": ["echo", "x"], "systemRunPlan": {"argv": []}})),
        ("screen recording", "system.run", json!({"command": ["echo", "x"], "needsScreenRecording": true})),
        ("prepare", "system.run.prepare", json!({"command": ["echo", "hi"], "cwd": "/tmp"})),
        (
            "prepare full/off",
            "system.run.prepare",
            json!({"command": ["echo", "hi"], "cwd": "/tmp", "security": "full", "ask": "off"}),
        ),
        (
            "prepare missing cwd",
            "system.run.prepare",
            json!({"command": ["echo", "hi"], "cwd": "/nonexistent-xyz", "security": "full", "ask": "off"}),
        ),
        (
            "prepare blocked login shell",
            "system.run.prepare",
            json!({"command": ["bash", "-lc", "echo hi"], "cwd": "/tmp"}),
        ),
        (
            "prepare with agent and session",
            "system.run.prepare",
            json!({"command": ["true"], "cwd": "/tmp", "agentId": " main ", "sessionKey": "agent:main:main"}),
        ),
        ("signal-killed command", "system.run", json!({"command": ["sh", "-c", "kill -9 $$"]})),
        (
            "stderr over the cap",
            "system.run",
            json!({"command": ["sh", "-c", "head -c 250000 /dev/zero | tr '\\0' e >&2"]}),
        ),
        (
            "output before a timeout",
            "system.run",
            json!({"command": ["sh", "-c", "echo early; sleep 5"], "timeoutMs": 400}),
        ),
        ("PAGER=cat normalised", "system.run", json!({"command": ["printenv", "PAGER"], "env": {"PAGER": "cat"}})),
        ("env wrapper with a plain assignment", "system.run", json!({"command": ["env", "FOO=1", "printenv", "FOO"]})),
        (
            "rawCommand equal to the text",
            "system.run",
            json!({"command": ["echo", "a b"], "rawCommand": "echo \"a b\""}),
        ),
        ("non-string argv elements", "system.run", json!({"command": ["echo", 1, true]})),
        ("zero timeout means none", "system.run", json!({"command": ["echo", "t"], "timeoutMs": 0})),
    ];
    let mut tally = Tally::default();
    for (name, command, params) in &full_cases {
        let (ours, theirs) = pair.both(command, params.clone());
        tally.check(name, ours, theirs);
    }

    // Deliberate difference (README): commands do not inherit the node's gateway token.
    let leaked = invoke_outcome(&gw.invoke(
        &pair.ours,
        "system.run",
        json!({"command": ["printenv", "OPENCLAW_GATEWAY_TOKEN"]}),
    ));
    assert_eq!((&leaked["exitCode"], &leaked["stdout"]), (&json!(1), &json!("")), "the node's token reached a command");

    // Caller-supplied approval fields: the real Gateway itself refuses them unless they name a
    // pending approval (MISSING_RUN_ID / UNKNOWN_APPROVAL_ID), so both nodes see the same
    // refusal; the node-side plan binding is covered by unit tests and the scripted gateway.

    // Deny, allowlist and ask policies set through the gateway on both nodes.
    pair.set_approvals(json!({"version": 1, "defaults": {"security": "deny"}}));
    let (ours, theirs) = pair.both("system.run", json!({"command": ["echo", "x"]}));
    tally.check("security=deny", ours, theirs);
    pair.set_approvals(json!({"version": 1, "defaults": {"security": "allowlist", "ask": "off"}, "agents": {"*": {"allowlist": [{"pattern": "/usr/bin/echo"}, {"pattern": "printf", "argPattern": "^ok$"}]}}}));
    for (name, params) in [
        ("allowlist miss", json!({"command": ["ls", "/"]})),
        ("safe bin with a path operand", json!({"command": ["head", "-n", "1", "/etc/hostname"]})),
        ("safe bin with a denied flag", json!({"command": ["tail", "-f"]})),
        ("sed is never a safe bin", json!({"command": ["sed", "-n", "1p"]})),
        ("safe bin (head -n 1)", json!({"command": ["head", "-n", "1"]})),
        ("safe bin (tr a-z A-Z)", json!({"command": ["tr", "a-z", "A-Z"]})),
        ("shell: redirect is a miss", json!({"command": ["sh", "-c", "echo a > /tmp/openclaw-diff-x"]})),
        ("shell: substitution is a miss", json!({"command": ["sh", "-c", "echo $(id)"]})),
        ("shell: unlisted segment is a miss", json!({"command": ["sh", "-c", "head -n 1; ls /"]})),
        ("shell: builtin + safe bin", json!({"command": ["sh", "-c", "cd /tmp && head -n 1"]})),
        ("shell: pipeline of safe bins", json!({"command": ["sh", "-c", "head -n 1 | tr a b | wc -l"]})),
        ("shell: assignment prefix is a miss", json!({"command": ["sh", "-c", "FOO=1 head -n 1"]})),
        ("shell: background is a miss", json!({"command": ["sh", "-c", "head -n 1 &"]})),
        ("shell: login form without rawCommand", json!({"command": ["bash", "-lc", "head -n 1"]})),
        ("allowlist argPattern miss", json!({"command": ["printf", "no"]})),
        ("allowlist policy-blocked wrapper", json!({"command": ["sudo", "echo", "x"]})),
    ] {
        let (ours, theirs) = pair.both("system.run", params);
        tally.check(name, ours, theirs);
    }
    // Deliberate difference (README): upstream 2026.9.6 refuses every allowlist hit with
    // "approval state could not be persisted"; ours runs the planned argv.
    for (name, params, stdout) in [
        ("allowlist hit (bare name → real path)", json!({"command": ["echo", "listed"]}), "listed\n"),
        ("allowlist hit through nice", json!({"command": ["nice", "echo", "nice"]}), "nice\n"),
        ("allowlist argPattern hit", json!({"command": ["printf", "ok"]}), "ok"),
        ("shell: allowlisted segments", json!({"command": ["sh", "-c", "echo a && echo b"]}), "a\nb\n"),
    ] {
        let (ours, theirs) = pair.both("system.run", params);
        tally.compared += 1;
        assert_eq!(ours["stdout"], stdout, "{name}: {ours}");
        let upstream_bug = json!({"error": {"code": "SYSTEM_RUN_DENIED", "message": "SYSTEM_RUN_DENIED: approval state could not be persisted"}});
        if theirs != upstream_bug {
            tally.failures.push(format!("{name}: upstream no longer refuses allowlist hits, compare again: {theirs}"));
        }
    }
    pair.set_approvals(json!({"version": 1, "defaults": {"security": "allowlist", "ask": "on-miss"}}));
    let (ours, theirs) = pair.both("system.run", json!({"command": ["echo", "x"]}));
    tally.check("ask on-miss", ours, theirs);
    pair.set_approvals(json!({"version": 1, "defaults": {"security": "full", "ask": "always"}}));
    let (ours, theirs) = pair.both("system.run", json!({"command": ["echo", "x"]}));
    tally.check("ask always", ours, theirs);

    // The approvals document as the gateway sees it (socket token redacted).
    let ours = gw.call("exec.approvals.node.get", json!({"nodeId": pair.ours}));
    let theirs = gw.call("exec.approvals.node.get", json!({"nodeId": pair.theirs}));
    assert!(ours["file"]["socket"].get("token").is_none(), "token redacted: {ours}");
    tally.check("approvals file", ours["file"]["defaults"].clone(), theirs["file"]["defaults"].clone());

    drop(ts);
    assert_eq!(node.stop(), Some(143));
    println!("differential: {} cases compared, {} differ", tally.compared, tally.failures.len());
    assert!(
        tally.failures.is_empty(),
        "{} of {} cases differ:\n{}",
        tally.failures.len(),
        tally.compared,
        tally.failures.join("\n")
    );
}
