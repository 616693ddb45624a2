//! The segments the policy checks walk (`exec.md` §4.4, §4.8): what upstream's
//! `evaluateSystemRunPolicyPhase` hands to `detectPolicyInlineEval`.
//!
//! - A direct argv is one segment (blank words dropped).
//! - A shell payload the analysis understands gives its simple commands; when it is a single
//!   shell wrapper (`sh -c 'bash -c "…"'`), the commands of the nested payload are checked too,
//!   as upstream plans such a payload by its inner commands.
//! - A payload the analysis does not understand (redirects, substitutions, control flow,
//!   syntax errors) still has commands: every command anywhere in its syntax tree is a
//!   segment, including those inside `$(…)`, `if`/`for` bodies and nested shell payloads (two
//!   levels), because upstream's explainer reports them all. So `python3 -c … > out` is still
//!   inline eval, although no allowlist entry can ever cover it.
//!
//! Words that are not static (`$X`, `"$(id)"`) keep their source text, which never looks like
//! an inline-eval flag it is not.

use tree_sitter::Node;

use crate::carrier;
use crate::command;
use crate::shell::{self, Analysis};

/// How deep nested shell payloads are followed (upstream's `MAX_WRAPPER_PAYLOAD_DEPTH`).
const MAX_NESTED_PAYLOAD_DEPTH: usize = 2;

/// The most syntax nodes explained across a payload and its nested payloads; past it
/// upstream gives up and reports no segments.
const MAX_EXPLAINED_NODES: usize = 50_000;

/// Syntax nodes that are command arguments.
const ARGUMENT_KINDS: &[&str] = &[
    "ansi_c_string",
    "arithmetic_expansion",
    "command_substitution",
    "concatenation",
    "expansion",
    "number",
    "process_substitution",
    "raw_string",
    "simple_expansion",
    "string",
    "word",
];

/// The segments of a request for the policy checks (see the module doc).
///
/// Which shell payload they come from is decided here the way upstream decides it, not taken
/// from the command model alone: dispatch wrappers are read with their option tables
/// ([`carrier::unwrap_dispatch_wrapper`]), so `timeout -k 1 5 sh -c '…'` has a payload and
/// `timeout -sTERM 5 sh -c '…'` (a shape upstream blocks) has none. A login or interactive
/// shell's payload counts only when the request bound it (`shell_payload`, which the command
/// model sets when `rawCommand` names it). The argv itself is always a segment too, so a
/// shell that only runs its positional parameters is still seen.
pub fn policy_segments(argv: &[String], shell_payload: Option<&str>) -> Vec<Vec<String>> {
    let words: Vec<String> = argv.iter().filter(|a| !a.trim().is_empty()).cloned().collect();
    let bound_login_payload =
        || command::shell_payload_candidate(argv).filter(|(_, login)| *login).and(shell_payload).map(str::to_string);
    let payload = wrapper_payload(argv).or_else(bound_login_payload);
    let mut out = if words.is_empty() { Vec::new() } else { vec![words] };
    if let Some(payload) = payload {
        out.extend(payload_segments(&payload, 0));
    }
    out
}

/// How many dispatch wrappers upstream looks through to find a shell.
const MAX_DISPATCH_DEPTH: usize = 4;

/// The inline command of a shell wrapper run directly or behind readable dispatch wrappers
/// (and `busybox`/`toybox` shell applets), not as a login or interactive shell; `None` for
/// shells whose payload is opaque (`csh`, `tcsh`, `osh`).
fn wrapper_payload(argv: &[String]) -> Option<String> {
    let mut current = argv.to_vec();
    for _ in 0..=MAX_DISPATCH_DEPTH {
        match carrier::unwrap_dispatch_wrapper(&current) {
            carrier::DispatchUnwrap::Blocked(_) => return None,
            carrier::DispatchUnwrap::Unwrapped { argv, .. } => current = argv,
            carrier::DispatchUnwrap::NotWrapper => {
                let name = carrier::normalize_executable(current.first()?);
                if name == "busybox" || name == "toybox" {
                    let at = if current.get(1).map(|a| a.trim()) == Some("--") { 2 } else { 1 };
                    current.get(at).filter(|a| carrier::is_shell_wrapper_executable(a))?;
                    current = current[at..].to_vec();
                    continue;
                }
                let shell = carrier::normalize_executable(current.first()?);
                if !command::POSIX_SHELLS.contains(&shell.as_str()) || ["csh", "tcsh", "osh"].contains(&shell.as_str())
                {
                    return None;
                }
                if startup_before_inline_command(&current) {
                    return None;
                }
                return crate::inline_eval::inline_command(&current).map(|(payload, _)| payload);
            }
        }
    }
    None
}

