//! Whether the allowlist covers a request: allowlist rules, safe bins and the gateway's skill
//! bins (`autoAllowSkills`), segment by segment for shell payloads.
//!
//! Shell payloads are analysed with tree-sitter-bash (`crate::shell`); what the
//! analysis does not understand is an allowlist miss, never an allow. When the allowlist
//! is satisfied by safe or skill bins, the payload is rewritten so the shell runs the vetted
//! binaries by real path, not whatever PATH finds first.

use std::path::{Path, PathBuf};

use crate::allow_always::nested_candidates;
use crate::allowlist::{self, command_marker};
use crate::approvals::AllowRule;
use crate::command::{self, CommandRequest};
use crate::safebins::SafeBins;
use crate::shell;
use crate::wrappers;

/// What identifies an allowlist entry for its usage stamps (`buildAllowlistEntryMatchKey`):
/// every entry with the same pattern and argPattern is stamped, duplicates included, since
/// nothing tells them apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleKey {
    /// The entry's executable pattern.
    pub pattern: String,
    /// Its argPattern, if any.
    pub arg_pattern: Option<String>,
}

/// The allowlist entries a run matched, for their usage metadata.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleUse {
    /// The keys of the entries that matched, one per covered command.
    pub keys: Vec<RuleKey>,
    /// The first command's executable (its trust path), stamped as `lastResolvedPath` on every
    /// entry alike, as upstream's audit path; `None` (no executable, e.g. `cd`) clears it.
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
    /// The allowlist entries that matched (empty unless satisfied).
    pub used: RuleUse,
    /// Why the shell analysis gave up, when it hit one of its bounds (`too-large`,
    /// `too-complex`): the denial says so, since no allowlist entry can ever cover such a
    /// payload.
    pub bound_hit: Option<&'static str>,
}

/// A rule that covers a command.
struct RuleHit<'r> {
    rule: &'r AllowRule,
}

impl RuleHit<'_> {
    fn key(&self) -> RuleKey {
        RuleKey { pattern: self.rule.pattern.clone(), arg_pattern: self.rule.arg_pattern.clone() }
    }

    fn allow_always(&self) -> bool {
        self.rule.source.as_deref() == Some("allow-always")
    }
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

/// A command whose executable, wrappers looked through (`timeout 5 printf` runs `printf`), is
/// invoked by bare name and is a skill binary by name and real path
/// (`isSkillAutoAllowedSegment`: the executable's file name, not the word typed).
fn skill_allowed(res: &allowlist::Resolution, skills: &[SkillTrust]) -> bool {
    let Some(raw) = res.effective_argv.first().map(|a| a.trim()) else { return false };
    let (Some(found), Some(real)) = (&res.resolved_path, &res.resolved_real_path) else { return false };
    let name = found.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
    !raw.is_empty() && !raw.contains(['/', '\\']) && skills.iter().any(|s| s.name == name && s.real_path == *real)
}

/// The executable of one command and the rule covering it (`resolveSegmentAllowlistMatch`):
/// - its executable, wrappers looked through; a shell given arguments (an inline command or
///   a script) is covered that way only by a rule with an argPattern or by a bare `*`, since
///   a path-only rule for `bash` says nothing about what bash will run;
/// - else, for a shell running a script directly (`bash tool.sh`), the script: a rule whose
///   pattern matches the script's path (real path when it exists), with the script's own
///   arguments as the argv an argPattern sees. Bare-name rules never match a script.
fn command_rule<'r>(
    argv: &[String],
    rules: &'r [AllowRule],
    cwd: Option<&str>,
    path: &str,
    home: Option<&Path>,
) -> (allowlist::Resolution, Option<RuleHit<'r>>) {
    let res = allowlist::resolve(argv, cwd.map(Path::new), path, home);
    if res.policy_blocked || res.effective_argv.is_empty() {
        return (res, None);
    }
    let shell = res.effective_argv.first().is_some_and(|a| wrappers::is_shell_wrapper_executable(a));
    let hit = allowlist::match_rule(rules, &res, cwd, home)
        .filter(|r| !shell || res.effective_argv.len() == 1 || r.arg_pattern.is_some() || r.pattern == "*");
    if let Some(rule) = hit {
        return (res, Some(RuleHit { rule }));
    }
    if !shell {
        return (res, None);
    }
    let base = cwd.map(PathBuf::from).or_else(|| std::env::current_dir().ok()).unwrap_or_default();
    let Some((index, script)) = wrappers::shell_script_operand(&res.effective_argv, &base, home) else {
        return (res, None);
    };
    let mut script_argv = vec![script.to_string_lossy().into_owned()];
    script_argv.extend(res.effective_argv[index + 1..].iter().cloned());
    let script_res = allowlist::Resolution {
        effective_argv: script_argv,
        wrapper_chain: Vec::new(),
        wrapper_invocations: Vec::new(),
        policy_blocked: false,
        bare_name: false,
        resolved_real_path: std::fs::canonicalize(&script).ok(),
        named_path: Some(script.clone()),
        resolved_path: Some(script),
    };
    let hit = allowlist::match_rule(rules, &script_res, cwd, home).map(|rule| RuleHit { rule });
    (res, hit)
}

