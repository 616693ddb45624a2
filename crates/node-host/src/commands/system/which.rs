//! `system.which`: where the node would find each binary (`exec.md` §7).
//!
//! A candidate is built as upstream builds it, with Node's `path.join(dir, name)`: the joined
//! path is normalised (`.` and `..` resolved, repeated and trailing slashes dropped) before it
//! is checked and reported. So `.` reports the PATH directory itself, `..` its parent, and a
//! PATH entry such as `/usr/bin/../bin` reports `/usr/bin/<name>`. Names with a `/` or `\`
//! are never looked up (`./x`, `../bin/ls`, `/usr/bin/../bin/ls` find nothing).
//!
//! Upstream sets no limit on the number of names; one request with 1.5 million names used to
//! hold the node's only runtime thread for over a minute. We refuse more than
//! [`MAX_NAMES`] names with upstream's `INVALID_REQUEST` shape, and look names up on a
//! blocking thread ([`crate::offload`]) so pings and other invokes never wait for the disk.

use std::path::Path;

use serde_json::{Map, Value};

use openclaw_protocol::node::InvokeError;

use crate::invoke::{Command, InvokeContext};
use crate::offload::{off_thread, Lane};
use crate::params::{thrown_invalid_request, FromParams, Params};
use crate::services::DEFAULT_PATH;

/// Looks names up on the node's PATH; only found names appear in the reply.
#[derive(Clone)]
pub struct SystemWhich;

/// `{bins: [...]}`: each entry through `String()`, trimmed, empty ones dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhichParams {
    /// The names to look up, in request order.
    pub bins: Vec<String>,
}

/// The most names one `system.which` looks up: far more than any agent asks for (a skill's
/// binaries), small enough that a request costs milliseconds.
pub const MAX_NAMES: usize = 1_000;

fn too_many(n: usize) -> InvokeError {
    thrown_invalid_request(&format!("too many bins ({n}; at most {MAX_NAMES} per request)"))
}

/// Counts the entries of a JSON array without keeping them.
struct Count(usize);

impl<'de> serde::Deserialize<'de> for Count {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Counter;
        impl<'de> serde::de::Visitor<'de> for Counter {
            type Value = Count;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Count, A::Error> {
                let mut n = 0;
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {
                    n += 1;
                }
                Ok(Count(n))
            }
        }
        d.deserialize_seq(Counter)
    }
}

impl FromParams for WhichParams {
    fn check_raw(raw: &str) -> Result<(), InvokeError> {
        #[derive(serde::Deserialize)]
        struct Shape {
            bins: Count,
        }
        // Counting costs no allocation per name; anything else is judged by `from_params`.
        match serde_json::from_str::<Shape>(raw) {
            Ok(Shape { bins: Count(n) }) if n > MAX_NAMES => Err(too_many(n)),
            _ => Ok(()),
        }
    }

    fn from_params(params: Params) -> Result<Self, InvokeError> {
        if let Some(n) = params.array("bins").map(|a| a.len()).filter(|n| *n > MAX_NAMES) {
            return Err(too_many(n));
        }
        let bins = params.js_strings("bins").ok_or_else(|| thrown_invalid_request("bins required"))?;
        Ok(WhichParams { bins: bins.into_iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect() })
    }
}

impl Command for SystemWhich {
    const NAME: &'static str = "system.which";
    const CAP: &'static str = "system";
    type Params = WhichParams;

    async fn run(&self, ctx: InvokeContext, params: WhichParams) -> Result<Value, InvokeError> {
        let path = ctx.env.path.clone();
        let found = off_thread(Lane::Lookup, "system.which lookup", move || which(&params.bins, &path))
            .await
            .map_err(|e| InvokeError::unavailable(e.to_string()))?;
        Ok(serde_json::json!({ "bins": found }))
    }
}

/// Resolves each name against `path` (the default PATH when empty). A candidate counts when it
/// exists, executable or not, and the path is reported as found, not canonicalised: exactly
/// what upstream reports. Names with a path separator are skipped.
pub fn which(names: &[String], path: &str) -> Map<String, Value> {
    let path = if path.trim().is_empty() { DEFAULT_PATH } else { path };
    let mut found = Map::new();
    for name in names {
        if name.contains('/') || name.contains('\\') || found.contains_key(name) {
            continue;
        }
        if let Some(hit) =
            path.split(':').filter(|d| !d.is_empty()).map(|d| node_path_join(d, name)).find(|c| Path::new(c).exists())
        {
            found.insert(name.clone(), Value::String(hit));
        }
    }
    found
}

