//! Shell payload analysis (`exec.md` §4.4): the inline script of `sh -c '…'` parsed with
//! tree-sitter-bash, the grammar upstream uses, and split into simple commands.
//!
//! Only a small, fully static subset is understood: simple commands joined by `&&`, `||`, `;`,
//! newlines and `|`, with literal words and quoted strings. Everything else (redirects,
//! substitutions, expansions, control flow, subshells, background jobs, functions, syntax
//! errors) makes the analysis fail, which policy treats as an allowlist miss.

use std::ops::Range;
use std::time::Duration;

use tree_sitter::{Node, ParseOptions, ParseState, Parser, Point, Tree};

use crate::carrier;

/// POSIX shells whose payload is parsed; others are opaque.
pub const PARSEABLE_SHELLS: &[&str] = &["ash", "bash", "dash", "fish", "ksh", "mksh", "sh", "yash", "zsh"];

/// Builtins that are harmless by themselves (`cd /tmp && ls`).
pub const SAFE_BUILTINS: &[&str] = &[":", "cd", "false", "pwd", "test", "true", "["];

/// Segments that can never be allowlisted: they run code the analysis cannot see (by
/// normalised name: `/usr/bin/EVAL` is `eval`).
const PROMPT_ONLY: &[&str] = &["eval", "source", ".", "alias", "command", "builtin", "exec"];

/// One simple command of the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// The words after quote removal.
    pub argv: Vec<String>,
    /// Byte range of the command name in the payload (for rewriting it to an absolute path).
    pub name_range: Option<Range<usize>>,
    /// Byte range of the whole command in the payload (for rewriting a command behind a
    /// dispatch wrapper as the command the wrapper runs).
    pub range: Option<Range<usize>>,
    /// `NAME=value` prefixes: such a segment is never satisfied by the allowlist.
    pub has_assignments: bool,
}

impl Segment {
    /// Whether policy may never allow this segment on its own (`exec.md` §4.4): `eval`,
    /// `source`/`.`, `alias`, a command carrier (`xargs`, `find -exec`, a dispatch wrapper
    /// whose command cannot be read such as `sudo`, `env -S`), a shell wrapper reached through
    /// a carrier or dispatch wrapper (`sudo sh -c`, `nice bash -c`) and a carried
    /// `eval`/`source` (upstream's PROMPT_ONLY_RISKS). Whatever the allowlist says about the
    /// carrier, the command it runs is not this segment's executable. A shell run directly is
    /// not among them: it is matched as any command (a rule for its script, `*` or an
    /// argPattern; see `evaluate`), and its inline command is remembered as exact text only.
    pub fn prompt_only(&self) -> bool {
        prompt_only_argv(&self.argv)
    }

    /// Whether it is a harmless builtin.
    pub fn safe_builtin(&self) -> bool {
        !self.has_assignments && self.argv.first().is_some_and(|n| SAFE_BUILTINS.contains(&n.as_str()))
    }
}

/// [`Segment::prompt_only`] for an argv.
pub fn prompt_only_argv(argv: &[String]) -> bool {
    let Some(name) = argv.first() else { return true };
    let name = carrier::normalize_executable(name);
    PROMPT_ONLY.contains(&name.as_str())
        || !carrier::command_carriers(argv).is_empty()
        || carrier::shell_wrapper_through_carrier(argv).is_some()
        || carrier::carried_shell_builtin(argv).is_some()
        || shell_behind_dispatch_wrappers(argv)
}

/// `nice bash -c …`, `timeout 5 sh -c …`: a shell once the dispatch wrappers are read.
fn shell_behind_dispatch_wrappers(argv: &[String]) -> bool {
    let mut current = argv.to_vec();
    for _ in 0..=4 {
        match carrier::unwrap_dispatch_wrapper(&current) {
            carrier::DispatchUnwrap::Unwrapped { argv, .. } => current = argv,
            _ => break,
        }
        if current.first().is_some_and(|c| carrier::is_shell_wrapper_executable(c)) {
            return true;
        }
    }
    false
}

/// The result of analysing a payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Analysis {
    /// Understood: every simple command, in order.
    Segments(Vec<Segment>),
    /// Not understood; the reason is upstream's risk/topology name.
    Unsupported(&'static str),
}

