//! The command registry and the invoke dispatcher.
//!
//! Every node command is one [`NodeCommand`]. The registry is the single source of truth
//! for what the node advertises (`commands` and `caps` in `connect` are derived from it) and
//! for what it runs. [`dispatch`] turns one `node.invoke.request` into exactly one
//! `node.invoke.result`, whatever happens inside the command: bad params, an unknown command,
//! a cancellation or a panic all end in a well-formed result.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use openclaw_protocol::node::{InvokeError, InvokeRequest};
use serde_json::Value;
use tokio::sync::{mpsc, watch};

/// A boxed command future.
pub type CommandFuture = Pin<Box<dyn Future<Output = Result<Value, InvokeError>> + Send>>;

/// One node command (`system.which`, `system.run`, …).
pub trait NodeCommand: Send + Sync + 'static {
    /// The command id the gateway invokes.
    fn name(&self) -> &'static str;
    /// The capability family it belongs to (`system`, `browser`, …), advertised in `caps`.
    fn cap(&self) -> &'static str;
    /// Runs the command with its decoded params. Long-running commands must watch
    /// `ctx.cancel` and stop promptly when it fires.
    fn run(&self, ctx: InvokeContext, params: Value) -> CommandFuture;
    /// Whether the command accepts a null `paramsJSON` (it then gets `null`).
    fn params_optional(&self) -> bool {
        false
    }
}

/// A request the node sends to the gateway on behalf of a command (e.g. `exec.finished`).
#[derive(Debug, Clone, PartialEq)]
pub struct Outbound {
    /// Gateway method.
    pub method: &'static str,
    /// Its params.
    pub params: Value,
}

/// What a running command may use.
#[derive(Clone)]
pub struct InvokeContext {
    /// The gateway's invoke id.
    pub invoke_id: String,
    /// The gateway's remaining deadline for this invoke.
    pub timeout_ms: Option<u64>,
    /// The session the invoke belongs to.
    pub session_key: Option<String>,
    /// Becomes true on `node.invoke.cancel` or disconnect.
    pub cancel: watch::Receiver<bool>,
    /// The node's environment as commands see it.
    pub env: Arc<NodeEnv>,
    /// Requests to send before the result (ordering is preserved).
    pub outbound: mpsc::UnboundedSender<Outbound>,
}

impl InvokeContext {
    /// A context outside any connection for unit tests: never cancelled, and outbound
    /// requests go nowhere.
    #[cfg(test)]
    pub(crate) fn detached(path: &str) -> Self {
        let (cancel_tx, cancel) = watch::channel(false);
        // Keep the sender alive so `cancel` never reports a closed channel (test-only leak).
        std::mem::forget(cancel_tx);
        let (outbound, _) = mpsc::unbounded_channel();
        InvokeContext {
            invoke_id: "local".into(),
            timeout_ms: None,
            session_key: None,
            cancel,
            env: Arc::new(NodeEnv { path: path.into() }),
            outbound,
        }
    }
}

/// The node's own process environment, fixed at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeEnv {
    /// The effective PATH (never empty).
    pub path: String,
}

/// The PATH used when the process has none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

impl NodeEnv {
    /// The effective PATH: the process PATH (or the default when empty), with the directory
    /// of this binary in front, so agents can find `openclaw` on the node as upstream arranges.
    pub fn from_process() -> Self {
        let base =
            std::env::var("PATH").ok().filter(|p| !p.trim().is_empty()).unwrap_or_else(|| DEFAULT_PATH.to_string());
        let exe_dir = std::env::current_exe().ok().and_then(|p| p.parent().map(|d| d.to_string_lossy().into_owned()));
        let path = match exe_dir {
            Some(dir) if !base.split(':').any(|d| d == dir) => format!("{dir}:{base}"),
            _ => base,
        };
        NodeEnv { path }
    }
}

/// The set of commands this node serves.
#[derive(Clone, Default)]
pub struct CommandRegistry {
    commands: BTreeMap<&'static str, Arc<dyn NodeCommand>>,
}

