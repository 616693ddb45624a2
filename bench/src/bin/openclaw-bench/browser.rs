//! The browser-proxy table: both node hosts, one after the other, through the same gateway (the
//! real one; ours in smoke runs), each driving its own headless Chromium on a page this program
//! serves on 127.0.0.1. Every call is what the Gateway's browser tool sends
//! (`node.invoke browser.proxy {method, path, query?, body?, timeoutMs, errorEnvelope:"browser-v1"}`,
//! spec/browser.md §1.3), and every answer is checked before it counts (a snapshot has its
//! refs, a click was seen by the page, a screenshot's inlined file is a PNG), so a fast wrong
//! answer never does.
//!
//! Rows: the first `POST /tabs/open` from a node whose browser is not running (Chromium's start
//! included), `GET /snapshot mode=efficient` p50/p99, `POST /act {kind:"click"}` p50,
//! `POST /screenshot` p50 (the answer inlines the PNG, so the whole path is timed), and RSS:
//! the node host's own processes before its browser starts and while it runs, beside the sums
//! of RSS and of PSS over the browser's process tree (found in `/proc` as the Chromium processes
//! under the host; summed RSS counts the pages its processes share once per process, PSS splits
//! them). Chromium's two `chrome_crashpad_handler` processes detach to init at start, so neither
//! host's tree holds them and they are not counted (about 4 MiB each).

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use base64::Engine;
use openclaw_bench::ops::{self, percentile};
use openclaw_bench::peers::{Gateway, Host, HostKind};
use openclaw_bench::procfs;
use openclaw_operator::OperatorClient;
use serde_json::{json, Value};

use crate::measure::ms;
use crate::report::num;
use crate::Plan;

/// Debian's Chromium (`scripts/browser-deps`), the one both hosts detect.
pub(crate) const CHROMIUM: &str = "/usr/bin/chromium";
/// Links on the served page.
const LINKS: usize = 100;
/// Rows of its table.
const TABLE_ROWS: usize = 30;
/// Untimed snapshots before the timed ones (the first also waits for the page to settle).
fn warmup(plan: &Plan) -> usize {
    if plan.smoke {
        1
    } else {
        3
    }
}

/// What the table shows for one host; a step that failed keeps its error text.
pub(crate) struct BrowserResult {
    label: &'static str,
    /// The first `POST /tabs/open`, browser start included.
    open: Result<Duration, String>,
    /// Sorted.
    snapshot: Result<Vec<Duration>, String>,
    /// Refs in one timed snapshot.
    refs: usize,
    /// Sorted.
    act: Result<Vec<Duration>, String>,
    /// Sorted.
    screenshot: Result<Vec<Duration>, String>,
    /// Bytes of one screenshot's PNG.
    png_bytes: usize,
    /// The host's own processes, connected, browser not started: (KiB, processes).
    rss_before: Result<(u64, usize), String>,
    /// The host's own processes while its browser runs.
    rss_host: Result<(u64, usize), String>,
    /// The browser's process tree.
    rss_chromium: Result<(u64, usize), String>,
    /// The same processes' summed PSS (shared pages split between them, not counted in each).
    pss_chromium: Result<(u64, usize), String>,
}

/// The table, or why it did not run.
pub(crate) enum BrowserTable {
    Skipped(String),
    Measured(Vec<BrowserResult>),
}

/// A free loopback port (for each host's CDP port).
fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The node config of the browser hosts: a sandbox-less headless browser (we run as root),
/// pages on 127.0.0.1 allowed, the `openclaw` profile on a CDP port of its own.
fn node_config() -> Result<Value> {
    Ok(json!({
        "browser": {
            "noSandbox": true,
            "headless": true,
            "ssrfPolicy": {"dangerouslyAllowPrivateNetwork": true},
            "profiles": {"openclaw": {"cdpPort": free_port()?}},
        },
    }))
}

/// The hosts of the table, each with fresh state and its browser config (kept apart from the
/// other tables' hosts, whose state has no browser config).
fn browser_hosts(hosts: &[Host], work: &Path) -> Result<Vec<Host>> {
    let mut out = Vec::new();
    for host in hosts {
        let (kind, config) = match &host.kind {
            HostKind::Ours { bin, .. } => {
                let state_dir = work.join("browser-ours");
                let config = state_dir.join("openclaw.json");
                (HostKind::Ours { bin: bin.clone(), state_dir }, config)
            }
            HostKind::Ts { peer, .. } => {
                let home = work.join("browser-ts-home");
                let config = home.join(".openclaw/openclaw.json");
                (HostKind::Ts { peer: peer.clone(), home }, config)
            }
        };
        std::fs::create_dir_all(config.parent().context("config dir")?)?;
        std::fs::write(&config, node_config()?.to_string())?;
        out.push(Host { label: host.label, kind });
    }
    Ok(out)
}