/// Node's POSIX `path.join(dir, name)`: the two joined with `/`, then normalised: empty and
/// `.` segments dropped, `..` removing the segment before it (at the root it is dropped; in a
/// relative path with nothing before it, kept), a trailing `/` kept, `.` for nothing at all.
pub fn node_path_join(dir: &str, name: &str) -> String {
    let joined = match (dir.is_empty(), name.is_empty()) {
        (true, true) => return ".".into(),
        (true, false) => name.to_string(),
        (false, true) => dir.to_string(),
        (false, false) => format!("{dir}/{name}"),
    };
    let absolute = joined.starts_with('/');
    let trailing_slash = joined.ends_with('/');
    let mut segments: Vec<&str> = Vec::new();
    for segment in joined.split('/') {
        match segment {
            "" | "." => {}
            ".." => match segments.last() {
                Some(&last) if last != ".." => {
                    segments.pop();
                }
                _ if absolute => {}
                _ => segments.push(".."),
            },
            other => segments.push(other),
        }
    }
    let mut out = segments.join("/");
    if out.is_empty() && !absolute {
        out.push('.');
    }
    if trailing_slash && !out.is_empty() && !out.ends_with('/') {
        out.push('/');
    }
    if absolute {
        out.insert(0, '/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invoke::NodeCommand;

    #[test]
    fn finds_existing_entries_in_path_order() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        std::fs::write(b.path().join("tool"), "").unwrap(); // not executable: still reported
        std::fs::write(a.path().join("both"), "").unwrap();
        std::fs::write(b.path().join("both"), "").unwrap();
        let path = format!("{}::{}", a.path().display(), b.path().display());
        let names: Vec<String> =
            ["tool", "both", "missing", "../etc/passwd", "a\\b"].iter().map(|s| s.to_string()).collect();
        let found = which(&names, &path);
        assert_eq!(found.len(), 2);
        assert_eq!(found["tool"], b.path().join("tool").to_string_lossy().as_ref());
        assert_eq!(found["both"], a.path().join("both").to_string_lossy().as_ref());
    }

    /// Vectors from Node 26's `path.join` (the runtime upstream 2026.9.6 runs on).
    #[test]
    fn candidates_are_joined_and_normalised_as_node_path_join() {
        for (dir, name, joined) in [
            ("/usr/bin", ".", "/usr/bin"),
            ("/usr/bin", "..", "/usr"),
            ("/usr/bin/", "..", "/usr"),
            ("/usr//bin/", "ls", "/usr/bin/ls"),
            ("/usr/bin/../bin", "ls", "/usr/bin/ls"),
            ("/", "..", "/"),
            ("bin", "ls", "bin/ls"),
            (".", "ls", "ls"),
            ("./bin/", ".", "bin"),
            ("a", "..", "."),
            ("..", "..", "../.."),
            ("/usr/bin", "....", "/usr/bin/...."),
            ("//usr/bin", "ls", "/usr/bin/ls"),
            ("/usr/bin/.", "ls", "/usr/bin/ls"),
        ] {
            assert_eq!(node_path_join(dir, name), joined, "path.join({dir:?}, {name:?})");
        }
    }

    /// Rule (issue 11, Node's `path.join`): `system.which` reports normalised paths (`.` and
    /// `..` resolved) and skips names with a separator.
    #[test]
    fn which_reports_normalised_paths_and_skips_names_with_separators() {
        let names: Vec<String> =
            [".", "..", "ls", "./ls", "../bin/ls", "/usr/bin/../bin/ls"].iter().map(|s| s.to_string()).collect();
        let found = which(&names, "/nonexistent-xyz/..:/usr/bin/../bin");
        assert_eq!(
            Value::Object(found),
            serde_json::json!({".": "/", "..": "/", "ls": "/usr/bin/ls"}),
            "`/nonexistent-xyz/..` is `/` once normalised, as upstream checks it"
        );
    }

    #[tokio::test]
    async fn params_are_validated_and_coerced() {
        let ctx = InvokeContext::detached("/bin:/usr/bin");
        let err = NodeCommand::run(&SystemWhich, ctx.clone(), serde_json::json!({"bins": "sh"})).await.unwrap_err();
        assert_eq!(err.message, "Error: INVALID_REQUEST: bins required");
        let ok = NodeCommand::run(
            &SystemWhich,
            ctx,
            serde_json::json!({"bins": [" sh ", "", 42, null, "definitely-not-a-binary-xyz"]}),
        )
        .await
        .unwrap();
        let bins = ok["bins"].as_object().unwrap();
        assert!(bins["sh"].as_str().unwrap().ends_with("/sh"));
        assert_eq!(bins.len(), 1);
    }

    #[tokio::test]
    async fn more_names_than_the_bound_are_refused() {
        let ctx = InvokeContext::detached("/bin:/usr/bin");
        let names: Vec<String> = (0..=MAX_NAMES).map(|i| format!("n{i}")).collect();
        let err = NodeCommand::run(&SystemWhich, ctx.clone(), serde_json::json!({ "bins": names })).await.unwrap_err();
        assert_eq!(err.message, "Error: INVALID_REQUEST: too many bins (1001; at most 1000 per request)");
        let ok = NodeCommand::run(&SystemWhich, ctx, serde_json::json!({ "bins": names[..MAX_NAMES] })).await;
        assert!(ok.is_ok());
        // The same bound on the raw text, before any tree is built.
        let raw = serde_json::json!({ "bins": names, "other": 1 }).to_string();
        assert_eq!(SystemWhich.check_raw_params(&raw).unwrap_err().message, err.message);
        for fine in [r#"{"bins":["sh"]}"#, r#"{"bins":"sh"}"#, "[]", "{bad"] {
            assert!(SystemWhich.check_raw_params(fine).is_ok(), "{fine}");
        }
    }
}
