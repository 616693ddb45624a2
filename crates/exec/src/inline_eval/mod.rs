//! Inline-eval detection for `strictInlineEval` (`exec.md` §4.8, §6.4): interpreter
//! invocations that carry their program in argv (`python3 -c …`, `node -e …`, `awk '{…}'`,
//! `xargs rm`, `find -exec`, `make -E`), which an allowlist entry for the interpreter must not
//! silently allow.
//!
//! The tables are upstream's, flag by flag, because the description (`python3 -c`) is part of
//! the denial text and because a flag missing here is a bypass. Detection looks through
//! leading `NAME=value` words, dispatch wrappers and command carriers (`env`, `sudo`, `nice`,
//! …, see [`crate::carrier`]) and through a shell that only runs its positional arguments
//! (`sh -c '"$0" "$@"' python3 -c …`). The decision calls [`detect_in_segments`] on every
//! segment of the analysed command ([`crate::segments::policy_segments`]).

use std::collections::HashSet;

use crate::carrier::{self, DispatchUnwrap};

mod tables;

use tables::{FlagSpec, ShortCluster, COMMAND, FLAG_SPECS, POSITIONAL_SPECS, PROGRAM};

/// An inline program found in an argv.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlineEvalHit {
    /// The executable as written (trimmed).
    pub executable: String,
    /// Its normalised name (`python3.12`), as the description shows it.
    pub normalized_executable: String,
    /// The flag (`-c`), or `<program>`/`<command>` for a positional program.
    pub flag: String,
    /// The argv the hit was found in.
    pub argv: Vec<String>,
}

impl InlineEvalHit {
    fn new(executable: &str, argv: &[String], flag: &str) -> Self {
        InlineEvalHit {
            executable: executable.to_string(),
            normalized_executable: carrier::normalize_executable(executable),
            flag: flag.to_string(),
            argv: argv.to_vec(),
        }
    }

    /// The description in the strictInlineEval denial: `python3 -c`, `awk inline program`,
    /// `xargs inline command`.
    pub fn describe(&self) -> String {
        match self.flag.as_str() {
            COMMAND => format!("{} inline command", self.normalized_executable),
            PROGRAM => format!("{} inline program", self.normalized_executable),
            flag => format!("{} {flag}", self.normalized_executable),
        }
    }
}

/// Whether `s` is `-?\d+(\.\d+)*` in full.
fn is_version_suffix(s: &str) -> bool {
    let s = s.strip_prefix('-').unwrap_or(s);
    !s.is_empty() && s.split('.').all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
}

/// `python3.12` → `python`: upstream strips the longest trailing `-?N(.N)*`, unless that
/// leaves fewer than two characters.
fn name_variants(normalized: &str) -> Vec<String> {
    let cut = (0..normalized.len())
        .filter(|i| normalized.is_char_boundary(*i))
        .find(|i| is_version_suffix(&normalized[*i..]))
        .unwrap_or(normalized.len());
    let stripped = &normalized[..cut];
    if stripped.is_empty() || stripped == normalized || stripped.len() < 2 {
        vec![normalized.to_string()]
    } else {
        vec![normalized.to_string(), stripped.to_string()]
    }
}

fn names_include(names: &[&str], executable: &str) -> bool {
    name_variants(&carrier::normalize_executable(executable)).iter().any(|n| names.contains(&n.as_str()))
}

/// `-X` with one ASCII letter.
fn single_letter_flag(flag: &str) -> bool {
    let b = flag.as_bytes();
    b.len() == 2 && b[0] == b'-' && b[1].is_ascii_alphabetic()
}

fn cluster_prefix_allowed(cluster: &ShortCluster, prefix: &str) -> bool {
    let chars: Vec<char> = prefix.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if cluster.prefix_chars.contains(c) {
            if cluster.numeric_value_prefix_chars.contains(c) {
                while chars.get(i + 1).is_some_and(|n| n.is_ascii_digit()) {
                    i += 1;
                }
            }
            i += 1;
            continue;
        }
        if cluster.allow_numeric_record_separator && c == '0' {
            while chars.get(i + 1).is_some_and(|n| n.is_ascii_digit()) {
                i += 1;
            }
            i += 1;
            continue;
        }
        return false;
    }
    true
}

