//! Safe bins (`exec.md` §4.6): stream filters such as `head -n 5` that are allowed without an
//! allowlist entry, as long as they come from a trusted directory and their arguments cannot
//! reach files or run code.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::allowlist::Resolution;

/// The default safe bins.
pub const DEFAULT_SAFE_BINS: &[&str] = &["cut", "uniq", "head", "tail", "tr", "wc"];
/// Never safe, whatever a profile says: they are languages.
const SEMANTIC_DENY: &[&str] = &["jq", "awk", "gawk", "mawk", "nawk", "sed", "gsed"];

/// How a safe bin's arguments are validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    /// Fewest positional operands accepted.
    pub min_positional: usize,
    /// Most positional operands accepted (`None`: no limit).
    pub max_positional: Option<usize>,
    /// Flags that take a value (the value is not a positional operand).
    pub value_flags: Vec<String>,
    /// Flags that take no value.
    pub bool_flags: Vec<String>,
    /// Flags that disqualify the invocation as a safe-bin use.
    pub denied_flags: Vec<String>,
}

fn profile(min: usize, max: usize, value: &[&str], boolean: &[&str], denied: &[&str]) -> Profile {
    let v = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
    Profile {
        min_positional: min,
        max_positional: Some(max),
        value_flags: v(value),
        bool_flags: v(boolean),
        denied_flags: v(denied),
    }
}

/// The built-in profiles.
pub fn builtin_profile(name: &str) -> Option<Profile> {
    Some(match name {
        "cut" => profile(
            0,
            0,
            &["--bytes", "--characters", "--fields", "--delimiter", "--output-delimiter", "-b", "-c", "-f", "-d"],
            &["--complement", "--only-delimited", "--zero-terminated", "-n", "-s", "-z"],
            &[],
        ),
        "uniq" => profile(
            0,
            0,
            &["--skip-fields", "--skip-chars", "--check-chars", "--group", "-f", "-s", "-w"],
            &["--count", "--repeated", "--unique", "--ignore-case", "--zero-terminated", "-c", "-d", "-u", "-i", "-z"],
            &[],
        ),
        "head" => profile(
            0,
            0,
            &["--lines", "--bytes", "-n", "-c"],
            &["--quiet", "--silent", "--verbose", "--zero-terminated", "-q", "-v", "-z"],
            &[],
        ),
        "tail" => profile(
            0,
            0,
            &["--lines", "--bytes", "--sleep-interval", "--max-unchanged-stats", "--pid", "-n", "-c"],
            &["--quiet", "--silent", "--verbose", "--zero-terminated", "-q", "-v", "-z"],
            &["--follow", "--retry", "-F", "-f"],
        ),
        "tr" => profile(
            1,
            2,
            &[],
            &["--complement", "--delete", "--squeeze-repeats", "--truncate-set1", "-C", "-c", "-d", "-s", "-t"],
            &[],
        ),
        "wc" => profile(
            0,
            0,
            &[],
            &["--bytes", "--chars", "--lines", "--max-line-length", "--words", "-L", "-c", "-l", "-m", "-w"],
            &["--files0-from"],
        ),
        "grep" => profile(
            0,
            0,
            &[
                "--regexp",
                "--max-count",
                "--after-context",
                "--before-context",
                "--context",
                "--devices",
                "--binary-files",
                "--exclude",
                "--include",
                "--label",
                "-e",
                "-m",
                "-A",
                "-B",
                "-C",
                "-D",
            ],
            &[],
            &[
                "--file",
                "--exclude-from",
                "--dereference-recursive",
                "--directories",
                "--recursive",
                "-f",
                "-d",
                "-r",
                "-R",
            ],
        ),
        "sort" => profile(
            0,
            0,
            &["--key", "--field-separator", "--buffer-size", "--parallel", "--batch-size", "-k", "-t", "-S"],
            &[],
            &[
                "--compress-program",
                "--files0-from",
                "--output",
                "--random-source",
                "--temporary-directory",
                "-T",
                "-o",
            ],
        ),
        "jq" => profile(
            0,
            1,
            &["--arg", "--argjson", "--argstr"],
            &[],
            &["--argfile", "--rawfile", "--slurpfile", "--from-file", "--library-path", "-L", "-f"],
        ),
        _ => return None,
    })
}

