//! Gateway load tool: N simulated nodes, each with its own Ed25519 identity and a correctly
//! signed v3 `connect`, held open against one gateway; their command surfaces are approved
//! through an operator connection, then `node.invoke` round trips to random nodes are timed.
//! Prints a markdown table (or `--json`): gateway RSS idle and at N, time to connect all N,
//! invoke p50/p99/max, and the tool's own RSS.
//!
//! Usage: `openclaw-gateway-load --url ws://127.0.0.1:PORT --token T --nodes N [--invokes 2000]
//! [--concurrency 32] [--connect-parallel 200] [--gateway-pid PID] [--label ours] [--json]`
//! (`scripts/gateway-load` starts our gateway and runs it at 1,000 and 10,000 nodes).

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use clap::Parser;
use openclaw_bench::procfs;
use openclaw_operator::client::endpoint_from_url;
use serde_json::json;
use tokio::sync::{mpsc, watch, Semaphore};

mod gate;
mod invokes;
mod node;

use invokes::{approve_all, operator, run_invokes};
use node::{node_task, NodeCfg, Stats};

#[derive(Parser, Debug)]
#[command(name = "openclaw-gateway-load", about = "Hold N simulated nodes on a gateway and time node.invoke")]
struct Args {
    /// Gateway WebSocket URL (ws://host:port).
    #[arg(long)]
    url: String,
    /// Shared gateway token.
    #[arg(long)]
    token: String,
    /// Simulated nodes to connect.
    #[arg(long)]
    nodes: usize,
    /// Timed `node.invoke` calls (after a short untimed warm-up).
    #[arg(long, default_value_t = 2000)]
    invokes: usize,
    /// Invokes in flight.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Node handshakes in flight (the real Gateway answers 503 to more than 32 unauthenticated
    /// connections per IP: use at most 16 there).
    #[arg(long, default_value_t = 200)]
    connect_parallel: usize,
    /// Connect attempts per node before it counts as failed.
    #[arg(long, default_value_t = 3)]
    connect_attempts: u32,
    /// Operator connections the invokes are spread over.
    #[arg(long, default_value_t = 4)]
    operators: usize,
    /// Untimed invokes before the timed ones.
    #[arg(long, default_value_t = 100)]
    warmup: usize,
    /// Gateway process id, for its RSS (VmRSS summed over its process tree: the real Gateway
    /// forks worker processes).
    #[arg(long)]
    gateway_pid: Option<u32>,
    /// Row label (e.g. `ours`, `upstream`).
    #[arg(long, default_value = "ours")]
    label: String,
    /// Print one JSON object instead of the markdown table.
    #[arg(long)]
    json: bool,
}

/// VmRSS of a process in KiB.
fn rss_kib(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn main() {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio runtime");
    let code = match rt.block_on(run(args)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("gateway-load: error: {e:#}");
            1
        }
    };
    // Node tasks were told to stop in `run`; do not wait on stragglers.
    rt.shutdown_timeout(Duration::from_secs(1));
    std::process::exit(code);
}

