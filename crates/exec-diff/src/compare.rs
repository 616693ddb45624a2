//! Normalisation and comparison of what the two node hosts answered.
//!
//! Each node runs a case in its own directory (the cases of both nodes run at the same time)
//! and has its own HOME and state dir, so those paths are mapped back to `@CASE@`, `@HOME@`
//! and `@STATE@`. What is volatile by nature is masked: generated ids, timestamps, the
//! `sha256:cwd-argv:v1:` argPatterns and `=command:` markers (they hash the node's own case
//! path), and shell `time` figures. Everything else is compared as it came.

use std::sync::OnceLock;

use regex::Regex;
use serde_json::{json, Map, Value};

/// Path substitutions for one node, longest path first.
#[derive(Clone, Debug, Default)]
pub struct Normaliser {
    subs: Vec<(String, &'static str)>,
}

impl Normaliser {
    /// `case_dir` → `@CASE@`, `home` → `@HOME@`, `state` → `@STATE@` (and their realpaths).
    pub fn new(case_dir: &str, home: &str, state: &str) -> Normaliser {
        let mut subs = Vec::new();
        for (p, to) in [(case_dir, "@CASE@"), (home, "@HOME@"), (state, "@STATE@")] {
            if p.is_empty() {
                continue;
            }
            if let Ok(real) = std::fs::canonicalize(p) {
                let real = real.display().to_string();
                if real != p {
                    subs.push((real, to));
                }
            }
            subs.push((p.to_string(), to));
        }
        subs.sort_by_key(|s| std::cmp::Reverse(s.0.len()));
        Normaliser { subs }
    }

    /// Applies the substitutions and the masks to one string.
    pub fn text(&self, s: &str) -> String {
        let mut out = s.to_string();
        for (from, to) in &self.subs {
            if out.contains(from.as_str()) {
                out = out.replace(from.as_str(), to);
            }
        }
        mask(&out)
    }

