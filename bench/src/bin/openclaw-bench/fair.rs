//! The fair `system.run` throughput table: both node hosts through **our** gateway, in the same
//! run, at each concurrency of the plan (64 and 1,000 in flight by default), with the ratio.
//!
//! Through the real Gateway both hosts are capped by the Gateway itself (about 100 calls/s),
//! which hides the node hosts' own difference; our gateway is not the bottleneck, so the same
//! calls through it compare the hosts. At 1,000 in flight the run also shows whether a host
//! holds up when far more commands arrive than it can run at once: failed calls are counted and
//! shown, not hidden (a host that loses calls there has a finding, not a number).
//!
//! Each level also reports CPU time per call: the node host's process tree with the commands
//! it ran, and our gateway. On this shared 2-core machine throughput varies with what else
//! runs; CPU per call varies much less and shows where each host's time goes.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use openclaw_bench::cpu::{process_cpu, tree_cpu};
use openclaw_bench::ops::{self, percentile, Throughput};
use openclaw_bench::peers::{Gateway, Host};

use crate::measure::ms;
use crate::report::{count, num};
use crate::Plan;

/// Per-call deadline: at 1,000 in flight the TypeScript host queues calls for about 30 s.
const CALL_DEADLINE_MS: u64 = 120_000;

/// One host's throughput runs, one per concurrency of the plan.
pub(crate) struct FairResult {
    label: &'static str,
    runs: Vec<FairRun>,
}

/// One level: the calls and the CPU time spent on them.
struct FairRun {
    concurrency: usize,
    t: Throughput,
    /// The node host's process tree, its finished commands included.
    host_cpu: Duration,
    /// Our gateway.
    gateway_cpu: Duration,
}

impl FairRun {
    /// CPU milliseconds per call (successful or not).
    fn per_call(&self, cpu: Duration) -> f64 {
        ms(cpu) / self.t.calls.max(1) as f64
    }
}

/// Calls in a run at `concurrency` in flight: the plan's count, and at least two rounds.
fn calls_at(plan: &Plan, concurrency: usize) -> usize {
    plan.run_calls.max(2 * concurrency)
}

/// Both (or, in smoke runs, our) node hosts, one after the other, against one fresh gateway of
/// ours; each host is paired (silent loopback approval), its surface approved, then driven at
/// every concurrency of the plan.
pub(crate) fn measure_fair(
    plan: &Plan,
    rt: &tokio::runtime::Runtime,
    ours: &Path,
    work: &Path,
    hosts: &[Host],
) -> Result<Vec<FairResult>> {
    let mut gw = Gateway::start_ours(ours, &work.join("gw-fair"))?;
    eprintln!("bench[fair]: our gateway at {} (pid {:?})", gw.url(), gw.pid());
    let mut out = Vec::new();
    for host in hosts {
        out.push(measure_one(plan, rt, &gw, host).with_context(|| format!("fair throughput of {}", host.label))?);
    }
    gw.stop();
    Ok(out)
}

