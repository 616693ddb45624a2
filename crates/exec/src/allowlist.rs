//! Allowlist matching for a direct argv (`exec.md` §3.3, §4.1–4.3).
//!
//! The executable is resolved the way the node will run it (wrappers looked through as
//! [`crate::wrappers::exec_wrapper_trust_plan`] decides, PATH searched for executables, symlinks resolved) and matched against the rules:
//! path patterns against the real path, bare names only when invoked by bare name, globs with
//! `**`, `*` and `?`, case-sensitive. Anything this module cannot classify is a miss.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::approvals::AllowRule;
use crate::wrappers::{exec_wrapper_trust_plan, WrapperInvocation};

pub use crate::wrappers::BLOCKED_WRAPPERS;

/// The executable behind an argv.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// argv with transparent wrappers removed (at a blocked wrapper: the argv from there).
    pub effective_argv: Vec<String>,
    /// The wrappers removed, outermost first.
    pub wrapper_chain: Vec<String>,
    /// The same wrappers with the argv each was invoked with (what identity binding resolves).
    pub wrapper_invocations: Vec<WrapperInvocation>,
    /// A wrapper that can never be allowlisted was involved (or the nesting was too deep).
    pub policy_blocked: bool,
    /// Invoked by a bare name (searched on PATH).
    pub bare_name: bool,
    /// The executable found.
    pub resolved_path: Option<PathBuf>,
    /// Its real path (symlinks resolved): what rules and pins are matched against.
    pub resolved_real_path: Option<PathBuf>,
    /// For a token with a path (`./tool`, `/opt/x`): the file it names, absolute, whether or
    /// not it is an executable file.
    pub named_path: Option<PathBuf>,
}

impl Resolution {
    /// The path rules are matched against and allow-always remembers
    /// (`resolveExecutableTrustPath`): the executable's real path, else the file a token with a
    /// path names (its real path when it exists), executable or not; a rule for a script
    /// that lost its execute bit still names it.
    pub fn trust_path(&self) -> Option<PathBuf> {
        self.resolved_real_path.clone().or_else(|| self.resolved_path.clone()).or_else(|| {
            let named = self.named_path.as_ref()?;
            Some(std::fs::canonicalize(named).unwrap_or_else(|_| named.clone()))
        })
    }
}

fn basename(arg: &str) -> &str {
    arg.rsplit('/').next().unwrap_or(arg)
}

fn is_executable_file(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        && nix::unistd::access(p, nix::unistd::AccessFlags::X_OK).is_ok()
}

/// Resolves argv against `cwd` and `path` (the child's PATH).
pub fn resolve(argv: &[String], cwd: Option<&Path>, path: &str, home: Option<&Path>) -> Resolution {
    // As upstream's argv analysis: blank arguments are dropped, argv[0] is read trimmed.
    let non_empty: Vec<String> = argv.iter().filter(|a| !a.trim().is_empty()).cloned().collect();
    let plan = exec_wrapper_trust_plan(&non_empty);
    let mut r = Resolution {
        effective_argv: plan.argv,
        wrapper_chain: plan.wrapper_chain,
        wrapper_invocations: plan.invocations,
        policy_blocked: plan.policy_blocked,
        bare_name: false,
        resolved_path: None,
        resolved_real_path: None,
        named_path: None,
    };
    let Some(exe) = r.effective_argv.first().map(|e| e.trim().to_string()).filter(|e| !e.is_empty()) else {
        return r;
    };
    let expanded = match (exe.strip_prefix('~'), home) {
        (Some(rest), Some(home)) if rest.is_empty() || rest.starts_with('/') => home.join(rest.trim_start_matches('/')),
        _ => PathBuf::from(&exe),
    };
    let candidate = if exe.contains('/') {
        let base = cwd.map(Path::to_path_buf).or_else(|| std::env::current_dir().ok()).unwrap_or_default();
        let p = crate::lexical_path::resolve_lexically(&base, expanded);
        r.named_path = Some(p.clone());
        is_executable_file(&p).then_some(p)
    } else {
        r.bare_name = true;
        path.split(':').filter(|d| !d.is_empty()).map(|d| Path::new(d).join(&exe)).find(|c| is_executable_file(c))
    };
    if let Some(p) = candidate {
        r.resolved_real_path = std::fs::canonicalize(&p).ok();
        r.resolved_path = Some(p);
    }
    r
}

