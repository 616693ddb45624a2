//! "Allow always": what an allow-always decision persists, and the usage stamps a run leaves
//! on the allowlist entries it matched.
//!
//! Each executable of the command is remembered by real path with a cwd-bound hash of its
//! arguments (plus a marker for the whole command text), so the same command runs again
//! without asking. What cannot be bound that way (inline eval, login shells, payloads the
//! analysis does not understand) is allowed once and nothing is written. The edits here are
//! pure functions of the document: the node host applies them through its compare-and-swap
//! write, so a concurrent edit is never lost.

use std::path::{Path, PathBuf};

use crate::allowlist;
use crate::approvals;
use crate::command::{is_shell_wrapper, CommandRequest};
use crate::inline_eval;
use crate::shell;
use serde_json::{json, Value};

use crate::evaluate::RuleUse;

/// The `(pattern, argPattern)` entries an allow-always decision persists: the real path of every
/// executable with a cwd-bound hash of its arguments. `None` (allow once only) when any part
/// cannot be bound: inline eval, a login or interactive shell, a payload the analysis does not
/// understand, a prompt-only segment, or an executable that does not resolve to a real path.
pub fn allow_always_entries(
    req: &CommandRequest,
    argv: &[String],
    cwd: &str,
    path: &str,
) -> Option<Vec<(String, String)>> {
    if inline_eval::detect(&req.argv).is_some() {
        return None;
    }
    let Some(payload) = &req.shell_payload else {
        // A wrapper that cannot be looked through (`env X=…`, `sudo`, …) is never remembered
        // as the executable itself: that would allow whatever it carries.
        if is_shell_wrapper(argv)
            || !Path::new(&argv[0]).is_absolute()
            || crate::wrappers::exec_wrapper_trust_plan(argv).policy_blocked
        {
            return None;
        }
        return Some(vec![(argv[0].clone(), allowlist::cwd_bound_arg_pattern(cwd, argv))]);
    };
    // Wrapper flags before the payload: -l/--login/-i make the shell read profiles first.
    let flags = argv.iter().skip(1).take_while(|a| *a != payload);
    if flags
        .into_iter()
        .any(|f| f == "--login" || (f.starts_with('-') && !f.starts_with("--") && (f.contains('l') || f.contains('i'))))
    {
        return None;
    }
    let shell::Analysis::Segments(segments) = shell::analyze(payload) else { return None };
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let mut entries = Vec::new();
    for seg in &segments {
        if seg.has_assignments || seg.prompt_only() || seg.argv.is_empty() || inline_eval::detect(&seg.argv).is_some() {
            return None;
        }
        if seg.safe_builtin() {
            continue;
        }
        let res = allowlist::resolve(&seg.argv, Some(Path::new(cwd)), path, home.as_deref());
        let real = res.resolved_real_path?.to_string_lossy().into_owned();
        entries.push((real, allowlist::cwd_bound_arg_pattern(cwd, &res.effective_argv)));
    }
    (!entries.is_empty()).then_some(entries)
}

/// The allow-always entries a decision asks to persist, for one agent.
#[derive(Debug, Clone, PartialEq)]
pub struct AllowAlways {
    /// The agent whose allowlist receives them (`*` when the request named none).
    pub agent: String,
    /// `(pattern, argPattern)` per executable.
    pub entries: Vec<(String, String)>,
    /// The command text, for the `=node-command:` marker.
    pub command_text: String,
}

/// Adds allow-always entries and the command's `=node-command:` marker to `doc`; whether
/// anything changed.
pub fn apply_allow_always(doc: &mut Value, persist: &AllowAlways, now: i64) -> bool {
    let marker = allowlist::node_command_marker(&persist.command_text);
    let mut changed = false;
    for (pattern, arg_pattern) in &persist.entries {
        changed |= approvals::add_allow_always(doc, &persist.agent, pattern, arg_pattern, now);
    }
    if !persist.command_text.trim().is_empty() {
        changed |= approvals::add_allow_always_marker(doc, &persist.agent, &marker, now);
    }
    changed
}

/// Stamps `lastUsedAt`, `lastUsedCommand` and `lastResolvedPath` on the allowlist entries a run
/// matched, as upstream's node does; whether anything changed.
pub fn stamp_rule_use(doc: &mut Value, used: &[RuleUse], command_text: &str, now: i64) -> bool {
    let mut changed = false;
    let agents = doc.get_mut("agents").and_then(Value::as_object_mut);
    for agent in agents.into_iter().flat_map(|a| a.values_mut()) {
        let Some(list) = agent.get_mut("allowlist").and_then(Value::as_array_mut) else { continue };
        for entry in list.iter_mut() {
            let id = entry.get("id").and_then(Value::as_str).map(String::from);
            let Some(u) = id.and_then(|id| used.iter().find(|u| u.id == id)) else { continue };
            entry["lastUsedAt"] = json!(now);
            entry["lastUsedCommand"] = json!(command_text);
            if let Some(p) = &u.resolved_path {
                entry["lastResolvedPath"] = json!(p);
            }
            changed = true;
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::resolve_command;

    /// Rule (issue 11, fail closed): allow-always never offers a policy-blocked wrapper as the
    /// executable (`/usr/bin/env PATH=… cmd` would otherwise allow any command behind env).
    #[test]
    fn allow_always_never_offers_a_blocked_wrapper() {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let entries = |argv: &[&str]| {
            let req = resolve_command(v(argv), None).expect("command");
            allow_always_entries(&req, &v(argv), "/tmp", "/usr/bin:/bin")
        };
        assert_eq!(entries(&["/usr/bin/env", "PATH=/usr/bin", "wc", "-l"]), None);
        assert_eq!(entries(&["/usr/bin/sudo", "ls"]), None);
        assert!(entries(&["/usr/bin/id", "-u"]).is_some());
    }
}
