//! The known, deliberate differences from upstream 2026.9.6, in one place with their reasons
//! (README "Where we deliberately differ"). A difference explained here is reported in its own
//! table and left out of the count of unexplained differences.
//!
//! Each entry is a predicate on the step where the difference shows. Some also explain the
//! rest of the case (`poisons`): once the two nodes hold different approvals documents, every
//! later step may differ for that reason alone.

use serde_json::Value;

use crate::gen::Case;

/// One deliberate difference.
pub struct Known {
    /// A short name for the report.
    pub name: &'static str,
    /// Why we differ (the README's reason).
    pub reason: &'static str,
    /// Whether later steps of the same case are explained too.
    pub poisons: bool,
    matches: fn(&Case, &str, &Value, &Value) -> bool,
}

fn message(v: &Value) -> &str {
    v["error"]["message"].as_str().unwrap_or_default()
}

fn ran(v: &Value) -> bool {
    v["ok"] == true
}

/// The list. Keep it short: every entry hides a class of differences.
pub const KNOWN: &[Known] = &[
    Known {
        name: "upstream refuses allowlist hits",
        reason: "upstream 2026.9.6 refuses every allowlisted (and explicitly approved) run at its commit step \
                 with `approval state could not be persisted`; ours runs the planned argv (README)",
        poisons: true,
        matches: |_, step, ours, theirs| {
            step.contains("run")
                && message(theirs) == "SYSTEM_RUN_DENIED: approval state could not be persisted"
                && ran(ours)
        },
    },
    Known {
        name: "version 2 refused",
        reason: "an approvals document with `version: 2` is refused instead of being read as version 1; README",
        poisons: true,
        matches: |case, step, ours, theirs| {
            step == "set" && case.tags.iter().any(|t| t == "doc-odd:version-2") && !ran(ours) && ran(theirs)
        },
    },
    Known {
        name: "agents.__proto__ refused",
        reason: "an `agents.__proto__` key is refused at `set` (upstream accepts it on the wire and its \
                 persisted schema rejects it later); README",
        poisons: true,
        matches: |case, step, ours, _| {
            step == "set" && case.tags.iter().any(|t| t == "doc-odd:agents-proto") && !ran(ours)
        },
    },
    Known {
        name: "symlinked cwd resolved and pinned",
        reason: "a cwd with a symlink component is resolved to its real path and pinned in the plan \
                 instead of being refused, so approval binds the directory that actually runs; ours \
                 then answers, or refuses at a later step of the same binding (script operand, \
                 executable path, env overrides), as upstream does for a real cwd; README",
        poisons: true,
        matches: |case, _, ours, theirs| {
            case.tags.iter().any(|t| t == "cwd:symlink")
                && message(theirs).contains("no symlink path components")
                && !message(ours).contains("no symlink path components")
        },
    },
    Known {
        name: "bare assignment not covered",
        reason: "a payload command that is only an assignment (`FOO=1`, `PATH=/tmp/x`) is never covered \
                 by the allowlist: it changes the shell the later commands run in (a new PATH makes an \
                 allowlisted `ls` another program), while upstream's plan has no step for it and allows \
                 the rest; so ours asks or refuses where upstream runs (fail closed); README",
        poisons: false,
        matches: |case, step, ours, theirs| {
            case.tags.iter().any(|t| t == "piece:assignment-only")
                && step.contains("run")
                && !ran(ours)
                && ran(theirs)
                && matches!(message(ours), "SYSTEM_RUN_DENIED: allowlist miss" | "SYSTEM_RUN_DENIED: approval required")
        },
    },
    Known {
        name: "background job racing the exit kill",
        reason: "not a policy difference but a race on both hosts: after a non-zero exit both SIGTERM the \
                 command's process group at once (upstream in its child's `exit` handler), so whether a \
                 background job (`… &`) printed before the kill is timing (upstream's own runner, alone \
                 on an idle machine, printed it in 3 of 10 runs); the results are equal but for the \
                 output; README",
        poisons: false,
        matches: |case, step, ours, theirs| {
            let exit = &ours["payload"]["exitCode"];
            case.tags.iter().any(|t| t == "op:&")
                && step.contains("run")
                && ran(ours)
                && ran(theirs)
                && exit.as_i64().is_some_and(|code| code != 0)
                && *exit == theirs["payload"]["exitCode"]
                && without_output(ours) == without_output(theirs)
        },
    },
];