/// The flag of `spec` that `token` is, if any, in upstream's order of checks.
fn match_flag(spec: &FlagSpec, token: &str) -> Option<String> {
    if let Some((_, label)) = spec.raw_exact.iter().find(|(flag, _)| *flag == token) {
        return Some(label.to_string());
    }
    for (flag, label) in spec.raw_exact {
        if single_letter_flag(flag) && token.starts_with(flag) && token.len() > flag.len() {
            return Some(label.to_string());
        }
    }
    if let Some((label, _)) = spec.raw_prefix.iter().find(|(_, p)| token.starts_with(p) && token.len() > p.len()) {
        return Some(label.to_string());
    }
    let lower = token.to_lowercase();
    let option = lower.split('=').next().unwrap_or(&lower);
    for a in spec.abbreviated {
        if option.len() >= a.min.len()
            && a.full.starts_with(option)
            && option.get(..a.min.len()).is_some_and(|p| a.min.starts_with(p))
        {
            return Some(a.label.to_string());
        }
    }
    if spec.exact.contains(&lower.as_str()) {
        return Some(lower);
    }
    let joined_denied = spec.joined_deny_exact.contains(&lower.as_str())
        || spec.joined_deny_prefixes.iter().any(|p| lower.starts_with(p));
    if !joined_denied {
        for flag in spec.exact.iter().filter(|f| f.starts_with("--")) {
            let prefix = format!("{flag}=");
            if lower.starts_with(&prefix) && lower.len() > prefix.len() {
                return Some(flag.to_string());
            }
        }
        for flag in spec.joined_exact.unwrap_or(spec.exact) {
            if single_letter_flag(flag) && token.starts_with(flag) && token.len() > flag.len() {
                return Some(flag.to_lowercase());
            }
        }
    }
    if token.starts_with('-') && !token.starts_with("--") {
        for cluster in spec.short_clusters {
            // The flag letter somewhere after the first option letter.
            let Some(at) = token.get(2..).and_then(|rest| rest.find(cluster.flag)).map(|i| i + 2) else { continue };
            if cluster_prefix_allowed(cluster, &token[1..at]) {
                return Some(cluster.label.to_string());
            }
        }
    }
    spec.prefix.iter().find(|(_, p)| lower.starts_with(p) && lower.len() > p.len()).map(|(label, _)| label.to_string())
}

/// `detectInterpreterInlineEvalArgv`: argv\[0\] itself is an interpreter with inline code
/// (no looking through wrappers).
pub fn detect_interpreter(argv: &[String]) -> Option<InlineEvalHit> {
    let executable = argv.first()?.trim();
    if executable.is_empty() {
        return None;
    }
    if let Some(spec) = FLAG_SPECS.iter().find(|s| names_include(s.names, executable)) {
        for token in &argv[1..] {
            let token = token.trim();
            if token.is_empty() {
                continue;
            }
            if token == "--" {
                if spec.scan_past_double_dash {
                    continue;
                }
                break;
            }
            if let Some(flag) = match_flag(spec, token) {
                return Some(InlineEvalHit::new(executable, argv, &flag));
            }
        }
    }
    let spec = POSITIONAL_SPECS.iter().find(|s| names_include(s.names, executable))?;
    let mut i = 1;
    while i < argv.len() {
        let token = argv[i].trim();
        i += 1;
        if token.is_empty() {
            continue;
        }
        let prefixed = |prefixes: &[&str]| prefixes.iter().any(|p| token.starts_with(p) && token.len() > p.len());
        if token == "--" {
            return argv
                .get(i)
                .is_some_and(|next| !next.trim().is_empty())
                .then(|| InlineEvalHit::new(executable, argv, spec.flag));
        }
        if spec.file_flags.contains(&token) || prefixed(spec.file_flag_prefixes) {
            return None;
        }
        if spec.value_flags.contains(&token) {
            i += 1;
            continue;
        }
        if spec.optional_value_flags.contains(&token) || prefixed(spec.value_flag_prefixes) || token.starts_with('-') {
            continue;
        }
        return Some(InlineEvalHit::new(executable, argv, spec.flag));
    }
    None
}