    /// Applies [`text`](Self::text) to every string in a JSON value, drops allowlist ids and
    /// masks usage timestamps.
    pub fn value(&self, v: &Value) -> Value {
        match v {
            Value::String(s) => Value::String(self.text(s)),
            Value::Array(a) => Value::Array(a.iter().map(|x| self.value(x)).collect()),
            Value::Object(o) => {
                let mut m = Map::new();
                for (k, x) in o {
                    match k.as_str() {
                        "id" if x.as_str().is_some_and(|s| s.len() == 36) => {}
                        "lastUsedAt" | "addedAt" => {
                            m.insert(k.clone(), json!("<ts>"));
                        }
                        _ => {
                            m.insert(k.clone(), self.value(x));
                        }
                    }
                }
                Value::Object(m)
            }
            other => other.clone(),
        }
    }
}

fn masks() -> &'static [(Regex, &'static str)] {
    static M: OnceLock<Vec<(Regex, &'static str)>> = OnceLock::new();
    M.get_or_init(|| {
        [
            (r"sha256:cwd-argv:v1:[0-9a-f]{64}", "sha256:cwd-argv:v1:<hash>"),
            (r"=command:[0-9a-f]{16}", "=command:<hash>"),
            (r"=node-command:[0-9a-f]{16}", "=node-command:<hash>"),
            (r"\b\d+m\d+[.,]\d+s\b", "<t>"),
            (r"(?m)^(real|user|sys) \d+[.,]\d+$", "$1 <t>"),
            // GNU time(1): `0.00user 0.00system 0:00.04elapsed 7%CPU (…maxresident)k` and
            // `0inputs+0outputs (0major+407minor)pagefaults 0swaps`.
            (r"(?m)^\d+[.,]\d+user \d+[.,]\d+system .*$", "<gnu-time>"),
            (r"(?m)^\d+inputs\+\d+outputs .*$", "<gnu-time>"),
            // An interactive shell's job notice for a background command: `[1] 2840`.
            (r"(?m)^\[(\d+)\] \d+$", "[$1] <pid>"),
            // Interactive bash restores the terminal after a pipeline one of whose stages died
            // of a signal, and says it cannot (`bash: [2840: 1 (255)] tcsetattr: …`). In
            // `cat <<< hi | true` whether `cat` writes before its reader exits (SIGPIPE) is up
            // to the scheduler: strace showed both nodes' bash print the line in some runs and
            // not in others. Dropped whole, pid and all.
            (r"(?m)^bash: \[\d+: \d+ \(\d+\)\] tcsetattr: Inappropriate ioctl for device\n?", ""),
            // ... and names its process group when it does not lead it (`time bash -i`).
            (r"bash: cannot set terminal process group \(\d+\)", "bash: cannot set terminal process group (<pgid>)"),
        ]
        .into_iter()
        .map(|(re, to)| (Regex::new(re).expect("mask regex"), to))
        .collect()
    })
}

fn mask(s: &str) -> String {
    let mut out = s.to_string();
    for (re, to) in masks() {
        if re.is_match(&out) {
            out = re.replace_all(&out, *to).into_owned();
        }
    }
    out
}

/// The comparable part of one invoke: `{ok, payload}` or `{ok:false, error:{code, message}}`,
/// plus the `exec.*` events, normalised. `None` (a step not taken on this node) stays `null`.
pub fn outcome(norm: &Normaliser, result: Option<&Value>, events: &[Value]) -> Value {
    let Some(r) = result else { return Value::Null };
    let mut o = Map::new();
    let ok = r["ok"] == true;
    o.insert("ok".into(), json!(ok));
    if ok {
        o.insert("payload".into(), norm.value(&r["payload"]));
    } else {
        o.insert(
            "error".into(),
            json!({"code": norm.value(&r["error"]["code"]), "message": norm.value(&r["error"]["message"])}),
        );
    }
    if !events.is_empty() {
        o.insert("events".into(), Value::Array(events.iter().map(|e| norm.value(e)).collect()));
    }
    Value::Object(o)
}

/// Whether a case's command runs parts of itself at the same time (a background `&`, a pipe,
/// a process substitution): then the order in which those parts' writes reach stdout and
/// stderr is up to the scheduler, on either node (`dash` even writes an error's `sh: 2: `
/// prefix and its message separately, and `-x` traces of two pipeline stages interleave inside
/// a word: `+ ionice…` and `+ chrt…` came out as `ionicechrt`), and only the characters
/// written compare.
pub fn output_is_concurrent(tags: &[String]) -> bool {
    tags.iter().any(|t| {
        matches!(
            t.as_str(),
            "op:&" | "op:|" | "piece:background" | "piece:late-background" | "piece:process-substitution"
        )
    })
}

/// Replaces the captured output in a normalised outcome (`payload.stdout`, `payload.stderr`,
/// each event's `payload.output`) by its non-blank characters in sorted order, for a command
/// whose parts write concurrently ([`output_is_concurrent`]): any interleaving of the same
/// writes compares equal (whole words are not enough, writes split words), while output
/// written on one side only still shows.
pub fn sort_output_chars(outcome: &mut Value) {
    fn sort(v: &mut Value) {
        let Some(text) = v.as_str() else { return };
        let mut chars: Vec<char> = text.chars().filter(|c| !c.is_whitespace()).collect();
        chars.sort_unstable();
        *v = Value::String(chars.into_iter().collect());
    }
    for field in ["stdout", "stderr"] {
        if let Some(f) = outcome.get_mut("payload").and_then(|p| p.get_mut(field)) {
            sort(f);
        }
    }
    if let Some(events) = outcome.get_mut("events").and_then(Value::as_array_mut) {
        for e in events {
            if let Some(f) = e.get_mut("payload").and_then(|p| p.get_mut("output")) {
                sort(f);
            }
        }
    }
}

/// The approvals document as read back after a run: only `file` minus the socket.
pub fn approvals_file(norm: &Normaliser, get_result: &Value) -> Value {
    if get_result["ok"] != true {
        return outcome(norm, Some(get_result), &[]);
    }
    let mut file = get_result["payload"]["file"].clone();
    if let Some(o) = file.as_object_mut() {
        o.remove("socket");
    }
    norm.value(&file)
}

/// The JSON paths at which two values differ (`$.payload.stdout`), at most `limit`.
pub fn diff_paths(a: &Value, b: &Value, limit: usize) -> Vec<String> {
    let mut out = Vec::new();
    walk(a, b, "$".to_string(), &mut out, limit);
    out
}

fn walk(a: &Value, b: &Value, at: String, out: &mut Vec<String>, limit: usize) {
    if out.len() >= limit || a == b {
        return;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                walk(
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    format!("{at}.{k}"),
                    out,
                    limit,
                );
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                walk(p, q, format!("{at}[{i}]"), out, limit);
            }
        }
        _ => out.push(at),
    }
}

