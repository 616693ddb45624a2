//! Whether the allowlist covers a request: allowlist rules, safe bins and the gateway's skill
//! bins (`autoAllowSkills`), segment by segment for shell payloads.
//!
//! Shell payloads are analysed with tree-sitter-bash (`crate::shell`); what the
//! analysis does not understand is an allowlist miss, never an allow. When the allowlist
//! is satisfied by safe or skill bins, the payload is rewritten so the shell runs the vetted
//! binaries by real path, not whatever PATH finds first.

use std::path::{Path, PathBuf};

use crate::allowlist::{self, command_marker};
use crate::approvals::AllowRule;
use crate::command::{self, is_shell_wrapper, CommandRequest};
use crate::safebins::SafeBins;
use crate::shell;

/// An allowlist entry that matched, for its usage metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleUse {
    /// The entry's `id`.
    pub id: String,
    /// Where its executable resolved (stamped as `lastResolvedPath`).
    pub resolved_path: Option<String>,
}

/// Allowlist evaluation of the request: whether the analysis understood it, whether the
/// allowlist (or safe bins) satisfy it, whether that rests on allow-always rules only, the argv
/// to run (paths pinned), and the entries that matched.
pub struct AllowlistEval {
    /// The analysis understood the command (no unsupported shell syntax).
    pub analysis_ok: bool,
    /// Every segment is covered by the allowlist, safe bins or skill bins.
    pub satisfied: bool,
    /// An allow-always decision covers it.
    pub durable: bool,
    /// The argv to run with vetted executables pinned to their real paths.
    pub planned: Option<Vec<String>>,
    /// The allowlist entries that matched.
    pub used: Vec<RuleUse>,
    /// Why the shell analysis gave up, when it hit one of its bounds (`too-large`,
    /// `too-complex`): the denial says so, since no allowlist entry can ever cover such a
    /// payload.
    pub bound_hit: Option<&'static str>,
}

fn rule_use(rule: &AllowRule, res: &allowlist::Resolution) -> Option<RuleUse> {
    Some(RuleUse {
        id: rule.id.clone()?,
        resolved_path: res.resolved_real_path.as_ref().map(|p| p.to_string_lossy().into_owned()),
    })
}

/// A skill binary the gateway vouches for (`autoAllowSkills`), resolved on this node.
#[derive(Debug, Clone, PartialEq)]
pub struct SkillTrust {
    /// Lower-cased bare name.
    name: String,
    /// Where that name resolves on the node's PATH.
    real_path: PathBuf,
}

/// Resolves the gateway's skill bin names through `path` (names that resolve nowhere are dropped).
pub fn skill_trust(names: &[String], path: &str) -> Vec<SkillTrust> {
    names
        .iter()
        .filter(|n| !n.contains('/'))
        .filter_map(|n| {
            let res = allowlist::resolve(std::slice::from_ref(n), None, path, None);
            Some(SkillTrust { name: n.clone(), real_path: res.resolved_real_path? })
        })
        .collect()
}

/// A segment invoked by bare name whose name and real path match a skill binary.
fn skill_allowed(argv0: &str, res: &allowlist::Resolution, skills: &[SkillTrust]) -> bool {
    !argv0.contains('/')
        && skills
            .iter()
            .any(|s| s.name == argv0.to_ascii_lowercase() && res.resolved_real_path.as_ref() == Some(&s.real_path))
}

