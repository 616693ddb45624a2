//! The markdown report: the node-host table (ours beside the TypeScript host, with ratios), the
//! gateway table, and the run's context (machine, versions, dependency count, binary size). It
//! only formats what `measure` returned, so the tables can change without touching a measurement.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::Result;
use openclaw_bench::ops::percentile;
use openclaw_bench::procfs;
use openclaw_testkit::Peer;
use serde_json::Value;

use crate::browser::{print_browser, BrowserTable};
use crate::fair::{print_fair, FairResult};
use crate::files::{print_files, FilesResult};
use crate::measure::{ms, HostResult};
use crate::Plan;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Three significant digits, at most two decimals.
pub(crate) fn num(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// Thousands separators.
pub(crate) fn count(n: usize) -> String {
    let digits: Vec<char> = n.to_string().chars().collect();
    let groups: Vec<String> = digits.rchunks(3).rev().map(|g| g.iter().collect()).collect();
    groups.join(",")
}

fn cmd_out(cmd: &mut Command) -> Option<String> {
    let out = cmd.stdin(Stdio::null()).stderr(Stdio::null()).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// `cargo tree -p openclaw-cli -e normal`: distinct packages (name + version), and how many
/// of them are this workspace's own crates.
fn dependency_count(repo: &Path) -> Option<(usize, usize)> {
    let text = cmd_out(
        Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .args(["tree", "-p", "openclaw-cli", "-e", "normal", "--prefix", "none", "--offline"])
            .current_dir(repo),
    )?;
    let mut pkgs: Vec<&str> =
        text.lines().map(|l| l.trim_end_matches(" (*)").trim()).filter(|l| !l.is_empty()).collect();
    pkgs.sort();
    pkgs.dedup();
    let ours = pkgs.iter().filter(|p| p.contains(&format!("({}", repo.display()))).count();
    Some((pkgs.len(), ours))
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "?".into());
    let mem_gib = procfs::meminfo_total_kib().map(|k| k as f64 / 1048576.0).unwrap_or(0.0);
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let kernel = cmd_out(Command::new("uname").arg("-sr")).unwrap_or_else(|| "?".into());
    format!("{cores} cores ({cpu}), {mem_gib:.0} GiB RAM, {kernel}")
}

/// The run's context: date, machine, versions.
fn header(plan: &Plan, ours_bin: &Path, peer: Option<&Peer>, repo: &Path) {
    let date = cmd_out(Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"])).unwrap_or_else(|| "?".into());
    let rustc = cmd_out(Command::new("rustc").arg("--version")).unwrap_or_else(|| "rustc ?".into());
    let our_version = cmd_out(Command::new(ours_bin).arg("--version")).unwrap_or_else(|| "?".into());
    let commit =
        cmd_out(Command::new("git").args(["-C", &repo.display().to_string(), "describe", "--always", "--dirty"]))
            .unwrap_or_else(|| "?".into());
    println!("{}, {}.", date, machine());
    print!("Ours: `{our_version}` (commit {commit}, {rustc}");
    if plan.smoke {
        print!(", SMOKE RUN: tiny counts, our gateway, not comparable");
    }
    println!(").");
    if let Some(peer) = peer {
        let (pkg, node) = peer.versions();
        println!("TypeScript node host and real Gateway: npm `openclaw@{pkg}` on Node.js {node}.");
    }
    println!();
}

/// What a run measured, table by table (empty where a table did not run).
#[derive(Default)]
pub(crate) struct Tables {
    /// The node-host rows, ours first.
    pub(crate) hosts: Vec<HostResult>,
    /// The fair throughput table.
    pub(crate) fair: Vec<FairResult>,
    /// The file-transfer table.
    pub(crate) files: Vec<FilesResult>,
    /// The browser-proxy table (or why it was skipped).
    pub(crate) browser: Option<BrowserTable>,
    /// The gateway rows.
    pub(crate) gateways: Vec<Value>,
}

pub(crate) fn report(plan: &Plan, ours_bin: &Path, peer: Option<&Peer>, repo: &Path, tables: &Tables) -> Result<()> {
    let Tables { hosts: results, fair, files, browser, gateways: gw_rows } = tables;
    header(plan, ours_bin, peer, repo);
    if results.is_empty() {
        // `--fair-only` / `--files-only` / `--browser-only`: just that table.
        print_fair(plan, fair);
        print_files(files);
        if let Some(browser) = browser {
            print_browser(plan, browser);
        }
        return Ok(());
    }
    // Node hosts.
    let r = &results[0];
    let t = results.get(1);
    let big_wall = |h: &HostResult| median(h.big.iter().map(|b| b.wall).collect()).as_secs_f64();
    let big_peak = |h: &HostResult| h.big.iter().map(|b| b.peak_rss_kib).max().unwrap_or(0) as f64 / 1024.0;
    // (metric, value, lower is better, how it is shown)
    type Metric<'a> = (String, &'a dyn Fn(&HostResult) -> f64, bool, &'a dyn Fn(&HostResult) -> String);
    let start = |h: &HostResult| ms(median(h.starts.clone()));
    let rss = |h: &HostResult| h.idle_rss_kib as f64 / 1024.0;
    let rss_note = |h: &HostResult| format!("{} ({} proc)", num(rss(h)), h.processes);
    let which50 = |h: &HostResult| ms(percentile(&h.which, 50.0));
    let which99 = |h: &HostResult| ms(percentile(&h.which, 99.0));
    let tput = |h: &HostResult| h.run.per_sec();
    let run99 = |h: &HostResult| ms(percentile(&h.run.latencies, 99.0));
    let reconnect = |h: &HostResult| h.reconnect.map(ms).unwrap_or(f64::NAN);
    let fmt_start = |h: &HostResult| num(start(h));
    let fmt_which50 = |h: &HostResult| num(which50(h));
    let fmt_which99 = |h: &HostResult| num(which99(h));
    let fmt_tput = |h: &HostResult| num(tput(h));
    let fmt_run99 = |h: &HostResult| num(run99(h));
    let fmt_wall = |h: &HostResult| num(big_wall(h));
    let fmt_peak = |h: &HostResult| num(big_peak(h));
    let fmt_rec = |h: &HostResult| num(reconnect(h));
    let mb = plan.big_bytes as f64 / 1048576.0;
    let metrics: Vec<Metric> = vec![
        (format!("start → connected, median of {} (ms)", plan.runs), &start, true, &fmt_start),
        (format!("idle RSS after {} s, all processes (MiB)", plan.idle.as_secs()), &rss, true, &rss_note),
        (
            format!("`system.which` round trip p50, {} sequential (ms)", count(plan.which_calls)),
            &which50,
            true,
            &fmt_which50,
        ),
        (
            format!("`system.which` round trip p99, {} sequential (ms)", count(plan.which_calls)),
            &which99,
            true,
            &fmt_which99,
        ),
        (
            format!(
                "`system.run echo` throughput, {} calls at concurrency {} (calls/s)",
                count(plan.run_calls),
                plan.concurrency
            ),
            &tput,
            false,
            &fmt_tput,
        ),
        (format!("`system.run echo` p99 at concurrency {} (ms)", plan.concurrency), &run99, true, &fmt_run99),
        (format!("{} MB output: wall time, median of {} (s)", num(mb), plan.big_runs), &big_wall, true, &fmt_wall),
        (format!("{} MB output: peak RSS of the host (MiB)", num(mb)), &big_peak, true, &fmt_peak),
        ("reconnect after gateway restart, from gateway ready (ms)".to_string(), &reconnect, true, &fmt_rec),
    ];
    println!(
        "Node hosts against the same {} (ratio > 1: ours is better; TS ÷ ours, or ours ÷ TS for throughput):",
        match (plan.smoke, plan.nodes_via_ours) {
            (true, _) => "gateway (ours, smoke)",
            (false, true) => "gateway (ours: --nodes-via-ours)",
            (false, false) => "real Gateway",
        }
    );
    println!();
    println!("| metric | ours (Rust) | TypeScript node host | ratio |");
    println!("|---|---:|---:|---:|");
    for (name, value, lower_better, show) in &metrics {
        let (ts, ratio) = match t {
            Some(t) => {
                let (o, x) = (value(r), value(t));
                let ratio = if *lower_better { x / o } else { o / x };
                (show(t), if ratio.is_finite() { format!("{}×", num(ratio)) } else { "–".into() })
            }
            None => ("–".into(), "–".into()),
        };
        println!("| {name} | {} | {ts} | {ratio} |", show(r));
    }
    let binary_mb = std::fs::metadata(ours_bin)?.len() as f64 / 1e6;
    println!(
        "| {} binary (MB) | {binary_mb:.1} | – | – |",
        if plan.smoke { "our (smoke: as built)" } else { "release" }
    );
    println!();
    let runs = |h: &HostResult| h.starts.iter().map(|d| format!("{:.1}", ms(*d))).collect::<Vec<_>>().join(", ");
    print!("Start → connected per run (ms), ours: {}", runs(r));
    if let Some(t) = t {
        print!("; TypeScript: {}", runs(t));
    }
    println!(".");
    let restart = |h: &HostResult| {
        format!(
            "gateway ready {:.1} s after its restart began, host connected {:.1} s after it began",
            h.restart_ready.as_secs_f64(),
            h.restart_back.as_secs_f64()
        )
    };
    print!("Reconnect, ours: {}", restart(r));
    if let Some(t) = t {
        print!("; TypeScript: {}", restart(t));
    }
    println!(".");
    println!();
    print_fair(plan, fair);
    if !files.is_empty() {
        println!();
        print_files(files);
        println!();
    }
    if let Some(browser) = browser {
        print_browser(plan, browser);
        println!();
    }

    // Gateways.
    if !gw_rows.is_empty() {
        println!("Gateways under simulated nodes (`openclaw-gateway-load`: own Ed25519 identity and signed connect per node; RSS summed over the gateway's process tree; invokes are `node.invoke system.which` to random nodes, 32 in flight over 4 operator connections):");
        println!();
        println!("| gateway | simulated nodes | connect all (s) | RSS idle (MiB) | RSS with N connected (MiB) | per node (KiB) | invoke p50 (ms) | invoke p99 (ms) | invokes/s | processes | errors |");
        println!("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
        let f = |v: &Value, k: &str| v[k].as_f64().unwrap_or(f64::NAN);
        for v in gw_rows {
            if let Some(why) = v["failed"].as_str() {
                println!(
                    "| {} | {} | failed: {} |||||||||",
                    v["label"].as_str().unwrap_or("?"),
                    count(v["nodes"].as_u64().unwrap_or(0) as usize),
                    why.replace('|', "/")
                );
                continue;
            }
            println!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                v["label"].as_str().unwrap_or("?"),
                count(v["nodes"].as_u64().unwrap_or(0) as usize),
                num(f(v, "connectSecs")),
                num(f(v, "gatewayRssIdleKiB") / 1024.0),
                num(f(v, "gatewayRssAtNKiB") / 1024.0),
                num(f(v, "gatewayBytesPerNode") / 1024.0),
                num(f(v, "invokeP50Ms")),
                num(f(v, "invokeP99Ms")),
                num(f(v, "invokesPerSec")),
                v["gatewayProcesses"].as_u64().map(|n| n.to_string()).unwrap_or_else(|| "?".into()),
                v["invokeErrors"].as_u64().unwrap_or(0),
            );
        }
        // Side by side at the same node count.
        for real in gw_rows.iter().filter(|v| v["label"] != "ours" && v.get("failed").is_none()) {
            if let Some(o) = gw_rows.iter().find(|v| v["label"] == "ours" && v["nodes"] == real["nodes"]) {
                let ratio = |k: &str| num(f(real, k) / f(o, k));
                println!();
                println!(
                    "At {} nodes, real Gateway ÷ ours: RSS idle {}×, RSS with nodes {}×, invoke p50 {}×, p99 {}×, connect all {}×.",
                    count(real["nodes"].as_u64().unwrap_or(0) as usize),
                    ratio("gatewayRssIdleKiB"),
                    ratio("gatewayRssAtNKiB"),
                    ratio("invokeP50Ms"),
                    ratio("invokeP99Ms"),
                    ratio("connectSecs"),
                );
            }
        }
        println!();
    }

    match dependency_count(repo) {
        Some((n, mine)) => println!(
            "Dependencies: {n} distinct packages (name + version) in `cargo tree -p openclaw-cli -e normal` ({mine} of them this workspace's crates, {} third-party).",
            n - mine
        ),
        None => println!("Dependencies: – (`cargo tree` unavailable)"),
    }
    if plan.smoke {
        println!("Binary: {binary_mb:.1} MB (`{}`, as built: smoke run).", ours_bin.display());
    } else {
        println!("Release binary: {binary_mb:.1} MB (`{}`, stripped).", ours_bin.display());
    }
    Ok(())
}