/// The page: a form, a 30-row table, 100 links, and a button that counts its clicks in a
/// paragraph (a click that does not navigate, whose effect the bench reads back).
fn page() -> String {
    let mut html = String::from(
        "<!doctype html><html><head><meta charset=utf-8><title>Bench orders</title></head><body>\
         <header><h1>Orders</h1><nav aria-label=Items>",
    );
    for i in 0..LINKS {
        html.push_str(&format!("<a href=\"/item/{i}\">Item {i}</a> "));
    }
    html.push_str(
        "</nav></header><main><h2>New order</h2><form onsubmit=\"return false\">\
         <label>Name <input name=name></label> <label>Email <input type=email name=email></label> \
         <label>Country <select name=country><option>France</option><option>Germany</option>\
         <option>Japan</option><option>Brazil</option></select></label> \
         <label><input type=checkbox name=news> Newsletter</label> \
         <label>Notes <textarea name=notes></textarea></label> \
         <button type=button id=count onclick=\"clicks++; document.getElementById('clicks').textContent = \
         'clicks: ' + clicks\">Count</button><p id=clicks>clicks: 0</p></form>\
         <h2>Recent orders</h2><table><thead><tr><th>Order</th><th>Customer</th><th>Total</th><th>Status</th>\
         </tr></thead><tbody>",
    );
    for i in 0..TABLE_ROWS {
        let status = ["paid", "shipped", "open"][i % 3];
        html.push_str(&format!(
            "<tr><td>#{}</td><td>Customer {i}</td><td>{}.{:02} EUR</td><td>{status}</td></tr>",
            1000 + i,
            10 + i * 7,
            i * 13 % 100
        ));
    }
    html.push_str("</tbody></table></main><script>var clicks = 0;</script></body></html>");
    html
}

/// A tiny HTTP server for the page, on 127.0.0.1; stopped on drop.
struct PageServer {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl PageServer {
    fn start() -> Result<PageServer> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let stop = Arc::new(AtomicBool::new(false));
        let body = Arc::new(page());
        let thread = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let body = body.clone();
                    std::thread::spawn(move || serve(stream, &body));
                }
            })
        };
        Ok(PageServer { port, stop, thread: Some(thread) })
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }
}

impl Drop for PageServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(mut stream: TcpStream, page: &str) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let path = head.split_whitespace().nth(1).unwrap_or("/");
    let (status, body) = if path == "/" { ("200 OK", page) } else { ("404 Not Found", "not found") };
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// One `browser.proxy` call as the Gateway's browser tool makes it; the route's answer
/// (`{result, files?, route}`), or an error naming the route's status and text.
async fn proxy(
    op: &OperatorClient,
    node: &str,
    method: &str,
    path: &str,
    query: Value,
    body: Value,
    timeout_ms: u64,
) -> Result<Value> {
    let mut params = json!({"method": method, "path": path, "timeoutMs": timeout_ms, "errorEnvelope": "browser-v1"});
    if !query.is_null() {
        params["query"] = query;
    }
    if !body.is_null() {
        params["body"] = body;
    }
    let v = op
        .request_with_timeout(
            "node.invoke",
            json!({
                "nodeId": node,
                "command": "browser.proxy",
                "params": params,
                "idempotencyKey": uuid::Uuid::new_v4().to_string(),
                "timeoutMs": timeout_ms + 5_000,
            }),
            Duration::from_millis(timeout_ms + 15_000),
        )
        .await
        .with_context(|| format!("{method} {path}"))?;
    if v["ok"] != json!(true) {
        bail!("{method} {path}: not ok: {v}");
    }
    let payload = match (&v["payload"], v["payloadJSON"].as_str()) {
        (p @ Value::Object(_), _) => p.clone(),
        (_, Some(text)) => serde_json::from_str(text).with_context(|| format!("{method} {path}: payloadJSON"))?,
        _ => bail!("{method} {path}: no payload: {v}"),
    };
    if let Some(e) = payload.get("error") {
        let text = e["body"]["error"].as_str().map(String::from).unwrap_or_else(|| e["body"].to_string());
        bail!("{method} {path}: HTTP {}: {text}", e["status"]);
    }
    ensure!(payload.get("result").is_some(), "{method} {path}: no result: {payload}");
    Ok(payload)
}

