//! "Allow always": what an allow-always decision persists, and the usage stamps a run leaves
//! on the allowlist entries it matched.
//!
//! Each executable of the command is remembered by real path with a cwd-bound hash of its
//! arguments (plus a marker for the whole command text), so the same command runs again
//! without asking. What cannot be bound that way (inline eval, login shells, payloads the
//! analysis does not understand) is allowed once and nothing is written. The edits here are
//! pure functions of the document: the node host applies them through its compare-and-swap
//! write, so a concurrent edit is never lost.

use std::path::Path;

use crate::allowlist;
use crate::approvals;
use crate::command::CommandRequest;
use crate::inline_eval;
use crate::shell;
use crate::wrappers;
use serde_json::{json, Value};

use crate::evaluate::{RuleKey, RuleUse};

/// What an allow-always of a command would remember (`allowAlwaysCoverage`): one
/// `(pattern, argPattern)` per executable, and whether they cover every command in it (only
/// then is the whole command text remembered too).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Coverage {
    /// Every command of it is represented by a pattern.
    pub complete: bool,
    /// `(real path, sha256:cwd-argv:v1:…)`, de-duplicated, in the order found.
    pub patterns: Vec<(String, String)>,
}

/// Where patterns are resolved: the cwd the hashes are bound to, PATH and HOME.
#[derive(Debug, Clone, Copy)]
pub struct Site<'a> {
    /// The canonical cwd (argPatterns are bound to it).
    pub cwd: &'a str,
    /// PATH for resolving bare names.
    pub path: &'a str,
    /// HOME, for `~` in script operands.
    pub home: Option<&'a Path>,
}

/// Package managers: upstream remembers the package they run, not the manager; this port
/// remembers neither (allow once), which is never looser.
const PACKAGE_MANAGERS: &[&str] = &["npm", "npx", "pnpm", "pnpx", "yarn", "yarnpkg", "bun", "bunx", "corepack"];

/// The patterns one command contributes (`collectAllowAlwaysPatterns`): its executable once
/// wrappers are looked through, by real path, hashed with its argv and the cwd; for a shell
/// running a script, the script; nothing for a blocked wrapper, a package manager, a shell
/// with an inline command (its commands are covered one by one instead), an unresolvable
/// executable, or an interpreter outside strictInlineEval (`exec.md` §6.4).
fn command_patterns(argv: &[String], site: &Site<'_>, strict_inline_eval: bool, out: &mut Vec<(String, String)>) {
    let Some(first) = argv.first() else { return };
    if PACKAGE_MANAGERS.contains(&wrappers::normalize_executable_token(first).as_str()) {
        return;
    }
    let plan = wrappers::exec_wrapper_trust_plan(argv);
    if plan.policy_blocked || plan.argv.is_empty() {
        return;
    }
    let res = allowlist::resolve(&plan.argv, Some(Path::new(site.cwd)), site.path, site.home);
    let Some(candidate) = res.trust_path() else { return };
    let candidate = candidate.to_string_lossy().into_owned();
    if !inline_eval::allow_always_may_persist(&candidate, &res.effective_argv, strict_inline_eval) {
        return;
    }
    let mut push = |pattern: String, arg_pattern: String| {
        if !out.iter().any(|(p, a)| *p == pattern && *a == arg_pattern) {
            out.push((pattern, arg_pattern));
        }
    };
    if !wrappers::is_shell_wrapper_executable(&plan.argv[0]) {
        push(candidate, allowlist::cwd_bound_arg_pattern(site.cwd, &plan.argv));
        return;
    }
    if let Some((index, script)) = wrappers::shell_script_operand(&plan.argv, Path::new(site.cwd), site.home) {
        let trust = std::fs::canonicalize(&script).unwrap_or_else(|_| script.clone());
        let mut hashed = vec![script.to_string_lossy().into_owned()];
        hashed.extend(plan.argv[index + 1..].iter().cloned());
        push(trust.to_string_lossy().into_owned(), allowlist::cwd_bound_arg_pattern(site.cwd, &hashed));
    }
}