/// Which positional parameters a shell payload like `"$0" "$@"` runs.
enum PositionalPlan {
    All,
    Indexes(Vec<usize>),
}

/// `$0`, `"$1"`, `${@}` …: the positional parameter a payload word is, if it is one.
enum Positional {
    All,
    Star,
    Zero,
    Index(usize),
}

fn positional(token: &str) -> Option<Positional> {
    let unquoted = if token.len() >= 2 && token.starts_with('"') && token.ends_with('"') {
        &token[1..token.len() - 1]
    } else {
        token
    };
    let inner = unquoted.strip_prefix('$')?;
    let inner = inner.strip_prefix('{').and_then(|i| i.strip_suffix('}')).unwrap_or(inner);
    let mut chars = inner.chars();
    let (Some(c), None) = (chars.next(), chars.next()) else { return None };
    match c {
        '@' => Some(Positional::All),
        '*' => Some(Positional::Star),
        '0' => Some(Positional::Zero),
        '1'..='9' => Some(Positional::Index(c as usize - '0' as usize)),
        _ => None,
    }
}

/// A payload that only runs its positional parameters: `[exec [--]] "$0" ["$1"…|"$@"]`.
fn positional_plan(command: &str) -> Option<PositionalPlan> {
    let trimmed = command.trim();
    if trimmed.is_empty() || trimmed.contains(['\n', '\r']) {
        return None;
    }
    let words: Vec<&str> = trimmed.split_whitespace().collect();
    let mut at = 0;
    if words.first() == Some(&"exec") {
        at += 1;
        if words.get(at) == Some(&"--") {
            at += 1;
        }
    }
    // Every remaining word must be a positional parameter, `$0`/`${0}` first, and none
    // may be a `${N}` form with more than one digit (the regex only takes 1–9, @, *).
    let valid = |w: &str, zero: bool| {
        let unquoted = if w.len() >= 2 && w.starts_with('"') && w.ends_with('"') { &w[1..w.len() - 1] } else { w };
        let Some(inner) = unquoted.strip_prefix('$') else { return false };
        let inner = inner.strip_prefix('{').and_then(|i| i.strip_suffix('}')).unwrap_or(inner);
        if zero {
            inner == "0"
        } else {
            matches!(inner, "@" | "*") || (inner.len() == 1 && inner.as_bytes()[0].is_ascii_digit() && inner != "0")
        }
    };
    if !words.get(at).is_some_and(|w| valid(w, true)) || !words[at + 1..].iter().all(|w| valid(w, false)) {
        return None;
    }
    let mut indexes = vec![0];
    for word in &words[at + 1..] {
        match positional(word)? {
            Positional::Zero | Positional::Star => return None,
            Positional::All => return Some(PositionalPlan::All),
            Positional::Index(i) => indexes.push(i),
        }
    }
    Some(PositionalPlan::Indexes(indexes))
}

/// `-c`, `-lc`, `--command`, … and where the payload is: `(payload, index of the word after
/// which the positional parameters start)`; the shell-wrapper analysis's scan.
pub(crate) fn inline_command(argv: &[String]) -> Option<(String, usize)> {
    let (command, at) = crate::wrappers::posix_inline_command(argv, crate::wrappers::POSIX_INLINE_FLAGS);
    Some((command?, at?))
}

