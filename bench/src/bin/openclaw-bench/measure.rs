//! The measurements of one benchmark run: a node host (start → connected, idle RSS, latency,
//! throughput, large output), its reconnect after a gateway restart, and a gateway row driven by
//! `openclaw-gateway-load`. Progress goes to stderr; the numbers go back to `report`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use openclaw_bench::ops::{self, percentile, BigOutput, Throughput};
use openclaw_bench::peers::{Gateway, Host};
use openclaw_bench::procfs;
use serde_json::Value;

use crate::Plan;

/// Everything measured for one node host.
pub(crate) struct HostResult {
    pub(crate) starts: Vec<Duration>,
    pub(crate) idle_rss_kib: u64,
    pub(crate) processes: usize,
    pub(crate) which: Vec<Duration>,
    pub(crate) run: Throughput,
    pub(crate) big: Vec<BigOutput>,
    /// From the gateway being ready again to the host's next `gateway connected`.
    pub(crate) reconnect: Option<Duration>,
    /// From the start of the restart (stop) to the gateway being ready, and to reconnected.
    pub(crate) restart_ready: Duration,
    pub(crate) restart_back: Duration,
}

/// Milliseconds, for progress lines and tables.
pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Start → connected, idle RSS, `system.which` latency, `system.run` throughput and large
/// output for one node host against `gw`.
pub(crate) fn measure_host(plan: &Plan, rt: &tokio::runtime::Runtime, gw: &Gateway, host: &Host) -> Result<HostResult> {
    let label = host.label;
    let connect_timeout = Duration::from_secs(120);
    let op = rt.block_on(ops::operator(&gw.url(), &gw.token))?;
    // Warm-up: the first connect creates the identity and pairs (silent loopback approval);
    // its command surface is approved then. The others let the gateway warm up.
    eprintln!("bench[{label}]: warm-up (pairing, surface approval)");
    let node_id;
    {
        let mut r = host.spawn(gw.port, &gw.token)?;
        r.wait_connected(connect_timeout)?;
        node_id = host.node_id()?;
        rt.block_on(ops::make_invokable(&op, &node_id, Duration::from_secs(60)))?;
        r.stop();
    }
    for _ in 0..2 {
        let mut r = host.spawn(gw.port, &gw.token)?;
        r.wait_connected(connect_timeout)?;
        r.stop();
    }
    let mut starts = Vec::new();
    let mut running = None;
    for i in 0..plan.runs {
        let mut r = host.spawn(gw.port, &gw.token)?;
        let t = r.wait_connected(connect_timeout)?;
        eprintln!("bench[{label}]: run {}: start → connected {:.1} ms", i + 1, ms(t));
        starts.push(t);
        if i + 1 < plan.runs {
            r.stop();
        } else {
            running = Some(r);
        }
    }
    let mut r = running.context("runs >= 1")?;
    eprintln!("bench[{label}]: idling {} s", plan.idle.as_secs());
    std::thread::sleep(plan.idle);
    let (idle_rss_kib, processes) = procfs::tree_rss_kib(r.pid()).context("node host exited while idle")?;
    eprintln!("bench[{label}]: idle RSS {:.1} MiB ({processes} processes)", idle_rss_kib as f64 / 1024.0);

    let (which, run, big) = rt.block_on(async {
        ops::make_invokable(&op, &node_id, Duration::from_secs(60)).await?;
        eprintln!("bench[{label}]: {} sequential system.which", plan.which_calls);
        let which = ops::which_latencies(&op, &node_id, plan.which_calls, 20).await?;
        eprintln!(
            "bench[{label}]:   p50 {:.2} ms, p99 {:.2} ms",
            ms(percentile(&which, 50.0)),
            ms(percentile(&which, 99.0))
        );
        // Four operator connections, so one socket is not the bottleneck.
        let mut opsv = vec![Arc::new(ops::operator(&gw.url(), &gw.token).await?)];
        for _ in 1..4 {
            opsv.push(Arc::new(ops::operator(&gw.url(), &gw.token).await?));
        }
        eprintln!("bench[{label}]: {} system.run echo, {} in flight", plan.run_calls, plan.concurrency);
        let run = ops::run_throughput(&opsv, &node_id, plan.run_calls, plan.concurrency).await?;
        eprintln!(
            "bench[{label}]:   {:.0} calls/s, p99 {:.1} ms, {} errors",
            run.per_sec(),
            ms(percentile(&run.latencies, 99.0)),
            run.errors
        );
        if run.errors > 0 {
            bail!("{label}: {} of {} system.run calls failed; first: {}", run.errors, run.calls, run.first_error.clone().unwrap_or_default());
        }
        for op in opsv {
            if let Ok(op) = Arc::try_unwrap(op) {
                op.close().await;
            }
        }
        let mut big = Vec::new();
        for i in 0..plan.big_runs {
            let b = ops::big_output(&op, &node_id, r.pid(), plan.big_bytes).await?;
            eprintln!(
                "bench[{label}]: {} MB output run {}: {:.2} s, host peak RSS {:.1} MiB (before {:.1}), {} bytes returned",
                plan.big_bytes >> 20,
                i + 1,
                b.wall.as_secs_f64(),
                b.peak_rss_kib as f64 / 1024.0,
                b.before_rss_kib as f64 / 1024.0,
                b.returned
            );
            big.push(b);
        }
        anyhow::Ok((which, run, big))
    })?;
    r.stop();
    rt.block_on(op.close());
    Ok(HostResult {
        starts,
        idle_rss_kib,
        processes,
        which,
        run,
        big,
        reconnect: None,
        restart_ready: Duration::ZERO,
        restart_back: Duration::ZERO,
    })
}

