//! Sorting differences into classes by severity, so a run of thousands of cases reads as a
//! short table: "ours runs what upstream refuses" first, cosmetic differences last.

use std::sync::OnceLock;

use regex::Regex;
use serde_json::Value;

use crate::compare::{diff_paths, path_shape};

/// How bad a difference is, most severe first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Ours runs (or binds, or persists) what upstream refuses.
    OursLooser,
    /// Ours refuses what upstream runs.
    OursStricter,
    /// Both refuse, with different codes or messages.
    DifferentRefusal,
    /// Both answer, with different payloads.
    DifferentResult,
    /// Only the `exec.*` events differ.
    DifferentEvents,
}

impl Severity {
    /// A label for the table.
    pub fn label(self) -> &'static str {
        match self {
            Severity::OursLooser => "1 ours looser",
            Severity::OursStricter => "2 ours stricter",
            Severity::DifferentRefusal => "3 refusal differs",
            Severity::DifferentResult => "4 result differs",
            Severity::DifferentEvents => "5 events differ",
        }
    }
}

fn short(s: &str) -> String {
    let one = s.replace('\n', "⏎");
    if one.chars().count() > 90 {
        format!("{}…", one.chars().take(90).collect::<String>())
    } else {
        one
    }
}

/// A refusal message with its details dropped (the text in parentheses, the guidance after a
/// newline), so refusals of one rule group into one class; the example keeps the full text.
fn refusal(v: &Value) -> String {
    static PARENS: OnceLock<Regex> = OnceLock::new();
    let msg = v["error"]["message"].as_str().unwrap_or("?");
    let first = msg.lines().next().unwrap_or_default();
    let re = PARENS.get_or_init(|| Regex::new(r"\([^)]*\)").expect("parens regex"));
    short(&re.replace_all(first, "(…)"))
}

/// A diff path with agent keys and array indices folded, for class names.
fn shape(path: &str) -> String {
    static AGENT: OnceLock<Regex> = OnceLock::new();
    let re = AGENT.get_or_init(|| Regex::new(r"\.agents\.[^.\[]+").expect("agent regex"));
    re.replace_all(&path_shape(path), ".agents.<agent>").into_owned()
}

fn shapes(a: &Value, b: &Value) -> String {
    let mut paths: Vec<String> = diff_paths(a, b, 6).iter().map(|p| shape(p)).collect();
    paths.dedup();
    paths.join(", ")
}

/// The severity and the class name of a difference at `step`.
pub fn classify(step: &str, ours: &Value, theirs: &Value) -> (Severity, String) {
    if step == "approvals-after" {
        let count = |v: &Value| {
            v["agents"]
                .as_object()
                .map_or(0, |a| a.values().map(|e| e["allowlist"].as_array().map_or(0, Vec::len)).sum())
        };
        let (o, t) = (count(ours), count(theirs));
        return if o > t {
            (Severity::OursLooser, format!("{step}: ours persists more allowlist entries ({o} vs {t})"))
        } else if o < t {
            (Severity::OursStricter, format!("{step}: ours persists fewer allowlist entries ({o} vs {t})"))
        } else {
            (Severity::DifferentResult, format!("{step}: persisted entries differ at {}", shapes(ours, theirs)))
        };
    }
    let (o_ok, t_ok) = (ours["ok"] == true, theirs["ok"] == true);
    match (o_ok, t_ok) {
        (true, false) => (Severity::OursLooser, format!("{step}: ours answers, upstream refuses: {}", refusal(theirs))),
        (false, true) => {
            (Severity::OursStricter, format!("{step}: ours refuses ({}), upstream answers", refusal(ours)))
        }
        (false, false) => {
            if ours["error"] != theirs["error"] {
                let (o, t) = (refusal(ours), refusal(theirs));
                (Severity::DifferentRefusal, format!("{step}: ours `{o}` vs upstream `{t}`"))
            } else {
                (Severity::DifferentEvents, format!("{step}: events differ on the same refusal"))
            }
        }
        (true, true) => {
            let mut a = ours.clone();
            let mut b = theirs.clone();
            let ev = a.as_object_mut().and_then(|o| o.remove("events"))
                != b.as_object_mut().and_then(|o| o.remove("events"));
            let paths = shapes(&a, &b);
            if paths.is_empty() && ev {
                let (ea, eb) = (&ours["events"], &theirs["events"]);
                (Severity::DifferentEvents, format!("{step}: events differ at {}", shapes(ea, eb)))
            } else {
                (Severity::DifferentResult, format!("{step}: result differs at {paths}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ours_running_what_upstream_refuses_is_the_most_severe() {
        let ran = json!({"ok":true,"payload":{"stdout":"x"}});
        let denied =
            json!({"ok":false,"error":{"code":"SYSTEM_RUN_DENIED","message":"SYSTEM_RUN_DENIED: allowlist miss"}});
        let strict = json!({"ok":false,"error":{"code":"SYSTEM_RUN_DENIED","message":"SYSTEM_RUN_DENIED: approval required (node -e requires explicit approval in strictInlineEval mode)"}});
        let (_, name) = classify("run", &ran, &strict);
        assert!(name.ends_with("upstream refuses: SYSTEM_RUN_DENIED: approval required (…)"), "{name}");
        let (s, name) = classify("run", &ran, &denied);
        assert_eq!(s, Severity::OursLooser);
        assert!(name.contains("allowlist miss"), "{name}");
        assert_eq!(classify("run", &denied, &ran).0, Severity::OursStricter);
        let other = json!({"ok":false,"error":{"code":"INVALID_REQUEST","message":"command required"}});
        assert_eq!(classify("run", &denied, &other).0, Severity::DifferentRefusal);
        let ran2 = json!({"ok":true,"payload":{"stdout":"y"}});
        let (s, name) = classify("run", &ran, &ran2);
        assert_eq!((s, name.as_str()), (Severity::DifferentResult, "run: result differs at $.payload.stdout"));
        let mut ev = ran.clone();
        ev["events"] = json!([{"event":"exec.finished"}]);
        assert_eq!(classify("run", &ev, &ran).0, Severity::DifferentEvents);
    }

    #[test]
    fn persisting_more_entries_is_looser() {
        let more =
            json!({"agents":{"*":{"allowlist":[{"pattern":"/usr/bin/python3"},{"pattern":"=node-command:<hash>"}]}}});
        let fewer = json!({"agents":{"*":{"allowlist":[{"pattern":"=node-command:<hash>"}]}}});
        assert_eq!(classify("approvals-after", &more, &fewer).0, Severity::OursLooser);
        assert_eq!(classify("approvals-after", &fewer, &more).0, Severity::OursStricter);
        let a = json!({"agents":{"Main":{"allowlist":[{"pattern":"x","lastUsedCommand":"a"}]}}});
        let b = json!({"agents":{"Main":{"allowlist":[{"pattern":"x","lastUsedCommand":"b"}]}}});
        assert_eq!(
            classify("approvals-after", &a, &b).1,
            "approvals-after: persisted entries differ at $.agents.<agent>.allowlist[].lastUsedCommand"
        );
    }
}
