//! The command traits, the command registry and the invoke dispatcher.
//!
//! Every node command is one [`NodeCommand`], usually written as a typed [`Command`] (a name,
//! a capability, a [`FromParams`] params type and `run`) and turned into a `NodeCommand` by a
//! blanket impl. The registry is the single source of truth for what the node advertises
//! (`commands` and `caps` in `connect` are derived from it) and for what it runs; which
//! commands it holds is decided in [`crate::commands`], so this module names no concrete
//! command. [`dispatch`] turns one `node.invoke.request` into exactly one
//! `node.invoke.result`, whatever happens inside the command: bad params, an unknown command,
//! a cancellation or a panic all end in a well-formed result.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use openclaw_protocol::node::{
    InvokeError, InvokeRequest, InvokeResult, NodeEvent, METHOD_INVOKE_RESULT, METHOD_NODE_EVENT,
};
use openclaw_protocol::{Frame, RequestFrame};
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Bytes;

use crate::offload::{off_thread, Lane};
use crate::params::{thrown_invalid_request, FromParams, Params};
use crate::services::NodeEnv;

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
    /// Whether the command accepts a missing `paramsJSON` (it then gets `{}`).
    fn params_optional(&self) -> bool {
        false
    }
    /// A check of the raw `paramsJSON` before it is parsed (see [`FromParams::check_raw`]).
    fn check_raw_params(&self, _raw: &str) -> Result<(), InvokeError> {
        Ok(())
    }
}

/// A node command with typed params: what a command module implements.
///
/// The blanket impl below makes every `Command` a [`NodeCommand`]: it decodes the params
/// with [`FromParams`] (a decoding error is the invoke's result, and `run` is not called)
/// and runs the command on a clone of itself, so the future owns what it needs. Commands
/// are therefore cheap to clone (they hold `Arc`s).
pub trait Command: Clone + Send + Sync + 'static {
    /// The command id the gateway invokes.
    const NAME: &'static str;
    /// The capability family it belongs to (`system`, `browser`, …), advertised in `caps`.
    const CAP: &'static str;
    /// The decoded params.
    type Params: FromParams;
    /// Runs the command. Long-running commands must watch `cx.cancel` and stop promptly when
    /// it fires.
    fn run(&self, cx: InvokeContext, params: Self::Params) -> impl Future<Output = Result<Value, InvokeError>> + Send;
}

impl<C: Command> NodeCommand for C {
    fn name(&self) -> &'static str {
        C::NAME
    }

    fn cap(&self) -> &'static str {
        C::CAP
    }

    fn params_optional(&self) -> bool {
        <C::Params as FromParams>::OPTIONAL
    }

    fn check_raw_params(&self, raw: &str) -> Result<(), InvokeError> {
        C::Params::check_raw(raw)
    }

    fn run(&self, ctx: InvokeContext, params: Value) -> CommandFuture {
        let command = self.clone();
        Box::pin(async move {
            // Params may be large (a 25 MB frame): decode them off the runtime thread, unless
            // there is nothing to decode.
            let params = if C::Params::KEPT_AS_SENT {
                C::Params::from_params(Params::new(params))?
            } else {
                off_thread(Lane::Lookup, "decoding params", move || C::Params::from_params(Params::new(params)))
                    .await
                    .map_err(|e| InvokeError::unavailable(e.to_string()))??
            };
            Command::run(&command, ctx, params).await
        })
    }
}

/// A request the node sends to the gateway (a command's result or event), already the frame
/// text that goes on the wire.
///
/// It is serialised once, when it is made: the session sends these bytes and keeps them (a
/// shared handle, not a copy) until the gateway acknowledges the id, to send again on the next
/// connection if this one dies. A re-send keeps the id: it is unique (a UUID), so the answer
/// acknowledges exactly this request, on whichever connection it comes.
#[derive(Debug, Clone, PartialEq)]
pub struct Outbound {
    /// The request id the gateway's response echoes.
    pub id: String,
    /// The gateway method (for logs).
    pub method: &'static str,
    /// The whole `{"type":"req",…}` frame, UTF-8 JSON text.
    pub frame: Bytes,
}

impl Outbound {
    /// A request of `method` with `params`.
    pub fn request(method: &'static str, params: Value) -> Self {
        let id = request_id();
        let text = Frame::Req(RequestFrame::new(&id, method, params)).to_text();
        Outbound { id, method, frame: Bytes::from(text) }
    }

    /// A `node.event` (`exec.finished`, `node.host.stats`, …) with `payload` as its
    /// `payloadJSON`.
    pub fn node_event(event: &str, payload: &Value) -> Self {
        let params = serde_json::to_value(NodeEvent::new(event, payload)).expect("a node event serialises");
        Self::request(METHOD_NODE_EVENT, params)
    }

    /// The `node.invoke.result` of invoke `invoke_id`. A success's payload is written straight
    /// into the frame ([`InvokeResult::success_frame`]): a large result (a file's base64) is
    /// held as the command's value and as the frame, and the value is gone once this returns.
    pub fn invoke_result(invoke_id: &str, node_id: &str, result: Result<Value, InvokeError>) -> Self {
        let payload = match result {
            Ok(payload) => payload,
            Err(error) => {
                let failure = InvokeResult::failure(invoke_id, node_id, error);
                return Self::request(
                    METHOD_INVOKE_RESULT,
                    serde_json::to_value(failure).expect("a result serialises"),
                );
            }
        };
        let id = request_id();
        let text = InvokeResult::success_frame(&id, invoke_id, node_id, &payload);
        Outbound { id, method: METHOD_INVOKE_RESULT, frame: Bytes::from(text) }
    }
}