/// A run's result without what its commands printed (`stdout`, `stderr`, the events' `output`).
fn without_output(result: &Value) -> Value {
    let mut result = result.clone();
    if let Some(payload) = result["payload"].as_object_mut() {
        payload.remove("stdout");
        payload.remove("stderr");
    }
    for event in result["events"].as_array_mut().into_iter().flatten() {
        if let Some(payload) = event["payload"].as_object_mut() {
            payload.remove("output");
        }
    }
    result
}

/// The first known difference that explains this step, if any.
pub fn explain(case: &Case, step: &str, ours: &Value, theirs: &Value) -> Option<&'static Known> {
    KNOWN.iter().find(|k| (k.matches)(case, step, ours, theirs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen::{Flow, Profile};
    use serde_json::json;

    fn case(tags: &[&str]) -> Case {
        Case {
            seed: 1,
            index: 1,
            profile: Profile::Plain,
            approvals: json!({"version": 1}),
            params: json!({"command": ["echo"]}),
            flow: Flow::Run,
            tags: tags.iter().map(|t| t.to_string()).collect(),
        }
    }

    fn refused(msg: &str) -> Value {
        json!({"ok": false, "error": {"code": "SYSTEM_RUN_DENIED", "message": msg}})
    }

    #[test]
    fn a_known_difference_needs_its_exact_shape() {
        let ran = json!({"ok": true, "payload": {"stdout": "x"}});
        let persist = refused("SYSTEM_RUN_DENIED: approval state could not be persisted");
        assert_eq!(explain(&case(&[]), "run", &ran, &persist).map(|k| k.name), Some("upstream refuses allowlist hits"));
        // Ours refusing where upstream's policy allowed is not explained by that bug.
        assert!(explain(&case(&[]), "run", &refused("SYSTEM_RUN_DENIED: allowlist miss"), &persist).is_none());

        let symlink = refused("SYSTEM_RUN_DENIED: approval requires canonical cwd (no symlink path components)");
        assert!(explain(&case(&["cwd:symlink"]), "prepare", &ran, &symlink).is_some());
        // Ours gets past the cwd and refuses at a later step of the binding (upstream checks
        // the cwd first, then the script operand, then env overrides): the same difference.
        let env = refused("SYSTEM_RUN_DENIED: environment override rejected (blocked override keys: PATH)");
        assert!(explain(&case(&["cwd:symlink"]), "prepare", &env, &symlink).is_some());
        assert!(explain(&case(&[]), "prepare", &ran, &symlink).is_none(), "only for a symlinked cwd");

        let set_ok = json!({"ok": true, "file": {}});
        let set_refused = json!({"ok": false, "error": {"code": "INVALID_REQUEST", "message": "version"}});
        assert!(explain(&case(&["doc-odd:version-2"]), "set", &set_refused, &set_ok).is_some());
        assert!(explain(&case(&["doc-odd:agents-array"]), "set", &set_refused, &set_ok).is_none());

        // A bare assignment: only ours refusing where upstream ran, only with that piece.
        let miss = refused("SYSTEM_RUN_DENIED: allowlist miss");
        let bare = case(&["piece:assignment-only"]);
        assert!(explain(&bare, "run", &miss, &ran).is_some());
        assert!(explain(&bare, "run", &ran, &miss).is_none(), "never where ours is looser");
        assert!(explain(&case(&[]), "run", &miss, &ran).is_none());

        // A background job's output after a non-zero exit: only the output may differ.
        let exited = |stdout: &str, code: i64| {
            json!({"ok": true, "payload": {"exitCode": code, "stdout": stdout, "stderr": ""},
                   "events": [{"event": "exec.finished", "payload": {"exitCode": code, "output": stdout}}]})
        };
        let background = case(&["op:&"]);
        assert!(explain(&background, "rerun", &exited("", 127), &exited("x", 127)).is_some());
        assert!(explain(&background, "rerun", &exited("", 0), &exited("x", 0)).is_none(), "exit 0: no kill");
        assert!(explain(&background, "rerun", &exited("", 1), &exited("x", 2)).is_none());
        assert!(explain(&case(&[]), "rerun", &exited("", 127), &exited("x", 127)).is_none());
        assert!(explain(&background, "rerun", &exited("", 127), &miss).is_none());
    }
}