/// Replaces array indices in a diff path by `[]`, so paths group into classes.
pub fn path_shape(path: &str) -> String {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"\[\d+\]").expect("index regex")).replace_all(path, "[]").into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_paths_map_back_to_placeholders_longest_first() {
        let n = Normaliser::new("/tmp/x/A/c1", "/tmp/x/home-a", "/tmp/x/home-a/.openclaw");
        assert_eq!(n.text("cd /tmp/x/A/c1/sub && ls /tmp/x/home-a/.openclaw/x"), "cd @CASE@/sub && ls @STATE@/x");
        assert_eq!(
            n.text("/tmp/x/A/c10"),
            "@CASE@0",
            "a plain prefix is still replaced (case dirs differ in length-safe ways)"
        );
    }

    #[test]
    fn volatile_parts_are_masked_and_the_rest_kept() {
        let n = Normaliser::new("/c", "/h", "/s");
        let v = json!({"allowlist":[{"id":"0b5b7c52-3f7e-4a55-9d6b-2d0f4f3c1e11","pattern":"/usr/bin/ls",
            "argPattern":"sha256:cwd-argv:v1:0eae1d4f905e0fa3d0dc518f8e6e1bfc17fe9dd1620d5e1889a3c3cab4ce85ce",
            "lastUsedAt":1795000000000u64},{"pattern":"=command:0123456789abcdef"}],
            "stderr":"\nreal\t0m0.001s\nuser\t0m0.000s\n", "p":"real 0.00\nx"});
        let out = n.value(&v);
        assert_eq!(out["allowlist"][0].get("id"), None);
        assert_eq!(out["allowlist"][0]["argPattern"], "sha256:cwd-argv:v1:<hash>");
        assert_eq!(out["allowlist"][0]["lastUsedAt"], "<ts>");
        assert_eq!(out["allowlist"][1]["pattern"], "=command:<hash>");
        assert_eq!(out["stderr"], "\nreal\t<t>\nuser\t<t>\n");
        assert_eq!(out["p"], "real <t>\nx");
        let gnu = "a\n0.00user 0.00system 0:00.04elapsed 7%CPU (0avgtext+0avgdata 1956maxresident)k\n0inputs+0outputs (0major+407minor)pagefaults 0swaps\n";
        assert_eq!(n.text(gnu), "a\n<gnu-time>\n<gnu-time>\n");
        assert_eq!(n.text("no job control\n[1] 2840\nx [2] 7\n"), "no job control\n[1] <pid>\nx [2] 7\n");
        assert_eq!(n.text("exit 3 after 0m"), "exit 3 after 0m", "plain numbers are kept");
        let tcsetattr =
            "bash: no job control in this shell\nbash: [2840: 1 (255)] tcsetattr: Inappropriate ioctl for device\nx\n";
        assert_eq!(n.text(tcsetattr), "bash: no job control in this shell\nx\n", "a scheduler-dependent notice");
        let pgid = "bash: cannot set terminal process group (26946): Inappropriate ioctl for device";
        assert_eq!(n.text(pgid), "bash: cannot set terminal process group (<pgid>): Inappropriate ioctl for device");
    }

    #[test]
    fn outcome_keeps_payload_or_code_and_message() {
        let n = Normaliser::new("/c", "/h", "/s");
        let ok = json!({"ok":true,"payload":{"stdout":"/c/x\n","exitCode":0},"error":null});
        assert_eq!(outcome(&n, Some(&ok), &[]), json!({"ok":true,"payload":{"stdout":"@CASE@/x\n","exitCode":0}}));
        let err =
            json!({"ok":false,"error":{"code":"SYSTEM_RUN_DENIED","message":"SYSTEM_RUN_DENIED: allowlist miss"}});
        let ev = [json!({"event":"exec.denied","payload":{"command":"ls /c"}})];
        let o = outcome(&n, Some(&err), &ev);
        assert_eq!(o["error"]["code"], "SYSTEM_RUN_DENIED");
        assert_eq!(o["events"][0]["payload"]["command"], "ls @CASE@");
        assert_eq!(outcome(&n, None, &[]), Value::Null);
    }

    #[test]
    fn concurrent_output_compares_as_characters_in_any_order() {
        let tags = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(output_is_concurrent(&tags(&["shell:sh", "op:&"])));
        assert!(output_is_concurrent(&tags(&["op:|"])));
        assert!(!output_is_concurrent(&tags(&["op:&&", "op:;", "piece:redirect 2>&1"])));
        // Seed 1 case 53 under load: the two shells' writes interleave inside a line.
        let mut a = json!({"ok":true,"payload":{"stdout":"","stderr":"sh: 2: sh: 1: doas: not found\nSyntax error\n"},
            "events":[{"event":"exec.finished","payload":{"output":"sh: 2: sh: 1: doas: not found\nSyntax error"}}]});
        let mut b = json!({"ok":true,"payload":{"stdout":"","stderr":"sh: 2: Syntax error\nsh: 1: doas: not found\n"},
            "events":[{"event":"exec.finished","payload":{"output":"sh: 2: Syntax error\nsh: 1: doas: not found"}}]});
        assert_ne!(a, b);
        sort_output_chars(&mut a);
        sort_output_chars(&mut b);
        assert_eq!(a, b);
        assert_eq!(a["payload"]["stderr"], "12:::::Saaddefhhnnnoooorrrsssttuxy");
        // Seed 1 case 1005: two `-x` traces interleaved inside a word.
        let mut c = json!({"ok":true,"payload":{"stderr":"+ ionice -c 3\n+ chrt -o 0\n"}});
        let mut d = json!({"ok":true,"payload":{"stderr":"+ + ionicechrt -c 3\n -o 0\n"}});
        sort_output_chars(&mut c);
        sort_output_chars(&mut d);
        assert_eq!(c, d);
        let mut missing = json!({"ok":true,"payload":{"stderr":"sh: 2: Syntax error\n"}});
        sort_output_chars(&mut missing);
        assert_ne!(missing["payload"], a["payload"], "a message missing on one side still differs");
    }

    #[test]
    fn diff_paths_name_the_differing_fields() {
        let a = json!({"ok":true,"payload":{"stdout":"a","exitCode":0,"list":[1,2]}});
        let b = json!({"ok":true,"payload":{"stdout":"b","exitCode":0,"list":[1,3]},"events":[]});
        assert_eq!(diff_paths(&a, &b, 10), vec!["$.events", "$.payload.list[1]", "$.payload.stdout"]);
        assert_eq!(path_shape("$.payload.list[1].x[22]"), "$.payload.list[].x[]");
        assert!(diff_paths(&a, &a, 10).is_empty());
    }
}
