//! `GET /snapshot` (upstream `routes/agent.snapshot.ts`): capture, budget, delta, and the refs
//! `/act` resolves afterwards.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::{q_target, BrowserControl, RouteResult};
use crate::error::RouteError;
use crate::refs::{RefEntry, RefTable};
use crate::snapshot::aria;
use crate::snapshot::capture::Page;
use crate::snapshot::role::{finalize, identity_key};
use crate::snapshot::{SnapshotFormat, SnapshotPlan};

/// Upstream's per-command timeout of a capture when the request names none.
const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(5);

impl BrowserControl {
    pub(super) async fn snapshot(&self, q: &BTreeMap<String, String>, body: &Value) -> RouteResult {
        let rt = self.profile_for(q, body)?;
        let plan = SnapshotPlan::from_query(q)?;
        if plan.labels {
            return Err(RouteError::not_implemented("Snapshot labels require Playwright."));
        }
        let (tab, live, session) = self.tab_context(&rt, q_target(q), true).await?;
        let mut out = Map::new();
        out.insert("ok".into(), json!(true));
        out.insert("format".into(), json!(plan.format.as_str()));
        out.insert("targetId".into(), json!(tab.target_id));
        out.insert("url".into(), json!(tab.url));
        // A JavaScript dialog freezes the page: say so instead of waiting on a tree that
        // cannot be read. The tab's dialogs go with every snapshot once it has seen one, as
        // upstream's `browserState`.
        let state = live.act.browser_state(&tab.target_id);
        let has_dialogs = ["/dialogs/pending", "/dialogs/recent"]
            .iter()
            .any(|p| state.pointer(p).and_then(Value::as_array).is_some_and(|a| !a.is_empty()));
        if live.act.dialog_pending(&tab.target_id) {
            out.insert("blockedByDialog".into(), json!(true));
            out.insert("browserState".into(), state);
            match plan.format {
                SnapshotFormat::Aria => out.insert("nodes".into(), json!([])),
                SnapshotFormat::Ai => {
                    out.insert("snapshot".into(), json!(""));
                    out.insert("refs".into(), json!({}))
                }
            };
            return Ok(Value::Object(out));
        }
        if has_dialogs {
            out.insert("browserState".into(), state);
        }
        let timeout = plan.timeout_ms.map(Duration::from_millis).unwrap_or(DEFAULT_COMMAND_TIMEOUT);
        let page = Page::new(&live, &session, timeout);
        page.prepare().await;
        let before = page.identity().await?;

        if plan.format == SnapshotFormat::Aria {
            let raw = page.full_tree(None).await?;
            let nodes: Vec<_> = raw.iter().filter_map(crate::snapshot::role::AxNode::from_cdp).collect();
            let descriptions = raw
                .iter()
                .filter_map(|n| {
                    let id = n.get("nodeId")?.as_str()?.to_string();
                    let d = n.pointer("/description/value")?.as_str()?.to_string();
                    Some((id, d))
                })
                .collect();
            let formatted = aria::format(&nodes, &descriptions, plan.limit);
            self.check_unchanged(&page, &before).await?;
            let refs = formatted
                .iter()
                .map(|a| {
                    let entry = RefEntry {
                        role: a.role.to_ascii_lowercase(),
                        name: Some(a.name.clone()).filter(|n| !n.is_empty()),
                        nth: None,
                        backend_node_id: a.backend_node_id,
                        frame_id: None,
                    };
                    (a.reference.clone(), entry)
                })
                .collect();
            crate::refs::store(&live, &tab.target_id, RefTable { loader_id: before.main_loader.clone(), refs });
            out.insert("nodes".into(), Value::Array(formatted.iter().map(|a| a.to_json()).collect()));
            return Ok(Value::Object(out));
        }

        // The subtree a `selector` or `frame` names, else the whole page with its iframes.
        let (raw, root, frame_id) = if let Some(frame_sel) = &plan.frame {
            let iframe = page
                .query_selector(frame_sel)
                .await?
                .ok_or_else(|| RouteError::internal(format!("No element matches frame selector \"{frame_sel}\"")))?;
            let frame = page.content_frame(iframe).await.ok_or_else(|| {
                RouteError::internal(format!("Element \"{frame_sel}\" is not an iframe with a document"))
            })?;
            let raw = page.full_tree(Some(&frame)).await?;
            match &plan.selector {
                Some(sel) => {
                    let el = page.query_selector(sel).await?.ok_or_else(|| no_match(sel))?;
                    (page.scoped_tree(el).await?, Some(el), Some(frame))
                }
                None => (raw, None, Some(frame)),
            }
        } else if let Some(sel) = &plan.selector {
            let el = page.query_selector(sel).await?.ok_or_else(|| no_match(sel))?;
            (page.scoped_tree(el).await?, Some(el), None)
        } else {
            (page.full_tree(None).await?, None, None)
        };
        // Upstream inlines iframe documents only in its snapshot without role options (its
        // Playwright YAML covers frames); role-option snapshots, `mode=efficient` included,
        // are of the main document alone.
        let recurse = root.is_none() && frame_id.is_none() && !plan.wants_role_snapshot;
        let captured = page.role_snapshot(raw, root, frame_id, plan.options, plan.urls, recurse).await;
        self.check_unchanged(&page, &before).await?;

        let cache_key = json!([rt.profile.name, tab.target_id, plan.family()]).to_string();
        let previous = self.snapshot_deltas().previous(&cache_key, &before.frame_tree);
        let done = finalize(
            &captured.lines,
            captured.refs,
            plan.options,
            root.is_some(),
            captured.truncated,
            plan.max_chars,
            previous.as_ref(),
        );
        self.snapshot_deltas().record(
            cache_key,
            before.frame_tree.clone(),
            done.refs.iter().map(|(_, e)| identity_key(e)).collect(),
        );
        crate::refs::store(
            &live,
            &tab.target_id,
            RefTable { loader_id: before.main_loader.clone(), refs: done.refs.iter().cloned().collect() },
        );

        out.insert("snapshot".into(), json!(done.snapshot));
        let refs: Map<String, Value> = done.refs.iter().map(|(id, e)| (id.clone(), e.to_json())).collect();
        out.insert("refs".into(), Value::Object(refs));
        out.insert(
            "stats".into(),
            json!({"lines": done.lines, "chars": done.chars, "refs": done.refs.len(), "interactive": done.interactive}),
        );
        if let Some(n) = done.new_elements {
            out.insert("newElements".into(), json!(n));
        }
        if done.truncated {
            out.insert("truncated".into(), json!(true));
        }
        Ok(Value::Object(out))
    }

    /// Upstream refuses a snapshot whose page navigated while it was taken: its refs would
    /// point into a document that is gone.
    async fn check_unchanged(
        &self,
        page: &Page<'_>,
        before: &crate::snapshot::capture::DocumentIdentity,
    ) -> Result<(), RouteError> {
        let after = page.identity().await?;
        if !before.main_loader.is_empty() && after != *before {
            return Err(RouteError::internal("Frame changed while its browser snapshot was being captured; retry."));
        }
        Ok(())
    }
}

fn no_match(selector: &str) -> RouteError {
    RouteError::internal(format!("No element matches selector \"{selector}\""))
}