/// A `--commands` allowlist that names nothing this node can run.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("Node command allowlist retained no available commands. Unknown or unavailable ids: {}. Check --commands and enable the plugin that provides each command.", .unknown.join(", "))]
pub struct EmptyAllowlist {
    /// The ids that matched nothing.
    pub unknown: Vec<String>,
}

/// What the built-in commands share: the state database, the state paths, the node's own
/// `openclaw.json`, and the gateway's skill binaries.
pub struct NodeServices {
    pub db: Arc<std::sync::Mutex<openclaw_state::StateDb>>,
    pub paths: openclaw_state::StatePaths,
    pub config: openclaw_state::config::OpenClawConfig,
    pub skill_bins: Arc<SkillBins>,
}

/// The binary names of the gateway's installed skills (`skills.bins`), which `autoAllowSkills`
/// lets run by bare name. The session refreshes them on connect and every 90 s; the list is
/// emptied on reconnect, and a failed refresh keeps the previous one.
#[derive(Debug, Default)]
pub struct SkillBins {
    names: std::sync::Mutex<Vec<String>>,
}

impl SkillBins {
    /// The current names (lower-cased).
    pub fn names(&self) -> Vec<String> {
        self.names.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Replaces the list.
    pub fn set(&self, names: Vec<String>) {
        let names = names.into_iter().map(|n| n.trim().to_ascii_lowercase()).filter(|n| !n.is_empty()).collect();
        *self.names.lock().unwrap_or_else(|p| p.into_inner()) = names;
    }
}

impl NodeServices {
    /// Locks the database for a short synchronous read or write (never across an await).
    pub fn db(&self) -> std::sync::MutexGuard<'_, openclaw_state::StateDb> {
        self.db.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl CommandRegistry {
    /// Every command this build implements.
    pub fn with_builtin_commands(services: &Arc<NodeServices>) -> Self {
        let mut r = CommandRegistry::default();
        r.register(Arc::new(crate::commands::which::SystemWhich));
        r.register(Arc::new(crate::commands::approvals::ExecApprovalsGet(services.clone())));
        r.register(Arc::new(crate::commands::approvals::ExecApprovalsSet(services.clone())));
        r.register(Arc::new(crate::commands::run::SystemRun(services.clone())));
        r.register(Arc::new(crate::commands::run::SystemRunPrepare(services.clone())));
        r
    }

    /// Only `system.which` (tests and tools that need no state).
    pub fn stateless() -> Self {
        let mut r = CommandRegistry::default();
        r.register(Arc::new(crate::commands::which::SystemWhich));
        r
    }

    /// Adds (or replaces) a command.
    pub fn register(&mut self, command: Arc<dyn NodeCommand>) {
        self.commands.insert(command.name(), command);
    }

    /// Keeps only the allowlisted commands; fails when none is left.
    pub fn restrict_to(&self, allowlist: &[String]) -> Result<Self, EmptyAllowlist> {
        let commands: BTreeMap<_, _> = self
            .commands
            .iter()
            .filter(|(name, _)| allowlist.iter().any(|a| a == *name))
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        if commands.is_empty() {
            return Err(EmptyAllowlist { unknown: allowlist.to_vec() });
        }
        Ok(CommandRegistry { commands })
    }

    /// Advertised command ids, sorted.
    pub fn command_names(&self) -> Vec<String> {
        self.commands.keys().map(|k| k.to_string()).collect()
    }

    /// Advertised capability families, sorted and unique.
    pub fn caps(&self) -> Vec<String> {
        self.commands.values().map(|c| c.cap().to_string()).collect::<BTreeSet<_>>().into_iter().collect()
    }

    /// The command with this id.
    pub fn get(&self, name: &str) -> Option<Arc<dyn NodeCommand>> {
        self.commands.get(name).cloned()
    }
}

/// `INVALID_REQUEST` with upstream's `Error: ` prefix (it stringifies thrown errors).
pub fn invalid_request(detail: &str) -> InvokeError {
    InvokeError::new("INVALID_REQUEST", format!("Error: INVALID_REQUEST: {detail}"))
}

/// The params of an invoke: `paramsJSON` parsed, else the `params` object fallback, else
/// `null` for commands that take none.
pub fn decode_params(req: &InvokeRequest, optional: bool) -> Result<Value, InvokeError> {
    match (&req.params_json, &req.params) {
        (Some(text), _) => serde_json::from_str(text).map_err(|_| invalid_request("paramsJSON malformed JSON")),
        (None, Some(obj)) if obj.is_object() => Ok(obj.clone()),
        _ if optional => Ok(Value::Null),
        _ => Err(invalid_request("paramsJSON required")),
    }
}

/// Runs one invoke to completion and returns the single result to send.
///
/// A panic inside the command is contained and reported as upstream's generic
/// `UNAVAILABLE node invocation failed`.
pub async fn dispatch(
    registry: &CommandRegistry,
    req: &InvokeRequest,
    ctx: InvokeContext,
) -> Result<Value, InvokeError> {
    let Some(command) = registry.get(&req.command) else {
        return Err(InvokeError::new("UNAVAILABLE", "command not supported"));
    };
    let params = decode_params(req, command.params_optional())?;
    use futures_util::FutureExt;
    // A panicking command must still produce its one result (and not take the node down).
    match std::panic::AssertUnwindSafe(command.run(ctx, params)).catch_unwind().await {
        Ok(result) => result,
        Err(_) => {
            tracing::warn!("node invoke {} ({}) panicked", req.id, req.command);
            Err(InvokeError::new("UNAVAILABLE", "node invocation failed"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(command: &str, params_json: Option<&str>) -> InvokeRequest {
        InvokeRequest {
            id: "i".into(),
            node_id: "n".into(),
            command: command.into(),
            params_json: params_json.map(String::from),
            params: None,
            timeout_ms: None,
            idempotency_key: None,
            session_key: None,
        }
    }

    fn ctx() -> InvokeContext {
        InvokeContext::detached(DEFAULT_PATH)
    }

    struct Panics;
    impl NodeCommand for Panics {
        fn name(&self) -> &'static str {
            "test.panic"
        }
        fn cap(&self) -> &'static str {
            "test"
        }
        fn run(&self, _ctx: InvokeContext, _params: Value) -> CommandFuture {
            Box::pin(async { panic!("boom") })
        }
    }

    #[tokio::test]
    async fn unknown_bad_and_panicking_commands_each_get_one_error() {
        let mut registry = CommandRegistry::stateless();
        registry.register(Arc::new(Panics));
        let e = dispatch(&registry, &req("nope.cmd", Some("{}")), ctx()).await.unwrap_err();
        assert_eq!(e, InvokeError::new("UNAVAILABLE", "command not supported"));
        let e = dispatch(&registry, &req("system.which", Some("{bad")), ctx()).await.unwrap_err();
        assert_eq!(e.message, "Error: INVALID_REQUEST: paramsJSON malformed JSON");
        let e = dispatch(&registry, &req("system.which", None), ctx()).await.unwrap_err();
        assert_eq!(e.message, "Error: INVALID_REQUEST: paramsJSON required");
        let e = dispatch(&registry, &req("test.panic", Some("{}")), ctx()).await.unwrap_err();
        assert_eq!(e, InvokeError::new("UNAVAILABLE", "node invocation failed"));
    }

    #[test]
    fn registry_derives_the_manifest() {
        let r = CommandRegistry::stateless();
        assert_eq!(r.command_names(), vec!["system.which"]);
        assert_eq!(r.caps(), vec!["system"]);
        let err = r.restrict_to(&["nope".into()]).err().unwrap();
        assert!(err
            .to_string()
            .starts_with("Node command allowlist retained no available commands. Unknown or unavailable ids: nope."));
        assert_eq!(r.restrict_to(&["system.which".into(), "x".into()]).unwrap().command_names(), vec!["system.which"]);
    }
}
