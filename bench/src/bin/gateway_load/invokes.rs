//! The operator side of the load: connecting operators, approving the simulated nodes'
//! command surfaces, and the timed `node.invoke` runs to random nodes.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use futures_util::StreamExt;
use openclaw_operator::client::{endpoint_from_url, ClientError};
use openclaw_operator::{ConnectOptions, OperatorClient, OPERATOR_SCOPES};
use rand::Rng;
use serde_json::json;

use crate::Args;

/// `timeoutMs` of each `node.invoke`.
pub(crate) const INVOKE_TIMEOUT_MS: u64 = 30_000;

pub(crate) async fn operator(args: &Args) -> Result<OperatorClient> {
    let endpoint = endpoint_from_url(&args.url, None).map_err(anyhow::Error::msg)?;
    let opts = ConnectOptions {
        endpoint,
        token: Some(args.token.clone()),
        password: None,
        device_token: None,
        identity: None,
        scopes: OPERATOR_SCOPES.iter().map(|s| s.to_string()).collect(),
        timeout: Duration::from_secs(120),
        caps: Vec::new(),
    };
    OperatorClient::connect(&opts).await.context("operator connect")
}

/// Approves every pending node surface of our nodes; returns (approved, already gone, rounds).
pub(crate) async fn approve_all(op: &OperatorClient, ours: &HashSet<String>) -> Result<(usize, usize, usize)> {
    let (mut approved, mut gone, mut rounds) = (0, 0, 0);
    loop {
        rounds += 1;
        let list = op.request("node.pair.list", json!({})).await.context("node.pair.list")?;
        let pending: Vec<String> = list["pending"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|p| p["nodeId"].as_str().is_some_and(|n| ours.contains(n)))
                    .filter_map(|p| p["requestId"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        if pending.is_empty() {
            return Ok((approved, gone, rounds));
        }
        if rounds > 10 {
            bail!("{} node surfaces still pending after {} approval rounds", pending.len(), rounds - 1);
        }
        let results: Vec<Result<(), ClientError>> = futures_util::stream::iter(pending)
            .map(|id| async move { op.request("node.pair.approve", json!({"requestId": id})).await.map(|_| ()) })
            .buffer_unordered(32)
            .collect()
            .await;
        for r in results {
            match r {
                Ok(()) => approved += 1,
                // Approved meanwhile (by someone else, or a retried request): fine.
                Err(ClientError::Gateway(e)) if e.message.contains("unknown requestId") => gone += 1,
                Err(e) => bail!("node.pair.approve: {e}"),
            }
        }
    }
}

pub(crate) fn is_retryable(e: &ClientError) -> bool {
    match e {
        ClientError::Gateway(shape) => shape.retryable == Some(true) || shape.detail_code() == Some("PAIRING_CHANGED"),
        _ => false,
    }
}

#[derive(Default)]
pub(crate) struct InvokeOutcome {
    pub(crate) latencies: Vec<Duration>,
    pub(crate) retries: usize,
    pub(crate) errors: usize,
    pub(crate) first_error: Option<String>,
}

/// `total` invokes to random nodes with `concurrency` in flight over `ops`.
pub(crate) async fn run_invokes(
    ops: &[Arc<OperatorClient>],
    ids: &Arc<Vec<String>>,
    total: usize,
    concurrency: usize,
) -> InvokeOutcome {
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for w in 0..concurrency.max(1) {
        let op = ops[w % ops.len()].clone();
        let (ids, next) = (ids.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut out = InvokeOutcome::default();
            while next.fetch_add(1, Ordering::Relaxed) < total {
                let node = ids[rand::thread_rng().gen_range(0..ids.len())].clone();
                let mut attempts = 0;
                loop {
                    attempts += 1;
                    let params = json!({
                        "nodeId": node,
                        "command": "system.which",
                        "params": {"bins": ["sh"]},
                        "idempotencyKey": uuid::Uuid::new_v4().to_string(),
                        "timeoutMs": INVOKE_TIMEOUT_MS,
                    });
                    let started = Instant::now();
                    let r = op
                        .request_with_timeout("node.invoke", params, Duration::from_millis(INVOKE_TIMEOUT_MS + 5000))
                        .await;
                    let took = started.elapsed();
                    match r {
                        Ok(v) if v["ok"] == json!(true) => {
                            out.latencies.push(took);
                            break;
                        }
                        Err(e) if attempts < 5 && is_retryable(&e) => {
                            out.retries += 1;
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        other => {
                            out.errors += 1;
                            if out.first_error.is_none() {
                                out.first_error = Some(match other {
                                    Ok(v) => format!("unexpected answer: {v}"),
                                    Err(e) => e.to_string(),
                                });
                            }
                            break;
                        }
                    }
                }
            }
            out
        }));
    }
    let mut all = InvokeOutcome::default();
    for w in workers {
        let o = w.await.expect("invoke worker");
        all.latencies.extend(o.latencies);
        all.retries += o.retries;
        all.errors += o.errors;
        if all.first_error.is_none() {
            all.first_error = o.first_error;
        }
    }
    all.latencies.sort();
    all
}