/// Coverage of a list of commands (`resolveAllowAlwaysPatternCoverage`): complete when every
/// command is represented; a shell wrapper's patterns count, but never represent it.
fn coverage_of(commands: &[Vec<String>], site: &Site<'_>, strict_inline_eval: bool) -> Coverage {
    let mut patterns: Vec<(String, String)> = Vec::new();
    let mut represented = 0;
    for argv in commands {
        let mut own = Vec::new();
        command_patterns(argv, site, strict_inline_eval, &mut own);
        if !wrappers::is_shell_wrapper_invocation(argv) && !own.is_empty() {
            represented += 1;
        }
        for p in own {
            if !patterns.contains(&p) {
                patterns.push(p);
            }
        }
    }
    Coverage { complete: !commands.is_empty() && represented == commands.len(), patterns }
}

/// A payload command allow-always may remember (its trust mode is "executable"): not
/// prompt-only, not prefixed with assignments, not a shell with a bindable inline command
/// (that one is remembered as exact text only), not a shell inside a pipeline, no inline eval,
/// not behind a blocked wrapper.
fn reusable(seg: &shell::Segment, in_pipeline: bool) -> bool {
    let argv = &seg.argv;
    let Some(first) = argv.first() else { return false };
    // Wrappers are looked through first: `exec ls` is remembered as `ls` (the allowlist is
    // stricter and treats the carrier as prompt-only; the command marker then re-allows it).
    let plan = wrappers::exec_wrapper_trust_plan(argv);
    let unreusable = plan.policy_blocked
        || seg.has_assignments
        || shell::prompt_only_argv(&plan.argv)
        || wrappers::extract_shell_wrapper_command(argv, None).command.is_some()
        || (in_pipeline && wrappers::is_shell_wrapper_executable(first));
    !unreusable && inline_eval::detect(argv).is_none()
}

/// `allowAlwaysCoverage` of `system.run.prepare` (`buildSystemRunAllowAlwaysCoverage`): a shell
/// wrapper is covered by the reusable commands of its payload (complete only when all are
/// reusable and represented); any other argv by itself.
pub fn prepare_coverage(
    argv: &[String],
    raw_command: Option<&str>,
    site: &Site<'_>,
    strict_inline_eval: bool,
) -> Coverage {
    let shell = wrappers::extract_shell_wrapper_command(argv, raw_command);
    if !shell.is_wrapper {
        return coverage_of(&[argv.to_vec()], site, strict_inline_eval);
    }
    let Some(payload) = shell.command else { return Coverage::default() };
    let Some((payload, segments)) = payload_candidates(payload, MAX_NESTED_PAYLOAD_DEPTH) else {
        return Coverage::default();
    };
    let in_pipeline = payload_has_pipeline(&payload, segments.len());
    let commands: Vec<Vec<String>> =
        segments.iter().filter(|s| reusable(s, in_pipeline)).map(|s| s.argv.clone()).collect();
    let coverage = coverage_of(&commands, site, strict_inline_eval);
    Coverage { complete: coverage.complete && commands.len() == segments.len(), ..coverage }
}

/// How many shells deep a payload of a payload is followed.
const MAX_NESTED_PAYLOAD_DEPTH: usize = 2;

/// The commands a payload is authorized by (`shouldUseWrapperPayload`): the payload's own, or,
/// when it is a single plain shell running an inline command (`sh -c '…'` by bare name, no
/// assignments, not a login or interactive shell) whose commands are all run by bare name,
/// that inner payload's, up to `max_depth` shells deep. The allowlist looks one shell deep
/// (upstream's plan), allow-always two (its patterns recurse into the inner shell), so
/// `zsh -c "sh -c 'echo x'"` is remembered as `echo`. `None` when the analysis does not
/// understand the payload.
///
/// A bare assignment (`FOO=1` on its own line) is no command: there is nothing to remember for
/// it and nothing it leaves uncovered (upstream's plan has no step for it).
fn payload_candidates(payload: String, max_depth: usize) -> Option<(String, Vec<shell::Segment>)> {
    let shell::Analysis::Segments(mut segments) = shell::analyze(&payload) else { return None };
    segments.retain(|s| !(s.argv.is_empty() && s.has_assignments));
    Some(nested_candidates(payload, segments, max_depth))
}

