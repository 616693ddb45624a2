//! Benchmarks (programs that print tables, not timed tests).
//!
//! Full run (`scripts/bench`): our node host and the TypeScript one, each measured in the same
//! run against the same real Gateway (`shared/peer`) through a WebSocket operator client; then
//! our gateway and the real one under simulated nodes (`openclaw-gateway-load`); then binary
//! size and dependency count. Prints markdown for `BENCHMARKS.md`.
//!
//! `--smoke`: the same code paths in a few seconds with tiny counts, against our own gateway,
//! without Node.js (CI runs it through `bench/tests/smoke.rs`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use clap::Parser;
use openclaw_bench::ops::{self, percentile, BigOutput, Throughput};
use openclaw_bench::peers::{Gateway, Host, HostKind};
use openclaw_bench::procfs;
use openclaw_testkit::Peer;
use serde_json::Value;

#[derive(Parser, Debug)]
#[command(name = "openclaw-bench", about = "Node host and gateway benchmarks; prints markdown tables")]
struct Args {
    /// A few seconds, our gateway and our node host only, tiny counts (CI).
    #[arg(long)]
    smoke: bool,
    /// Timed start → connected runs per node host (after 3 warm-up connects).
    #[arg(long)]
    runs: Option<usize>,
    /// Seconds a connected node host idles before its RSS is read.
    #[arg(long)]
    idle_secs: Option<u64>,
    /// Seconds the real Gateway is left to settle after it reports ready.
    #[arg(long)]
    settle_secs: Option<u64>,
    /// Sequential `system.which` round trips.
    #[arg(long)]
    which_calls: Option<usize>,
    /// `system.run echo` calls in the throughput run.
    #[arg(long)]
    run_calls: Option<usize>,
    /// `system.run` calls in flight.
    #[arg(long)]
    concurrency: Option<usize>,
    /// Output size of the large-output command, in bytes.
    #[arg(long)]
    big_bytes: Option<u64>,
    /// Large-output runs per node host (median wall time, highest peak RSS).
    #[arg(long)]
    big_runs: Option<usize>,
    /// Simulated node counts for our gateway, comma-separated.
    #[arg(long)]
    our_gateway_nodes: Option<String>,
    /// Simulated node counts for the real Gateway, comma-separated (empty: skip it).
    #[arg(long)]
    real_gateway_nodes: Option<String>,
    /// Timed `node.invoke` calls per gateway row.
    #[arg(long)]
    gateway_invokes: Option<usize>,
    /// Skip the gateway rows.
    #[arg(long)]
    no_gateways: bool,
    /// Measure both node hosts through our gateway instead of the real one (takes the real
    /// Gateway's own limits out of the node-host rows).
    #[arg(long)]
    nodes_via_ours: bool,
    /// Our `openclaw` binary (default: next to this program).
    #[arg(long)]
    openclaw: Option<PathBuf>,
}

/// Settings after defaults (full or smoke) are applied.
struct Plan {
    smoke: bool,
    runs: usize,
    idle: Duration,
    settle: Duration,
    which_calls: usize,
    run_calls: usize,
    concurrency: usize,
    big_bytes: u64,
    big_runs: usize,
    our_gw_nodes: Vec<usize>,
    real_gw_nodes: Vec<usize>,
    gw_invokes: usize,
    gateways: bool,
    nodes_via_ours: bool,
}

impl Plan {
    fn from(a: &Args) -> Result<Plan> {
        let s = a.smoke;
        let counts = |v: &Option<String>, full: &str, smoke: &str| -> Result<Vec<usize>> {
            let text = v.clone().unwrap_or_else(|| if s { smoke.into() } else { full.into() });
            text.split(',')
                .filter(|t| !t.trim().is_empty())
                .map(|t| t.trim().replace('_', "").parse::<usize>().with_context(|| format!("bad node count {t:?}")))
                .collect()
        };
        Ok(Plan {
            smoke: s,
            runs: a.runs.unwrap_or(if s { 2 } else { 5 }).max(1),
            idle: Duration::from_secs(a.idle_secs.unwrap_or(if s { 1 } else { 30 })),
            settle: Duration::from_secs(a.settle_secs.unwrap_or(if s { 0 } else { 15 })),
            which_calls: a.which_calls.unwrap_or(if s { 20 } else { 1000 }).max(1),
            run_calls: a.run_calls.unwrap_or(if s { 32 } else { 1000 }).max(1),
            concurrency: a.concurrency.unwrap_or(if s { 8 } else { 64 }).max(1),
            big_bytes: a.big_bytes.unwrap_or(if s { 1 << 20 } else { 50 << 20 }),
            big_runs: a.big_runs.unwrap_or(if s { 1 } else { 3 }).max(1),
            our_gw_nodes: counts(&a.our_gateway_nodes, "1000,10000", "20")?,
            real_gw_nodes: if s { Vec::new() } else { counts(&a.real_gateway_nodes, "1000", "")? },
            gw_invokes: a.gateway_invokes.unwrap_or(if s { 50 } else { 2000 }).max(1),
            gateways: !a.no_gateways,
            nodes_via_ours: a.nodes_via_ours,
        })
    }
}