/// A fresh request id: a process-wide sequence number (to follow a log) and a UUID (unique
/// across connections and restarts).
pub(crate) fn request_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("{}:{}", NEXT.fetch_add(1, Ordering::Relaxed), uuid::Uuid::new_v4())
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
            env: Arc::new(NodeEnv { path: path.into(), bootstrapped: false }),
            outbound,
        }
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

impl CommandRegistry {
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

/// The params of an invoke: `paramsJSON` parsed, else the `params` object fallback, else
/// `{}` for commands that take none (upstream's readers treat a missing `paramsJSON` as an
/// empty object, and a JSON `null` text as `null`).
pub fn decode_params(req: &InvokeRequest, optional: bool) -> Result<Value, InvokeError> {
    match (&req.params_json, &req.params) {
        (Some(text), _) => parse_params_json(text),
        (None, Some(obj)) if obj.is_object() => Ok(obj.clone()),
        _ if optional => Ok(Value::Object(Default::default())),
        _ => Err(thrown_invalid_request("paramsJSON required")),
    }
}

fn parse_params_json(text: &str) -> Result<Value, InvokeError> {
    serde_json::from_str(text).map_err(|_| thrown_invalid_request("paramsJSON malformed JSON"))
}

/// `paramsJSON` up to this size is parsed inline (microseconds); larger ones off the thread.
const INLINE_PARAMS_BYTES: usize = 64 * 1024;

/// Runs one invoke to completion and returns the single result to send.
///
/// A panic inside the command is contained and reported as upstream's generic
/// `UNAVAILABLE node invocation failed`.
///
/// It takes the request by value so a large `paramsJSON` is decoded without a copy.
pub async fn dispatch(
    registry: &CommandRegistry,
    mut req: InvokeRequest,
    ctx: InvokeContext,
) -> Result<Value, InvokeError> {
    let Some(command) = registry.get(&req.command) else {
        return Err(InvokeError::unavailable("command not supported"));
    };
    let optional = command.params_optional();
    let params = match &req.params_json {
        // Parsing a large paramsJSON takes a while: not on the runtime thread.
        Some(text) if text.len() > INLINE_PARAMS_BYTES => {
            let (text, checker) = (req.params_json.take().unwrap_or_default(), command.clone());
            off_thread(Lane::Lookup, "decoding paramsJSON", move || {
                checker.check_raw_params(&text)?;
                parse_params_json(&text)
            })
            .await
            .map_err(|e| InvokeError::unavailable(e.to_string()))??
        }
        Some(text) => {
            command.check_raw_params(text)?;
            parse_params_json(text)?
        }
        None => decode_params(&req, optional)?,
    };
    use futures_util::FutureExt;
    // A panicking command must still produce its one result (and not take the node down).
    match std::panic::AssertUnwindSafe(command.run(ctx, params)).catch_unwind().await {
        Ok(result) => result,
        Err(_) => {
            tracing::warn!("node invoke {} ({}) panicked", req.id, req.command);
            Err(InvokeError::unavailable("node invocation failed"))
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
        InvokeContext::detached(crate::services::DEFAULT_PATH)
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

    /// A command that needs params and echoes them: the dispatcher's own checks, with no
    /// built-in command involved (this module names none).
    struct Echo;
    impl NodeCommand for Echo {
        fn name(&self) -> &'static str {
            "test.echo"
        }
        fn cap(&self) -> &'static str {
            "test"
        }
        fn run(&self, _ctx: InvokeContext, params: Value) -> CommandFuture {
            Box::pin(async move { Ok(params) })
        }
    }

    #[tokio::test]
    async fn unknown_bad_and_panicking_commands_each_get_one_error() {
        let mut registry = CommandRegistry::default();
        registry.register(Arc::new(Echo));
        registry.register(Arc::new(Panics));
        let ok = dispatch(&registry, req("test.echo", Some("{\"a\":1}")), ctx()).await.unwrap();
        assert_eq!(ok, serde_json::json!({"a": 1}));
        let e = dispatch(&registry, req("nope.cmd", Some("{}")), ctx()).await.unwrap_err();
        assert_eq!(e, InvokeError::new("UNAVAILABLE", "command not supported"));
        let e = dispatch(&registry, req("test.echo", Some("{bad")), ctx()).await.unwrap_err();
        assert_eq!(e.message, "Error: INVALID_REQUEST: paramsJSON malformed JSON");
        let e = dispatch(&registry, req("test.echo", None), ctx()).await.unwrap_err();
        assert_eq!(e.message, "Error: INVALID_REQUEST: paramsJSON required");
        let e = dispatch(&registry, req("test.panic", Some("{}")), ctx()).await.unwrap_err();
        assert_eq!(e, InvokeError::new("UNAVAILABLE", "node invocation failed"));
    }
}
