//! The file-transfer table (issue 14): `file.fetch` and `file.write` of 1 MiB and 15 MiB, and
//! `dir.fetch` of a 5,000-file tree, for both node hosts in the same run, through the same real
//! Gateway with the same file-transfer policy (so every call is the Gateway's preflight plus the
//! bound call, as an agent's file tools make it). Rows: median wall time, and the node host's
//! peak RSS above its RSS just before the call (its own processes; `tar`, which both hosts
//! start for `dir.fetch`, is not counted), next to the payload's size, since a host should hold
//! no more than about two copies of it.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use base64::Engine;
use openclaw_bench::ops;
use openclaw_bench::peers::{Gateway, Host};
use openclaw_testkit::Peer;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::measure::ms;
use crate::report::num;
use crate::Plan;

/// Files in the `dir.fetch` tree (upstream's limit is 5,000 entries, directories included).
const TREE_FILES: usize = 4_950;
/// Directories holding them.
const TREE_DIRS: usize = 49;

/// One operation of the table.
#[derive(Clone, Copy)]
enum Op {
    Fetch(u64),
    Write(u64),
    FetchTree,
}

impl Op {
    fn name(self) -> String {
        match self {
            Op::Fetch(n) => format!("file.fetch {}", size(n)),
            Op::Write(n) => format!("file.write {}", size(n)),
            Op::FetchTree => format!("dir.fetch {} entries", TREE_FILES + TREE_DIRS),
        }
    }
}

fn size(bytes: u64) -> String {
    format!("{} MiB", bytes >> 20)
}

/// One host's measurement of one operation.
struct Cell {
    /// Median wall time of the runs, from request to answer.
    wall: Duration,
    /// Highest peak RSS above the RSS before the call, KiB.
    extra_kib: u64,
    /// Bytes the call carried (file, or compressed archive).
    payload: u64,
}

/// One host's rows, by operation name; an operation that failed keeps its error.
pub(crate) struct FilesResult {
    label: &'static str,
    cells: Vec<(String, Result<Cell, String>)>,
}

fn ops_of(plan: &Plan) -> Vec<(Op, usize)> {
    let (small, large, runs) = if plan.smoke { (64 << 10, 1 << 20, 1) } else { (1 << 20, 15 << 20, 3) };
    vec![
        (Op::Fetch(small), runs + 2),
        (Op::Fetch(large), runs),
        (Op::Write(small), runs + 2),
        (Op::Write(large), runs),
        (Op::FetchTree, runs),
    ]
}

/// Bytes that do not compress (a simple LCG), so transfers move their full size.
fn noise(len: u64, seed: u32) -> Vec<u8> {
    let mut x = seed;
    (0..len)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (x >> 24) as u8
        })
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The files the table reads and the directory it writes into.
fn fixture(root: &Path, plan: &Plan) -> Result<()> {
    for (op, _) in ops_of(plan) {
        if let Op::Fetch(n) = op {
            std::fs::write(root.join(format!("fetch-{n}.bin")), noise(n, n as u32))?;
        }
    }
    let tree = root.join("tree");
    for d in 0..TREE_DIRS {
        std::fs::create_dir_all(tree.join(format!("d{d:02}")))?;
    }
    for f in 0..TREE_FILES {
        let path = tree.join(format!("d{:02}/f{f:04}.txt", f % TREE_DIRS));
        std::fs::write(path, format!("file {f}\n").repeat(8))?;
    }
    std::fs::create_dir_all(root.join("out"))?;
    Ok(())
}

/// Starts the real Gateway with the file commands allowed and a policy for `root`.
fn start_gateway(peer: &Peer, name: &str, root: &Path) -> Result<Gateway> {
    let r = root.to_string_lossy();
    let config = json!({
        "gateway": {"nodes": {"commands": {"allow": ["file.fetch", "file.write", "dir.fetch", "file.stat", "dir.list"]}}},
        "plugins": {"entries": {"file-transfer": {"config": {
            "policyVersion": 2,
            "nodes": {"*": {
                "allowReadPaths": [format!("{r}/**")],
                "allowWritePaths": [format!("{r}/out/**")],
                "maxBytes": 16 * 1024 * 1024,
            }},
        }}}},
    });
    // The peer's gateway script merges PEER_EXTRA_CONFIG into the Gateway's config at start.
    std::env::set_var("PEER_EXTRA_CONFIG", config.to_string());
    let gw = Gateway::start_real(peer, name);
    std::env::remove_var("PEER_EXTRA_CONFIG");
    gw
}