fn detect_through_positional_shell(argv: &[String], seen: &mut HashSet<Vec<String>>) -> Option<InlineEvalHit> {
    let argv = carrier::strip_leading_assignments(argv);
    let shell = carrier::normalize_executable(argv.first()?);
    if !crate::shell::PARSEABLE_SHELLS.contains(&shell.as_str()) || !seen.insert(argv.to_vec()) {
        return None;
    }
    let (command, value_index) = inline_command(argv)?;
    let plan = positional_plan(&command)?;
    let positionals = argv.get(value_index + 1..).unwrap_or_default();
    let carried: Vec<String> = match plan {
        PositionalPlan::All => positionals.to_vec(),
        PositionalPlan::Indexes(indexes) => {
            indexes.iter().map(|i| positionals.get(*i).cloned().unwrap_or_default()).collect()
        }
    }
    .into_iter()
    .map(|t| t.trim().to_string())
    .filter(|t| !t.is_empty())
    .collect();
    if carried.is_empty() {
        return None;
    }
    detect_with(&carried, seen)
}

fn detect_through_carrier(argv: &[String], seen: &mut HashSet<Vec<String>>) -> Option<InlineEvalHit> {
    let argv = carrier::strip_leading_assignments(argv);
    if !seen.insert(argv.to_vec()) {
        return None;
    }
    if let DispatchUnwrap::Unwrapped { argv: inner, .. } = carrier::unwrap_dispatch_wrapper(argv) {
        return detect_with(&inner, seen);
    }
    if !carrier::is_command_carrier(&carrier::normalize_executable(argv.first()?), true) {
        return None;
    }
    let carried = carrier::carried_argv(argv, true)?;
    detect_with(&carried, seen)
}

fn detect_with(argv: &[String], seen: &mut HashSet<Vec<String>>) -> Option<InlineEvalHit> {
    detect_interpreter(argv)
        .or_else(|| detect_through_positional_shell(argv, seen))
        .or_else(|| detect_through_carrier(argv, seen))
}

/// `detectInlineEvalArgv`: inline code in argv, looking through leading assignments,
/// dispatch wrappers, command carriers and positional-only shell payloads.
pub fn detect_argv(argv: &[String]) -> Option<InlineEvalHit> {
    detect_with(argv, &mut HashSet::new())
}

/// The first inline program among the segments of an analysed command, in order. This is the
/// strictInlineEval check's input: pass every segment of
/// [`crate::segments::policy_segments`].
pub fn detect_in_segments<'a>(segments: impl IntoIterator<Item = &'a [String]>) -> Option<InlineEvalHit> {
    segments.into_iter().find_map(detect_argv)
}

/// Describes the inline program in argv (`python3 -c`, `awk inline program`, `xargs inline
/// command`); `None` when there is none.
pub fn detect(argv: &[String]) -> Option<String> {
    detect_argv(argv).map(|hit| hit.describe())
}

/// The strictInlineEval denial text for a hit.
pub fn denial_message(hit: &InlineEvalHit) -> String {
    format!(
        "SYSTEM_RUN_DENIED: approval required ({} requires explicit approval in strictInlineEval mode)",
        hit.describe()
    )
}

/// Whether the strictInlineEval check refuses the run (`exec.md` §4.8): a hit exists, the run
/// was not approved by ask (`approved` or an `approvalDecision`), and the policy outcome is not
/// the `security=deny` refusal (which keeps its own message). Runs before the generic policy
/// denial, so its message takes precedence over `approval required` and `allowlist miss`.
pub fn strict_refuses(hit: Option<&InlineEvalHit>, approved_by_ask: bool, policy_is_security_deny: bool) -> bool {
    hit.is_some() && !approved_by_ask && !policy_is_security_deny
}

