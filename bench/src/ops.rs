//! What an operator does to a node through a gateway, timed: `system.which` round trips,
//! `system.run` throughput at a given concurrency, one command with a large output.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use openclaw_operator::client::endpoint_from_url;
use openclaw_operator::{ClientError, ConnectOptions, OperatorClient, OPERATOR_SCOPES};
use serde_json::{json, Value};

use crate::procfs;

/// An operator session on loopback with the shared token and no device identity (both
/// gateways keep the operator scopes for that, as for the local CLI).
pub async fn operator(url: &str, token: &str) -> Result<OperatorClient> {
    let opts = ConnectOptions {
        endpoint: endpoint_from_url(url, None).map_err(anyhow::Error::msg)?,
        token: Some(token.to_string()),
        password: None,
        device_token: None,
        identity: None,
        scopes: OPERATOR_SCOPES.iter().map(|s| s.to_string()).collect(),
        timeout: Duration::from_secs(60),
        caps: Vec::new(),
    };
    OperatorClient::connect(&opts).await.context("operator connect")
}

/// One `node.invoke`; `Ok` only when the node answered `ok: true`. Returns the payload.
pub async fn invoke(op: &OperatorClient, node: &str, command: &str, params: Value, timeout_ms: u64) -> Result<Value> {
    let v = op
        .request_with_timeout(
            "node.invoke",
            json!({
                "nodeId": node,
                "command": command,
                "params": params,
                "idempotencyKey": uuid::Uuid::new_v4().to_string(),
                "timeoutMs": timeout_ms,
            }),
            Duration::from_millis(timeout_ms + 10_000),
        )
        .await?;
    if v["ok"] != json!(true) {
        bail!("{command}: not ok: {v}");
    }
    Ok(v.get("payload").cloned().unwrap_or(Value::Null))
}

/// Approves the node's pending command surface (if any) and waits until a `system.which`
/// through the gateway succeeds.
pub async fn make_invokable(op: &OperatorClient, node: &str, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    let mut last = String::new();
    while Instant::now() < deadline {
        let list = op.request("node.pair.list", json!({})).await.context("node.pair.list")?;
        for p in list["pending"].as_array().into_iter().flatten() {
            if p["nodeId"].as_str() == Some(node) {
                if let Some(id) = p["requestId"].as_str() {
                    match op.request("node.pair.approve", json!({"requestId": id})).await {
                        Ok(_) => {}
                        Err(ClientError::Gateway(e)) if e.message.contains("unknown requestId") => {}
                        Err(e) => bail!("node.pair.approve: {e}"),
                    }
                }
            }
        }
        match invoke(op, node, "system.which", json!({"bins": ["sh"]}), 10_000).await {
            Ok(_) => return Ok(()),
            Err(e) => last = format!("{e:#}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bail!("node {node} not invokable within {timeout:?}: {last}")
}

/// `n` sequential `system.which {bins:["sh"]}` round trips (after `warmup` untimed ones).
pub async fn which_latencies(op: &OperatorClient, node: &str, n: usize, warmup: usize) -> Result<Vec<Duration>> {
    for _ in 0..warmup {
        invoke(op, node, "system.which", json!({"bins": ["sh"]}), 10_000).await?;
    }
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        invoke(op, node, "system.which", json!({"bins": ["sh"]}), 10_000).await?;
        out.push(t.elapsed());
    }
    out.sort();
    Ok(out)
}

/// Result of a `system.run` throughput run.
pub struct Throughput {
    /// Calls attempted.
    pub calls: usize,
    /// From the first call sent to the last answer.
    pub wall: Duration,
    /// Of the calls that succeeded. Sorted.
    pub latencies: Vec<Duration>,
    /// Calls that failed or did not print `bench`; a run with errors is not reported.
    pub errors: usize,
    /// The first failure, so the report can say why.
    pub first_error: Option<String>,
}

impl Throughput {
    /// Successful calls per second of wall time (the table's throughput).
    pub fn per_sec(&self) -> f64 {
        self.latencies.len() as f64 / self.wall.as_secs_f64().max(1e-9)
    }
}

/// `total` `system.run ["echo", "bench"]` calls, `concurrency` in flight, spread over `ops`,
/// each with a 30 s deadline. A call counts only when the command ran and printed `bench`.
pub async fn run_throughput(
    ops: &[Arc<OperatorClient>],
    node: &str,
    total: usize,
    concurrency: usize,
) -> Result<Throughput> {
    run_throughput_with_deadline(ops, node, total, concurrency, 30_000).await
}

/// [`run_throughput`] with another per-call deadline: at 1,000 in flight a slow host queues
/// calls for longer than 30 s, and a call that waited is slow, not failed.
pub async fn run_throughput_with_deadline(
    ops: &[Arc<OperatorClient>],
    node: &str,
    total: usize,
    concurrency: usize,
    deadline_ms: u64,
) -> Result<Throughput> {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..concurrency.max(1) {
        let op = ops[w % ops.len()].clone();
        let (next, node) = (next.clone(), node.to_string());
        workers.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < total {
                let t = Instant::now();
                let r = invoke(
                    &op,
                    &node,
                    "system.run",
                    json!({"command": ["echo", "bench"], "timeoutMs": deadline_ms}),
                    deadline_ms,
                )
                .await;
                match r {
                    Ok(p) if p["stdout"].as_str().is_some_and(|s| s.trim() == "bench") => lat.push(t.elapsed()),
                    Ok(p) => errors.push(format!("unexpected payload: {p}")),
                    Err(e) => errors.push(format!("{e:#}")),
                }
            }
            (lat, errors)
        }));
    }
    let mut out =
        Throughput { calls: total, wall: Duration::ZERO, latencies: Vec::new(), errors: 0, first_error: None };
    for w in workers {
        let (lat, errors) = w.await.context("worker")?;
        out.latencies.extend(lat);
        out.errors += errors.len();
        if out.first_error.is_none() {
            out.first_error = errors.into_iter().next();
        }
    }
    out.wall = started.elapsed();
    out.latencies.sort();
    Ok(out)
}