/// A literal the shell and the tool treat as plain text: no globs, no `$` expansion, not a path.
pub fn is_safe_literal(token: &str) -> bool {
    if token.chars().any(|c| matches!(c, '*' | '?' | '[' | ']')) {
        return false;
    }
    let bytes = token.as_bytes();
    if bytes
        .windows(2)
        .any(|w| w[0] == b'$' && (w[1].is_ascii_alphabetic() || matches!(w[1], b'_' | b'{' | b'(' | b'[')))
    {
        return false;
    }
    let windows_drive = bytes.len() >= 3
        && bytes[0].is_ascii_alphabetic()
        && bytes[1] == b':'
        && (bytes[2] == b'\\' || bytes[2] == b'/');
    !(token.starts_with("./")
        || token.starts_with("../")
        || token.starts_with('~')
        || token.starts_with('/')
        || windows_drive)
}

/// Checks `argv[1..]` against a profile.
pub fn validate_args(p: &Profile, args: &[String]) -> bool {
    let long_flags: Vec<&String> =
        p.value_flags.iter().chain(&p.bool_flags).chain(&p.denied_flags).filter(|f| f.starts_with("--")).collect();
    let resolve_long = |name: &str| -> Option<&String> {
        if let Some(exact) = long_flags.iter().find(|f| f.as_str() == name) {
            return Some(exact);
        }
        let mut hits = long_flags.iter().filter(|f| f.starts_with(name));
        match (hits.next(), hits.next()) {
            (Some(one), None) => Some(one),
            _ => None,
        }
    };
    let mut positionals = 0usize;
    let mut after_dashdash = false;
    let mut i = 0;
    while i < args.len() {
        let t = &args[i];
        i += 1;
        if t.is_empty() || t == "-" {
            continue;
        }
        if after_dashdash || !t.starts_with('-') {
            if !is_safe_literal(t) {
                return false;
            }
            positionals += 1;
            continue;
        }
        if t == "--" {
            after_dashdash = true;
            continue;
        }
        if let Some(long) = t.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (format!("--{n}"), Some(v)),
                None => (t.clone(), None),
            };
            let Some(flag) = resolve_long(&name) else { return false };
            if p.denied_flags.contains(flag) {
                return false;
            }
            if p.value_flags.contains(flag) {
                match inline {
                    Some(v) if is_safe_literal(v) => {}
                    Some(_) => return false,
                    None => match args.get(i) {
                        Some(v) if is_safe_literal(v) => i += 1,
                        _ => return false,
                    },
                }
            } else if inline.is_some() {
                return false;
            }
            continue;
        }
        let cluster: Vec<char> = t[1..].chars().collect();
        for (k, c) in cluster.iter().enumerate() {
            let flag = format!("-{c}");
            if p.denied_flags.contains(&flag) {
                return false;
            }
            if p.value_flags.contains(&flag) {
                let rest: String = cluster[k + 1..].iter().collect();
                if !rest.is_empty() {
                    if !is_safe_literal(&rest) {
                        return false;
                    }
                } else {
                    match args.get(i) {
                        Some(v) if is_safe_literal(v) => i += 1,
                        _ => return false,
                    }
                }
                break;
            }
            if !p.bool_flags.contains(&flag) {
                return false;
            }
        }
    }
    positionals >= p.min_positional && p.max_positional.is_none_or(|max| positionals <= max)
}

/// The node's safe-bin settings (`tools.exec.safeBins`, `safeBinTrustedDirs`, `safeBinProfiles`;
/// the agent's list replaces the global one, trusted dirs add up, agent profiles win).
#[derive(Debug, Clone)]
pub struct SafeBins {
    /// The bare names allowed as safe bins.
    pub bins: Vec<String>,
    /// Directories a safe bin must resolve into to count.
    pub trusted_dirs: Vec<PathBuf>,
    /// Argument profiles configured for bins without a built-in one.
    pub custom_profiles: HashMap<String, Profile>,
}