async fn run(args: Args) -> Result<()> {
    if args.nodes == 0 {
        bail!("--nodes must be at least 1");
    }
    if let Some(limit) = open_files_limit() {
        let need = args.nodes as u64 + args.operators as u64 + 64;
        if limit < need {
            bail!("open-files limit is {limit}, {need} needed for {} nodes: raise it (ulimit -n)", args.nodes);
        }
    }
    let endpoint = endpoint_from_url(&args.url, None).map_err(anyhow::Error::msg)?;
    if endpoint.tls {
        bail!("only ws:// is supported");
    }
    let gw_pid = args.gateway_pid.map(|p| p as i32);
    let gw_rss = || gw_pid.and_then(procfs::tree_rss_kib).map(|(kib, _)| kib);
    let self_rss = || rss_kib("self").unwrap_or(0);
    if let Some(pid) = gw_pid {
        match procfs::tree_rss_kib(pid) {
            Some((_, n)) => eprintln!("gateway-load[{}]: gateway pid {pid}: {n} processes", args.label),
            None => bail!("cannot read /proc/{pid}/status (is --gateway-pid right?)"),
        }
    }
    let rss_idle = gw_rss();

    let cfg = Arc::new(NodeCfg {
        addr: format!("{}:{}", endpoint.host.trim_start_matches('[').trim_end_matches(']'), endpoint.port),
        url: args.url.clone(),
        token: args.token.clone(),
        attempts: args.connect_attempts.max(1),
    });
    let stats = Arc::new(Stats::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let sem = Arc::new(Semaphore::new(args.connect_parallel.max(1)));
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();

    eprintln!(
        "gateway-load[{}]: connecting {} nodes ({} in parallel) to {}",
        args.label, args.nodes, args.connect_parallel, args.url
    );
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(args.nodes);
    for i in 0..args.nodes {
        tasks.push(tokio::spawn(node_task(
            i,
            cfg.clone(),
            sem.clone(),
            ready_tx.clone(),
            stats.clone(),
            stop_rx.clone(),
        )));
    }
    drop(ready_tx);
    let mut ids = Vec::with_capacity(args.nodes);
    let mut failures = Vec::new();
    let mut last_report = Instant::now();
    while let Some(r) = ready_rx.recv().await {
        match r {
            Ok(id) => ids.push(id),
            Err(e) => failures.push(e),
        }
        if last_report.elapsed() >= Duration::from_secs(5) {
            last_report = Instant::now();
            eprintln!(
                "gateway-load[{}]:   {} connected, {} failed, {:.1} s",
                args.label,
                ids.len(),
                failures.len(),
                started.elapsed().as_secs_f64()
            );
        }
        if ids.len() + failures.len() == args.nodes {
            break;
        }
    }
    let connect_time = started.elapsed();
    eprintln!(
        "gateway-load[{}]: {} of {} nodes connected in {:.2} s ({} connect retries; nodes received {:.1} MiB, largest message {} B)",
        args.label,
        ids.len(),
        args.nodes,
        connect_time.as_secs_f64(),
        stats.connect_retries.load(Ordering::Relaxed),
        stats.rx_bytes.load(Ordering::Relaxed) as f64 / 1048576.0,
        stats.rx_max.load(Ordering::Relaxed),
    );
    let result = measure(&args, &stats, ids, &failures, connect_time, rss_idle, &gw_rss, &self_rss).await;

    // Close everything: nodes first (clean WebSocket closes), then the process exits.
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(20), futures_util::future::join_all(tasks)).await;
    result
}