/// `-l`, `--login`, `-i`, `--interactive` (alone or in a cluster) before the inline-command
/// flag: the shell reads startup files first, so its payload is not the whole command.
fn startup_before_inline_command(argv: &[String]) -> bool {
    let mut seen = false;
    let mut i = 1;
    while let Some(token) = argv.get(i).map(|t| t.trim()) {
        if token.is_empty() {
            i += 1;
            continue;
        }
        if token == "--" {
            return false;
        }
        let short = token.starts_with('-') && !token.starts_with("--") && !token[1..].contains('-');
        if token == "--login" || token == "--interactive" || (short && (token.contains('l') || token.contains('i'))) {
            seen = true;
        }
        let combined_c = short && token.contains('c');
        if ["-lc", "-c", "--command", "--commands", "--cmdline"].contains(&token) || combined_c {
            return seen;
        }
        if !token.starts_with('-') && !token.starts_with('+') {
            return false;
        }
        let values =
            if (token.starts_with('-') || token.starts_with('+')) && token.len() >= 2 && !token[1..].contains('-') {
                token[1..].chars().filter(|c| *c == 'o' || *c == 'O').count()
            } else {
                0
            };
        i += if values > 0 {
            1 + values
        } else if ["--init-file", "--rcfile", "-O", "-o", "+O", "+o"].contains(&token) {
            2
        } else {
            1
        };
    }
    false
}

fn payload_segments(payload: &str, depth: usize) -> Vec<Vec<String>> {
    match shell::analyze(payload) {
        Analysis::Segments(segments) => {
            let mut out: Vec<Vec<String>> =
                segments.iter().filter(|s| !s.argv.is_empty()).map(|s| s.argv.clone()).collect();
            if let [only] = segments.as_slice() {
                if let Some(nested) = direct_wrapper_payload(&only.argv).filter(|_| depth < MAX_NESTED_PAYLOAD_DEPTH) {
                    out.extend(payload_segments(&nested, depth + 1));
                }
            }
            out
        }
        Analysis::Unsupported(_) => explained_commands(payload),
    }
}

/// The payload of `sh -c '…'` run by bare name, not as a login or interactive shell.
fn direct_wrapper_payload(argv: &[String]) -> Option<String> {
    let first = argv.first()?;
    if first.contains(['/', '\\']) || !shell::PARSEABLE_SHELLS.contains(&carrier::normalize_executable(first).as_str())
    {
        return None;
    }
    match command::shell_payload_candidate(argv)? {
        (payload, false) => Some(payload),
        (_, true) => None,
    }
}

/// Every command in the payload's syntax tree and in nested shell payloads; empty when the
/// payload is too large, too slow to parse or has too many nodes.
fn explained_commands(payload: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut remaining = MAX_EXPLAINED_NODES;
    match explain(payload, 0, &mut remaining, &mut out) {
        Ok(()) => out,
        Err(TooComplex) => Vec::new(),
    }
}

/// The explanation gave up.
struct TooComplex;

fn explain(payload: &str, depth: usize, remaining: &mut usize, out: &mut Vec<Vec<String>>) -> Result<(), TooComplex> {
    if payload.len() > shell::MAX_PAYLOAD_BYTES {
        return Err(TooComplex);
    }
    let tree = shell::parse_bounded(payload, shell::MAX_PARSE_TIME).map_err(|_| TooComplex)?;
    let root = tree.root_node();
    let nodes = root.descendant_count();
    if nodes > *remaining {
        return Err(TooComplex);
    }
    *remaining -= nodes;
    let src = payload.as_bytes();
    // Pre-order (source order) with a cursor: no recursion per syntax level.
    let mut cursor = root.walk();
    loop {
        let node = cursor.node();
        if node.kind() == "command" {
            if let Some((argv, payload_is_static)) = command_argv(node, src) {
                let nested = payload_is_static
                    .then(|| command::shell_payload_candidate(&argv))
                    .flatten()
                    .filter(|_| depth < MAX_NESTED_PAYLOAD_DEPTH && parseable_shell(&argv));
                out.push(argv);
                if let Some((nested, _)) = nested {
                    explain(&nested, depth + 1, remaining, out)?;
                }
            }
        }
        if cursor.goto_first_child() {
            continue;
        }
        loop {
            if cursor.goto_next_sibling() {
                break;
            }
            if !cursor.goto_parent() {
                return Ok(());
            }
        }
    }
}

/// Whether the shell a wrapper argv runs (after dispatch wrappers) is one whose payload is
/// parsed.
fn parseable_shell(argv: &[String]) -> bool {
    argv.iter()
        .map(|a| carrier::normalize_executable(a))
        .find(|a| command::POSIX_SHELLS.contains(&a.as_str()))
        .is_some_and(|shell| shell::PARSEABLE_SHELLS.contains(&shell.as_str()))
}