impl SafeBins {
    /// From the node's `openclaw.json`.
    pub fn from_config(config: &Value, agent: Option<&str>) -> Self {
        let global = config.pointer("/tools/exec");
        let agent_layer = agent.and_then(|a| config.get("agents")?.get("entries")?.get(a)?.pointer("/tools/exec"));
        let strings = |v: Option<&Value>| -> Option<Vec<String>> {
            v.and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).map(|s| s.trim().to_lowercase()).collect())
        };
        let bins = strings(agent_layer.and_then(|l| l.get("safeBins")))
            .or_else(|| strings(global.and_then(|l| l.get("safeBins"))))
            .unwrap_or_else(|| DEFAULT_SAFE_BINS.iter().map(|s| s.to_string()).collect());
        let mut trusted_dirs = vec![PathBuf::from("/bin"), PathBuf::from("/usr/bin")];
        for layer in [global, agent_layer].into_iter().flatten() {
            for d in layer
                .get("safeBinTrustedDirs")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                trusted_dirs.push(PathBuf::from(d));
            }
        }
        let mut trusted: Vec<PathBuf> = trusted_dirs.iter().filter_map(|d| std::fs::canonicalize(d).ok()).collect();
        trusted.extend(trusted_dirs);
        let mut custom_profiles = HashMap::new();
        for layer in [global, agent_layer].into_iter().flatten() {
            for (name, fixture) in layer.get("safeBinProfiles").and_then(Value::as_object).into_iter().flatten() {
                let list = |k: &str| -> Vec<String> {
                    fixture
                        .get(k)
                        .and_then(Value::as_array)
                        .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect())
                        .unwrap_or_default()
                };
                custom_profiles.insert(
                    name.to_lowercase(),
                    Profile {
                        min_positional: fixture.get("minPositional").and_then(Value::as_u64).unwrap_or(0) as usize,
                        max_positional: fixture.get("maxPositional").and_then(Value::as_u64).map(|m| m as usize),
                        value_flags: list("allowedValueFlags"),
                        bool_flags: Vec::new(),
                        denied_flags: list("deniedFlags"),
                    },
                );
            }
        }
        SafeBins { bins, trusted_dirs: trusted, custom_profiles }
    }

    /// Whether a resolved segment is a safe-bin use.
    pub fn allows(&self, res: &Resolution) -> bool {
        if cfg!(windows) || res.policy_blocked {
            return false;
        }
        let (Some(exe), Some(real)) = (res.effective_argv.first(), res.resolved_real_path.as_ref()) else {
            return false;
        };
        let name = Path::new(exe).file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
        if !self.bins.contains(&name) || SEMANTIC_DENY.contains(&name.as_str()) {
            return false;
        }
        if !real.parent().is_some_and(|dir| self.trusted_dirs.iter().any(|t| t == dir)) {
            return false;
        }
        let Some(profile) = self.custom_profiles.get(&name).cloned().or_else(|| builtin_profile(&name)) else {
            return false;
        };
        validate_args(&profile, &res.effective_argv[1..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::allowlist::resolve;
    use serde_json::json;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    const PATH: &str = "/usr/bin:/bin";

    #[test]
    fn upstream_vectors() {
        let sb = SafeBins::from_config(&json!({}), None);
        assert!(sb.allows(&resolve(&v(&["head", "-n", "5"]), None, PATH, None)));
        assert!(!sb.allows(&resolve(&v(&["head", "/etc/passwd"]), None, PATH, None)));
        assert!(sb.allows(&resolve(&v(&["head", "-n5"]), None, PATH, None)));
        assert!(sb.allows(&resolve(&v(&["head", "--lin=3"]), None, PATH, None)), "unambiguous long prefix");
        assert!(!sb.allows(&resolve(&v(&["tail", "-f"]), None, PATH, None)), "denied flag");
        assert!(sb.allows(&resolve(&v(&["tr", "a-z", "A-Z"]), None, PATH, None)));
        assert!(!sb.allows(&resolve(&v(&["tr"]), None, PATH, None)), "tr needs a set");
        assert!(!sb.allows(&resolve(&v(&["wc", "--files0-from", "x"]), None, PATH, None)));
        assert!(!sb.allows(&resolve(&v(&["cut", "-d", "$HOME"]), None, PATH, None)), "no expansions");
        assert!(!sb.allows(&resolve(&v(&["grep", "x"]), None, PATH, None)), "grep is opt-in");
        let opt_in = SafeBins::from_config(&json!({"tools": {"exec": {"safeBins": ["grep", "sed"]}}}), None);
        assert!(opt_in.allows(&resolve(&v(&["grep", "-e", "x"]), None, PATH, None)));
        assert!(!opt_in.allows(&resolve(&v(&["sed", "-n", "1p"]), None, PATH, None)), "sed is a language");
        assert!(!opt_in.allows(&resolve(&v(&["head", "-n", "1"]), None, PATH, None)), "the list was replaced");
        let off = SafeBins::from_config(&json!({"tools": {"exec": {"safeBins": []}}}), None);
        assert!(!off.allows(&resolve(&v(&["head", "-n", "5"]), None, PATH, None)));
    }

    #[test]
    fn safe_literals() {
        for ok in ["5", "a-z", "x y", "--"] {
            assert!(is_safe_literal(ok), "{ok}");
        }
        for bad in ["*.txt", "a?", "[a]", "$HOME", "${X}", "$(id)", "./f", "../f", "~/f", "/etc/passwd", "C:\\x"] {
            assert!(!is_safe_literal(bad), "{bad}");
        }
    }
}