/// One element of a compiled glob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GlobToken {
    /// A character that must appear as is.
    Literal(char),
    /// `?`: one character other than `/`.
    AnyChar,
    /// `*`: any run of characters other than `/`.
    Star,
    /// `**`: any run of characters.
    GlobStar,
}

/// Glob match: `**` any characters, `*` any run without `/`, `?` one non-`/` character, all
/// else literal, anchored at both ends, case-sensitive.
///
/// Simulated as a set of pattern positions advanced one text character at a time
/// (Thompson's construction), so the cost is at most pattern × text steps whatever the
/// pattern: a backtracking matcher takes exponential time on `/**/**/…/**Z`, and such a
/// pattern can arrive in an approvals document.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let mut tokens = Vec::with_capacity(pattern.len());
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        tokens.push(match c {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                GlobToken::GlobStar
            }
            '*' => GlobToken::Star,
            '?' => GlobToken::AnyChar,
            c => GlobToken::Literal(c),
        });
    }
    let n = tokens.len();
    // `live[i]`: the text read so far can be matched by `tokens[..i]`.
    let mut live = vec![false; n + 1];
    let mut next = vec![false; n + 1];
    // A star may match nothing, so reaching it also reaches the position after it.
    let close = |set: &mut [bool]| {
        for i in 0..n {
            if set[i] && matches!(tokens[i], GlobToken::Star | GlobToken::GlobStar) {
                set[i + 1] = true;
            }
        }
    };
    live[0] = true;
    close(&mut live);
    for c in text.chars() {
        next.iter_mut().for_each(|x| *x = false);
        let mut any = false;
        for i in 0..n {
            if !live[i] {
                continue;
            }
            let (stay, advance) = match tokens[i] {
                GlobToken::Literal(l) => (false, l == c),
                GlobToken::AnyChar => (false, c != '/'),
                GlobToken::Star => (c != '/', false),
                GlobToken::GlobStar => (true, false),
            };
            next[i] |= stay;
            next[i + 1] |= advance;
            any |= stay || advance;
        }
        if !any {
            return false;
        }
        close(&mut next);
        std::mem::swap(&mut live, &mut next);
    }
    live[n]
}

/// `sha256:cwd-argv:v1:<hex>` for a cwd and argv (what allow-always writes).
pub fn cwd_bound_arg_pattern(cwd: &str, argv: &[String]) -> String {
    let mut h = Sha256::new();
    let args = argv.get(1..).unwrap_or_default();
    h.update(format!("{}\0{cwd}\0{}\0", cwd.len(), args.len()).as_bytes());
    for a in args {
        h.update(format!("{}\0{a}\0", a.len()).as_bytes());
    }
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:cwd-argv:v1:{hex}")
}

/// An argPattern allow-always generated (`sha256:cwd-argv:v1:` or the legacy `sha256:argv:`):
/// a hash, so usage stamps leave out the command text it stands for.
pub fn is_generated_hashed_arg_pattern(arg_pattern: &str) -> bool {
    arg_pattern.starts_with("sha256:cwd-argv:v1:") || arg_pattern.starts_with("sha256:argv:")
}

/// `=command:<16 hex>`: the durable whole-command marker.
pub fn command_marker(command_text: &str) -> String {
    let hex: String = Sha256::digest(command_text.as_bytes()).iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("=command:{hex}")
}

/// `=node-command:<first 16 hex of sha256(trimmed commandText)>`: the marker an allow-always
/// decision writes when it covered the whole command (gateways read it to skip re-asking).
pub fn node_command_marker(command_text: &str) -> String {
    let hex: String =
        Sha256::digest(command_text.trim().as_bytes()).iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("=node-command:{hex}")
}

fn arg_pattern_matches(rule: &AllowRule, argv: &[String], cwd: Option<&str>) -> bool {
    let Some(ap) = rule.arg_pattern.as_deref() else { return false };
    if ap.starts_with("sha256:cwd-argv:v1:") {
        return cwd.is_some_and(|cwd| cwd_bound_arg_pattern(cwd, argv) == ap);
    }
    if rule.source.as_deref() == Some("allow-always") || ap.starts_with("sha256:") {
        return false;
    }
    let args = argv.get(1..).unwrap_or_default();
    let subject = if ap.contains('\0') {
        if args.is_empty() {
            "\0\0".to_string()
        } else {
            format!("{}\0", args.join("\0"))
        }
    } else {
        args.join(" ")
    };
    regex::Regex::new(ap).is_ok_and(|re| re.is_match(&subject))
}