/// Evaluates the request against the allowlist `rules`, then safe bins and skill bins. A shell
/// payload is split into commands (those of its one inner shell, when it is only that:
/// [`nested_candidates`]), each of which must be covered.
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
        let (authorized_payload, segments) = match shell::analyze(payload) {
            shell::Analysis::Segments(s) if !s.is_empty() => nested_candidates(payload.clone(), s, 1),
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
                    used: RuleUse::default(),
                    bound_hit,
                };
            }
        };
        let mut satisfied = true;
        let mut all_allow_always = true;
        let mut plannable = true;
        let mut replacements = Vec::new();
        let mut keys = Vec::new();
        for seg in &segments {
            // Judged on the command its wrappers (`exec`, `command`, `nice`, …) run, as
            // upstream's segment resolution does; a shell is then matched as any command
            // (see `command_rule`), not refused outright.
            let unwrapped = wrappers::exec_wrapper_trust_plan(&seg.argv).argv;
            let prompt_only = !unwrapped.is_empty() && shell::prompt_only_argv(&unwrapped);
            if seg.has_assignments || prompt_only || seg.argv.is_empty() {
                satisfied = false;
                continue;
            }
            let (res, hit) = command_rule(&seg.argv, rules, cwd, path, home.as_deref());
            if let Some(hit) = hit {
                // A rule is tried first for every command, a safe builtin too (`*` covers
                // `cd`, and is stamped for it).
                all_allow_always &= hit.allow_always();
                keys.push(hit.key());
                continue;
            }
            if seg.safe_builtin() {
                continue;
            }
            all_allow_always = false;
            if safe_bins.allows(&res) || skill_allowed(&res, skills) {
                // The shell must run the binary that was vetted, not whatever PATH finds first;
                // behind dispatch wrappers, the whole command becomes the one they run
                // (`flock f tr a-z A-Z` → `/usr/bin/tr a-z A-Z`, upstream's planned argv).
                let real = res.resolved_real_path.as_ref().map(|r| r.to_string_lossy().into_owned());
                match (&seg.name_range, &seg.range, real) {
                    (Some(name), _, Some(real)) if res.wrapper_chain.is_empty() => {
                        replacements.push((name.clone(), shell::shell_word(&real)))
                    }
                    (_, Some(whole), Some(real)) if !res.policy_blocked => {
                        let words =
                            std::iter::once(real.as_str()).chain(res.effective_argv[1..].iter().map(String::as_str));
                        replacements.push((whole.clone(), words.map(shell::shell_word).collect::<Vec<_>>().join(" ")))
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
        let planned = (satisfied && plannable && !opaque)
            .then(|| rewrite_payload(&req.argv, payload, &authorized_payload, &replacements))
            .flatten();
        return AllowlistEval {
            analysis_ok: true,
            satisfied,
            durable: durable || (satisfied && all_allow_always),
            planned,
            used: if satisfied {
                let first =
                    segments.first().map(|s| allowlist::resolve(&s.argv, cwd.map(Path::new), path, home.as_deref()));
                RuleUse { keys, resolved_path: first.as_ref().and_then(trust_path_text) }
            } else {
                RuleUse::default()
            },
            bound_hit: None,
        };
    }
    let (res, hit) = command_rule(&req.argv, rules, cwd, path, home.as_deref());
    let durable = durable || hit.as_ref().is_some_and(RuleHit::allow_always);
    // Then safe bins (stream filters from trusted dirs with harmless arguments) and skill bins.
    let satisfied = hit.is_some() || safe_bins.allows(&res) || skill_allowed(&res, skills);
    // What runs is the executable by real path (for a script match too: the shell).
    // (`resolvePlannedSegmentArgv`: a file that is not executable stays as named, and fails
    // to start.)
    let planned = satisfied.then(|| {
        let mut argv = res.effective_argv.clone();
        if let Some(real) = &res.resolved_real_path {
            argv[0] = real.to_string_lossy().into_owned();
        }
        argv
    });
    let used = match &hit {
        Some(hit) => RuleUse { keys: vec![hit.key()], resolved_path: trust_path_text(&res) },
        None => RuleUse::default(),
    };
    AllowlistEval { analysis_ok: true, satisfied, durable, planned, used, bound_hit: None }
}

/// A command's executable as usage stamps record it (`resolveApprovalAuditTrustPath`).
fn trust_path_text(res: &allowlist::Resolution) -> Option<String> {
    res.trust_path().map(|p| p.to_string_lossy().into_owned())
}

/// The argv with the payload's vetted safe and skill bins pinned by real path. When the
/// payload was authorized by the commands of its one inner shell, the inner payload is
/// rewritten and the outer one rebuilt around it, word by word. `None` when the payload
/// cannot be found again in the argv.
fn rewrite_payload(
    argv: &[String],
    payload: &str,
    authorized_payload: &str,
    replacements: &[(std::ops::Range<usize>, String)],
) -> Option<Vec<String>> {
    let rewritten = if replacements.is_empty() {
        payload.to_string()
    } else if authorized_payload == payload {
        shell::rewrite(payload, replacements)
    } else {
        let inner = shell::rewrite(authorized_payload, replacements);
        let shell::Analysis::Segments(outer) = shell::analyze(payload) else { return None };
        let [outer] = outer.as_slice() else { return None };
        let words: Vec<String> = outer
            .argv
            .iter()
            .map(|w| if w == authorized_payload { shell::shell_word(&inner) } else { shell::shell_word(w) })
            .collect();
        words.join(" ")
    };
    let mut argv = argv.to_vec();
    let slot = argv.iter_mut().rev().find(|a| *a == payload)?;
    *slot = rewritten;
    Some(argv)
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
        assert!(eval(&["timeout", "5", "uname"]).satisfied, "behind a dispatch wrapper (the executable counts)");
        assert!(eval(&["env", "--", "uname"]).satisfied);
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
        let rules = vec![AllowRule { pattern: ls.to_string_lossy().into_owned(), arg_pattern: None, source: None }];
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

    fn rules(patterns: &[&str]) -> Vec<AllowRule> {
        patterns.iter().map(|p| AllowRule { pattern: p.to_string(), arg_pattern: None, source: None }).collect()
    }

    fn eval_in(cwd: &Path, rules: &[AllowRule], argv: &[&str]) -> AllowlistEval {
        let safe = SafeBins::from_config(&json!({}), None);
        let req = command::resolve_command(argv.iter().map(|a| a.to_string()).collect(), None).unwrap();
        evaluate_allowlist(&req, rules, &safe, &[], cwd.to_str(), "/usr/bin:/bin")
    }

    /// Rule (`replacementForCandidate`): a safe bin behind a dispatch wrapper in a payload is
    /// run as the command the wrapper runs, by real path, the wrapper dropped; without a
    /// wrapper only the name is pinned.
    #[test]
    fn safe_bins_behind_wrappers_are_planned_as_their_command() {
        let dir = tempfile::tempdir().unwrap();
        let tr = std::fs::canonicalize("/usr/bin/tr").unwrap().to_string_lossy().into_owned();
        let eval = eval_in(dir.path(), &[], &["sh", "-c", "flock /tmp/lock tr a-z A-Z"]);
        assert!(eval.satisfied);
        assert_eq!(eval.planned, Some(vec!["sh".into(), "-c".into(), format!("{tr} a-z A-Z")]));
        let eval = eval_in(dir.path(), &[], &["sh", "-c", "tr a-z A-Z | nice -n 5 tr 'A B' x"]);
        assert_eq!(eval.planned, Some(vec!["sh".into(), "-c".into(), format!("{tr} a-z A-Z | {tr} 'A B' x")]));
    }

    /// Rule (`evaluateSegments`): an allowlist rule is tried before the safe builtins, so `*`
    /// covers `cd` and is reported for its usage stamp; the stamped path is the first command's.
    #[test]
    fn rules_are_tried_before_safe_builtins() {
        let dir = tempfile::tempdir().unwrap();
        let star = AllowRule { pattern: "*".into(), arg_pattern: None, source: None };
        let eval = eval_in(dir.path(), std::slice::from_ref(&star), &["dash", "-ec", "cd /tmp"]);
        assert!(eval.satisfied);
        assert_eq!(eval.used.keys, vec![RuleKey { pattern: "*".into(), arg_pattern: None }]);
        assert_eq!(eval.used.resolved_path, None, "cd is no executable");
        let none = eval_in(dir.path(), &[], &["dash", "-ec", "cd /tmp"]);
        assert!(none.satisfied && none.used.keys.is_empty(), "a safe builtin needs no rule");
    }

    /// Rule (`resolveShellWrapperScriptCandidatePath`): a shell running a script is covered by
    /// a rule for the script's path, whether or not the script is executable; a path-only rule
    /// for the shell does not cover it, nor does a bare name; what runs is the shell by real
    /// path. Inside a payload too.
    #[test]
    fn a_shell_script_is_matched_by_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let cwd = dir.path().canonicalize().unwrap();
        std::fs::write(cwd.join("script.sh"), "echo hi\n").unwrap();
        let script = cwd.join("script.sh").to_string_lossy().into_owned();
        let by_path = rules(&[&script]);
        let e = eval_in(&cwd, &by_path, &["bash", "script.sh", "arg"]);
        assert!(e.satisfied);
        let bash = std::fs::canonicalize("/usr/bin/bash").unwrap();
        assert_eq!(e.planned.unwrap(), [bash.to_string_lossy().as_ref(), "script.sh", "arg"]);
        assert!(eval_in(&cwd, &by_path, &["bash", "-e", "./sub/../script.sh"]).satisfied, "resolved lexically");
        assert!(!eval_in(&cwd, &by_path, &["bash", "-c", "script.sh"]).satisfied, "an inline command is no script");
        assert!(!eval_in(&cwd, &rules(&["script.sh"]), &["bash", "script.sh"]).satisfied, "no bare names");
        let shell_only = rules(&[&bash.to_string_lossy()]);
        assert!(!eval_in(&cwd, &shell_only, &["bash", "script.sh"]).satisfied, "a path-only shell rule");
        assert!(eval_in(&cwd, &shell_only, &["bash"]).satisfied, "the shell alone is just a command");
        assert!(eval_in(&cwd, &rules(&["*"]), &["bash", "script.sh"]).satisfied, "a bare * covers any command");
        let payload = rules(&[&script, "echo"]);
        assert!(eval_in(&cwd, &payload, &["sh", "-c", "echo a; bash script.sh"]).satisfied, "in a payload");
    }

    /// Rule (`wrapperPayloadPlan`): a payload that is one plain shell running an inline command
    /// is authorized by that inner payload's commands (one shell deep); a shell among other
    /// commands is covered only by a bare `*` or a rule with an argPattern.
    #[test]
    fn one_inner_shell_is_authorized_by_its_commands() {
        let cwd = std::env::temp_dir();
        let echo = rules(&["e?ho"]);
        assert!(eval_in(&cwd, &echo, &["dash", "-ec", "sh -c 'echo nested'"]).satisfied);
        assert!(!eval_in(&cwd, &echo, &["dash", "-ec", "sh -c 'echo a; id'"]).satisfied, "every inner command");
        assert!(!eval_in(&cwd, &echo, &["dash", "-c", "/bin/sh -c 'echo x'"]).satisfied, "a shell by path");
        assert!(!eval_in(&cwd, &echo, &["dash", "-c", "sh -c \"sh -c 'echo x'\""]).satisfied, "one shell deep");
        let two = rules(&["e?ho", "true"]);
        assert!(!eval_in(&cwd, &two, &["bash", "-c", "true; sh -c 'echo x'"]).satisfied);
        assert!(eval_in(&cwd, &rules(&["*"]), &["bash", "-c", "true; sh -c 'echo x'"]).satisfied);
    }

    /// Rule (upstream's segment resolution, PROMPT_ONLY_RISKS): `exec`, `command` and `builtin`
    /// in a payload are looked through to the command they run; `eval`, `source` and carriers
    /// stay prompt-only.
    #[test]
    fn shell_dispatch_builtins_are_looked_through() {
        let cwd = std::env::temp_dir();
        let printf = rules(&["printf", "xargs"]);
        assert!(eval_in(&cwd, &printf, &["sh", "-c", "exec printf ok"]).satisfied);
        assert!(eval_in(&cwd, &printf, &["sh", "-c", "command printf ok; builtin printf x"]).satisfied);
        assert!(!eval_in(&cwd, &printf, &["sh", "-c", "eval printf ok"]).satisfied);
        assert!(!eval_in(&cwd, &printf, &["sh", "-c", "exec xargs printf"]).satisfied, "a carrier stays prompt-only");
    }

    /// Rule (exec.md §4.4, issue 11): a command carrier inside a payload whose every program is
    /// allowlisted is still prompt-only: the command it runs is not its executable.
    #[test]
    fn carriers_in_an_allowlisted_payload_are_not_satisfied() {
        let cwd = std::env::temp_dir();
        let all = rules(&["xargs", "find", "rm", "ls"]);
        assert!(eval_in(&cwd, &all, &["sh", "-c", "ls | rm x"]).satisfied, "plain commands are");
        for payload in ["ls | xargs rm", "find . -exec rm {} +", "ls && find . -execdir rm {} ;"] {
            assert!(!eval_in(&cwd, &all, &["sh", "-c", payload]).satisfied, "{payload}");
        }
    }
}
