//! `system.which`: where the node would find each binary (`exec.md` §7).

use std::path::Path;

use serde_json::{Map, Value};

use openclaw_protocol::node::InvokeError;

use crate::invoke::{Command, InvokeContext};
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

impl FromParams for WhichParams {
    fn from_params(params: Params) -> Result<Self, InvokeError> {
        let bins = params.js_strings("bins").ok_or_else(|| thrown_invalid_request("bins required"))?;
        Ok(WhichParams { bins: bins.into_iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect() })
    }
}

impl Command for SystemWhich {
    const NAME: &'static str = "system.which";
    const CAP: &'static str = "system";
    type Params = WhichParams;

    async fn run(&self, ctx: InvokeContext, params: WhichParams) -> Result<Value, InvokeError> {
        Ok(serde_json::json!({ "bins": which(&params.bins, &ctx.env.path) }))
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
            path.split(':').filter(|d| !d.is_empty()).map(|d| Path::new(d).join(name)).find(|c| c.exists())
        {
            found.insert(name.clone(), Value::String(hit.to_string_lossy().into_owned()));
        }
    }
    found
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
}