fn pattern_matches(rule: &AllowRule, res: &Resolution, home: Option<&Path>) -> bool {
    let pattern = rule.pattern.as_str();
    if pattern.contains('/') || pattern.contains('\\') || pattern.starts_with('~') {
        let expanded = match (pattern.strip_prefix('~'), home) {
            (Some(rest), Some(home)) => format!("{}{rest}", home.display()),
            _ => pattern.to_string(),
        };
        res.trust_path().is_some_and(|t| glob_match(&expanded, &t.to_string_lossy()))
    } else {
        res.bare_name
            && res.resolved_path.is_some()
            && res.effective_argv.first().is_some_and(|exe| glob_match(pattern, basename(exe.trim())))
    }
}

/// The rule that allows this segment, if any (upstream's precedence: a bare `*` wins; then
/// the first rule whose pattern and argPattern both match; then the first pattern-only rule).
/// Allow-always rules without a generated argPattern are inactive.
pub fn match_rule<'a>(
    rules: &'a [AllowRule],
    res: &Resolution,
    cwd: Option<&str>,
    home: Option<&Path>,
) -> Option<&'a AllowRule> {
    if res.policy_blocked || res.effective_argv.is_empty() {
        return None;
    }
    let always = |r: &AllowRule| r.source.as_deref() == Some("allow-always");
    if let Some(star) = rules.iter().find(|r| r.pattern == "*" && r.arg_pattern.is_none() && !always(r)) {
        return Some(star);
    }
    rules
        .iter()
        .filter(|r| r.arg_pattern.is_some())
        .find(|r| pattern_matches(r, res, home) && arg_pattern_matches(r, &res.effective_argv, cwd))
        .or_else(|| {
            rules.iter().filter(|r| r.arg_pattern.is_none() && !always(r)).find(|r| pattern_matches(r, res, home))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    fn rule(pattern: &str) -> AllowRule {
        AllowRule { pattern: pattern.into(), arg_pattern: None, source: None }
    }

    const PATH: &str = "/usr/local/bin:/usr/bin:/bin";

    fn real_ls() -> String {
        std::fs::canonicalize("/usr/bin/ls")
            .or_else(|_| std::fs::canonicalize("/bin/ls"))
            .unwrap()
            .to_string_lossy()
            .into_owned()
    }

    /// Appendix B vectors.
    #[test]
    fn upstream_vectors() {
        let ls = real_ls();
        let nice = resolve(&v(&["nice", "ls"]), None, PATH, None);
        assert_eq!(nice.effective_argv, ["ls"]);
        assert!(match_rule(&[rule(&ls)], &nice, None, None).is_some());
        let dot_git = resolve(&v(&["./git"]), Some(Path::new("/tmp")), PATH, None);
        assert!(match_rule(&[rule("git")], &dot_git, None, None).is_none());
        let plain = resolve(&v(&["ls"]), None, PATH, None);
        assert!(match_rule(&[rule(&ls.to_uppercase())], &plain, None, None).is_none(), "case-sensitive");
        assert!(match_rule(&[rule("/usr/*")], &plain, None, None).is_none() || !ls.starts_with("/usr/bin/"));
        assert!(match_rule(&[rule("/**")], &plain, None, None).is_some());
        let always = AllowRule { source: Some("allow-always".into()), ..rule("ls") };
        assert!(match_rule(&[always], &plain, None, None).is_none(), "inactive without a generated argPattern");
        assert_eq!(
            cwd_bound_arg_pattern("/tmp", &v(&["ls", "-la"])),
            "sha256:cwd-argv:v1:0eae1d4f905e0fa3d0dc518f8e6e1bfc17fe9dd1620d5e1889a3c3cab4ce85ce"
        );
        for blocked in [
            &["env", "FOO=1", "ls"][..],
            &["sudo", "ls"],
            &["env", "-i", "ls"],
            &["nice", "nice", "nice", "nice", "nice", "ls"],
        ] {
            assert!(resolve(&v(blocked), None, PATH, None).policy_blocked, "{blocked:?}");
        }
        assert!(!resolve(&v(&["timeout", "5", "ls"]), None, PATH, None).policy_blocked);
    }

    /// Rule (§4.1, observed by exec-diff): blank arguments are dropped and argv[0] is resolved
    /// trimmed, as upstream's argv analysis does (`[" echo", "x"]` runs `echo`).
    #[test]
    fn blank_arguments_and_padded_executable() {
        let padded = resolve(&v(&[" ls", " ", "-la"]), None, PATH, None);
        assert_eq!(padded.effective_argv, [" ls", "-la"]);
        assert!(padded.bare_name && padded.resolved_real_path.is_some());
        assert!(match_rule(&[rule("ls")], &padded, None, None).is_some());
        assert!(resolve(&v(&["  "]), None, PATH, None).resolved_path.is_none());
    }

    /// The backtracking matcher this module used before; kept as the reference the linear
    /// one must agree with.
    fn glob_match_backtracking(pattern: &str, text: &str) -> bool {
        fn go(p: &[char], t: &[char]) -> bool {
            match p.first() {
                None => t.is_empty(),
                Some('*') if p.get(1) == Some(&'*') => (0..=t.len()).any(|i| go(&p[2..], &t[i..])),
                Some('*') => {
                    let max = t.iter().position(|c| *c == '/').unwrap_or(t.len());
                    (0..=max).any(|i| go(&p[1..], &t[i..]))
                }
                Some('?') => t.first().is_some_and(|c| *c != '/') && go(&p[1..], &t[1..]),
                Some(c) => t.first() == Some(c) && go(&p[1..], &t[1..]),
            }
        }
        go(&pattern.chars().collect::<Vec<_>>(), &text.chars().collect::<Vec<_>>())
    }

    /// Generated patterns and texts over a small alphabet (so stars, slashes and literals
    /// collide often): the linear matcher answers exactly as the backtracking one.
    #[test]
    fn glob_agrees_with_backtracking_reference() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let alphabet = ['a', 'b', '/', '*', '?', '.'];
        for _ in 0..20_000 {
            let pattern: String = (0..next(9)).map(|_| alphabet[next(alphabet.len())]).collect();
            let text: String = (0..next(9)).map(|_| alphabet[next(3)]).collect();
            assert_eq!(
                glob_match(&pattern, &text),
                glob_match_backtracking(&pattern, &text),
                "pattern {pattern:?} text {text:?}"
            );
        }
    }

    /// Robustness: `/` + `**` x 40 + `Z` (exponential for a backtracking matcher, which took
    /// 6.75 s at x22) and a 200,000-star pattern (which overflowed its stack) answer at once.
    #[test]
    fn glob_is_linear_on_hostile_patterns() {
        let text = format!("/{}", "a/".repeat(60));
        let started = std::time::Instant::now();
        assert!(!glob_match(&format!("/{}Z", "**".repeat(40)), &text));
        assert!(!glob_match(&format!("/{}Z", "**".repeat(200_000)), "/usr/bin/ls"));
        assert!(glob_match(&format!("/{}", "**".repeat(200_000)), "/usr/bin/ls"));
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
    }

    #[test]
    fn globs_and_arg_patterns() {
        assert!(glob_match("/usr/bin/*", "/usr/bin/ls"));
        assert!(glob_match("/usr/**", "/usr/bin/ls"));
        assert!(!glob_match("/usr/*", "/usr/bin/ls"));
        assert!(glob_match("l?", "ls"));
        assert!(!glob_match("l?", "l/"));
        let plain = resolve(&v(&["ls", "-la"]), None, PATH, None);
        let with_args = |ap: &str| AllowRule { arg_pattern: Some(ap.into()), ..rule("ls") };
        assert!(match_rule(&[with_args("^-la$")], &plain, None, None).is_some());
        let short = resolve(&v(&["ls", "-l"]), None, PATH, None);
        assert!(match_rule(&[with_args("^-la$")], &short, None, None).is_none());
        assert!(match_rule(&[with_args("(unclosed")], &plain, None, None).is_none(), "invalid regex never matches");
        let hashed = AllowRule {
            source: Some("allow-always".into()),
            ..with_args(&cwd_bound_arg_pattern("/tmp", &v(&["ls", "-la"])))
        };
        assert!(match_rule(std::slice::from_ref(&hashed), &plain, Some("/tmp"), None).is_some());
        assert!(match_rule(&[hashed], &plain, Some("/var"), None).is_none(), "bound to the cwd");
        let star = rule("*");
        let missing = resolve(&v(&["/nonexistent/x"]), None, PATH, None);
        assert!(match_rule(&[star], &missing, None, None).is_some(), "a bare * matches anything resolvable or not");
        assert_eq!(command_marker("ls -la").len(), "=command:".len() + 16);
    }
}