fn measure_one(plan: &Plan, rt: &tokio::runtime::Runtime, gw: &Gateway, host: &Host) -> Result<FairResult> {
    let label = host.label;
    let mut r = host.spawn(gw.port, &gw.token)?;
    r.wait_connected(Duration::from_secs(120))?;
    let node_id = host.node_id()?;
    let (host_pid, gateway_pid) = (r.pid(), gw.pid().unwrap_or(0));
    let runs = rt.block_on(async {
        let mut opsv = vec![Arc::new(ops::operator(&gw.url(), &gw.token).await?)];
        ops::make_invokable(&opsv[0], &node_id, Duration::from_secs(60)).await?;
        // Four operator connections, so one socket is not the bottleneck.
        for _ in 1..4 {
            opsv.push(Arc::new(ops::operator(&gw.url(), &gw.token).await?));
        }
        let mut runs = Vec::new();
        for &c in &plan.fair_concurrency {
            let calls = calls_at(plan, c);
            eprintln!("bench[fair {label}]: {calls} system.run echo, {c} in flight");
            let (host_before, gateway_before) = (tree_cpu(host_pid), process_cpu(gateway_pid));
            let t = ops::run_throughput_with_deadline(&opsv, &node_id, calls, c, CALL_DEADLINE_MS).await?;
            // The last commands' processes are reaped as their results go out; give the host a
            // moment so their time is counted.
            tokio::time::sleep(Duration::from_millis(200)).await;
            let run = FairRun {
                concurrency: c,
                host_cpu: tree_cpu(host_pid).saturating_sub(host_before),
                gateway_cpu: process_cpu(gateway_pid).saturating_sub(gateway_before),
                t,
            };
            eprintln!(
                "bench[fair {label}]:   {:.0} calls/s, p99 {:.1} ms, {} errors{}; CPU per call: host {:.2} ms, gateway {:.2} ms",
                run.t.per_sec(),
                ms(percentile(&run.t.latencies, 99.0)),
                run.t.errors,
                run.t.first_error.as_deref().map(|e| format!(" (first: {e})")).unwrap_or_default(),
                run.per_call(run.host_cpu),
                run.per_call(run.gateway_cpu),
            );
            runs.push(run);
            // Let the host settle (processes reaped) before the next level.
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        for op in opsv {
            if let Ok(op) = Arc::try_unwrap(op) {
                op.close().await;
            }
        }
        anyhow::Ok(runs)
    })?;
    r.stop();
    Ok(FairResult { label, runs })
}

/// The table: per concurrency, throughput, p99 and failed calls for ours and the TypeScript
/// host, and ours ÷ theirs (throughput) or theirs ÷ ours (p99).
pub(crate) fn print_fair(plan: &Plan, results: &[FairResult]) {
    let Some(ours) = results.iter().find(|r| r.label == "ours") else { return };
    let ts = results.iter().find(|r| r.label != "ours");
    println!(
        "`system.run` throughput, both node hosts through **our** gateway in the same run (the real Gateway caps both at about 100 calls/s; ratio > 1: ours is better):"
    );
    println!();
    println!("| metric | ours (Rust) | TypeScript node host | ratio |");
    println!("|---|---:|---:|---:|");
    for (i, ours_run) in ours.runs.iter().enumerate() {
        let (c, o) = (&ours_run.concurrency, &ours_run.t);
        let ts_run = ts.and_then(|t| t.runs.get(i));
        let t = ts_run.map(|r| &r.t);
        let calls = count(calls_at(plan, *c));
        let p99 = |x: &Throughput| ms(percentile(&x.latencies, 99.0));
        let ratio = |v: f64| if v.is_finite() && v > 0.0 { format!("{}×", num(v)) } else { "–".into() };
        let row = |name: String, mine: String, theirs: Option<String>, r: Option<f64>| {
            println!(
                "| {name} | {mine} | {} | {} |",
                theirs.unwrap_or_else(|| "–".into()),
                r.map(ratio).unwrap_or_else(|| "–".into())
            );
        };
        row(
            format!("`system.run echo` throughput via our gateway, {calls} calls at concurrency {c} (calls/s)"),
            num(o.per_sec()),
            t.map(|t| num(t.per_sec())),
            t.map(|t| o.per_sec() / t.per_sec()),
        );
        row(
            format!("`system.run echo` p99 via our gateway at concurrency {c} (ms)"),
            num(p99(o)),
            t.map(|t| num(p99(t))),
            t.map(|t| p99(t) / p99(o)),
        );
        row(
            format!("`system.run echo` failed calls via our gateway at concurrency {c}"),
            format!("{} of {}", o.errors, o.calls),
            t.map(|t| format!("{} of {}", t.errors, t.calls)),
            None,
        );
        let host = |r: &FairRun| r.per_call(r.host_cpu);
        row(
            format!("`system.run echo` CPU per call at concurrency {c}, node host and its commands (ms)"),
            num(host(ours_run)),
            ts_run.map(|r| num(host(r))),
            ts_run.map(|r| host(r) / host(ours_run)),
        );
        let gateway = |r: &FairRun| r.per_call(r.gateway_cpu);
        row(
            format!("`system.run echo` CPU per call at concurrency {c}, our gateway (ms)"),
            num(gateway(ours_run)),
            ts_run.map(|r| num(gateway(r))),
            None,
        );
    }
    println!();
    let mut failures = false;
    for r in results {
        for run in &r.runs {
            if let Some(e) = &run.t.first_error {
                println!("First failure at concurrency {}, {}: {}", run.concurrency, r.label, e.replace('|', "/"));
                failures = true;
            }
        }
    }
    if failures {
        println!();
    }
}
