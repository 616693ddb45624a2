//! The case generator: one [`Case`] per `(seed, index)`, a request crossed with an approvals
//! document, a node configuration profile and an approval flow.
//!
//! A case is pure data with `@CASE@` placeholders; the runner substitutes each node's own
//! per-case directory. Generation depends on nothing but the seed and the index, so a
//! difference is reproduced with `--seed N --case I`.

pub mod approvals;
pub mod command;

use serde_json::{json, Map, Value};

use crate::rng::Rng;
use command::Argv;

/// The node's own `openclaw.json`, which both implementations read at start-up: cases are
/// grouped by profile and each group gets freshly started nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Profile {
    /// No config file.
    Plain,
    /// `tools.exec.strictInlineEval: true`.
    StrictGlobal,
    /// `agents.entries.main.tools.exec.strictInlineEval: true` (agent ids that differ in case
    /// must not escape it).
    StrictMain,
}

impl Profile {
    /// Every profile, in run order.
    pub const ALL: [Profile; 3] = [Profile::Plain, Profile::StrictGlobal, Profile::StrictMain];

    /// The config document, if any.
    pub fn config(self) -> Option<Value> {
        match self {
            Profile::Plain => None,
            Profile::StrictGlobal => Some(json!({"tools": {"exec": {"strictInlineEval": true}}})),
            Profile::StrictMain => {
                Some(json!({"agents": {"entries": {"main": {"tools": {"exec": {"strictInlineEval": true}}}}}}))
            }
        }
    }

    /// A short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Plain => "plain",
            Profile::StrictGlobal => "strict",
            Profile::StrictMain => "strict-main",
        }
    }
}

/// How an approval reaches `system.run`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// `approved: true, approvalDecision: "allow-once"`.
    AllowOnce,
    /// `approved: true, approvalDecision: "allow-always"`; then the document after, a re-run
    /// without approval, and a re-run after the files changed.
    AllowAlways,
    /// `approved: true` alone.
    ApprovedOnly,
    /// `approvalDecision: "allow-once"` alone.
    DecisionOnly,
    /// `approvalSource: "ask-fallback"`.
    AskFallback,
    /// `approvalSource: "auto-review"`.
    AutoReview,
}

/// Ways to send approval fields that must not bind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadApproval {
    /// Approval fields without any plan.
    NoPlan,
    /// The plan prepared for a different command.
    OtherPlan,
    /// `approvalSource` together with `approved`.
    Combined,
}

/// What the case does.
#[derive(Clone, Debug, PartialEq)]
pub enum Flow {
    /// `system.run` with the params as generated.
    Run,
    /// `system.run.prepare` with optional `security`, `ask` and `strictInlineEval`.
    Prepare(Map<String, Value>),
    /// Prepare on each node, then `system.run` with that node's plan and the approval; with
    /// `mutate`, the case's files change between the two.
    Approved {
        /// The approval.
        source: Source,
        /// Change the files between prepare and run.
        mutate: bool,
    },
    /// Approval fields that must be refused.
    Bad(BadApproval),
}

/// One generated case.
#[derive(Clone, Debug)]
pub struct Case {
    /// The run's seed.
    pub seed: u64,
    /// The case index.
    pub index: u64,
    /// The node configuration it needs.
    pub profile: Profile,
    /// The approvals document set on both nodes first.
    pub approvals: Value,
    /// The request params (`@CASE@` placeholders inside).
    pub params: Value,
    /// What to do with them.
    pub flow: Flow,
    /// Grammar rows used (for coverage and for reading a difference).
    pub tags: Vec<String>,
}

/// cwd kinds: `(tag, value)`; `None` leaves `cwd` out.
pub const CWDS: &[(&str, Option<&str>)] = &[
    ("absent", None),
    ("real", Some("@CASE@")),
    ("symlink", Some("@CASE@/link")),
    ("missing", Some("@CASE@/missing")),
    ("file", Some("@CASE@/data.txt")),
    ("padded", Some(" @CASE@ ")),
    ("sub", Some("@CASE@/sub")),
];