/// [`payload_candidates`] for a payload already analysed into `segments`.
pub(crate) fn nested_candidates(
    payload: String,
    mut segments: Vec<shell::Segment>,
    max_depth: usize,
) -> (String, Vec<shell::Segment>) {
    let mut current = payload;
    for _ in 0..max_depth {
        let [only] = segments.as_slice() else { break };
        let Some(first) = only.argv.first() else { break };
        let plain_shell = !first.contains(['/', '\\'])
            && !only.has_assignments
            && shell::PARSEABLE_SHELLS.contains(&wrappers::normalize_executable_token(first).as_str());
        let Some(inner) =
            plain_shell.then(|| wrappers::extract_shell_wrapper_command(&only.argv, None).command).flatten()
        else {
            break;
        };
        let shell::Analysis::Segments(inner_segments) = shell::analyze(&inner) else { break };
        let usable = !inner_segments.is_empty()
            && inner_segments.iter().all(|s| {
                s.argv.first().is_some_and(|a| {
                    !a.trim().is_empty()
                        && !a.contains(['/', '\\'])
                        && !wrappers::normalize_executable_token(a).ends_with("-wrapper")
                })
            });
        if !usable {
            break;
        }
        current = inner;
        segments = inner_segments;
    }
    (current, segments)
}

/// Whether a payload's commands form a pipeline (a `|` the analysis accepted).
fn payload_has_pipeline(payload: &str, segments: usize) -> bool {
    segments > 1 && payload.contains('|') && !payload.contains("||")
}

/// Whether a shell payload is evaluated at run time in ways a pattern cannot pin
/// (`hasRuntimeShellPayload`): parameter expansion, command substitution, backticks, or a
/// login or interactive shell that reads startup files first.
fn runtime_shell_payload(command: &CommandRequest) -> bool {
    let Some(payload) = &command.shell_payload else {
        return false;
    };
    static DYNAMIC: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"\$[A-Za-z0-9_@*?#$!-]|\$\{|`|\$\(").expect("valid pattern"));
    let login_or_interactive = command.argv.iter().take_while(|a| *a != payload).skip(1).any(|f| {
        f == "--login" || (f.starts_with('-') && !f.starts_with("--") && (f.contains('l') || f.contains('i')))
    });
    DYNAMIC.is_match(payload) || login_or_interactive
}

/// What an explicit allow-always of a run persists (`resolveAllowAlwaysPersistenceDecision`):
/// `None` (allow once, nothing written) for a runtime-evaluated payload, an inline-eval hit
/// under strictInlineEval, a payload with a command that cannot be remembered, or when no
/// pattern results; else the patterns, with the command text marker when they are complete.
pub fn persistence(
    command: &CommandRequest,
    site: &Site<'_>,
    strict_inline_eval: bool,
    inline_eval_hit: bool,
) -> Option<Coverage> {
    if inline_eval_hit || runtime_shell_payload(command) {
        return None;
    }
    let commands: Vec<Vec<String>> = match &command.shell_payload {
        Some(payload) => {
            let (payload, segments) = payload_candidates(payload.clone(), MAX_NESTED_PAYLOAD_DEPTH)?;
            let in_pipeline = payload_has_pipeline(&payload, segments.len());
            if segments.iter().any(|s| !reusable(s, in_pipeline)) {
                return None;
            }
            segments.into_iter().map(|s| s.argv).collect()
        }
        None => vec![command.argv.iter().filter(|a| !a.is_empty()).cloned().collect()],
    };
    let coverage = coverage_of(&commands, site, strict_inline_eval);
    (!coverage.patterns.is_empty()).then_some(coverage)
}

/// The allow-always entries a decision asks to persist, for one agent.
#[derive(Debug, Clone, PartialEq)]
pub struct AllowAlways {
    /// The agent whose allowlist receives them (`*` when the request named none).
    pub agent: String,
    /// `(pattern, argPattern)` per executable.
    pub entries: Vec<(String, String)>,
    /// The command text, for the `=node-command:` marker: only when the entries cover the
    /// whole command.
    pub command_text: Option<String>,
}

/// Adds allow-always entries and the command's `=node-command:` marker to `doc`; whether
/// anything changed.
pub fn apply_allow_always(doc: &mut Value, persist: &AllowAlways, now: i64) -> bool {
    let mut changed = false;
    for (pattern, arg_pattern) in &persist.entries {
        changed |= approvals::add_allow_always(doc, &persist.agent, pattern, arg_pattern, now);
    }
    if let Some(text) = persist.command_text.as_deref().filter(|t| !t.trim().is_empty()) {
        let marker = allowlist::node_command_marker(text);
        changed |= approvals::add_allow_always_marker(doc, &persist.agent, &marker, now);
    }
    changed
}