/// A command node's argv (`None` when the command name is not static), and whether every
/// argument is static (a dynamic payload is not parsed).
fn command_argv(node: Node, src: &[u8]) -> Option<(Vec<String>, bool)> {
    let name = node.child_by_field_name("name")?;
    let word = name.named_child(0)?;
    let mut argv = vec![shell::static_word(word, src).ok()?];
    let mut all_static = true;
    let mut cursor = node.walk();
    for argument in node.children_by_field_name("argument", &mut cursor) {
        if !ARGUMENT_KINDS.contains(&argument.kind()) {
            continue;
        }
        match shell::static_word(argument, src) {
            Ok(value) => argv.push(value),
            Err(_) => {
                all_static = false;
                let raw = shell::text(argument, src);
                let unquoted = if argument.kind() == "string" {
                    raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')).unwrap_or(raw)
                } else {
                    raw
                };
                argv.push(unquoted.to_string());
            }
        }
    }
    Some((argv, all_static))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inline_eval;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    fn hit(payload: &str) -> Option<String> {
        let segments = policy_segments(&v(&["sh", "-c", payload]), Some(payload));
        inline_eval::detect_in_segments(segments.iter().map(Vec::as_slice)).map(|h| h.describe())
    }

    /// Rule (exec.md §4.8): strictInlineEval sees inline eval in any segment of a shell
    /// payload: any position of a list or pipeline, behind `env` and other wrappers, through
    /// carriers, and in a single nested shell.
    #[test]
    fn inline_eval_in_any_payload_segment() {
        assert_eq!(hit("ls && python3 -c 'print(1)'").as_deref(), Some("python3 -c"));
        assert_eq!(hit("ls | env FOO=1 node -e 1 | wc -l").as_deref(), Some("node -e"));
        assert_eq!(hit("FOO=1 perl -e 1").as_deref(), Some("perl -e"));
        assert_eq!(hit("find . -name x | xargs rm").as_deref(), Some("xargs inline command"));
        assert_eq!(hit("awk '{print $1}' f").as_deref(), Some("awk inline program"));
        assert_eq!(hit("nice -n 5 sed -e s/a/b/ f").as_deref(), Some("sed -e"));
        assert_eq!(hit("bash -c \"ruby -e 1\"").as_deref(), Some("ruby -e"));
        assert_eq!(hit("ls -la; git status"), None);
    }

    /// Rule: a payload the analysis refuses still has its commands checked (redirects,
    /// substitutions, control flow), as upstream's explainer reports them all.
    #[test]
    fn inline_eval_in_unanalysable_payloads() {
        assert_eq!(hit("python3 -c 'print(1)' > /tmp/out").as_deref(), Some("python3 -c"));
        assert_eq!(hit("echo $(node -e 1)").as_deref(), Some("node -e"));
        assert_eq!(hit("if true; then make -E x; fi").as_deref(), Some("make -E"));
        assert_eq!(hit("ls > /tmp/x; sh -c 'php -r 1'").as_deref(), Some("php -r"));
        assert_eq!(hit("cat <<EOF\nx\nEOF"), None);
    }

    #[test]
    fn direct_argv_is_one_segment() {
        assert_eq!(policy_segments(&v(&["python3", " ", "-c", "x"]), None), vec![v(&["python3", "-c", "x"])]);
        assert!(policy_segments(&v(&[" "]), None).is_empty());
    }

    /// Rule: the payload the segments come from is found as upstream finds it: through
    /// readable dispatch wrappers (`timeout -k 1 5`), not through blocked shapes
    /// (`timeout -sTERM`, `stdbuf -oL`, `env exec`), and a login shell's only when bound.
    #[test]
    fn payload_found_through_readable_wrappers_only() {
        let describe = |argv: &[&str], bound: Option<&str>| {
            let segments = policy_segments(&v(argv), bound);
            inline_eval::detect_in_segments(segments.iter().map(Vec::as_slice)).map(|h| h.describe())
        };
        let payload = "FOO=1\ncaffeinate -i xargs sh -c 'echo hi'";
        assert_eq!(
            describe(&["timeout", "-k", "1", "5", "/bin/sh", "-c", payload], None).as_deref(),
            Some("xargs inline command")
        );
        assert_eq!(
            describe(&["timeout", "-sTERM", "5", "bash", "-c", "find . -execdir x ;"], Some("find . -execdir x ;")),
            None
        );
        assert_eq!(describe(&["stdbuf", "-oL", "zsh", "-c", "node -e 1"], Some("node -e 1")), None);
        assert_eq!(describe(&["env", "exec", "bash", "-c", "xargs echo"], Some("xargs echo")), None);
        assert_eq!(describe(&["bash", "-lc", "perl -e 1"], None), None, "an unbound login payload");
        assert_eq!(describe(&["bash", "-lc", "perl -e 1"], Some("perl -e 1")).as_deref(), Some("perl -e"));
        assert_eq!(describe(&["busybox", "sh", "-c", "ruby -e 1"], None).as_deref(), Some("ruby -e"));
        assert_eq!(describe(&["sh", "-c", "\"$0\" \"$@\"", "lua", "-e", "x"], None).as_deref(), Some("lua -e"));
    }
}