/// Everything measured for one node host.
struct HostResult {
    starts: Vec<Duration>,
    idle_rss_kib: u64,
    processes: usize,
    which: Vec<Duration>,
    run: Throughput,
    big: Vec<BigOutput>,
    /// From the gateway being ready again to the host's next `gateway connected`.
    reconnect: Option<Duration>,
    /// From the start of the restart (stop) to the gateway being ready, and to reconnected.
    restart_ready: Duration,
    restart_back: Duration,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Three significant digits, at most two decimals.
fn num(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// Thousands separators.
fn count(n: usize) -> String {
    let digits: Vec<char> = n.to_string().chars().collect();
    let groups: Vec<String> = digits.rchunks(3).rev().map(|g| g.iter().collect()).collect();
    groups.join(",")
}

fn main() -> Result<()> {
    let args = Args::parse();
    let plan = Plan::from(&args)?;
    let exe_dir = std::env::current_exe()?.parent().context("exe dir")?.to_path_buf();
    let ours = args.openclaw.clone().unwrap_or_else(|| exe_dir.join("openclaw"));
    ensure!(
        ours.exists(),
        "our binary {} does not exist: build it first (cargo build --release -p openclaw-cli), or pass --openclaw",
        ours.display()
    );
    let load_bin = exe_dir.join("openclaw-gateway-load");
    ensure!(!plan.gateways || load_bin.exists(), "{} does not exist: build openclaw-bench first", load_bin.display());
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().context("repo")?.to_path_buf();
    let work = std::env::temp_dir().join(format!("openclaw-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;

    let result = run(&plan, &rt, &ours, &load_bin, &repo, &work);
    let _ = std::fs::remove_dir_all(&work);
    rt.shutdown_timeout(Duration::from_secs(1));
    result
}

fn run(
    plan: &Plan,
    rt: &tokio::runtime::Runtime,
    ours: &Path,
    load_bin: &Path,
    repo: &Path,
    work: &Path,
) -> Result<()> {
    let tag = format!("bench6-{}", std::process::id());
    let peer = if plan.smoke {
        None
    } else {
        let shared =
            std::env::var_os("OPENCLAW_SHARED_DIR").map(PathBuf::from).unwrap_or_else(|| repo.join("../shared"));
        eprintln!("bench: installing / checking the real peer");
        Some(Peer::install(&shared.join("peer"))?)
    };

    // Node hosts, side by side against one gateway (the real one; ours in smoke mode).
    let mut hosts = vec![Host {
        label: "ours",
        kind: HostKind::Ours { bin: ours.to_path_buf(), state_dir: work.join("node-ours") },
    }];
    if let Some(peer) = &peer {
        let home = work.join("ts-home");
        std::fs::create_dir_all(&home)?;
        hosts.push(Host { label: "typescript", kind: HostKind::Ts { peer: peer.clone(), home } });
    }
    let mut gw = match &peer {
        Some(peer) if !plan.nodes_via_ours => {
            eprintln!("bench: starting the real Gateway ({tag}-nodes)");
            Gateway::start_real(peer, &format!("{tag}-nodes"))?
        }
        _ => Gateway::start_ours(ours, &work.join("gw-nodes"))?,
    };
    eprintln!("bench: node-host gateway ({}) at {} (pid {:?})", gw.label, gw.url(), gw.pid());
    if !plan.settle.is_zero() {
        eprintln!("bench: letting the gateway settle for {} s", plan.settle.as_secs());
        std::thread::sleep(plan.settle);
    }
    let mut results = Vec::new();
    for host in &hosts {
        results.push(measure_host(plan, rt, &gw, host)?);
    }
    // Reconnect: one host at a time, so each sees the gateway restart alone.
    for (host, r) in hosts.iter().zip(results.iter_mut()) {
        let (took, ready, back) = measure_reconnect(&mut gw, host)?;
        (r.reconnect, r.restart_ready, r.restart_back) = (Some(took), ready, back);
    }
    gw.stop();
    drop(gw);

    // Gateways under simulated nodes.
    let mut gw_rows = Vec::new();
    if plan.gateways {
        for (i, &n) in plan.our_gw_nodes.iter().enumerate() {
            let gw = Gateway::start_ours(ours, &work.join(format!("gw-load-{i}")))?;
            gw_rows.push(gateway_row(load_bin, &gw, n, plan, 200).unwrap_or_else(|e| failed_row("ours", n, e)));
        }
        if let Some(peer) = &peer {
            for (i, &n) in plan.real_gw_nodes.iter().enumerate() {
                eprintln!("bench: starting the real Gateway ({tag}-load{i})");
                let gw = Gateway::start_real(peer, &format!("{tag}-load{i}"))?;
                std::thread::sleep(plan.settle);
                // It answers 503 to more than 32 unauthenticated connections per IP.
                gw_rows.push(gateway_row(load_bin, &gw, n, plan, 16).unwrap_or_else(|e| failed_row(gw.label, n, e)));
            }
        }
    }

    report(plan, ours, peer.as_ref(), repo, &results, &gw_rows)
}

/// Start → connected, idle RSS, `system.which` latency, `system.run` throughput and large
/// output for one node host against `gw`.
fn measure_host(plan: &Plan, rt: &tokio::runtime::Runtime, gw: &Gateway, host: &Host) -> Result<HostResult> {
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
fn measure_reconnect(gw: &mut Gateway, host: &Host) -> Result<(Duration, Duration, Duration)> {
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
fn gateway_row(load_bin: &Path, gw: &Gateway, nodes: usize, plan: &Plan, parallel: usize) -> Result<Value> {
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
fn failed_row(label: &str, nodes: usize, e: anyhow::Error) -> Value {
    eprintln!("bench: {label} with {nodes} nodes failed: {e:#}");
    serde_json::json!({"label": label, "nodes": nodes, "failed": format!("{e:#}").lines().next().unwrap_or("").to_string()})
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

fn report(
    plan: &Plan,
    ours_bin: &Path,
    peer: Option<&Peer>,
    repo: &Path,
    results: &[HostResult],
    gw_rows: &[Value],
) -> Result<()> {
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