/// Result of one large-output command.
pub struct BigOutput {
    /// From the request sent to the answer received.
    pub wall: Duration,
    /// Peak of the summed VmRSS of the host's own processes, sampled every 5 ms.
    pub peak_rss_kib: u64,
    /// RSS of the same processes just before the command.
    pub before_rss_kib: u64,
    /// Bytes of stdout the node returned (upstream caps output at 200,000 bytes).
    pub returned: usize,
}

/// Runs `work` while sampling, every 5 ms, the summed VmRSS of the processes of the host's tree
/// rooted at `host_pid` as it was before (what the host runs for the work, such as a command's
/// `sh`, is not counted): `(work's output, peak KiB, KiB just before)`.
pub async fn with_peak_rss<T>(host_pid: i32, work: impl std::future::Future<Output = T>) -> Result<(T, u64, u64)> {
    let pids = procfs::tree(host_pid);
    let before_rss_kib = procfs::rss_kib(&pids);
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (done, pids) = (done.clone(), pids.clone());
        std::thread::spawn(move || {
            let mut peak = 0;
            while !done.load(Ordering::Relaxed) {
                peak = peak.max(procfs::rss_kib(&pids));
                std::thread::sleep(Duration::from_millis(5));
            }
            peak.max(procfs::rss_kib(&pids))
        })
    };
    let out = work.await;
    done.store(true, Ordering::Relaxed);
    let peak_rss_kib = sampler.join().map_err(|_| anyhow::anyhow!("sampler panicked"))?;
    Ok((out, peak_rss_kib, before_rss_kib))
}

/// Runs `sh -c 'head -c <bytes> /dev/zero | tr "\0" a'` through the node host whose process
/// tree is rooted at `host_pid`; samples the RSS of the host's own processes (those that
/// existed before the command: the command's `sh`, `head` and `tr` are not counted).
pub async fn big_output(op: &OperatorClient, node: &str, host_pid: i32, bytes: u64) -> Result<BigOutput> {
    let script = format!("head -c {bytes} /dev/zero | tr '\\0' a");
    let t = Instant::now();
    let call = invoke(op, node, "system.run", json!({"command": ["sh", "-c", script], "timeoutMs": 300_000}), 300_000);
    let (r, peak_rss_kib, before_rss_kib) = with_peak_rss(host_pid, call).await?;
    let wall = t.elapsed();
    let payload = r?;
    let stdout = payload["stdout"].as_str().unwrap_or("");
    if !stdout.starts_with("aaaa") {
        bail!("large-output command returned no output: {payload}");
    }
    Ok(BigOutput { wall, peak_rss_kib, before_rss_kib, returned: stdout.len() })
}

/// The `p`th percentile of sorted durations (nearest rank).
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}