/// The longest payload analysed: Linux's `MAX_ARG_STRLEN` (128 KiB), the longest single
/// argument `execve` accepts, so nothing longer could run as a `-c` payload anyway.
pub const MAX_PAYLOAD_BYTES: usize = 128 * 1024;

/// How much CPU time tree-sitter may spend on one payload. Parsing is normally well under a
/// millisecond per kilobyte; a payload built to make the parser's error recovery explode
/// would otherwise hold the caller for minutes. The budget is the parsing thread's CPU time,
/// not wall time, so whether a payload is understood does not depend on how busy the machine
/// is (a busy node must not turn an allowed command into a denial); the caller's wall-clock
/// bound (the node host's off-thread limit) still caps the wait.
pub const MAX_PARSE_TIME: Duration = Duration::from_secs(1);

/// Parses and splits a payload.
///
/// Bounded in every dimension an attacker controls: payloads over [`MAX_PAYLOAD_BYTES`] are
/// `too-large`, a parse that runs past [`MAX_PARSE_TIME`] is cancelled as `too-complex`, and
/// the syntax tree is walked with explicit stacks, so a 20,000-deep `a && b && …` list costs
/// heap, not call stack. Either way the payload is "not understood", which policy treats as
/// an allowlist miss.
pub fn analyze(payload: &str) -> Analysis {
    analyze_within(payload, MAX_PARSE_TIME)
}

/// CPU time this thread has used; falls back to zero (the budget then never trips, and the
/// caller's wall-clock bound remains) on a platform without a thread CPU clock.
fn thread_cpu_time() -> Duration {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID).map(Duration::from).unwrap_or_default()
}

/// [`analyze`] with an explicit parse-time budget (tests use a tiny one).
pub fn analyze_within(payload: &str, budget: Duration) -> Analysis {
    if payload.len() > MAX_PAYLOAD_BYTES {
        return Analysis::Unsupported("too-large");
    }
    if payload.contains("\\\n") {
        return Analysis::Unsupported("line-continuation");
    }
    let tree = match parse_bounded(payload, budget) {
        Ok(tree) => tree,
        Err(reason) => return Analysis::Unsupported(reason),
    };
    let src = payload.as_bytes();
    let root = tree.root_node();
    if root.has_error() {
        return Analysis::Unsupported("syntax-error");
    }
    match statements(root, src) {
        Ok(segments) => Analysis::Segments(segments),
        Err(reason) => Analysis::Unsupported(reason),
    }
}

/// Parses with tree-sitter-bash within `budget` of this thread's CPU time; `too-complex` when
/// the parse is cancelled.
pub(crate) fn parse_bounded(payload: &str, budget: Duration) -> Result<Tree, &'static str> {
    let mut parser = Parser::new();
    if parser.set_language(&tree_sitter_bash::LANGUAGE.into()).is_err() {
        return Err("syntax-error");
    }
    let started = thread_cpu_time();
    let mut past_deadline = |_: &ParseState| thread_cpu_time().saturating_sub(started) >= budget;
    let options = ParseOptions::new().progress_callback(&mut past_deadline);
    let src = payload.as_bytes();
    let mut read = |at: usize, _: Point| src.get(at..).unwrap_or_default();
    // A parse only comes back empty when the progress callback cancelled it.
    parser.parse_with_options(&mut read, None, Some(options)).ok_or("too-complex")
}

pub(crate) fn text<'a>(node: Node, src: &'a [u8]) -> &'a str {
    node.utf8_text(src).unwrap_or("")
}

/// Every simple command below a program, in source order.
///
/// Lists (`;`, newlines, `&&`, `||`) and pipelines (`|`) are flattened with an explicit
/// stack of nodes still to visit; `&` and `|&` are refused.
fn statements(root: Node, src: &[u8]) -> Result<Vec<Segment>, &'static str> {
    /// What is left to do, popped from the end: a node to visit, or the refusal that a
    /// separator met while listing a container's children stands for. Keeping refusals in
    /// the queue reports the first problem in source order, as a recursive walk would.
    enum Step<'t> {
        Visit(Node<'t>),
        Refuse(&'static str),
    }
    let mut out = Vec::new();
    let mut todo = vec![Step::Visit(root)];
    while let Some(step) = todo.pop() {
        let node = match step {
            Step::Visit(node) => node,
            Step::Refuse(reason) => return Err(reason),
        };
        match node.kind() {
            "program" | "list" | "pipeline" => {
                let pipeline = node.kind() == "pipeline";
                let mut children = Vec::with_capacity(node.child_count());
                let mut cursor = node.walk();
                for child in node.children(&mut cursor) {
                    if child.is_named() {
                        children.push(Step::Visit(child));
                        continue;
                    }
                    let refusal = match (pipeline, child.kind()) {
                        (true, "|") | (false, ";" | "\n" | "&&" | "||" | ";;") => continue,
                        (true, _) => "redirect", // `|&` pipes stderr too
                        (false, "&") => "background",
                        (false, _) => "syntax-error",
                    };
                    children.push(Step::Refuse(refusal));
                    break;
                }
                // Reversed, so the children pop in source order.
                todo.extend(children.into_iter().rev());
            }
            _ => {
                if let Some(segment) = statement(node, src)? {
                    out.push(segment);
                }
            }
        }
    }
    Ok(out)
}