/// `inlineEvalExecutableTrusted`: with an inline-eval hit, an allow-always allowlist entry that
/// matched any segment counts as a durable approval for the policy evaluation (it never
/// bypasses [`strict_refuses`]). `segment_entry_sources` are the `source` fields of the entries
/// that matched each segment.
pub fn inline_eval_executable_trusted<'a>(
    hit: Option<&InlineEvalHit>,
    segment_entry_sources: impl IntoIterator<Item = Option<&'a str>>,
) -> bool {
    hit.is_some() && segment_entry_sources.into_iter().any(|source| source == Some("allow-always"))
}

/// Every interpreter and positional-program name of the tables, for [`is_interpreter_like`].
fn interpreter_names() -> impl Iterator<Item = &'static str> {
    FLAG_SPECS.iter().flat_map(|s| s.names.iter()).chain(POSITIONAL_SPECS.iter().flat_map(|s| s.names.iter())).copied()
}

/// `isInterpreterLikeAllowlistPattern`: whether an allowlist pattern (or a resolved path)
/// names an interpreter (`/usr/bin/python3.12`, `node`, `*/awk*`). allow-always persists
/// such an executable only when strictInlineEval is on and no inline eval was detected
/// (`exec.md` §6.4): an interpreter entry would otherwise run any later script or `-c`.
pub fn is_interpreter_like(pattern: &str) -> bool {
    let trimmed = pattern.trim().to_lowercase();
    if trimmed.is_empty() {
        return false;
    }
    let known = |name: &str| name_variants(name).iter().any(|n| interpreter_names().any(|i| i == n));
    if known(&carrier::normalize_executable(&trimmed)) {
        return true;
    }
    let unified = trimmed.replace('\\', "/");
    let base = unified.rsplit('/').next().unwrap_or(&unified);
    let base = base.strip_suffix(".exe").unwrap_or(base);
    let cleaned: String = base.chars().filter(|c| !"*?[]{}()".contains(*c)).collect();
    let cleaned = cleaned.trim_end_matches(['.', '-']);
    known(cleaned)
}

