//! `system.run.prepare` (`exec.md` §6): the command that hands out the plan an approval is
//! bound to. The plan itself is built by [`openclaw_exec::prepare`]; this module feeds it the
//! node's policy inputs, off the runtime thread.

use std::sync::Arc;

use openclaw_protocol::node::InvokeError;
use serde_json::Value;

use super::request::PrepareParams;
use crate::invoke::{Command, InvokeContext};
use crate::offload::{off_thread, Lane};
use crate::services::NodeServices;

/// `system.run.prepare`.
#[derive(Clone)]
pub struct SystemRunPrepare(pub Arc<NodeServices>);

impl Command for SystemRunPrepare {
    const NAME: &'static str = "system.run.prepare";
    const CAP: &'static str = "system";
    type Params = PrepareParams;

    async fn run(&self, ctx: InvokeContext, params: PrepareParams) -> Result<Value, InvokeError> {
        // Path resolution, hashing, the approvals document: all off the runtime thread.
        let services = self.0.clone();
        off_thread(Lane::Policy, "policy analysis", move || {
            super::with_policy_context(&services, &ctx, |policy| openclaw_exec::prepare::prepare(params.0, policy))
                .map_err(|refused| InvokeError::invalid_request(refused.0))
        })
        .await
        .map_err(|overrun| InvokeError::invalid_request(format!("SYSTEM_RUN_DENIED: {overrun}; no plan was made")))?
    }
}