/// Stamps `lastUsedAt`, `lastUsedCommand` and `lastResolvedPath` on the allowlist entries a run
/// matched, as upstream's node does (`applyRecordedAllowlistMetadata`): every entry of `*` and of
/// `agent` whose pattern and argPattern equal a matched one; a generated hashed argPattern gets
/// no command text (it would reveal what the hash hides), and a missing path clears the old
/// one. Entries without an id get one. Whether anything changed.
pub fn stamp_rule_use(doc: &mut Value, agent: &str, used: &RuleUse, command_text: &str, now: i64) -> bool {
    if used.keys.is_empty() {
        return false;
    }
    let mut changed = false;
    let Some(agents) = doc.get_mut("agents").and_then(Value::as_object_mut) else { return false };
    let targets: &[&str] = if agent == "*" { &["*"] } else { &["*", agent] };
    for target in targets {
        let Some(list) = agents.get_mut(*target).and_then(|a| a.get_mut("allowlist")).and_then(Value::as_array_mut)
        else {
            continue;
        };
        for entry in list.iter_mut().filter(|e| e.is_object()) {
            let arg_pattern = entry.get("argPattern").and_then(Value::as_str);
            let key = RuleKey {
                pattern: entry.get("pattern").and_then(Value::as_str).unwrap_or_default().to_string(),
                arg_pattern: arg_pattern.map(String::from),
            };
            if !used.keys.contains(&key) {
                continue;
            }
            let hashed = arg_pattern.is_some_and(allowlist::is_generated_hashed_arg_pattern);
            let Some(fields) = entry.as_object_mut() else { continue };
            fields.entry("id").or_insert_with(|| json!(uuid::Uuid::new_v4().to_string()));
            fields.insert("lastUsedAt".into(), json!(now));
            match hashed {
                true => fields.remove("lastUsedCommand"),
                false => fields.insert("lastUsedCommand".into(), json!(command_text)),
            };
            match &used.resolved_path {
                Some(p) => fields.insert("lastResolvedPath".into(), json!(p)),
                None => fields.remove("lastResolvedPath"),
            };
            changed = true;
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::resolve_command;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    fn site() -> Site<'static> {
        Site { cwd: "/tmp", path: "/usr/bin:/bin", home: None }
    }

    fn real(name: &str) -> String {
        std::fs::canonicalize(format!("/usr/bin/{name}")).unwrap().to_string_lossy().into_owned()
    }

    /// Rule (issue 11, fail closed): allow-always never offers a policy-blocked wrapper as the
    /// executable (`/usr/bin/env PATH=… cmd` would otherwise allow any command behind env).
    #[test]
    fn allow_always_never_offers_a_blocked_wrapper() {
        let cover = |argv: &[&str]| prepare_coverage(&v(argv), None, &site(), false);
        assert_eq!(cover(&["/usr/bin/env", "PATH=/usr/bin", "wc", "-l"]), Coverage::default());
        assert_eq!(cover(&["/usr/bin/sudo", "ls"]), Coverage::default());
        assert_eq!(cover(&["taskset", "-c", "0", "ls"]), Coverage::default());
        assert!(cover(&["/usr/bin/id", "-u"]).complete);
    }

    /// Rule (`collectAllowAlwaysPatterns`): transparent dispatch wrappers are looked through;
    /// the executable behind them is remembered with the argv it runs with.
    #[test]
    fn dispatch_wrappers_are_looked_through() {
        let c = prepare_coverage(&v(&["env", "head", "-n", "1"]), None, &site(), false);
        assert!(c.complete);
        assert_eq!(
            c.patterns,
            vec![(real("head"), allowlist::cwd_bound_arg_pattern("/tmp", &v(&["head", "-n", "1"])))]
        );
    }

    /// Rule (`resolveExecutableTrustPath`): a command named by path is remembered by that
    /// path even when the file is not executable (`env ./lock …`, which is what a plan for
    /// `flock ./lock …` runs once its argv[0] is pinned).
    #[test]
    fn a_named_file_is_remembered_executable_or_not() {
        let dir = tempfile::tempdir().unwrap();
        let cwd = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::write(cwd.join("lock"), "").unwrap();
        let cwd_text = cwd.to_string_lossy();
        let site = Site { cwd: &cwd_text, path: "/usr/bin:/bin", home: None };
        let c = prepare_coverage(&v(&["/usr/bin/env", "./lock", "ls"]), None, &site, false);
        assert!(c.complete);
        let lock = cwd.join("lock").to_string_lossy().into_owned();
        assert_eq!(c.patterns, vec![(lock, allowlist::cwd_bound_arg_pattern(&cwd_text, &v(&["./lock", "ls"])))]);
        assert!(!prepare_coverage(&v(&["/usr/bin/env", "missing", "ls"]), None, &site, false).complete, "bare: PATH");
    }

    /// Rule (`exec.md` §6.4): an interpreter is remembered only under strictInlineEval, and
    /// never with an inline program; a script run by a shell is remembered by its path.
    #[test]
    fn interpreters_only_under_strict_inline_eval() {
        let dir = tempfile::tempdir().unwrap();
        let cwd = std::fs::canonicalize(dir.path()).unwrap();
        let cwd = cwd.to_string_lossy();
        std::fs::write(dir.path().join("tool.sh"), "echo hi\n").unwrap();
        let site = Site { cwd: &cwd, path: "/usr/bin:/bin", home: None };
        let python = v(&["/usr/bin/python3", "tool.py"]);
        assert!(prepare_coverage(&python, None, &site, false).patterns.is_empty());
        assert_eq!(prepare_coverage(&python, None, &site, true).patterns.len(), 1);
        assert!(prepare_coverage(&v(&["/usr/bin/python3", "-c", "1"]), None, &site, true).patterns.is_empty());
        let script = prepare_coverage(&v(&["/bin/sh", "tool.sh", "a"]), None, &site, false);
        let script_path = format!("{cwd}/tool.sh");
        assert_eq!(
            script.patterns,
            vec![(script_path.clone(), allowlist::cwd_bound_arg_pattern(&cwd, &v(&[&script_path, "a"])))]
        );
        assert!(!script.complete, "a shell is never what represents a command");
    }

    /// Rule (`buildSystemRunAllowAlwaysCoverage`): a shell payload is covered by its commands;
    /// complete only when each is reusable and represented.
    #[test]
    fn shell_payloads_are_covered_command_by_command() {
        let c = prepare_coverage(&v(&["/bin/sh", "-c", "head -n 1 && wc -l"]), None, &site(), false);
        assert!(c.complete);
        assert_eq!(c.patterns.len(), 2);
        let nested = prepare_coverage(&v(&["zsh", "-o", "pipefail", "-c", "sh -c 'head -n 1'"]), None, &site(), false);
        assert!(nested.complete && nested.patterns.len() == 1, "a single plain inner shell is looked into: {nested:?}");
        let c = prepare_coverage(&v(&["/bin/sh", "-c", "head -n 1 && eval x"]), None, &site(), false);
        assert!(!c.complete && c.patterns.len() == 1, "eval is prompt-only: {c:?}");
        assert_eq!(prepare_coverage(&v(&["/bin/sh", "-lc", "head"]), None, &site(), false), Coverage::default());
    }

    /// Rule (`planFromExplanation`: a bare assignment is no step): `FOO=1` on its own leaves
    /// nothing uncovered; a shell running a script in a payload is remembered as the script (a
    /// shell is not prompt-only); a relative script is named by its clean path.
    #[test]
    fn bare_assignments_are_no_command_and_exec_shells_name_their_script() {
        let c = prepare_coverage(&v(&["bash", "-o", "pipefail", "-c", "FOO=1\nbuiltin true"]), None, &site(), false);
        assert!(c.complete && c.patterns.len() == 1, "{c:?}");
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("script.sh");
        std::fs::write(&script, "true\n").unwrap();
        let cwd = dir.path().to_str().unwrap();
        let site = Site { cwd, path: "/usr/bin:/bin", home: None };
        let real = std::fs::canonicalize(&script).unwrap().to_string_lossy().into_owned();
        // (`resolveAllowAlwaysPatternCoverage`: a shell invocation's patterns count but never
        // represent it; behind `exec` it is no shell invocation by that test.)
        for (payload, complete) in
            [(format!("sh {}", script.display()), false), (format!("exec sh {}", script.display()), true)]
        {
            let c = prepare_coverage(&v(&["sh", "-c", &payload]), None, &site, false);
            assert!(c.complete == complete && c.patterns.iter().map(|p| &p.0).eq([&real]), "{payload}: {c:?}");
        }
        let missing = prepare_coverage(&v(&["builtin", "./gone.sh"]), None, &site, false);
        assert_eq!(missing.patterns[0].0, format!("{cwd}/gone.sh"));
    }

    /// Rule (issue 11, `collectAllowAlwaysPatterns`): allow-always is offered through a
    /// transparent wrapper (`nice`), and for a login shell whose rawCommand names its payload
    /// (coverage by the payload's commands).
    #[test]
    fn allow_always_is_offered_through_nice_and_a_named_login_payload() {
        let nice = prepare_coverage(&v(&["nice", "-n", "5", "head", "-n", "1"]), None, &site(), false);
        assert!(nice.complete && nice.patterns.len() == 1 && nice.patterns[0].0.ends_with("/head"), "{nice:?}");
        let login = prepare_coverage(&v(&["sh", "-lc", "head -n 1"]), Some("head -n 1"), &site(), false);
        assert!(login.complete && login.patterns.len() == 1, "{login:?}");
    }

    /// Rule (`resolveAllowAlwaysPersistenceDecision`): a runtime-evaluated payload, a prompt-only
    /// command or an inline-eval hit is allowed once; otherwise the patterns are persisted.
    #[test]
    fn persistence_is_one_shot_for_runtime_payloads() {
        let run = |argv: &[&str], hit: bool| {
            let req = resolve_command(v(argv), None).expect("command");
            persistence(&req, &site(), false, hit)
        };
        assert_eq!(run(&["/bin/sh", "-c", "head $X"], false), None);
        assert_eq!(run(&["/bin/sh", "-c", "head; eval x"], false), None);
        assert_eq!(run(&["/usr/bin/head", "-n", "1"], true), None);
        assert!(run(&["/bin/sh", "-c", "head -n 1"], false).is_some_and(|c| c.complete));
    }

    /// Rule (`applyRecordedAllowlistMetadata`): usage stamps go to every entry of `*` and of the
    /// run's agent with a matched pattern and argPattern, duplicates included, never to another
    /// agent's; a hashed argPattern gets no command text; the path is the run's, or cleared.
    #[test]
    fn usage_stamps_follow_the_match_key() {
        let mut doc = json!({"version": 1, "agents": {
            "*": {"allowlist": [{"pattern": "/usr/**"}, {"pattern": "/usr/**"}, {"pattern": "/usr/**", "argPattern": "^x$"}]},
            "main": {"allowlist": [{"pattern": "/usr/**", "lastResolvedPath": "/old"},
                                   {"pattern": "/usr/bin/echo", "argPattern": "sha256:cwd-argv:v1:ab", "lastUsedCommand": "old"}]},
            "ops": {"allowlist": [{"pattern": "/usr/**"}]}}});
        let key = |p: &str, ap: Option<&str>| RuleKey { pattern: p.into(), arg_pattern: ap.map(String::from) };
        let used = RuleUse {
            keys: vec![key("/usr/**", None), key("/usr/bin/echo", Some("sha256:cwd-argv:v1:ab"))],
            resolved_path: Some("/usr/bin/echo".into()),
        };
        assert!(stamp_rule_use(&mut doc, "main", &used, "echo hi", 7));
        let star = &doc["agents"]["*"]["allowlist"];
        for i in 0..2 {
            assert_eq!(star[i]["lastUsedCommand"], "echo hi");
            assert_eq!(star[i]["lastResolvedPath"], "/usr/bin/echo");
            assert!(star[i]["id"].is_string());
        }
        assert!(star[2].get("lastUsedAt").is_none(), "another argPattern is another entry");
        let main = &doc["agents"]["main"]["allowlist"];
        assert_eq!(main[0]["lastResolvedPath"], "/usr/bin/echo");
        assert_eq!(main[1]["lastUsedAt"], 7);
        assert!(main[1].get("lastUsedCommand").is_none(), "a hash hides its command");
        assert!(doc["agents"]["ops"]["allowlist"][0].get("lastUsedAt").is_none());
        let cleared = RuleUse { keys: vec![key("/usr/**", None)], resolved_path: None };
        assert!(stamp_rule_use(&mut doc, "*", &cleared, "cd /", 8));
        assert!(doc["agents"]["*"]["allowlist"][0].get("lastResolvedPath").is_none());
        assert_eq!(doc["agents"]["main"]["allowlist"][0]["lastUsedAt"], 7, "only `*` for no agent");
    }
}
