//! The page logs: console, errors, requests (upstream `routes/agent.debug.ts`).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::{q_target, target_payload, BrowserControl, RouteResult};
use crate::settings::parse_bool;

impl BrowserControl {
    pub(super) async fn console(&self, q: &BTreeMap<String, String>, body: &Value) -> RouteResult {
        let rt = self.profile_for(q, body)?;
        let (tab, live, _) = self.tab_context(&rt, q_target(q), true).await?;
        let level = q.get("level").map(|s| s.trim()).filter(|s| !s.is_empty());
        let messages = live
            .logs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&tab.target_id)
            .map(|l| l.console(level))
            .unwrap_or_default();
        let mut out = target_payload(&tab);
        out.insert("messages".into(), json!(messages));
        Ok(Value::Object(out))
    }

    pub(super) async fn errors(&self, q: &BTreeMap<String, String>, body: &Value) -> RouteResult {
        let rt = self.profile_for(q, body)?;
        let clear = q.get("clear").and_then(|c| parse_bool(c)).unwrap_or(false);
        let (tab, live, _) = self.tab_context(&rt, q_target(q), true).await?;
        let errors = live
            .logs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(&tab.target_id)
            .map(|l| l.errors(clear))
            .unwrap_or_default();
        let mut out = target_payload(&tab);
        out.insert("errors".into(), json!(errors));
        Ok(Value::Object(out))
    }

    pub(super) async fn requests(&self, q: &BTreeMap<String, String>, body: &Value) -> RouteResult {
        let rt = self.profile_for(q, body)?;
        let clear = q.get("clear").and_then(|c| parse_bool(c)).unwrap_or(false);
        let filter = q.get("filter").map(String::as_str);
        let (tab, live, _) = self.tab_context(&rt, q_target(q), true).await?;
        let requests = live
            .logs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(&tab.target_id)
            .map(|l| l.requests(filter, clear))
            .unwrap_or_default();
        let mut out = target_payload(&tab);
        out.insert("requests".into(), json!(requests));
        Ok(Value::Object(out))
    }
}
