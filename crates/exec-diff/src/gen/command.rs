//! The command grammar: argv shapes, dispatch wrappers, shells and their flags, shell payloads
//! with every operator and redirection, interpreters with and without inline eval, and command
//! carriers. Every production is a row in a table with a tag, so a unit test can check that a
//! few thousand generated cases reach every row.
//!
//! Everything here must stay harmless when it runs with `security=full`: the only programs are
//! printers and readers (`echo`, `cat` of files the harness creates, `python3 -c 'print(1)'` …),
//! missing programs, and wrappers around those. Writes go only to `@CASE@/…`, the per-case
//! directory the runner substitutes for `@CASE@`.

use crate::rng::Rng;

/// A generated argv with the grammar rows it came from.
#[derive(Clone, Debug, Default)]
pub struct Command {
    /// The argv (with `@CASE@` placeholders).
    pub argv: Vec<String>,
    /// For a shell form, the payload after the inline flag.
    pub payload: Option<String>,
    /// Grammar rows used, e.g. `wrapper:nice`, `op:&&`.
    pub tags: Vec<String>,
}

/// A program invocation that is harmless to run: `(tag, argv)`.
pub type Leaf = (&'static str, &'static [&'static str]);

/// Plain programs.
pub const PLAIN: &[Leaf] = &[
    ("echo", &["echo", "hello", "world"]),
    ("echo-quoted", &["echo", "a b", "\"q\""]),
    ("echo-empty-arg", &["echo", ""]),
    ("abs-echo", &["/usr/bin/echo", "abs"]),
    ("bin-echo", &["/bin/echo", "bin"]),
    ("printf", &["printf", "ok"]),
    ("true", &["true"]),
    ("false", &["false"]),
    ("pwd", &["pwd"]),
    ("ls", &["ls"]),
    ("ls-sub", &["ls", "-a", "@CASE@/sub"]),
    ("cat-abs", &["cat", "@CASE@/data.txt"]),
    ("cat-rel", &["cat", "data.txt"]),
    ("head-safe", &["head", "-n", "1"]),
    ("head-path", &["head", "-n", "1", "@CASE@/data.txt"]),
    ("tr", &["tr", "a-z", "A-Z"]),
    ("wc", &["wc", "-l"]),
    ("sed", &["sed", "-n", "1p", "@CASE@/data.txt"]),
    ("awk", &["awk", "{print $1}", "@CASE@/data.txt"]),
    ("grep", &["grep", "-c", "hello", "@CASE@/data.txt"]),
    ("printenv", &["printenv", "FOO"]),
    ("missing", &["definitely-not-here-xyz"]),
    ("rel-script", &["./script.sh"]),
    ("abs-script", &["@CASE@/script.sh"]),
    ("tilde", &["~/bin/nothing-here"]),
    ("security-audit", &["echo", "security.audit.suppressions"]),
];

/// Interpreters, with and without inline code.
pub const INTERPRETERS: &[Leaf] = &[
    ("python3 -c", &["python3", "-c", "print(1)"]),
    ("python3 -Ic", &["python3", "-Ic", "print(2)"]),
    ("python3 script", &["python3", "@CASE@/tool.py"]),
    ("node -e", &["node", "-e", "console.log(1)"]),
    ("node --eval=", &["node", "--eval=console.log(2)"]),
    ("node -p", &["node", "-p", "3"]),
    ("node script", &["node", "@CASE@/tool.js"]),
    ("perl -e", &["perl", "-e", "print 1"]),
    ("perl -E", &["perl", "-E", "say 1"]),
    ("perl script", &["perl", "@CASE@/tool.pl"]),
    ("ruby -e", &["ruby", "-e", "puts 1"]),
    ("php -r", &["php", "-r", "echo 1;"]),
    ("lua -e", &["lua", "-e", "print(1)"]),
    ("sh script", &["sh", "@CASE@/script.sh"]),
    ("bash script", &["bash", "@CASE@/script.sh"]),
];

/// Command carriers: programs that run another program.
pub const CARRIERS: &[Leaf] = &[
    ("xargs", &["xargs", "echo"]),
    ("xargs -0", &["xargs", "-0", "echo", "x"]),
    ("xargs sh -c", &["xargs", "sh", "-c", "echo hi"]),
    ("find -exec", &["find", "@CASE@/sub", "-name", "data.txt", "-exec", "cat", "{}", ";"]),
    ("find -execdir", &["find", "@CASE@/sub", "-name", "data.txt", "-execdir", "echo", "{}", ";"]),
    ("find", &["find", "@CASE@/sub", "-name", "data.txt"]),
    ("parallel", &["parallel", "echo", ":::", "a"]),
];

/// Dispatch wrappers, transparent and blocked (spec/exec.md §3.3).
pub const WRAPPERS: &[Leaf] = &[
    ("env", &["env"]),
    ("env --", &["env", "--"]),
    ("env FOO=1", &["env", "FOO=1"]),
    ("env -- FOO=1", &["env", "--", "FOO=1"]),
    ("env -i", &["env", "-i"]),
    ("env LD_PRELOAD=", &["env", "LD_PRELOAD=/nonexistent-xyz.so"]),
    ("env PATH=", &["env", "PATH=/usr/bin:/bin"]),
    ("nice", &["nice"]),
    ("nice -n 5", &["nice", "-n", "5"]),
    ("timeout 5", &["timeout", "5"]),
    ("timeout -s KILL", &["timeout", "-s", "KILL", "5"]),
    ("timeout -sTERM", &["timeout", "-sTERM", "5"]),
    ("timeout -k", &["timeout", "-k", "1", "5"]),
    ("nohup", &["nohup"]),
    ("stdbuf -oL", &["stdbuf", "-oL"]),
    ("time", &["time"]),
    ("time -p", &["time", "-p"]),
    ("command", &["command"]),
    ("command -p", &["command", "-p"]),
    ("builtin", &["builtin"]),
    ("exec", &["exec"]),
    ("flock", &["flock", "@CASE@/lock"]),
    ("caffeinate", &["caffeinate", "-i"]),
    ("sudo", &["sudo", "-n"]),
    ("doas", &["doas"]),
    ("setsid", &["setsid"]),
    ("chrt", &["chrt", "-o", "0"]),
    ("taskset", &["taskset", "-c", "0"]),
    ("ionice", &["ionice", "-c", "3"]),
];

/// Shell programs.
pub const SHELLS: &[&str] = &["sh", "bash", "dash", "/bin/sh", "/usr/bin/bash", "zsh"];

/// Shell flag forms before the payload; `@P@` is the payload.
pub const SHELL_FLAGS: &[Leaf] = &[
    ("-c", &["-c", "@P@"]),
    ("-lc", &["-lc", "@P@"]),
    ("-ic", &["-ic", "@P@"]),
    ("-ec", &["-ec", "@P@"]),
    ("-xc", &["-xc", "@P@"]),
    ("-l -c", &["-l", "-c", "@P@"]),
    ("-o pipefail -c", &["-o", "pipefail", "-c", "@P@"]),
    ("--command", &["--command", "@P@"]),
    ("-c positional", &["-c", "@P@", "argv0", "one"]),
];

/// Payload pieces that are not a plain command: `(tag, text)`; `@S@` is a simple command.
pub const PIECES: &[(&str, &str)] = &[
    ("redirect >", "@S@ > @CASE@/out.txt"),
    ("redirect >>", "@S@ >> @CASE@/out.txt"),
    ("redirect 2>&1", "@S@ 2>&1"),
    ("redirect <", "@S@ < @CASE@/data.txt"),
    ("redirect 2>/dev/null", "@S@ 2>/dev/null"),
    ("here-string", "cat <<< hi"),
    ("cmdsubst", "echo $(echo sub)"),
    ("backtick", "echo `echo bt`"),
    ("cmdsubst-quoted", "echo \"$(echo q)\""),
    ("var", "echo $FOO"),
    ("braced-var", "echo ${HOME}"),
    ("subshell", "(@S@)"),
    ("group", "{ @S@; }"),
    ("if", "if true; then @S@; fi"),
    ("for", "for i in 1 2; do echo $i; done"),
    ("while", "while false; do :; done"),
    ("case", "case a in a) echo a;; esac"),
    ("assignment-prefix", "FOO=1 @S@"),
    ("assignment-only", "FOO=1"),
    ("eval", "eval echo ev"),
    ("source", ". @CASE@/script.sh"),
    ("function", "f() { echo fn; }; f"),
    ("line-continuation", "echo a \\\n b"),
    ("process-substitution", "cat <(echo ps)"),
    ("background", "@S@ &"),
    ("late-background", "(sleep 0.2; echo late) &"),
    ("cd-builtin", "cd @CASE@/sub"),
    ("test-builtin", "[ -f @CASE@/data.txt ]"),
    ("nested-shell", "sh -c 'echo nested'"),
];

/// Operators between payload pieces.
pub const OPS: &[(&str, &str)] =
    &[("&&", " && "), ("||", " || "), (";", "; "), ("|", " | "), ("newline", "\n"), ("&", " & ")];

/// The heredoc ends a payload (its body follows the last line).
pub const HEREDOC: &str = "cat <<EOF\nhi\nEOF";

/// Odd argv shapes the parser must handle (the value of `command`).
pub const ODD_SHAPES: &[&str] = &["empty", "non-string", "string", "absent", "five-nice", "padded-argv0"];

fn owned(argv: &[&str]) -> Vec<String> {
    argv.iter().map(|s| s.to_string()).collect()
}

/// Quotes one word for a POSIX shell: bare when it is safe, else single quotes.
pub fn shell_quote(word: &str) -> String {
    let safe = !word.is_empty()
        && word.chars().all(|c| c.is_ascii_alphanumeric() || "@%+=:,./-_{}~".contains(c))
        && word != "{}";
    if safe {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// `formatExecCommand` (spec/exec.md §3.1): single spaces; `""` for an empty argument;
/// arguments with whitespace or `"` wrapped in double quotes with `"` escaped.
pub fn format_exec_command(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if a.is_empty() {
                "\"\"".to_string()
            } else if a.chars().any(|c| c.is_whitespace() || c == '"') {
                format!("\"{}\"", a.replace('"', "\\\""))
            } else {
                a.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A leaf from one of the program tables.
fn leaf(rng: &mut Rng, tags: &mut Vec<String>) -> Vec<String> {
    let (table, kind) = match rng.weighted(&[5, 3, 2]) {
        0 => (PLAIN, "plain"),
        1 => (INTERPRETERS, "interp"),
        _ => (CARRIERS, "carrier"),
    };
    let (tag, argv) = rng.pick(table);
    tags.push(format!("{kind}:{tag}"));
    owned(argv)
}

/// Zero to three wrappers in front of `inner`.
fn wrap(rng: &mut Rng, inner: Vec<String>, tags: &mut Vec<String>, max: usize) -> Vec<String> {
    let n = [0, 0, 1, 1, 2, 3][rng.below(6)].min(max);
    let mut argv = inner;
    for _ in 0..n {
        let (tag, prefix) = rng.pick(WRAPPERS);
        tags.push(format!("wrapper:{tag}"));
        let mut w = owned(prefix);
        w.extend(argv);
        argv = w;
    }
    argv
}

/// A simple command for a payload: a wrapped leaf, shell-quoted.
fn simple(rng: &mut Rng, tags: &mut Vec<String>) -> String {
    let argv = leaf(rng, tags);
    let argv = wrap(rng, argv, tags, 1);
    argv.iter().map(|w| shell_quote(w)).collect::<Vec<_>>().join(" ")
}

/// A shell payload of one to three pieces joined by operators.
pub fn payload(rng: &mut Rng, tags: &mut Vec<String>) -> String {
    let n = 1 + rng.below(3);
    let mut out = String::new();
    for i in 0..n {
        if i > 0 {
            let (tag, op) = rng.pick(OPS);
            tags.push(format!("op:{tag}"));
            out.push_str(op);
        }
        if rng.chance(45) {
            out.push_str(&simple(rng, tags));
        } else {
            let (tag, text) = rng.pick(PIECES);
            tags.push(format!("piece:{tag}"));
            let s = if text.contains("@S@") { simple(rng, tags) } else { String::new() };
            out.push_str(&text.replace("@S@", &s));
        }
    }
    if rng.chance(5) {
        tags.push("piece:heredoc".into());
        out.push_str("; ");
        out.push_str(HEREDOC);
    }
    out
}

/// A shell invocation around a generated payload.
fn shell(rng: &mut Rng, tags: &mut Vec<String>) -> Command {
    let sh = *rng.pick(SHELLS);
    let (flag_tag, flags) = rng.pick(SHELL_FLAGS);
    tags.push(format!("shell:{sh}"));
    tags.push(format!("shell-flag:{flag_tag}"));
    let p = payload(rng, tags);
    let mut argv = vec![sh.to_string()];
    argv.extend(flags.iter().map(|f| if *f == "@P@" { p.clone() } else { f.to_string() }));
    Command { argv, payload: Some(p), tags: Vec::new() }
}

/// The `command` value of a request: an argv, or an odd shape (`Err` holds the JSON).
pub enum Argv {
    /// A well-formed argv.
    Argv(Command),
    /// A malformed `command` value (or `Null` for an absent one), with its tag.
    Odd(serde_json::Value, String),
}

/// One generated `command`.
pub fn generate(rng: &mut Rng) -> Argv {
    let mut tags = Vec::new();
    match rng.weighted(&[40, 50, 6]) {
        0 => {
            let inner = leaf(rng, &mut tags);
            let argv = wrap(rng, inner, &mut tags, 3);
            Argv::Argv(Command { argv, payload: None, tags })
        }
        1 => {
            let mut c = shell(rng, &mut tags);
            c.argv = wrap(rng, c.argv, &mut tags, 2);
            c.tags = tags;
            Argv::Argv(c)
        }
        _ => {
            let shape = *rng.pick(ODD_SHAPES);
            let tag = format!("odd:{shape}");
            let v = match shape {
                "empty" => serde_json::json!([]),
                "non-string" => serde_json::json!(["echo", 1, true, null]),
                "string" => serde_json::json!("echo hi"),
                "absent" => serde_json::Value::Null,
                "five-nice" => serde_json::json!(["nice", "nice", "nice", "nice", "nice", "echo", "deep"]),
                _ => serde_json::json!([" echo", "padded"]),
            };
            Argv::Odd(v, tag)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_exec_command_follows_the_upstream_vectors() {
        let v = |a: &[&str]| format_exec_command(&owned(a));
        assert_eq!(v(&["echo", "a b", ""]), "echo \"a b\" \"\"");
        assert_eq!(v(&["/bin/sh", "-lc", "echo hi"]), "/bin/sh -lc \"echo hi\"");
        assert_eq!(v(&["echo", "say \"x\""]), "echo \"say \\\"x\\\"\"");
        assert_eq!(v(&["a\\b"]), "a\\b");
    }

    #[test]
    fn shell_quote_round_trips_through_sh() {
        for w in ["plain", "a b", "it's", "", "{}", "$(id)", "print(1)"] {
            let out = std::process::Command::new("sh")
                .args(["-c", &format!("printf %s {}", shell_quote(w))])
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), w, "{w}");
        }
    }
}
