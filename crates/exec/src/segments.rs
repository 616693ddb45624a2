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
use crate::shell::{self, Analysis};
use crate::wrappers;

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

/// The segments of a request for the policy checks (see the module doc): the argv itself
/// (blank words dropped; a shell that only runs its positional parameters is seen there) and,
/// when the request binds a shell payload ([`crate::command::resolve_command`], which reads
/// wrappers as upstream does), the payload's commands.
pub fn policy_segments(argv: &[String], shell_payload: Option<&str>) -> Vec<Vec<String>> {
    let words: Vec<String> = argv.iter().filter(|a| !a.trim().is_empty()).cloned().collect();
    let mut out = if words.is_empty() { Vec::new() } else { vec![words] };
    if let Some(payload) = shell_payload {
        out.extend(payload_segments(payload, 0));
    }
    out
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
    wrappers::extract_shell_wrapper_command(argv, None).command
}

/// Every command in the payload's syntax tree and in nested shell payloads; empty when the
/// payload is too large, too slow to parse or has too many nodes. Upstream explains a payload
/// its analysis refuses this way, and binds the commands it finds (`exec.md` §5.4 B6).
pub fn explained_commands(payload: &str) -> Vec<Vec<String>> {
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
                    .then(|| nested_payload(&argv))
                    .flatten()
                    .filter(|_| depth < MAX_NESTED_PAYLOAD_DEPTH);
                out.push(argv);
                if let Some(nested) = nested {
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

/// The inline command of a shell wrapper (after dispatch wrappers), bound or not (login
/// shells too), when the shell's payload is one that is parsed.
fn nested_payload(argv: &[String]) -> Option<String> {
    let transport = wrappers::shell_transport_argv(argv)?;
    if !shell::PARSEABLE_SHELLS.contains(&carrier::normalize_executable(transport.first()?).as_str()) {
        return None;
    }
    crate::inline_eval::inline_command(&transport).map(|(payload, _)| payload)
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

    /// Rule: the payload the segments come from is the one the command model binds, read as
    /// upstream reads wrappers: through readable dispatch wrappers (`timeout -k 1 5`), not
    /// through blocked shapes (`timeout -sTERM`, `stdbuf -oL`, `env exec`), a login shell's
    /// only when `rawCommand` binds it.
    #[test]
    fn payload_found_through_readable_wrappers_only() {
        let describe = |argv: &[&str], raw: Option<&str>| {
            let req = crate::command::resolve_command(v(argv), raw).expect("consistent");
            let segments = policy_segments(&req.argv, req.shell_payload.as_deref());
            inline_eval::detect_in_segments(segments.iter().map(Vec::as_slice)).map(|h| h.describe())
        };
        let payload = "FOO=1\ncaffeinate -i xargs sh -c 'echo hi'";
        assert_eq!(
            describe(&["timeout", "-k", "1", "5", "/bin/sh", "-c", payload], None).as_deref(),
            Some("xargs inline command")
        );
        assert_eq!(describe(&["timeout", "-sTERM", "5", "bash", "-c", "find . -execdir x ;"], None), None);
        assert_eq!(describe(&["stdbuf", "-oL", "zsh", "-c", "node -e 1"], None), None);
        assert_eq!(describe(&["env", "exec", "bash", "-c", "xargs echo"], None), None);
        assert_eq!(describe(&["bash", "-lc", "perl -e 1"], None), None, "an unbound login payload");
        assert_eq!(describe(&["sh", "-lc", "perl -e 1"], Some("perl -e 1")).as_deref(), Some("perl -e"));
        assert_eq!(describe(&["sh", "-c", "\"$0\" \"$@\"", "lua", "-e", "x"], None).as_deref(), Some("lua -e"));
    }
}