/// Evaluates the request against the allowlist `rules`, then safe bins and skill bins. A shell
/// payload is split into segments, each of which must be covered; a shell run directly is not
/// covered by a path-only rule for the shell.
pub fn evaluate_allowlist(
    req: &CommandRequest,
    rules: &[AllowRule],
    safe_bins: &SafeBins,
    skills: &[SkillTrust],
    cwd: Option<&str>,
    path: &str,
) -> AllowlistEval {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let marker = command_marker(&req.command_text);
    let durable = rules.iter().any(|r| r.pattern == marker && r.source.as_deref() == Some("allow-always"));
    if let Some(payload) = &req.shell_payload {
        let segments = match shell::analyze(payload) {
            shell::Analysis::Segments(s) if !s.is_empty() => s,
            other => {
                let bound_hit = match other {
                    shell::Analysis::Unsupported(reason @ ("too-large" | "too-complex")) => Some(reason),
                    _ => None,
                };
                return AllowlistEval {
                    analysis_ok: false,
                    satisfied: false,
                    durable,
                    planned: None,
                    used: Vec::new(),
                    bound_hit,
                };
            }
        };
        let mut satisfied = true;
        let mut all_allow_always = true;
        let mut plannable = true;
        let mut replacements = Vec::new();
        let mut used = Vec::new();
        for seg in &segments {
            if seg.has_assignments || seg.prompt_only() || seg.argv.is_empty() {
                satisfied = false;
                continue;
            }
            if seg.safe_builtin() {
                continue;
            }
            let res = allowlist::resolve(&seg.argv, cwd.map(Path::new), path, home.as_deref());
            if let Some(rule) = allowlist::match_rule(rules, &res, cwd, home.as_deref()) {
                all_allow_always &= rule.source.as_deref() == Some("allow-always");
                used.extend(rule_use(rule, &res));
                continue;
            }
            all_allow_always = false;
            if safe_bins.allows(&res) || skill_allowed(&seg.argv[0], &res, skills) {
                // The shell must run the binary that was vetted, not whatever PATH finds first.
                match (&seg.name_range, &res.resolved_real_path) {
                    (Some(range), Some(real)) if res.wrapper_chain.is_empty() => {
                        replacements.push((range.clone(), shell::shell_word(&real.to_string_lossy())))
                    }
                    _ => plannable = false,
                }
                continue;
            }
            satisfied = false;
        }
        let shell_name =
            req.argv.iter().map(|a| a.rsplit('/').next().unwrap_or(a)).find(|a| command::POSIX_SHELLS.contains(a));
        let opaque = !shell_name.is_some_and(|s| shell::PARSEABLE_SHELLS.contains(&s));
        let planned = (satisfied && plannable && !opaque).then(|| {
            let mut argv = req.argv.clone();
            if let Some(slot) = argv.iter_mut().rev().find(|a| *a == payload) {
                *slot = shell::rewrite(payload, &replacements);
            }
            argv
        });
        return AllowlistEval {
            analysis_ok: true,
            satisfied,
            durable: durable || (satisfied && all_allow_always),
            planned,
            used: if satisfied { used } else { Vec::new() },
            bound_hit: None,
        };
    }
    let res = allowlist::resolve(&req.argv, cwd.map(Path::new), path, home.as_deref());
    let mut hit = allowlist::match_rule(rules, &res, cwd, home.as_deref());
    // A shell run directly (`bash script.sh`) is not allowed by a path-only rule for the shell.
    if is_shell_wrapper(&req.argv) && hit.is_some_and(|r| r.arg_pattern.is_none() && r.pattern != "*") {
        hit = None;
    }
    let durable = durable || hit.is_some_and(|r| r.source.as_deref() == Some("allow-always"));
    // Then safe bins (stream filters from trusted dirs with harmless arguments) and skill bins.
    let satisfied = hit.is_some() || safe_bins.allows(&res) || skill_allowed(&req.argv[0], &res, skills);
    let planned = match &res.resolved_real_path {
        Some(real) if satisfied => {
            let mut argv = res.effective_argv.clone();
            argv[0] = real.to_string_lossy().into_owned();
            Some(argv)
        }
        _ => None,
    };
    let used = hit.and_then(|r| rule_use(r, &res)).into_iter().collect();
    AllowlistEval { analysis_ok: true, satisfied, durable, planned, used, bound_hit: None }
}

