//! Inline-eval detection for `strictInlineEval` (`exec.md` §4.8): interpreter invocations that
//! carry their program in argv (`python3 -c …`, `node -e …`, `awk '{…}'`), which an allowlist
//! entry for the interpreter must not silently allow.

/// `(family, flags that take inline code, canonical flag for the description)`.
const FLAG_TABLE: &[(&[&str], &[&str])] = &[
    (&["python", "python2", "python3", "pypy", "pypy3"], &["-c"]),
    (&["node", "nodejs", "bun", "deno"], &["-e", "--eval", "-p", "--print"]),
    (&["ruby"], &["-e"]),
    (&["perl"], &["-e", "-E"]),
    (&["php"], &["-r"]),
    (&["r", "rscript"], &["-e"]),
    (&["julia"], &["-e", "--eval", "--print"]),
    (&["elixir", "iex"], &["-e", "--eval", "--rpc-eval"]),
    (&["guile"], &["-c", "-e"]),
    (&["groovy"], &["-e"]),
    (&["scala", "scala-cli"], &["-e"]),
    (&["clojure", "clj"], &["-e", "--eval"]),
    (&["raku", "perl6"], &["-e"]),
    (&["ghc", "ghci"], &["-e"]),
    (&["erl", "werl"], &["-eval", "-run", "-s"]),
    (&["gdb"], &["-ex", "-iex", "-eiex", "--eval-command"]),
    (&["expect"], &["-c"]),
    (&["lua"], &["-e"]),
    (&["osascript"], &["-e"]),
    (&["find"], &["-exec", "-execdir", "-ok", "-okdir"]),
    (&["make", "gmake"], &["-f", "--file", "--makefile", "--eval", "-E"]),
];

const AWK: &[&str] = &["awk", "gawk", "mawk", "nawk"];
const SED: &[&str] = &["sed", "gsed"];
const CARRIERS: &[&str] = &["env", "sudo", "command", "nice", "nohup", "time", "timeout", "exec", "doas", "stdbuf"];

/// `python3.12.exe` → (`python3.12`, `python`): the name shown, and the family matched.
fn names(arg: &str) -> (String, String) {
    let base = arg.rsplit(['/', '\\']).next().unwrap_or(arg).to_lowercase();
    let base = base.strip_suffix(".exe").map(String::from).unwrap_or(base);
    let family = base.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.').to_string();
    let family = if family.is_empty() { base.clone() } else { family };
    (base, family)
}

/// Describes the inline program in argv, e.g. `python3 -c`, `awk inline program`,
/// `xargs inline command`; `None` when there is none.
pub fn detect(argv: &[String]) -> Option<String> {
    // Look through carriers (their options and assignments are skipped).
    let mut i = 0;
    while let Some(a) = argv.get(i) {
        let (_, family) = names(a);
        if !CARRIERS.contains(&family.as_str()) {
            break;
        }
        i += 1;
        while argv
            .get(i)
            .is_some_and(|x| x.starts_with('-') || x.contains('=') || x.chars().all(|c| c.is_ascii_digit()))
        {
            i += 1;
        }
    }
    let argv = &argv[i.min(argv.len())..];
    let (shown, family) = names(argv.first()?);
    let args = &argv[1..];
    if family == "xargs" {
        return args.iter().any(|a| !a.starts_with('-')).then(|| "xargs inline command".to_string());
    }
    if AWK.contains(&family.as_str()) || SED.contains(&family.as_str()) {
        let mut k = 0;
        while let Some(a) = args.get(k) {
            if a == "-f" || a == "--file" || a.starts_with("--file=") {
                return None;
            }
            if a == "-e"
                || a == "--source"
                || a == "--expression"
                || (SED.contains(&family.as_str()) && a.starts_with("-e"))
            {
                return Some(format!("{shown} -e"));
            }
            if !a.starts_with('-') {
                return Some(format!("{shown} inline program"));
            }
            // Options with a value (awk -F x, -v k=v).
            if matches!(a.as_str(), "-F" | "-v") {
                k += 1;
            }
            k += 1;
        }
        return None;
    }
    let flags = FLAG_TABLE.iter().find(|(fams, _)| fams.contains(&family.as_str()))?.1;
    let canonical = |f: &str| if family == "perl" { f.to_lowercase() } else { f.to_string() };
    for a in args {
        let name = a.split_once('=').map(|(n, _)| n).unwrap_or(a);
        if flags.contains(&name) {
            return Some(format!("{shown} {}", canonical(name)));
        }
        // Short clusters such as python's -Ic.
        if family == "python" && a.starts_with('-') && !a.starts_with("--") && a[1..].contains('c') {
            return Some(format!("{shown} -c"));
        }
        if !a.starts_with('-') && family != "find" && family != "make" {
            // The first operand (a script) ends option parsing for interpreters.
            return None;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(a: &[&str]) -> Option<String> {
        detect(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>())
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
}