/// The process tree of `root`, split into the host's own processes and the browser's
/// (every Chromium-family process under the host, and everything under those).
fn split_tree(root: i32) -> (Vec<i32>, Vec<i32>) {
    let pids = procfs::tree(root);
    let mut browser = HashSet::new();
    // `tree` lists parents before their children.
    for &p in &pids {
        let exe = std::fs::read_link(format!("/proc/{p}/exe")).ok();
        let name =
            exe.as_ref().and_then(|e| e.file_name()).map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        let is_browser = name.starts_with("chrom") || name.starts_with("headless_shell");
        if is_browser || ppid(p).is_some_and(|pp| browser.contains(&pp)) {
            browser.insert(p);
        }
    }
    let own = pids.iter().copied().filter(|p| !browser.contains(p)).collect();
    let browser = pids.iter().copied().filter(|p| browser.contains(p)).collect();
    (own, browser)
}

/// Sum of `Pss:` in `/proc/<pid>/smaps_rollup` over `pids`, in KiB.
fn pss_kib(pids: &[i32]) -> u64 {
    pids.iter()
        .filter_map(|p| {
            let text = std::fs::read_to_string(format!("/proc/{p}/smaps_rollup")).ok()?;
            text.lines().find(|l| l.starts_with("Pss:"))?.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .sum()
}

fn ppid(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()
}

/// Both hosts (ours only in smoke runs), one after the other, through one gateway: the real
/// one when `peer` is given, ours otherwise.
pub(crate) fn measure_browser(
    plan: &Plan,
    rt: &tokio::runtime::Runtime,
    peer: Option<&openclaw_testkit::Peer>,
    ours: &Path,
    work: &Path,
    hosts: &[Host],
    tag: &str,
) -> Result<BrowserTable> {
    if !Path::new(CHROMIUM).exists() {
        let why = format!("{CHROMIUM} is not installed (scripts/browser-deps installs it)");
        eprintln!("bench[browser]: skipped: {why}");
        return Ok(BrowserTable::Skipped(why));
    }
    let hosts = browser_hosts(hosts, work)?;
    let server = PageServer::start()?;
    let mut gw = match peer {
        Some(peer) => {
            eprintln!("bench[browser]: starting the real Gateway ({tag}-browser)");
            Gateway::start_real(peer, &format!("{tag}-browser"))?
        }
        None => Gateway::start_ours(ours, &work.join("gw-browser"))?,
    };
    if !plan.settle.is_zero() {
        std::thread::sleep(plan.settle);
    }
    let mut out = Vec::new();
    for host in &hosts {
        out.push(
            measure_one(plan, rt, &gw, host, &server.url()).with_context(|| format!("browser of {}", host.label))?,
        );
    }
    gw.stop();
    drop(server);
    Ok(BrowserTable::Measured(out))
}

fn measure_one(
    plan: &Plan,
    rt: &tokio::runtime::Runtime,
    gw: &Gateway,
    host: &Host,
    url: &str,
) -> Result<BrowserResult> {
    let label = host.label;
    let mut r = host.spawn(gw.port, &gw.token)?;
    r.wait_connected(Duration::from_secs(120))?;
    let node_id = host.node_id()?;
    let host_pid = r.pid();
    let mut seen_browser = Vec::new();
    let result = rt.block_on(async {
        let op = ops::operator(&gw.url(), &gw.token).await?;
        ops::make_invokable(&op, &node_id, Duration::from_secs(60)).await?;
        let res = drive(plan, &op, &node_id, host_pid, label, url, &mut seen_browser).await;
        // Stop the browser the way the tool does; the host's own stop below ends it anyway.
        if let Err(e) = proxy(&op, &node_id, "POST", "/stop", Value::Null, json!({}), 30_000).await {
            eprintln!("bench[browser {label}]: POST /stop: {e:#}");
        }
        op.close().await;
        res
    });
    seen_browser.extend(split_tree(host_pid).1);
    r.stop();
    // Every browser process seen under the host must be gone with it.
    std::thread::sleep(Duration::from_millis(500));
    for p in seen_browser {
        if Path::new(&format!("/proc/{p}")).exists() && procfs::status_kib(p, "VmRSS").is_some() {
            eprintln!("bench[browser {label}]: browser process {p} outlived its host; killing it");
            openclaw_testkit::process::signal_pid(p, openclaw_testkit::Signal::SIGKILL);
        }
    }
    result
}

fn failed<T>(e: anyhow::Error) -> Result<T, String> {
    Err(format!("{e:#}"))
}

fn sorted(mut v: Vec<Duration>) -> Vec<Duration> {
    v.sort();
    v
}

/// The table's steps for one host: open, snapshots, clicks, screenshots, RSS.
async fn drive(
    plan: &Plan,
    op: &OperatorClient,
    node: &str,
    host_pid: i32,
    label: &'static str,
    url: &str,
    seen_browser: &mut Vec<i32>,
) -> Result<BrowserResult> {
    // The browser must not be running yet: the first open starts it.
    let status = proxy(op, node, "GET", "/", Value::Null, Value::Null, 20_000).await?;
    ensure!(status["result"]["running"] == json!(false), "{label}: browser already running: {status}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (own, browser) = split_tree(host_pid);
    ensure!(browser.is_empty(), "{label}: browser processes {browser:?} before the first open");
    let rss_before = Ok((procfs::rss_kib(&own), own.len()));

    let mut res = BrowserResult {
        label,
        open: Err(String::new()),
        snapshot: Err("not measured: open failed".into()),
        refs: 0,
        act: Err("not measured: open failed".into()),
        screenshot: Err("not measured: open failed".into()),
        png_bytes: 0,
        rss_before,
        rss_host: Err("not measured: open failed".into()),
        rss_chromium: Err("not measured: open failed".into()),
        pss_chromium: Err("not measured: open failed".into()),
    };

    eprintln!("bench[browser {label}]: first POST /tabs/open (browser start included)");
    let t = Instant::now();
    let opened = proxy(op, node, "POST", "/tabs/open", Value::Null, json!({"url": url}), 60_000).await;
    let took = t.elapsed();
    let target = match opened.and_then(|p| {
        p["result"]["targetId"].as_str().map(String::from).with_context(|| format!("open: no targetId: {p}"))
    }) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("bench[browser {label}]:   failed: {e:#}");
            res.open = failed(e);
            return Ok(res);
        }
    };
    eprintln!("bench[browser {label}]:   {:.0} ms", ms(took));
    res.open = Ok(took);

    // Snapshots: the untimed ones let the page settle; every one must carry the page's refs.
    let snap_query = json!({"targetId": target, "mode": "efficient", "timeoutMs": 20000});
    let snapshot = |q: Value| async move {
        let p = proxy(op, node, "GET", "/snapshot", q, Value::Null, 20_000).await?;
        check_snapshot(&p["result"])
    };
    let mut count_ref = None;
    let mut walls = Vec::new();
    let mut err = None;
    let warm = warmup(plan);
    eprintln!("bench[browser {label}]: GET /snapshot mode=efficient × {} (+{warm} untimed)", plan.snapshot_calls);
    for i in 0..warm + plan.snapshot_calls {
        let t = Instant::now();
        match snapshot(snap_query.clone()).await {
            Ok((refs, count)) => {
                if i >= warm {
                    walls.push(t.elapsed());
                }
                res.refs = refs;
                count_ref = Some(count);
            }
            Err(e) => {
                err = Some(e);
                break;
            }
        }
    }
    res.snapshot = match err {
        Some(e) => {
            eprintln!("bench[browser {label}]:   failed: {e:#}");
            failed(e)
        }
        None => {
            let w = sorted(walls);
            eprintln!(
                "bench[browser {label}]:   p50 {:.1} ms, p99 {:.1} ms, {} refs",
                ms(percentile(&w, 50.0)),
                ms(percentile(&w, 99.0)),
                res.refs
            );
            Ok(w)
        }
    };

    // Clicks on the counting button by its ref; the page must have seen every one.
    res.act = match count_ref {
        None => Err("not measured: no snapshot".into()),
        Some(r) => {
            eprintln!("bench[browser {label}]: POST /act click {r} × {}", plan.browser_calls);
            match clicks(op, node, &target, &r, plan.browser_calls).await {
                Ok(w) => {
                    eprintln!("bench[browser {label}]:   p50 {:.1} ms", ms(percentile(&w, 50.0)));
                    Ok(w)
                }
                Err(e) => {
                    eprintln!("bench[browser {label}]:   failed: {e:#}");
                    failed(e)
                }
            }
        }
    };

    // Viewport screenshots, inlined in the answer.
    eprintln!("bench[browser {label}]: POST /screenshot × {}", plan.browser_calls);
    let body = json!({"targetId": target, "fullPage": false, "type": "png", "timeoutMs": 20000});
    let mut walls = Vec::new();
    let mut err = None;
    for _ in 0..plan.browser_calls {
        let t = Instant::now();
        match proxy(op, node, "POST", "/screenshot", Value::Null, body.clone(), 20_000)
            .await
            .and_then(|p| check_png(&p))
        {
            Ok(bytes) => {
                walls.push(t.elapsed());
                res.png_bytes = bytes;
            }
            Err(e) => {
                err = Some(e);
                break;
            }
        }
    }
    res.screenshot = match err {
        Some(e) => {
            eprintln!("bench[browser {label}]:   failed: {e:#}");
            failed(e)
        }
        None => {
            let w = sorted(walls);
            eprintln!("bench[browser {label}]:   p50 {:.1} ms, {} PNG bytes", ms(percentile(&w, 50.0)), res.png_bytes);
            Ok(w)
        }
    };

    // RSS with the browser running, after the work, once the host is idle again.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (own, browser) = split_tree(host_pid);
    seen_browser.extend(&browser);
    res.rss_host = Ok((procfs::rss_kib(&own), own.len()));
    (res.rss_chromium, res.pss_chromium) = if browser.is_empty() {
        let why = "no Chromium process found under the host".to_string();
        (Err(why.clone()), Err(why))
    } else {
        (Ok((procfs::rss_kib(&browser), browser.len())), Ok((pss_kib(&browser), browser.len())))
    };
    let mib = |r: &Result<(u64, usize), String>| r.as_ref().map(|(k, _)| *k as f64 / 1024.0).unwrap_or(f64::NAN);
    eprintln!(
        "bench[browser {label}]: RSS: host {:.1} MiB before the browser, {:.1} MiB with it; Chromium {:.1} MiB ({} processes)",
        mib(&res.rss_before),
        mib(&res.rss_host),
        mib(&res.rss_chromium),
        browser.len()
    );
    Ok(res)
}

/// A snapshot's refs: (how many, the ref of the `Count` button). It must be the `ai` format
/// with `refs` an object, `stats.refs` its size, and every link of the page.
fn check_snapshot(result: &Value) -> Result<(usize, String)> {
    let refs = result["refs"].as_object().with_context(|| format!("snapshot without refs: {result}"))?;
    ensure!(
        result["snapshot"].as_str().is_some_and(|s| s.contains("link \"Item 99\"")),
        "snapshot without the page's last link: {result}"
    );
    if let Some(n) = result["stats"]["refs"].as_u64() {
        ensure!(n as usize == refs.len(), "stats.refs {n} ≠ {} refs", refs.len());
    }
    let links = refs.values().filter(|e| e["role"] == "link").count();
    ensure!(links >= LINKS, "snapshot has {links} link refs, the page {LINKS}");
    let count = refs
        .iter()
        .find(|(_, e)| e["role"] == "button" && e["name"] == "Count")
        .map(|(id, _)| id.clone())
        .with_context(|| format!("no button \"Count\" among the refs: {result}"))?;
    Ok((refs.len(), count))
}

/// `n` timed clicks on `r`; then the page's text must say `clicks: n`.
async fn clicks(op: &OperatorClient, node: &str, target: &str, r: &str, n: usize) -> Result<Vec<Duration>> {
    let mut walls = Vec::new();
    for _ in 0..n {
        let t = Instant::now();
        let p = proxy(
            op,
            node,
            "POST",
            "/act",
            Value::Null,
            json!({"kind": "click", "ref": r, "targetId": target}),
            60_000,
        )
        .await?;
        walls.push(t.elapsed());
        ensure!(p["result"]["ok"] == json!(true), "click: {p}");
    }
    let text = proxy(op, node, "GET", "/text", json!({"targetId": target}), Value::Null, 20_000).await?;
    let seen = text["result"]["text"].as_str().unwrap_or("");
    ensure!(seen.contains(&format!("clicks: {n}")), "after {n} clicks the page says: {seen:?}");
    Ok(sorted(walls))
}

/// A screenshot answer: `files` holds exactly the result's path, as a PNG. Returns its size.
fn check_png(p: &Value) -> Result<usize> {
    let path = p["result"]["path"].as_str().with_context(|| format!("screenshot without a path: {p}"))?;
    let files = p["files"].as_array().context("screenshot without files")?;
    ensure!(files.len() == 1 && files[0]["path"] == path, "files do not name the result's path");
    let b64 = files[0]["base64"].as_str().context("file without base64")?;
    let png = base64::engine::general_purpose::STANDARD.decode(b64).context("screenshot base64")?;
    ensure!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 1000, "not a PNG ({} bytes)", png.len());
    Ok(png.len())
}