/// Starts the (paired) host, restarts the gateway in place, and times from the gateway being
/// ready again until the host logs `gateway connected` again.
pub(crate) fn measure_reconnect(gw: &mut Gateway, host: &Host) -> Result<(Duration, Duration, Duration)> {
    let label = host.label;
    let mut r = host.spawn(gw.port, &gw.token)?;
    r.wait_connected(Duration::from_secs(120))?;
    std::thread::sleep(Duration::from_secs(2));
    r.drain();
    eprintln!("bench[{label}]: restarting the gateway ({})", gw.label);
    let down = Instant::now();
    let ready = gw.restart_in_place()?;
    let back = r.wait_line("gateway connected", Duration::from_secs(180))?;
    let took = back.saturating_duration_since(ready);
    eprintln!(
        "bench[{label}]: gateway ready {:.1} s after the restart began; node connected {:.0} ms after ready ({:.1} s after the restart began)",
        ready.duration_since(down).as_secs_f64(),
        ms(took),
        back.duration_since(down).as_secs_f64()
    );
    r.stop();
    Ok((took, ready.duration_since(down), back.duration_since(down)))
}

/// Runs `openclaw-gateway-load --json` against `gw` with `nodes` simulated nodes.
pub(crate) fn gateway_row(load_bin: &Path, gw: &Gateway, nodes: usize, plan: &Plan, parallel: usize) -> Result<Value> {
    let pid = gw.pid().context("gateway pid")?;
    eprintln!("bench: {nodes} simulated nodes against {} at {} (pid {pid})", gw.label, gw.url());
    let out = Command::new(load_bin)
        .args(["--url", &gw.url(), "--token", &gw.token, "--nodes", &nodes.to_string(), "--json"])
        .args(["--invokes", &plan.gw_invokes.to_string(), "--warmup", &(plan.gw_invokes / 20).max(5).to_string()])
        .args(["--connect-parallel", &parallel.to_string(), "--connect-attempts", "5"])
        .args(["--gateway-pid", &pid.to_string(), "--label", gw.label])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .context("run openclaw-gateway-load")?;
    if !out.status.success() {
        bail!("openclaw-gateway-load failed ({}) against {}; gateway log:\n{}", out.status, gw.label, gw.log_tail());
    }
    let text = String::from_utf8(out.stdout)?;
    let line = text.lines().rev().find(|l| l.starts_with('{')).context("no JSON from openclaw-gateway-load")?;
    Ok(serde_json::from_str(line)?)
}

/// A gateway row that could not be measured (the table says why instead of losing the run).
pub(crate) fn failed_row(label: &str, nodes: usize, e: anyhow::Error) -> Value {
    eprintln!("bench: {label} with {nodes} nodes failed: {e:#}");
    serde_json::json!({"label": label, "nodes": nodes, "failed": format!("{e:#}").lines().next().unwrap_or("").to_string()})
}