/// One statement that is not a list or pipeline: a simple command (or `[ … ]`, or bare
/// assignments), a comment, or something refused by name.
fn statement(node: Node, src: &[u8]) -> Result<Option<Segment>, &'static str> {
    match node.kind() {
        "comment" => Ok(None),
        "command" => command(node, src).map(Some),
        "test_command" => {
            reject_dynamic(node)?;
            let words = text(node, src).trim();
            let inner = words.trim_start_matches('[').trim_end_matches(']').trim();
            let mut argv = vec!["[".to_string()];
            argv.extend(inner.split_whitespace().map(String::from));
            argv.push("]".into());
            Ok(Some(Segment { argv, name_range: None, range: None, has_assignments: false }))
        }
        "variable_assignment" | "variable_assignments" => {
            reject_dynamic(node)?;
            Ok(Some(Segment { argv: Vec::new(), name_range: None, range: None, has_assignments: true }))
        }
        "redirected_statement" | "file_redirect" | "heredoc_redirect" | "herestring_redirect" => Err("redirect"),
        "subshell" => Err("subshell"),
        "compound_statement" => Err("group"),
        "if_statement" => Err("if"),
        "for_statement" | "c_style_for_statement" => Err("for"),
        "while_statement" => Err("while"),
        "case_statement" => Err("case"),
        "function_definition" => Err("function-definition"),
        _ => Err("syntax-error"),
    }
}

/// Refuses substitutions and expansions anywhere below `node`, walking the subtree with a
/// cursor (pre-order, no recursion).
fn reject_dynamic(node: Node) -> Result<(), &'static str> {
    let mut cursor = node.walk();
    loop {
        match cursor.node().kind() {
            "command_substitution" => return Err("command-substitution"),
            "process_substitution" => return Err("process-substitution"),
            "simple_expansion" | "expansion" | "arithmetic_expansion" => return Err("dynamic-argument"),
            "heredoc_redirect" | "herestring_redirect" | "file_redirect" => return Err("redirect"),
            _ => {}
        }
        if cursor.goto_first_child() {
            continue;
        }
        // No child: the next sibling of this node or of the nearest ancestor that has one.
        loop {
            if cursor.node() == node {
                return Ok(());
            }
            if cursor.goto_next_sibling() {
                break;
            }
            if !cursor.goto_parent() {
                return Ok(());
            }
        }
    }
}

fn command(node: Node, src: &[u8]) -> Result<Segment, &'static str> {
    let mut seg =
        Segment { argv: Vec::new(), name_range: None, range: Some(node.byte_range()), has_assignments: false };
    let mut cursor = node.walk();
    for child in node.children(&mut cursor) {
        match child.kind() {
            "variable_assignment" => {
                reject_dynamic(child)?;
                seg.has_assignments = true;
            }
            "command_name" => {
                let word = child.named_child(0).ok_or("syntax-error")?;
                let name =
                    static_word(word, src)
                        .map_err(|e| if e == "dynamic-argument" { "dynamic-executable" } else { e })?;
                seg.name_range = Some(child.byte_range());
                seg.argv.push(name);
            }
            "file_redirect" | "heredoc_redirect" | "herestring_redirect" => return Err("redirect"),
            _ if child.is_named() => seg.argv.push(static_word(child, src)?),
            _ => {}
        }
    }
    Ok(seg)
}