/// A cell of the table: a time in ms, or RSS in KiB with its process count.
enum Shown {
    Ms(f64),
    Kib(u64, usize),
}

impl Shown {
    fn number(&self) -> f64 {
        match self {
            Shown::Ms(v) => *v,
            Shown::Kib(k, _) => *k as f64 / 1024.0,
        }
    }

    fn show(&self) -> String {
        match self {
            Shown::Ms(v) => num(*v),
            Shown::Kib(_, n) => format!("{} ({n} proc)", num(self.number())),
        }
    }
}

type Cell = Result<Shown, String>;

/// A row: its name and how to read its cell from a host's result.
type Row = (String, fn(&BrowserResult) -> Cell);

fn at(v: &Result<Vec<Duration>, String>, q: f64) -> Cell {
    v.as_ref().map(|w| Shown::Ms(ms(percentile(w, q)))).map_err(Clone::clone)
}

fn kib(v: &Result<(u64, usize), String>) -> Cell {
    v.as_ref().map(|(k, n)| Shown::Kib(*k, *n)).map_err(Clone::clone)
}

/// The markdown table: each row, both hosts, TS ÷ ours.
pub(crate) fn print_browser(plan: &Plan, table: &BrowserTable) {
    let results = match table {
        BrowserTable::Skipped(why) => {
            println!("Browser proxy: skipped ({why}).");
            return;
        }
        BrowserTable::Measured(r) => r,
    };
    let Some(ours) = results.iter().find(|r| r.label == "ours") else { return };
    let ts = results.iter().find(|r| r.label != "ours");
    let rows: Vec<Row> = vec![
        ("first `POST /tabs/open`, browser start included (ms)".into(), |r| {
            r.open.as_ref().map(|d| Shown::Ms(ms(*d))).map_err(Clone::clone)
        }),
        (format!("`GET /snapshot` mode=efficient p50, {} calls (ms)", plan.snapshot_calls), |r| at(&r.snapshot, 50.0)),
        (format!("`GET /snapshot` mode=efficient p99, {} calls (ms)", plan.snapshot_calls), |r| at(&r.snapshot, 99.0)),
        (format!("`POST /act` click by ref p50, {} calls (ms)", plan.browser_calls), |r| at(&r.act, 50.0)),
        (format!("`POST /screenshot` viewport PNG p50, {} calls (ms)", plan.browser_calls), |r| {
            at(&r.screenshot, 50.0)
        }),
        ("node host RSS before its browser starts, own processes (MiB)".into(), |r| kib(&r.rss_before)),
        ("node host RSS with its browser running, own processes (MiB)".into(), |r| kib(&r.rss_host)),
        ("Chromium RSS, its process tree (MiB)".into(), |r| kib(&r.rss_chromium)),
        ("Chromium PSS, its process tree (MiB)".into(), |r| kib(&r.pss_chromium)),
    ];
    println!(
        "Browser proxy through the same {} (`node.invoke browser.proxy`, `errorEnvelope: \"browser-v1\"`, as the \
         Gateway's browser tool sends it), each host driving its own headless Chromium on a page served on \
         127.0.0.1 (a form, a {TABLE_ROWS}-row table, {LINKS} links; {} refs per efficient snapshot, {} KiB \
         screenshots); ratio TS ÷ ours (> 1: ours is better):",
        if plan.smoke { "gateway (ours, smoke)" } else { "real Gateway" },
        ours.refs,
        ours.png_bytes / 1024
    );
    println!();
    println!("| metric | ours (Rust) | TypeScript node host | ratio |");
    println!("|---|---:|---:|---:|");
    let show = |c: &Cell| match c {
        Ok(v) => v.show(),
        Err(e) => format!("failed ({})", e.chars().take(120).collect::<String>().replace('|', "/")),
    };
    for (name, cell) in &rows {
        let o = cell(ours);
        let (ts, ratio) = match ts.map(cell) {
            Some(t) => {
                let ratio = match (&o, &t) {
                    (Ok(o), Ok(x)) if o.number() > 0.0 => format!("{}×", num(x.number() / o.number())),
                    _ => "–".into(),
                };
                (show(&t), ratio)
            }
            None => ("–".into(), "–".into()),
        };
        println!("| {name} | {} | {ts} | {ratio} |", show(&o));
    }
}