/// env overrides: `(tag, value)`.
pub const ENVS: &[(&str, &str)] = &[
    ("FOO", r#"{"FOO":"bar"}"#),
    ("PATH", r#"{"PATH":"/nonexistent"}"#),
    ("LD_PRELOAD", r#"{"LD_PRELOAD":"/nonexistent.so"}"#),
    ("HOME", r#"{"HOME":"/h"}"#),
    ("bad-key", r#"{"BAD-KEY":"1"}"#),
    ("LC_ALL", r#"{"LC_ALL":"C"}"#),
    ("PAGER", r#"{"PAGER":"cat"}"#),
    ("array", r#"["FOO=1"]"#),
    ("non-string", r#"{"FOO":1}"#),
];

/// rawCommand variants.
pub const RAWS: &[&str] = &["text", "payload", "mismatch", "padded", "empty"];

/// agentId values.
pub const AGENTS: &[&str] = &["main", "Main", " main ", "ops", "MAIN"];

fn tag(tags: &mut Vec<String>, t: impl Into<String>) {
    tags.push(t.into());
}

/// Generates case `index` of run `seed`.
pub fn generate(seed: u64, index: u64) -> Case {
    let mut rng = Rng::for_case(seed, index);
    let mut tags = Vec::new();
    let profile = Profile::ALL[rng.weighted(&[6, 2, 2])];
    tag(&mut tags, format!("profile:{}", profile.name()));
    let doc = approvals::generate(&mut rng);
    tags.extend(doc.tags);

    let mut params = Map::new();
    match command::generate(&mut rng) {
        Argv::Argv(c) => {
            tags.extend(c.tags);
            if rng.chance(25) {
                let raw = *rng.pick(RAWS);
                tag(&mut tags, format!("raw:{raw}"));
                let text = command::format_exec_command(&c.argv);
                let v = match raw {
                    "text" => text,
                    "payload" => c.payload.clone().unwrap_or_else(|| text.clone()),
                    "mismatch" => format!("{text} extra"),
                    "padded" => format!("  {text}  "),
                    _ => String::new(),
                };
                params.insert("rawCommand".into(), json!(v));
            }
            params.insert("command".into(), json!(c.argv));
        }
        Argv::Odd(v, t) => {
            tag(&mut tags, t);
            if !v.is_null() {
                params.insert("command".into(), v);
            }
        }
    }
    let (cwd_tag, cwd) = rng.pick(CWDS);
    tag(&mut tags, format!("cwd:{cwd_tag}"));
    if let Some(cwd) = cwd {
        params.insert("cwd".into(), json!(cwd));
    }
    if rng.chance(15) {
        let (t, v) = rng.pick(ENVS);
        tag(&mut tags, format!("env:{t}"));
        params.insert("env".into(), serde_json::from_str(v).expect("env literal"));
    }
    if rng.chance(35) {
        let a = *rng.pick(AGENTS);
        tag(&mut tags, format!("agentId:{a}"));
        params.insert("agentId".into(), json!(a));
    }
    if rng.chance(10) {
        tag(&mut tags, "sessionKey");
        params.insert("sessionKey".into(), json!("agent:main:main"));
    }
    if rng.chance(10) {
        let t = *rng.pick(&[5000, 0, -1]);
        tag(&mut tags, format!("timeoutMs:{t}"));
        params.insert("timeoutMs".into(), json!(t));
    }
    if rng.chance(3) {
        tag(&mut tags, "needsScreenRecording");
        params.insert("needsScreenRecording".into(), json!(true));
    }
    if rng.chance(5) {
        tag(&mut tags, "suppressNotifyOnExit");
        params.insert("suppressNotifyOnExit".into(), json!(true));
    }

    let flow = match rng.weighted(&[45, 15, 35, 5]) {
        0 => Flow::Run,
        1 => {
            let mut extra = Map::new();
            if rng.chance(50) {
                let s = *rng.pick(&approvals::SECURITY[..3]);
                tag(&mut tags, format!("prepare.security:{s}"));
                extra.insert("security".into(), json!(s));
            }
            if rng.chance(50) {
                let a = *rng.pick(approvals::ASK);
                tag(&mut tags, format!("prepare.ask:{a}"));
                extra.insert("ask".into(), json!(a));
            }
            if rng.chance(20) {
                tag(&mut tags, "prepare.strictInlineEval");
                extra.insert("strictInlineEval".into(), json!(true));
            }
            tag(&mut tags, "flow:prepare");
            Flow::Prepare(extra)
        }
        2 => {
            let source = [
                Source::AllowOnce,
                Source::AllowAlways,
                Source::ApprovedOnly,
                Source::DecisionOnly,
                Source::AskFallback,
                Source::AutoReview,
            ][rng.weighted(&[4, 4, 1, 1, 3, 2])];
            let mutate = rng.chance(15);
            tag(&mut tags, format!("flow:approved:{source:?}"));
            if mutate {
                tag(&mut tags, "flow:mutate");
            }
            Flow::Approved { source, mutate }
        }
        _ => {
            let bad = [BadApproval::NoPlan, BadApproval::OtherPlan, BadApproval::Combined][rng.below(3)];
            tag(&mut tags, format!("flow:bad:{bad:?}"));
            Flow::Bad(bad)
        }
    };
    Case { seed, index, profile, approvals: doc.file, params: Value::Object(params), flow, tags }
}

/// Every grammar row's tag that a long enough run must reach (for the coverage test).
pub fn all_tags() -> Vec<String> {
    let mut t: Vec<String> = Vec::new();
    t.extend(command::PLAIN.iter().map(|(n, _)| format!("plain:{n}")));
    t.extend(command::INTERPRETERS.iter().map(|(n, _)| format!("interp:{n}")));
    t.extend(command::CARRIERS.iter().map(|(n, _)| format!("carrier:{n}")));
    t.extend(command::WRAPPERS.iter().map(|(n, _)| format!("wrapper:{n}")));
    t.extend(command::SHELLS.iter().map(|n| format!("shell:{n}")));
    t.extend(command::SHELL_FLAGS.iter().map(|(n, _)| format!("shell-flag:{n}")));
    t.extend(command::PIECES.iter().map(|(n, _)| format!("piece:{n}")));
    t.push("piece:heredoc".into());
    t.extend(command::OPS.iter().map(|(n, _)| format!("op:{n}")));
    t.extend(command::ODD_SHAPES.iter().map(|n| format!("odd:{n}")));
    t.extend(approvals::PATTERNS.iter().map(|(n, _)| format!("pattern:{n}")));
    t.extend(approvals::ODD_DOCS.iter().map(|n| format!("doc-odd:{n}")));
    t.extend(approvals::AGENT_KEYS.iter().map(|n| format!("agent:{n}")));
    for (key, table) in
        [("security", approvals::SECURITY), ("ask", approvals::ASK), ("askFallback", approvals::ASK_FALLBACK)]
    {
        t.extend(table.iter().map(|v| format!("defaults.{key}:{v}")));
        t.extend(table.iter().map(|v| format!("agent[*].{key}:{v}")));
    }
    t.extend(["defaults.autoAllowSkills:true".into(), "defaults.autoAllowSkills:false".into()]);
    t.extend(CWDS.iter().map(|(n, _)| format!("cwd:{n}")));
    t.extend(ENVS.iter().map(|(n, _)| format!("env:{n}")));
    t.extend(RAWS.iter().map(|n| format!("raw:{n}")));
    t.extend(AGENTS.iter().map(|n| format!("agentId:{n}")));
    t.extend(Profile::ALL.iter().map(|p| format!("profile:{}", p.name())));
    for s in ["AllowOnce", "AllowAlways", "ApprovedOnly", "DecisionOnly", "AskFallback", "AutoReview"] {
        t.push(format!("flow:approved:{s}"));
    }
    t.extend(
        ["flow:prepare", "flow:mutate", "flow:bad:NoPlan", "flow:bad:OtherPlan", "flow:bad:Combined"].map(String::from),
    );
    t.extend(
        ["prepare.strictInlineEval", "needsScreenRecording", "suppressNotifyOnExit", "sessionKey"].map(String::from),
    );
    t.extend(["timeoutMs:5000", "timeoutMs:0", "timeoutMs:-1"].map(String::from));
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn a_case_depends_only_on_seed_and_index() {
        for i in 0..200 {
            let a = generate(42, i);
            let b = generate(42, i);
            assert_eq!((&a.params, &a.approvals, &a.flow, &a.tags), (&b.params, &b.approvals, &b.flow, &b.tags));
        }
        let differ = (0..50).filter(|i| generate(42, *i).params != generate(43, *i).params).count();
        assert!(differ > 40, "another seed gives other cases ({differ}/50 differ)");
    }

    #[test]
    fn a_few_thousand_cases_reach_every_grammar_row() {
        let seen: HashSet<String> = (0..6000).flat_map(|i| generate(7, i).tags).collect();
        let missing: Vec<String> = all_tags().into_iter().filter(|t| !seen.contains(t)).collect();
        assert!(missing.is_empty(), "grammar rows never generated: {missing:?}");
    }

    #[test]
    fn generated_programs_are_on_the_harmless_list() {
        // Every argv word that could be a program is one the grammar tables name (or a
        // wrapper's argument); nothing outside the tables, e.g. `rm`, can appear.
        for i in 0..3000 {
            let case = generate(11, i);
            let text = case.params.to_string();
            for bad in ["rm ", "rm\"", "mkfs", "dd ", "chmod", "chown", "shutdown", "kill", "> /", ">> /"] {
                let hit = text.contains(bad) && !text.contains(&format!("{bad}@CASE@"));
                assert!(!hit, "case {i} contains {bad:?}: {text}");
            }
        }
    }
}