/// The value of a word after quote removal, if it is fully static.
pub(crate) fn static_word(node: Node, src: &[u8]) -> Result<String, &'static str> {
    match node.kind() {
        "word" | "number" => Ok(unescape(text(node, src))),
        "raw_string" => {
            let t = text(node, src);
            Ok(t.strip_prefix('\'').and_then(|t| t.strip_suffix('\'')).unwrap_or(t).to_string())
        }
        "string" => {
            let mut out = String::new();
            let mut cursor = node.walk();
            for child in node.children(&mut cursor) {
                match child.kind() {
                    "\"" => {}
                    "string_content" => out.push_str(&unescape_double(text(child, src))),
                    "command_substitution" => return Err("command-substitution"),
                    _ => return Err("dynamic-argument"),
                }
            }
            Ok(out)
        }
        "concatenation" => {
            let mut out = String::new();
            let mut cursor = node.walk();
            for child in node.children(&mut cursor) {
                out.push_str(&static_word(child, src)?);
            }
            Ok(out)
        }
        "command_substitution" => Err("command-substitution"),
        "process_substitution" => Err("process-substitution"),
        _ => Err("dynamic-argument"),
    }
}

/// Backslash removal in an unquoted word.
fn unescape(word: &str) -> String {
    let mut out = String::new();
    let mut chars = word.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Inside double quotes only `\"`, `\\`, `\$` and `` \` `` are escapes.
fn unescape_double(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' && chars.peek().is_some_and(|n| matches!(n, '"' | '\\' | '$' | '`')) {
            out.push(chars.next().expect("peeked"));
        } else {
            out.push(c);
        }
    }
    out
}

/// Replaces byte ranges of `payload` (sorted, non-overlapping) with new text.
pub fn rewrite(payload: &str, replacements: &[(Range<usize>, String)]) -> String {
    let mut out = String::new();
    let mut at = 0;
    for (range, with) in replacements {
        out.push_str(&payload[at..range.start]);
        out.push_str(with);
        at = range.end;
    }
    out.push_str(&payload[at..]);
    out
}