/// Whether allow-always may persist an entry for the executable at `candidate_path` (the
/// segment's resolved real path) run as `effective_argv` (wrappers unwrapped), `exec.md`
/// §6.4: an interpreter-like executable only when strictInlineEval is on (every later inline
/// program then still needs an approval) and this run carries no inline program; any other
/// executable always.
pub fn allow_always_may_persist(candidate_path: &str, effective_argv: &[String], strict_inline_eval: bool) -> bool {
    !is_interpreter_like(candidate_path) || (strict_inline_eval && detect_argv(effective_argv).is_none())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    fn d(a: &[&str]) -> Option<String> {
        detect(&v(a))
    }

    /// The [verified] vectors of exec.md §4.8.
    #[test]
    fn upstream_vectors() {
        assert_eq!(d(&["python3", "-c", "print(1)"]).as_deref(), Some("python3 -c"));
        assert_eq!(d(&["python3", "-Ic", "x"]).as_deref(), Some("python3 -c"));
        assert_eq!(d(&["node", "--eval=1"]).as_deref(), Some("node --eval"));
        assert_eq!(d(&["perl", "-E", "say 1"]).as_deref(), Some("perl -e"));
        assert_eq!(d(&["awk", "{print}"]).as_deref(), Some("awk inline program"));
        assert_eq!(d(&["xargs", "rm"]).as_deref(), Some("xargs inline command"));
        assert_eq!(d(&["find", ".", "-exec"]).as_deref(), Some("find -exec"));
        assert_eq!(d(&["make", "-f", "x"]).as_deref(), Some("make -f"));
        assert_eq!(d(&["python3", "script.py"]), None);
        assert_eq!(d(&["env", "FOO=1", "python3", "-c", "x"]).as_deref(), Some("python3 -c"));
        assert_eq!(d(&["/usr/bin/python3.12", "-c", "x"]).as_deref(), Some("python3.12 -c"));
        assert_eq!(d(&["ls", "-la"]), None);
        assert_eq!(d(&["awk", "-f", "prog.awk", "data"]), None);
    }

    /// Rule: the flag tables are scanned over every argument, as upstream scans them (a flag
    /// after the script operand still counts), with joined, clustered, abbreviated and
    /// prefixed forms.
    #[test]
    fn flag_forms_follow_the_tables() {
        assert_eq!(d(&["node", "app.js", "-e", "x"]).as_deref(), Some("node -e"));
        assert_eq!(d(&["ruby", "-we", "x"]).as_deref(), Some("ruby -e"));
        assert_eq!(d(&["perl", "-0777ne", "x"]).as_deref(), Some("perl -e"));
        assert_eq!(d(&["perl", "-Mstrict", "x.pl"]), None);
        assert_eq!(d(&["gdb", "-batch", "--ev=run"]).as_deref(), Some("gdb --eval-command"));
        assert_eq!(d(&["gawk", "--so", "x"]).as_deref(), Some("gawk --source"));
        assert_eq!(d(&["make", "-fMakefile"]).as_deref(), Some("make -f"));
        assert_eq!(d(&["make", "-Ex=1"]).as_deref(), Some("make -E"));
        assert_eq!(d(&["sed", "-es/a/b/", "f"]).as_deref(), Some("sed -e"));
        assert_eq!(d(&["sed", "-n", "p", "f"]).as_deref(), Some("sed inline program"));
        assert_eq!(d(&["sed", "-f", "p.sed", "f"]), None);
        assert_eq!(d(&["php", "-B", "x"]).as_deref(), Some("php -B"));
        assert_eq!(d(&["groovy", "-encoding", "utf8", "x.groovy"]), None);
        assert_eq!(d(&["raku", "-eprint"]).as_deref(), Some("raku -e"));
        assert_eq!(d(&["find", ".", "--", "-okdir", "x"]).as_deref(), Some("find -okdir"));
        assert_eq!(d(&["xargs", "-n", "1"]), None);
        assert_eq!(d(&["xargs", "-0", "--", "rm"]).as_deref(), Some("xargs inline command"));
        assert_eq!(d(&["lua5.4", "-e", "x"]).as_deref(), Some("lua5.4 -e"));
        assert_eq!(d(&["Python3", "-c", "x"]).as_deref(), Some("python3 -c"));
        assert_eq!(d(&["python3", "--", "-c"]), None, "-- ends the options");
    }

    /// Rule: detection looks through leading assignments, dispatch wrappers (`nice`,
    /// `timeout -s SIG`, `env -S`), command carriers (`sudo`, `doas`, `command`, `exec`) and a
    /// shell that only runs its positional parameters.
    #[test]
    fn detection_looks_through_wrappers_and_carriers() {
        assert_eq!(d(&["FOO=1", "env", "python3", "-c", "x"]).as_deref(), Some("python3 -c"));
        assert_eq!(d(&["nice", "-n", "5", "node", "-e", "x"]).as_deref(), Some("node -e"));
        assert_eq!(d(&["timeout", "-s", "KILL", "5", "python3", "-c", "x"]).as_deref(), Some("python3 -c"));
        assert_eq!(d(&["sudo", "-u", "root", "perl", "-e", "x"]).as_deref(), Some("perl -e"));
        assert_eq!(d(&["env", "-S", "python3 -c 'print(1)'"]).as_deref(), Some("python3 -c"));
        assert_eq!(d(&["command", "awk", "{print}"]).as_deref(), Some("awk inline program"));
        assert_eq!(d(&["exec", "ruby", "-e", "x"]).as_deref(), Some("ruby -e"));
        assert_eq!(d(&["nice", "find", ".", "-exec", "rm", "{}", ";"]).as_deref(), Some("find -exec"));
        assert_eq!(d(&["sh", "-c", "\"$0\" \"$@\"", "python3", "-c", "x"]).as_deref(), Some("python3 -c"));
        assert_eq!(d(&["bash", "-c", "exec \"$0\" \"$1\"", "node", "-e"]).as_deref(), Some("node -e"));
        assert_eq!(d(&["sh", "-c", "python3 -c x"]), None, "a payload is analysed as segments, not here");
        assert_eq!(d(&["sudo", "-l", "python3", "-c", "x"]), None, "sudo -l runs nothing");
    }

    /// Rule: the strictInlineEval check runs on every segment of the analysed command, first
    /// hit wins.
    #[test]
    fn every_segment_is_checked() {
        let segments = [v(&["ls"]), v(&["xargs", "-0", "rm"]), v(&["python3", "-c", "x"])];
        let hit = detect_in_segments(segments.iter().map(Vec::as_slice)).unwrap();
        assert_eq!(hit.describe(), "xargs inline command");
        assert_eq!(
            denial_message(&hit),
            "SYSTEM_RUN_DENIED: approval required (xargs inline command requires explicit approval in strictInlineEval mode)"
        );
        assert!(detect_in_segments([v(&["ls"]), v(&["wc", "-l"])].iter().map(Vec::as_slice)).is_none());
    }

    /// Rule (exec.md §4.8): the strict check refuses unless approved by ask, and leaves a
    /// `security=deny` outcome its own message; an allow-always entry on a segment only feeds
    /// the durable approval.
    #[test]
    fn strict_check_condition_and_trusted_executable() {
        let hit = detect_argv(&v(&["python3", "-c", "x"]));
        assert!(strict_refuses(hit.as_ref(), false, false));
        assert!(!strict_refuses(hit.as_ref(), true, false), "approved by ask");
        assert!(!strict_refuses(hit.as_ref(), false, true), "security=deny keeps its message");
        assert!(!strict_refuses(None, false, false));
        assert!(inline_eval_executable_trusted(hit.as_ref(), [None, Some("allow-always")]));
        assert!(!inline_eval_executable_trusted(hit.as_ref(), [Some("manual"), None]));
        assert!(!inline_eval_executable_trusted(None, [Some("allow-always")]));
    }

    /// Rule (exec.md §6.4): interpreter-like executables and patterns, by name with version
    /// suffixes and globs stripped.
    #[test]
    fn interpreter_like_patterns() {
        for p in [
            "/usr/bin/python3",
            "/usr/bin/python3.12",
            "node",
            "/opt/homebrew/bin/ruby",
            "*/awk*",
            "PERL.EXE",
            "xargs",
            "/usr/bin/find",
            "lua5.4",
        ] {
            assert!(is_interpreter_like(p), "{p}");
        }
        for p in ["/usr/bin/ls", "/bin/sh", "git", "", "/usr/bin/r2"] {
            assert!(!is_interpreter_like(p), "{p}");
        }
    }

    /// Rule (exec.md §6.4): allow-always persists an interpreter-like executable only with
    /// strictInlineEval on and no inline eval in the run; other executables always.
    #[test]
    fn allow_always_persists_interpreters_only_under_strict() {
        let script = v(&["python3", "tool.py"]);
        let inline = v(&["python3", "-c", "x"]);
        assert!(!allow_always_may_persist("/usr/bin/python3.12", &script, false), "a later, modified script would run");
        assert!(allow_always_may_persist("/usr/bin/python3.12", &script, true));
        assert!(!allow_always_may_persist("/usr/bin/python3.12", &inline, true));
        assert!(!allow_always_may_persist("/usr/bin/find", &v(&["find", "."]), false));
        assert!(allow_always_may_persist("/usr/bin/ls", &v(&["ls", "-la"]), false));
    }

    #[test]
    fn version_suffixes() {
        assert_eq!(name_variants("python3.12"), vec!["python3.12", "python"]);
        assert_eq!(name_variants("python3"), vec!["python3", "python"]);
        assert_eq!(name_variants("pypy-3.9"), vec!["pypy-3.9", "pypy"]);
        assert_eq!(name_variants("r2"), vec!["r2"]);
        assert_eq!(name_variants("node"), vec!["node"]);
    }
}