/// The denial text with the analysis bound that was hit, e.g. `SYSTEM_RUN_DENIED: allowlist
/// miss (shell payload too large to analyse: over 128 KiB)`.
pub fn explain_bound(message: &str, bound_hit: Option<&'static str>) -> String {
    match bound_hit {
        Some("too-large") => {
            format!("{message} (shell payload too large to analyse: over {} KiB)", shell::MAX_PAYLOAD_BYTES / 1024)
        }
        Some("too-complex") => format!(
            "{message} (shell payload too complex to analyse: parsing exceeded {} s)",
            shell::MAX_PARSE_TIME.as_secs_f32()
        ),
        _ => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// autoAllowSkills: a skill bin runs by bare name when it resolves where the node expects,
    /// never by path, never as another binary of the same name.
    #[test]
    fn skill_bins_allow_bare_names_only() {
        let safe = SafeBins::from_config(&json!({}), None);
        let path = "/usr/bin:/bin";
        let skills = skill_trust(&["uname".into(), "no-such-skill-bin".into()], path);
        assert_eq!(skills.len(), 1, "{skills:?}");
        let eval = |argv: &[&str]| {
            let req = command::resolve_command(argv.iter().map(|a| a.to_string()).collect(), None).unwrap();
            evaluate_allowlist(&req, &[], &safe, &skills, Some("/tmp"), path)
        };
        assert!(eval(&["uname", "-a"]).satisfied);
        assert!(!eval(&["/usr/bin/uname", "-a"]).satisfied, "a path is not a skill invocation");
        assert!(!eval(&["id"]).satisfied);
        assert!(eval(&["/bin/sh", "-c", "uname -s"]).satisfied, "inside a shell payload too");
        assert!(
            !evaluate_allowlist(
                &command::resolve_command(vec!["uname".into()], None).unwrap(),
                &[],
                &safe,
                &[],
                Some("/tmp"),
                path
            )
            .satisfied
        );
    }

    /// Appendix B's shell rows with `/usr/bin/ls` (its real path) allowlisted.
    #[test]
    fn shell_payload_satisfaction_vectors() {
        let ls = std::fs::canonicalize("/usr/bin/ls").or_else(|_| std::fs::canonicalize("/bin/ls")).unwrap();
        let rules =
            vec![AllowRule { id: None, pattern: ls.to_string_lossy().into_owned(), arg_pattern: None, source: None }];
        let safe = SafeBins::from_config(&json!({}), None);
        let eval = |payload: &str| {
            let req = command::resolve_command(vec!["/bin/sh".into(), "-c".into(), payload.into()], None).unwrap();
            evaluate_allowlist(&req, &rules, &safe, &[], Some("/tmp"), "/usr/bin:/bin")
        };
        let e = eval("ls | head -n 3");
        let (ok, satisfied, planned) = (e.analysis_ok, e.satisfied, e.planned);
        assert!(ok && satisfied, "[allowlist, safeBins]");
        let head = std::fs::canonicalize("/usr/bin/head").unwrap();
        assert_eq!(planned.unwrap()[2], format!("ls | {} -n 3", head.display()), "the safe bin is pinned");
        let e = eval("cd /tmp && ls");
        let (ok, satisfied, planned) = (e.analysis_ok, e.satisfied, e.planned);
        assert!(ok && satisfied, "[safeBuiltins, allowlist]");
        assert_eq!(planned.unwrap()[2], "cd /tmp && ls", "nothing to pin");
        assert!(!eval("ls > /tmp/x").analysis_ok, "redirect: analysis fails");
        assert!(!eval("ls; rm -rf /").satisfied, "ok but not satisfied");
        assert!(!eval("FOO=1 ls").satisfied);
        assert!(!eval("cat /etc/passwd | head").satisfied);
        assert!(!eval("head /etc/passwd").satisfied, "a path operand is not a safe-bin use");
    }
}
