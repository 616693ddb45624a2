//! Benchmarks (programs that print tables, not timed tests).
//!
//! Full run (`scripts/bench`): our node host and the TypeScript one, each measured in the same
//! run against the same real Gateway (`shared/peer`) through a WebSocket operator client; then
//! our gateway and the real one under simulated nodes (`openclaw-gateway-load`); then binary
//! size and dependency count. Prints markdown for `BENCHMARKS.md`.
//!
//! Then the fair `system.run` throughput table: both node hosts through **our** gateway in the
//! same run, at 64 and 1,000 in flight (`--fair-only` runs just that).
//!
//! Then the file-transfer table: both node hosts through the real Gateway's file-transfer
//! policy, `file.fetch`/`file.write` of 1 and 15 MiB and `dir.fetch` of a 5,000-entry tree
//! (`--files-only` runs just that).
//!
//! Then the browser-proxy table: both node hosts through the real Gateway, each driving its own
//! headless Chromium (open, snapshot, click, screenshot, RSS beside Chromium's)
//! (`--browser-only` runs just that).
//!
//! `--smoke`: the same code paths in a few seconds with tiny counts, against our own gateway,
//! without Node.js (CI runs it through `bench/tests/smoke.rs`); the browser table then drives
//! our node host's Chromium only, and is skipped with its reason when Chromium is missing.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use clap::Parser;
use openclaw_bench::peers::{Gateway, Host, HostKind};
use openclaw_testkit::Peer;

mod browser;
mod fair;
mod files;
mod measure;
mod report;

use measure::{failed_row, gateway_row, measure_host, measure_reconnect};

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
    /// `system.run` concurrencies of the fair throughput table (both hosts through our
    /// gateway), comma-separated (default 64,1000; smoke 8,32).
    #[arg(long)]
    fair_concurrency: Option<String>,
    /// Skip the fair throughput table.
    #[arg(long)]
    no_fair: bool,
    /// Only the fair throughput table (no other node-host rows, no gateway rows).
    #[arg(long, conflicts_with = "no_fair")]
    fair_only: bool,
    /// Skip the file-transfer table.
    #[arg(long)]
    no_files: bool,
    /// Only the file-transfer table (needs the real peer).
    #[arg(long, conflicts_with_all = ["no_files", "fair_only", "smoke"])]
    files_only: bool,
    /// Skip the browser-proxy table.
    #[arg(long)]
    no_browser: bool,
    /// Only the browser-proxy table (both hosts through the real Gateway; with `--smoke`, ours
    /// through our gateway).
    #[arg(long, conflicts_with_all = ["no_browser", "fair_only", "files_only"])]
    browser_only: bool,
    /// Timed `GET /snapshot` calls per host in the browser table.
    #[arg(long)]
    snapshot_calls: Option<usize>,
    /// Timed `POST /act` clicks and `POST /screenshot` calls per host in the browser table.
    #[arg(long)]
    browser_calls: Option<usize>,
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
    /// Concurrencies of the fair table; empty: no fair table.
    fair_concurrency: Vec<usize>,
    fair_only: bool,
    /// Whether the file-transfer table runs (never in smoke runs: it needs the real Gateway).
    files: bool,
    files_only: bool,
    /// Whether the browser-proxy table runs.
    browser: bool,
    browser_only: bool,
    snapshot_calls: usize,
    /// Clicks and screenshots per host.
    browser_calls: usize,
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
            fair_concurrency: if a.no_fair {
                Vec::new()
            } else {
                counts(&a.fair_concurrency, "64,1000", "8,32")?.into_iter().map(|c| c.max(1)).collect()
            },
            fair_only: a.fair_only,
            files: !a.no_files && !s,
            files_only: a.files_only,
            browser: !a.no_browser,
            browser_only: a.browser_only,
            snapshot_calls: a.snapshot_calls.unwrap_or(if s { 5 } else { 50 }).max(1),
            browser_calls: a.browser_calls.unwrap_or(if s { 3 } else { 20 }).max(1),
        })
    }
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
        let scripts = openclaw_testkit::peer::scripts_dir()?;
        eprintln!("bench: installing / checking the real peer");
        Some(Peer::install(&scripts)?)
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
    if plan.fair_only {
        let fair = fair::measure_fair(plan, rt, ours, work, &hosts)?;
        return report::report(plan, ours, peer.as_ref(), repo, &report::Tables { fair, ..Default::default() });
    }
    if plan.files_only {
        let peer = peer.as_ref().context("the file-transfer table needs the real peer")?;
        let files = files::measure_files(plan, rt, peer, work, &hosts, &tag)?;
        return report::report(plan, ours, Some(peer), repo, &report::Tables { files, ..Default::default() });
    }
    if plan.browser_only {
        let browser = browser::measure_browser(plan, rt, peer.as_ref(), ours, work, &hosts, &tag)?;
        return report::report(
            plan,
            ours,
            peer.as_ref(),
            repo,
            &report::Tables { browser: Some(browser), ..Default::default() },
        );
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

    // The fair throughput table: both hosts through our gateway, same run.
    let fair =
        if plan.fair_concurrency.is_empty() { Vec::new() } else { fair::measure_fair(plan, rt, ours, work, &hosts)? };

    // File transfer through the real Gateway's policy, same run.
    let files = match &peer {
        Some(peer) if plan.files => files::measure_files(plan, rt, peer, work, &hosts, &tag)?,
        _ => Vec::new(),
    };

    // The browser proxy through the real Gateway (ours in smoke runs), same run.
    let browser = if plan.browser {
        Some(browser::measure_browser(plan, rt, peer.as_ref(), ours, work, &hosts, &tag)?)
    } else {
        None
    };

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

    let tables = report::Tables { hosts: results, fair, files, browser, gateways: gw_rows };
    report::report(plan, ours, peer.as_ref(), repo, &tables)
}