/// Both hosts, one after the other, through one real Gateway.
pub(crate) fn measure_files(
    plan: &Plan,
    rt: &tokio::runtime::Runtime,
    peer: &Peer,
    work: &Path,
    hosts: &[Host],
    tag: &str,
) -> Result<Vec<FilesResult>> {
    let root = std::fs::canonicalize(work)?.join("files");
    std::fs::create_dir_all(&root)?;
    fixture(&root, plan)?;
    eprintln!("bench[files]: starting the real Gateway ({tag}-files) with a file-transfer policy");
    let mut gw = start_gateway(peer, &format!("{tag}-files"), &root)?;
    if !plan.settle.is_zero() {
        std::thread::sleep(plan.settle);
    }
    let mut out = Vec::new();
    for host in hosts {
        out.push(measure_one(plan, rt, &gw, host, &root).with_context(|| format!("file transfer of {}", host.label))?);
    }
    gw.stop();
    Ok(out)
}

fn measure_one(
    plan: &Plan,
    rt: &tokio::runtime::Runtime,
    gw: &Gateway,
    host: &Host,
    root: &Path,
) -> Result<FilesResult> {
    let label = host.label;
    let mut r = host.spawn(gw.port, &gw.token)?;
    r.wait_connected(Duration::from_secs(120))?;
    let node_id = host.node_id()?;
    let host_pid = r.pid();
    let cells = rt.block_on(async {
        let op = ops::operator(&gw.url(), &gw.token).await?;
        ops::make_invokable(&op, &node_id, Duration::from_secs(60)).await?;
        let mut cells = Vec::new();
        for (kind, runs) in ops_of(plan) {
            eprintln!("bench[files {label}]: {} × {runs}", kind.name());
            let mut walls = Vec::new();
            let mut extra_kib = 0;
            let mut payload = 0;
            let mut failure = None;
            for run in 0..runs {
                match one_call(&op, &node_id, host_pid, root, kind, run).await {
                    Ok((wall, extra, bytes)) => {
                        walls.push(wall);
                        extra_kib = extra_kib.max(extra);
                        payload = bytes;
                    }
                    Err(e) => {
                        failure = Some(format!("{e:#}"));
                        break;
                    }
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            let cell = match failure {
                Some(e) => {
                    eprintln!("bench[files {label}]:   failed: {e}");
                    Err(e)
                }
                None => {
                    walls.sort();
                    let wall = walls[walls.len() / 2];
                    eprintln!("bench[files {label}]:   {:.1} ms, peak +{:.1} MiB", ms(wall), extra_kib as f64 / 1024.0);
                    Ok(Cell { wall, extra_kib, payload })
                }
            };
            cells.push((kind.name(), cell));
        }
        op.close().await;
        anyhow::Ok(cells)
    })?;
    r.stop();
    Ok(FilesResult { label, cells })
}

/// One timed call: (wall, peak RSS above the start in KiB, payload bytes), checked for
/// correctness (hash, sizes, entry count) so a fast wrong answer never counts.
async fn one_call(
    op: &openclaw_operator::OperatorClient,
    node: &str,
    host_pid: i32,
    root: &Path,
    kind: Op,
    run: usize,
) -> Result<(Duration, u64, u64)> {
    const TIMEOUT_MS: u64 = 120_000;
    let b64 = base64::engine::general_purpose::STANDARD;
    let (command, params, expected) = match kind {
        Op::Fetch(n) => {
            let path = root.join(format!("fetch-{n}.bin"));
            let sha = sha256_hex(&std::fs::read(&path)?);
            ("file.fetch", json!({"path": path.to_string_lossy(), "maxBytes": 16 * 1024 * 1024}), Some(sha))
        }
        Op::Write(n) => {
            let bytes = noise(n, 7 + run as u32);
            let path = root.join(format!("out/w-{n}-{run}.bin"));
            let sha = sha256_hex(&bytes);
            (
                "file.write",
                json!({"path": path.to_string_lossy(), "contentBase64": b64.encode(&bytes), "expectedSha256": sha}),
                Some(sha),
            )
        }
        Op::FetchTree => {
            ("dir.fetch", json!({"path": root.join("tree").to_string_lossy(), "maxBytes": 16 * 1024 * 1024}), None)
        }
    };
    let started = Instant::now();
    let call = ops::invoke(op, node, command, params, TIMEOUT_MS);
    let (answer, peak, before) = ops::with_peak_rss(host_pid, call).await?;
    let wall = started.elapsed();
    let payload: Value = answer?;
    if payload["ok"] != json!(true) {
        bail!("{command}: {payload}");
    }
    let bytes = match kind {
        Op::Fetch(n) | Op::Write(n) => {
            ensure!(payload["size"].as_u64() == Some(n), "{command}: size {} ≠ {n}", payload["size"]);
            ensure!(payload["sha256"].as_str() == expected.as_deref(), "{command}: sha256 differs");
            n
        }
        Op::FetchTree => {
            // `fileCount` counts the tree's entries, directories included.
            let entries = (TREE_FILES + TREE_DIRS) as u64;
            ensure!(
                payload["fileCount"].as_u64() == Some(entries),
                "dir.fetch: fileCount {} ≠ {entries}",
                payload["fileCount"]
            );
            payload["tarBytes"].as_u64().unwrap_or(0)
        }
    };
    if let Op::Write(n) = kind {
        let _ = std::fs::remove_file(root.join(format!("out/w-{n}-{run}.bin")));
    }
    Ok((wall, peak.saturating_sub(before), bytes))
}

/// The markdown table: each operation, both hosts' wall time and peak extra RSS, the ratio.
pub(crate) fn print_files(results: &[FilesResult]) {
    let wall = |c: &Result<Cell, String>| match c {
        Ok(c) => format!("{} ms", num(ms(c.wall))),
        Err(e) => format!("failed ({})", e.chars().take(120).collect::<String>()),
    };
    let rss = |c: &Result<Cell, String>| {
        c.as_ref().map(|c| format!("{:.1} MiB", c.extra_kib as f64 / 1024.0)).unwrap_or_default()
    };
    let payload = |c: &Result<Cell, String>| {
        c.as_ref().map(|c| format!("{:.2} MiB", c.payload as f64 / 1_048_576.0)).unwrap_or_default()
    };
    let Some(ours) = results.first() else { return };
    let labels: Vec<&str> = results.iter().map(|r| r.label).collect();
    println!(
        "File transfer through the real Gateway's file-transfer policy (its preflight and the bound call for each \
         operation): median wall time, and the node host's peak RSS above its RSS before the call."
    );
    println!();
    let mut header = vec!["Operation".to_string(), "payload".into()];
    header.extend(labels.iter().map(|l| l.to_string()));
    if let [a, b] = labels[..] {
        header.push(format!("{b} ÷ {a}"));
    }
    header.extend(labels.iter().map(|l| format!("{l} peak RSS +")));
    println!("| {} |", header.join(" | "));
    println!("|---|{}", "---:|".repeat(header.len() - 1));
    for (i, (name, first)) in ours.cells.iter().enumerate() {
        let row: Vec<&Result<Cell, String>> = results.iter().filter_map(|r| r.cells.get(i).map(|c| &c.1)).collect();
        let mut cells = vec![name.clone(), payload(first)];
        cells.extend(row.iter().map(|c| wall(c)));
        if let [Ok(a), Ok(b)] = row[..] {
            cells.push(format!("{}×", num(ms(b.wall) / ms(a.wall).max(0.001))));
        } else if row.len() == 2 {
            cells.push(String::new());
        }
        cells.extend(row.iter().map(|c| rss(c)));
        println!("| {} |", cells.join(" | "));
    }
}