/// A path as a shell word: bare when it has only safe characters, else single-quoted.
pub fn shell_word(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+:@%".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argvs(payload: &str) -> Vec<Vec<String>> {
        match analyze(payload) {
            Analysis::Segments(s) => s.into_iter().map(|s| s.argv).collect(),
            Analysis::Unsupported(r) => panic!("{payload}: unsupported ({r})"),
        }
    }

    fn reason(payload: &str) -> &'static str {
        match analyze(payload) {
            Analysis::Unsupported(r) => r,
            Analysis::Segments(s) => panic!("{payload}: understood as {s:?}"),
        }
    }

    /// The [verified] outcomes of exec.md §4.4, for the analysis half.
    #[test]
    fn upstream_shapes() {
        assert_eq!(argvs("ls -la && git status"), [vec!["ls", "-la"], vec!["git", "status"]]);
        assert_eq!(argvs("ls | head -n 3"), [vec!["ls"], vec!["head", "-n", "3"]]);
        assert_eq!(reason("ls > /tmp/x"), "redirect");
        assert_eq!(reason("echo $(id)"), "command-substitution");
        assert_eq!(reason("echo \"$(id)\""), "command-substitution");
        assert_eq!(reason("echo `id`"), "command-substitution");
        assert_eq!(argvs("ls; rm -rf /"), [vec!["ls"], vec!["rm", "-rf", "/"]]);
        assert_eq!(argvs("cd /tmp && ls"), [vec!["cd", "/tmp"], vec!["ls"]]);
        assert_eq!(reason("for i in 1 2; do echo $i; done"), "for");
        assert_eq!(reason("ls &"), "background");
        assert_eq!(reason("echo $HOME"), "dynamic-argument");
        assert_eq!(reason("$CMD -x"), "dynamic-executable");
        assert_eq!(reason("if true; then ls; fi"), "if");
        assert_eq!(reason("(ls)"), "subshell");
        assert_eq!(reason("{ ls; }"), "group");
        assert_eq!(reason("f() { ls; }"), "function-definition");
        assert_eq!(reason("cat <<EOF\nx\nEOF"), "redirect");
        assert_eq!(reason("ls \\\n -la"), "line-continuation");
        assert_eq!(reason("ls 'unterminated"), "syntax-error");
        let seg = match analyze("FOO=1 ls") {
            Analysis::Segments(s) => s,
            other => panic!("{other:?}"),
        };
        assert!(seg[0].has_assignments, "ok but never satisfied");
        assert_eq!(argvs("echo 'a b' \"c \\\"d\\\"\" e\\ f"), [vec!["echo", "a b", "c \"d\"", "e f"]]);
    }

    /// Robustness: a 20,000-segment `true&&…` list (120 KB, the payload that overflowed the
    /// node's stack) is analysed on a 256 KiB stack, so the walk does not recurse per segment.
    /// (The time bound is lifted: this is about depth, and a loaded machine parses slowly.)
    #[test]
    fn deep_lists_do_not_recurse() {
        let payload = format!("{}true", "true&&".repeat(20_000));
        let analysis = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || analyze_within(&payload, Duration::from_secs(120)))
            .expect("spawn")
            .join()
            .expect("no stack overflow");
        match analysis {
            Analysis::Segments(s) => assert_eq!(s.len(), 20_001),
            other => panic!("{other:?}"),
        }
        let pipes = format!("{}ls", "ls|".repeat(20_000));
        let analysis = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || analyze_within(&pipes, Duration::from_secs(120)))
            .expect("spawn")
            .join()
            .expect("no stack overflow");
        assert!(matches!(analysis, Analysis::Segments(s) if s.len() == 20_001));
    }

    /// Robustness: the size and time bounds fail closed ("not understood"), never hang.
    #[test]
    fn bounds_fail_closed() {
        assert_eq!(reason(&"x".repeat(MAX_PAYLOAD_BYTES + 1)), "too-large");
        let long = "echo a && ".repeat(2_000) + "echo a";
        assert_eq!(analyze_within(&long, Duration::ZERO), Analysis::Unsupported("too-complex"));
        assert!(matches!(analyze_within(&long, MAX_PARSE_TIME), Analysis::Segments(_)));
    }

    /// The first refusal in source order wins, as it did with the recursive walk.
    #[test]
    fn first_refusal_in_source_order() {
        assert_eq!(reason("(ls) &"), "subshell");
        assert_eq!(reason("ls & (ls)"), "background");
        assert_eq!(reason("ls | (ls) |& cat"), "subshell");
        assert_eq!(reason("echo \"$(id)\" $HOME"), "command-substitution");
    }

    /// Rule (exec.md §4.4): command carriers in a shell payload are prompt-only: `xargs`,
    /// `find -exec`, a dispatch wrapper whose command cannot be read (`sudo`, `stdbuf -oL`),
    /// `env -S`, a shell reached through a carrier or wrapper, carried `eval`/`source`. Plain
    /// commands, readable wrappers (`nice ls`) and `find` without an exec action are not.
    #[test]
    fn carriers_are_prompt_only() {
        let po = |a: &[&str]| prompt_only_argv(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        for carrier in [
            &["xargs", "rm"][..],
            &["xargs"],
            &["/usr/bin/find", ".", "-exec", "rm", "{}", ";"],
            &["find", ".", "-okdir", "x", ";"],
            &["sudo", "ls"],
            &["stdbuf", "-oL", "ls"],
            &["env", "-S", "ls -l"],
            &["env", "sh", "-c", "ls"],
            &["nice", "bash", "-c", "ls"],
            &["command", "eval", "x"],
            &["EVAL", "x"],
            &["source", "f"],
        ] {
            assert!(po(carrier), "{carrier:?}");
        }
        for plain in [&["ls", "-la"][..], &["nice", "-n", "5", "ls"], &["find", ".", "-name", "x"], &["env", "ls"]] {
            assert!(!po(plain), "{plain:?}");
        }
    }

    #[test]
    fn rewriting_command_names() {
        let payload = "ls | head -n 3";
        let segs = match analyze(payload) {
            Analysis::Segments(s) => s,
            other => panic!("{other:?}"),
        };
        let range = segs[1].name_range.clone().unwrap();
        assert_eq!(rewrite(payload, &[(range, shell_word("/usr/bin/head"))]), "ls | /usr/bin/head -n 3");
        assert_eq!(shell_word("/opt/my bin/x"), "'/opt/my bin/x'");
        assert!(Segment {
            argv: vec!["eval".into(), "x".into()],
            name_range: None,
            range: None,
            has_assignments: false
        }
        .prompt_only());
        assert!(
            !Segment { argv: vec!["bash".into()], name_range: None, range: None, has_assignments: false }.prompt_only()
        );
    }
}