#[allow(clippy::too_many_arguments)]
async fn measure(
    args: &Args,
    stats: &Arc<Stats>,
    ids: Vec<String>,
    failures: &[String],
    connect_time: Duration,
    rss_idle: Option<u64>,
    gw_rss: &dyn Fn() -> Option<u64>,
    self_rss: &dyn Fn() -> u64,
) -> Result<()> {
    if ids.len() < args.nodes {
        for f in failures.iter().take(5) {
            eprintln!("gateway-load[{}]:   {f}", args.label);
        }
        bail!(
            "only {} of {} nodes connected ({} failed; first: {})",
            ids.len(),
            args.nodes,
            failures.len(),
            failures.first().map(String::as_str).unwrap_or("-")
        );
    }

    // Approve every node surface through one operator.
    let mut ops = Vec::new();
    for _ in 0..args.operators.max(1) {
        ops.push(Arc::new(operator(args).await?));
    }
    let ours: HashSet<String> = ids.iter().cloned().collect();
    let t = Instant::now();
    let (approved, gone, rounds) = approve_all(&ops[0], &ours).await?;
    // Wait until the live nodes have seen their approval (node.pair.resolved).
    let deadline = Instant::now() + Duration::from_secs(60);
    while stats.resolved.load(Ordering::Relaxed) < approved && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let approve_time = t.elapsed();
    eprintln!(
        "gateway-load[{}]: approved {approved} node surfaces ({gone} already approved, {rounds} list rounds) in {:.2} s; {} nodes saw node.pair.resolved",
        args.label,
        approve_time.as_secs_f64(),
        stats.resolved.load(Ordering::Relaxed)
    );

    // Settle, then RSS with all N connected and approved.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_at_n = gw_rss();
    let self_at_n = self_rss();

    let ids = Arc::new(ids);
    if args.warmup > 0 {
        let w = run_invokes(&ops, &ids, args.warmup, args.concurrency).await;
        if w.errors > 0 {
            bail!("warm-up invokes failed ({} of {}): {}", w.errors, args.warmup, w.first_error.unwrap_or_default());
        }
    }
    eprintln!(
        "gateway-load[{}]: timing {} invokes, {} in flight over {} operator connections",
        args.label,
        args.invokes,
        args.concurrency,
        ops.len()
    );
    let t = Instant::now();
    let inv = run_invokes(&ops, &ids, args.invokes, args.concurrency).await;
    let invoke_time = t.elapsed();
    let rss_after = gw_rss();
    let self_after = self_rss();
    let gw_procs = args.gateway_pid.and_then(|p| procfs::tree_rss_kib(p as i32)).map(|(_, n)| n);
    let still = args.nodes - stats.dropped.load(Ordering::Relaxed);

    let (p50, p99) = (percentile(&inv.latencies, 50.0), percentile(&inv.latencies, 99.0));
    let max = inv.latencies.last().copied().unwrap_or_default();
    let throughput = inv.latencies.len() as f64 / invoke_time.as_secs_f64().max(1e-9);
    let per_conn = match (rss_idle, rss_at_n) {
        (Some(i), Some(n)) => Some((n.saturating_sub(i) as f64 * 1024.0) / args.nodes as f64),
        _ => None,
    };
    let opt_mib = |v: Option<u64>| v.map(mib).unwrap_or_else(|| "-".into());

    if args.json {
        println!(
            "{}",
            json!({
                "label": args.label,
                "nodes": args.nodes,
                "connected": still,
                "connectSecs": connect_time.as_secs_f64(),
                "connectRetries": stats.connect_retries.load(Ordering::Relaxed),
                "approveSecs": approve_time.as_secs_f64(),
                "gatewayProcesses": gw_procs,
                "gatewayRssIdleKiB": rss_idle,
                "gatewayRssAtNKiB": rss_at_n,
                "gatewayRssAfterInvokesKiB": rss_after,
                "gatewayBytesPerNode": per_conn,
                "invokes": inv.latencies.len(),
                "invokeErrors": inv.errors,
                "invokeRetries": inv.retries,
                "invokeP50Ms": p50.as_secs_f64() * 1000.0,
                "invokeP99Ms": p99.as_secs_f64() * 1000.0,
                "invokeMaxMs": max.as_secs_f64() * 1000.0,
                "invokesPerSec": throughput,
                "toolRssAtNKiB": self_at_n,
                "toolRssAfterKiB": self_after,
            })
        );
    } else {
        println!("| gateway | nodes | connect all | gw RSS idle | gw RSS at N | per node | gw RSS after invokes | invoke p50 | invoke p99 | invoke max | invokes/s | errors / retries | tool RSS |");
        println!("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
        println!(
            "| {} | {} | {:.2} s | {} | {} | {} | {} | {} | {} | {} | {:.0} | {} / {} | {} |",
            args.label,
            if still == args.nodes { format!("{}", args.nodes) } else { format!("{still}/{} (dropped)", args.nodes) },
            connect_time.as_secs_f64(),
            opt_mib(rss_idle),
            opt_mib(rss_at_n),
            per_conn.map(|b| format!("{:.1} KiB", b / 1024.0)).unwrap_or_else(|| "-".into()),
            opt_mib(rss_after),
            ms(p50),
            ms(p99),
            ms(max),
            throughput,
            inv.errors,
            inv.retries,
            mib(self_after.max(self_at_n)),
        );
    }
    eprintln!(
        "gateway-load[{}]: {} invokes served by nodes, {} result errors, {} nodes dropped{}",
        args.label,
        stats.served.load(Ordering::Relaxed),
        stats.result_errors.load(Ordering::Relaxed),
        stats.dropped.load(Ordering::Relaxed),
        {
            let r = stats.drop_reasons.lock().expect("reasons lock");
            if r.is_empty() {
                String::new()
            } else {
                format!(" ({})", r.join("; "))
            }
        }
    );
    for op in ops {
        if let Ok(op) = Arc::try_unwrap(op) {
            op.close().await;
        }
    }
    if inv.errors > 0 {
        bail!("{} of {} invokes failed; first: {}", inv.errors, args.invokes, inv.first_error.unwrap_or_default());
    }
    if still < args.nodes {
        bail!("{} nodes were disconnected during the run", args.nodes - still);
    }
    Ok(())
}
