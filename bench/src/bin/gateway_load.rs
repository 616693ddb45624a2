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
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use openclaw_bench::procfs;
use openclaw_operator::client::{endpoint_from_url, ClientError};
use openclaw_operator::{ConnectOptions, OperatorClient, OPERATOR_SCOPES};
use openclaw_protocol::connect::{
    ClientInfo, ConnectAuth, ConnectParams, DeviceProof, CLIENT_ID_NODE_HOST, MODE_NODE, ROLE_NODE,
};
use openclaw_protocol::device_auth::{DeviceAuthPayload, DeviceIdentity};
use openclaw_protocol::node::{
    ConnectChallenge, InvokeRequest, InvokeResult, EVENT_CONNECT_CHALLENGE, EVENT_INVOKE_REQUEST, EVENT_PAIR_RESOLVED,
    METHOD_INVOKE_RESULT,
};
use openclaw_protocol::{Frame, RequestFrame, COMPAT_VERSION, PROTOCOL_VERSION};
use rand::Rng;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

/// Commands our node host advertises; a simulated node only ever answers `system.which`.
const COMMANDS: &[&str] =
    &["system.execApprovals.get", "system.execApprovals.set", "system.run", "system.run.prepare", "system.which"];
/// Per-attempt budget for TCP + upgrade + challenge + hello.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// `timeoutMs` of each `node.invoke`.
const INVOKE_TIMEOUT_MS: u64 = 30_000;

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

/// Counters shared by all node tasks.
#[derive(Default)]
struct Stats {
    connected: AtomicUsize,
    connect_retries: AtomicUsize,
    resolved: AtomicUsize,
    served: AtomicUsize,
    result_errors: AtomicUsize,
    dropped: AtomicUsize,
    /// Text bytes nodes received (handshake included), and the largest single message.
    rx_bytes: AtomicUsize,
    rx_max: AtomicUsize,
    drop_reasons: Mutex<Vec<String>>,
}

impl Stats {
    fn count_rx(&self, len: usize) {
        self.rx_bytes.fetch_add(len, Ordering::Relaxed);
        self.rx_max.fetch_max(len, Ordering::Relaxed);
    }
}

/// What every node task needs to dial.
struct NodeCfg {
    addr: String,
    url: String,
    token: String,
    attempts: u32,
}

type Ws = WebSocketStream<Gate>;

/// The node's TCP stream, with a gate that never hands tungstenite bytes past the end of the
/// HTTP upgrade response or of the current WebSocket frame while the handshake runs.
///
/// Why: hello-ok can be large (our gateway puts one presence entry per connection in it, so it
/// reaches ~2 MB at 10,000 nodes), and tungstenite's read buffer keeps the capacity of the
/// largest frame it has read for the life of the connection. With the gate, no bytes beyond
/// hello-ok are buffered inside tungstenite when the handshake ends, so the stream can move to
/// a fresh `WebSocketStream` (4 KiB buffer) and the big one is freed.
struct Gate {
    /// `None` only in the husk left behind when the stream moves to a fresh WebSocket.
    tcp: Option<TcpStream>,
    pending: Vec<u8>,
    pos: usize,
    phase: Phase,
}

enum Phase {
    /// In the HTTP response; how many bytes of the final CRLFCRLF we have seen.
    Http(u8),
    /// In WebSocket frames: header bytes so far, then payload bytes left.
    Frames { hdr: [u8; 14], have: usize, left: u64 },
    /// Handshake over: pass everything through.
    Open,
}

impl Phase {
    /// How many of `bytes` (at most `max`) may be handed out without crossing a boundary.
    fn allow(&mut self, bytes: &[u8], max: usize) -> usize {
        let limit = bytes.len().min(max);
        let mut i = 0;
        while i < limit {
            match self {
                Phase::Open => return limit,
                Phase::Http(m) => {
                    let b = bytes[i];
                    i += 1;
                    *m = match (*m, b) {
                        (0, b'\r') | (2, b'\r') | (1, b'\n') | (3, b'\n') => *m + 1,
                        (_, b'\r') => 1,
                        _ => 0,
                    };
                    if *m == 4 {
                        *self = Phase::Frames { hdr: [0; 14], have: 0, left: 0 };
                        return i;
                    }
                }
                Phase::Frames { hdr, have, left } => {
                    if *left > 0 {
                        let k = ((limit - i) as u64).min(*left) as usize;
                        i += k;
                        *left -= k as u64;
                        if *left == 0 {
                            *have = 0;
                            return i;
                        }
                        continue;
                    }
                    hdr[*have] = bytes[i];
                    *have += 1;
                    i += 1;
                    if *have < 2 {
                        continue;
                    }
                    let len7 = hdr[1] & 0x7f;
                    let ext = match len7 {
                        126 => 2,
                        127 => 8,
                        _ => 0,
                    };
                    let need = 2 + ext + if hdr[1] & 0x80 != 0 { 4 } else { 0 };
                    if *have == need {
                        let len = match len7 {
                            126 => u16::from_be_bytes([hdr[2], hdr[3]]) as u64,
                            127 => u64::from_be_bytes(hdr[2..10].try_into().expect("8 bytes")),
                            n => n as u64,
                        };
                        if len == 0 {
                            *have = 0;
                            return i;
                        }
                        *left = len;
                    }
                }
            }
        }
        i
    }
}

impl Gate {
    fn tcp(&mut self) -> io::Result<Pin<&mut TcpStream>> {
        self.tcp.as_mut().map(Pin::new).ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "stream moved"))
    }
}

impl AsyncRead for Gate {
    fn poll_read(self: Pin<&mut Self>, cx: &mut TaskContext<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.pos >= this.pending.len() {
            if matches!(this.phase, Phase::Open) {
                if this.pending.capacity() > 0 {
                    this.pending = Vec::new();
                    this.pos = 0;
                }
                return this.tcp()?.poll_read(cx, buf);
            }
            this.pending.resize(4096, 0);
            this.pos = 0;
            let mut rb = ReadBuf::new(&mut this.pending);
            let tcp = match this.tcp.as_mut() {
                Some(t) => Pin::new(t),
                None => return Poll::Ready(Err(io::Error::new(io::ErrorKind::NotConnected, "stream moved"))),
            };
            let r = tcp.poll_read(cx, &mut rb);
            let n = rb.filled().len();
            this.pending.truncate(n);
            match r {
                Poll::Ready(Ok(())) if n > 0 => {}
                other => return other, // EOF, error or pending
            }
        }
        let n = this.phase.allow(&this.pending[this.pos..], buf.remaining());
        buf.put_slice(&this.pending[this.pos..this.pos + n]);
        this.pos += n;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Gate {
    fn poll_write(self: Pin<&mut Self>, cx: &mut TaskContext<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.get_mut().tcp()?.poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        self.get_mut().tcp()?.poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        self.get_mut().tcp()?.poll_shutdown(cx)
    }
}

/// Just enough of a frame to route it without building the (possibly large) payload.
#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    ok: Option<bool>,
    #[serde(default)]
    error: Option<Value>,
}

fn ws_config() -> WebSocketConfig {
    // Small buffers: the read buffer is allocated eagerly per connection (default 128 KiB).
    WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0).max_message_size(Some(32 << 20))
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

fn connect_params(
    identity: &DeviceIdentity,
    device_id: &str,
    index: usize,
    token: &str,
    ch: &ConnectChallenge,
) -> ConnectParams {
    let auth = ConnectAuth { token: Some(token.to_string()), ..Default::default() };
    let client = ClientInfo {
        id: CLIENT_ID_NODE_HOST.into(),
        display_name: Some(format!("load-{index}")),
        version: COMPAT_VERSION.into(),
        build_id: None,
        platform: "linux".into(),
        device_family: Some("Linux".into()),
        model_identifier: None,
        time_zone: None,
        mode: MODE_NODE.into(),
        instance_id: Some(device_id.to_string()),
    };
    let payload = DeviceAuthPayload {
        device_id,
        client_id: &client.id,
        client_mode: &client.mode,
        role: ROLE_NODE,
        scopes: &[],
        signed_at_ms: ch.ts,
        token: auth.signature_token(),
        nonce: &ch.nonce,
        platform: Some(&client.platform),
        device_family: client.device_family.as_deref(),
    };
    let signature = identity.sign(&payload.to_v3_string());
    ConnectParams {
        min_protocol: PROTOCOL_VERSION,
        max_protocol: PROTOCOL_VERSION,
        client,
        caps: Some(vec!["system".into()]),
        commands: Some(COMMANDS.iter().map(|c| c.to_string()).collect()),
        computer_use: None,
        worker_runs: None,
        permissions: None,
        path_env: None,
        role: Some(ROLE_NODE.into()),
        scopes: Some(Vec::new()),
        model_catalog: None,
        device: Some(DeviceProof {
            id: device_id.to_string(),
            public_key: identity.public_key_b64url(),
            signature,
            signed_at: ch.ts,
            nonce: ch.nonce.clone(),
        }),
        auth: Some(auth),
        locale: None,
        user_agent: None,
    }
}

async fn next_text(ws: &mut Ws, stats: &Stats) -> Result<Utf8Bytes, String> {
    loop {
        match ws.next().await {
            None => return Err("connection closed".into()),
            Some(Err(e)) => return Err(e.to_string()),
            Some(Ok(Message::Text(t))) => {
                stats.count_rx(t.len());
                return Ok(t);
            }
            Some(Ok(Message::Close(c))) => {
                return Err(c.map(|c| format!("closed {} {}", u16::from(c.code), c.reason)).unwrap_or("closed".into()))
            }
            Some(Ok(_)) => {}
        }
    }
}

/// Dial, answer the challenge with a signed `connect`, and wait for hello-ok.
async fn handshake(
    cfg: &NodeCfg,
    stats: &Stats,
    identity: &DeviceIdentity,
    device_id: &str,
    index: usize,
) -> Result<Ws, String> {
    let tcp = TcpStream::connect(&cfg.addr).await.map_err(|e| format!("tcp connect: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let gate = Gate { tcp: Some(tcp), pending: Vec::new(), pos: 0, phase: Phase::Http(0) };
    let (mut ws, _) = tokio_tungstenite::client_async_with_config(cfg.url.as_str(), gate, Some(ws_config()))
        .await
        .map_err(|e| format!("upgrade: {e}"))?;
    let challenge = loop {
        let text = next_text(&mut ws, stats).await?;
        if let Ok(Frame::Event(e)) = Frame::parse(text.as_str()) {
            if e.event == EVENT_CONNECT_CHALLENGE {
                break serde_json::from_value::<ConnectChallenge>(e.payload.unwrap_or(Value::Null))
                    .map_err(|e| format!("bad connect.challenge: {e}"))?;
            }
        }
    };
    let params = connect_params(identity, device_id, index, &cfg.token, &challenge);
    let req = Frame::Req(RequestFrame::new("c1", "connect", serde_json::to_value(&params).expect("serialises")));
    ws.send(Message::text(req.to_text())).await.map_err(|e| format!("send connect: {e}"))?;
    loop {
        let text = next_text(&mut ws, stats).await?;
        let Ok(env) = serde_json::from_str::<Envelope>(text.as_str()) else { continue };
        if env.kind != "res" || env.id.as_deref() != Some("c1") {
            continue;
        }
        if env.ok != Some(true) {
            return Err(format!("connect refused: {}", env.error.unwrap_or(Value::Null)));
        }
        drop(text);
        // hello-ok was the last byte tungstenite saw: move the stream to a fresh, small WebSocket.
        let g = ws.get_mut();
        let gate = Gate { tcp: g.tcp.take(), pending: std::mem::take(&mut g.pending), pos: g.pos, phase: Phase::Open };
        drop(ws);
        return Ok(WebSocketStream::from_raw_socket(gate, Role::Client, Some(ws_config())).await);
    }
}

/// One simulated node: connect (bounded by `sem`), report, then serve until told to stop.
async fn node_task(
    index: usize,
    cfg: Arc<NodeCfg>,
    sem: Arc<Semaphore>,
    ready: mpsc::UnboundedSender<Result<String, String>>,
    stats: Arc<Stats>,
    stop: watch::Receiver<bool>,
) {
    let identity = DeviceIdentity::generate();
    let device_id = identity.device_id();
    let permit = sem.acquire_owned().await.expect("semaphore open");
    let mut attempt = 0;
    let ws = loop {
        attempt += 1;
        let err = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(&cfg, &stats, &identity, &device_id, index))
            .await
        {
            Ok(Ok(ws)) => break ws,
            Ok(Err(e)) => e,
            Err(_) => format!("handshake timed out after {} s", HANDSHAKE_TIMEOUT.as_secs()),
        };
        // A refusal that is not marked retryable (bad token, bad signature) will not change.
        let final_refusal = err.starts_with("connect refused") && !err.contains("\"retryable\":true");
        if attempt >= cfg.attempts || final_refusal {
            let _ = ready.send(Err(format!("node {index}: {err} (after {attempt} attempts)")));
            return;
        }
        stats.connect_retries.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(250 * attempt as u64)).await;
    };
    drop(permit);
    stats.connected.fetch_add(1, Ordering::Relaxed);
    let _ = ready.send(Ok(device_id));
    drop(ready);
    serve(ws, &stats, stop).await;
}

async fn serve(mut ws: Ws, stats: &Stats, mut stop: watch::Receiver<bool>) {
    let mut next_id: u64 = 0;
    loop {
        tokio::select! {
            msg = ws.next() => {
                let text = match msg {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(c))) => {
                        let reason = c.map(|c| format!("close {} {}", u16::from(c.code), c.reason)).unwrap_or("close".into());
                        return dropped(stats, &stop, reason);
                    }
                    None => return dropped(stats, &stop, "eof".into()),
                    Some(Err(e)) => return dropped(stats, &stop, e.to_string()),
                    Some(Ok(_)) => continue,
                };
                stats.count_rx(text.len());
                let s = text.as_str();
                if !(s.contains(EVENT_INVOKE_REQUEST) || s.contains(EVENT_PAIR_RESOLVED) || s.contains("\"res\"")) {
                    continue; // tick, health, …
                }
                match Frame::parse(s) {
                    Ok(Frame::Event(e)) if e.event == EVENT_INVOKE_REQUEST => {
                        let Ok(req) = serde_json::from_value::<InvokeRequest>(e.payload.unwrap_or(Value::Null)) else {
                            continue;
                        };
                        let result = InvokeResult::success(&req.id, &req.node_id, &json!({"bins": {}}));
                        next_id += 1;
                        let frame = Frame::Req(RequestFrame::new(
                            format!("r{next_id}"),
                            METHOD_INVOKE_RESULT,
                            serde_json::to_value(&result).expect("serialises"),
                        ));
                        if let Err(e) = ws.send(Message::text(frame.to_text())).await {
                            return dropped(stats, &stop, format!("send: {e}"));
                        }
                        stats.served.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Frame::Event(e)) if e.event == EVENT_PAIR_RESOLVED => {
                        stats.resolved.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Frame::Res(r)) if !r.ok => {
                        stats.result_errors.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {}
                }
            }
            _ = stop.changed() => {
                let _ = ws.close(None).await;
                // Let the gateway's close reply arrive so both sides shut down cleanly.
                let _ = tokio::time::timeout(Duration::from_secs(2), async {
                    while let Some(Ok(_)) = ws.next().await {}
                })
                .await;
                return;
            }
        }
    }
}

fn dropped(stats: &Stats, stop: &watch::Receiver<bool>, reason: String) {
    if *stop.borrow() {
        return;
    }
    stats.dropped.fetch_add(1, Ordering::Relaxed);
    let mut reasons = stats.drop_reasons.lock().expect("reasons lock");
    if reasons.len() < 5 {
        reasons.push(reason);
    }
}

async fn operator(args: &Args) -> Result<OperatorClient> {
    let endpoint = endpoint_from_url(&args.url, None).map_err(anyhow::Error::msg)?;
    let opts = ConnectOptions {
        endpoint,
        token: Some(args.token.clone()),
        password: None,
        device_token: None,
        identity: None,
        scopes: OPERATOR_SCOPES.iter().map(|s| s.to_string()).collect(),
        timeout: Duration::from_secs(120),
    };
    OperatorClient::connect(&opts).await.context("operator connect")
}

/// Approves every pending node surface of our nodes; returns (approved, already gone, rounds).
async fn approve_all(op: &OperatorClient, ours: &HashSet<String>) -> Result<(usize, usize, usize)> {
    let (mut approved, mut gone, mut rounds) = (0, 0, 0);
    loop {
        rounds += 1;
        let list = op.request("node.pair.list", json!({})).await.context("node.pair.list")?;
        let pending: Vec<String> = list["pending"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|p| p["nodeId"].as_str().is_some_and(|n| ours.contains(n)))
                    .filter_map(|p| p["requestId"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        if pending.is_empty() {
            return Ok((approved, gone, rounds));
        }
        if rounds > 10 {
            bail!("{} node surfaces still pending after {} approval rounds", pending.len(), rounds - 1);
        }
        let results: Vec<Result<(), ClientError>> = futures_util::stream::iter(pending)
            .map(|id| async move { op.request("node.pair.approve", json!({"requestId": id})).await.map(|_| ()) })
            .buffer_unordered(32)
            .collect()
            .await;
        for r in results {
            match r {
                Ok(()) => approved += 1,
                // Approved meanwhile (by someone else, or a retried request): fine.
                Err(ClientError::Gateway(e)) if e.message.contains("unknown requestId") => gone += 1,
                Err(e) => bail!("node.pair.approve: {e}"),
            }
        }
    }
}

fn is_retryable(e: &ClientError) -> bool {
    match e {
        ClientError::Gateway(shape) => shape.retryable == Some(true) || shape.detail_code() == Some("PAIRING_CHANGED"),
        _ => false,
    }
}

#[derive(Default)]
struct InvokeOutcome {
    latencies: Vec<Duration>,
    retries: usize,
    errors: usize,
    first_error: Option<String>,
}

/// `total` invokes to random nodes with `concurrency` in flight over `ops`.
async fn run_invokes(
    ops: &[Arc<OperatorClient>],
    ids: &Arc<Vec<String>>,
    total: usize,
    concurrency: usize,
) -> InvokeOutcome {
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for w in 0..concurrency.max(1) {
        let op = ops[w % ops.len()].clone();
        let (ids, next) = (ids.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut out = InvokeOutcome::default();
            while next.fetch_add(1, Ordering::Relaxed) < total {
                let node = ids[rand::thread_rng().gen_range(0..ids.len())].clone();
                let mut attempts = 0;
                loop {
                    attempts += 1;
                    let params = json!({
                        "nodeId": node,
                        "command": "system.which",
                        "params": {"bins": ["sh"]},
                        "idempotencyKey": uuid::Uuid::new_v4().to_string(),
                        "timeoutMs": INVOKE_TIMEOUT_MS,
                    });
                    let started = Instant::now();
                    let r = op
                        .request_with_timeout("node.invoke", params, Duration::from_millis(INVOKE_TIMEOUT_MS + 5000))
                        .await;
                    let took = started.elapsed();
                    match r {
                        Ok(v) if v["ok"] == json!(true) => {
                            out.latencies.push(took);
                            break;
                        }
                        Err(e) if attempts < 5 && is_retryable(&e) => {
                            out.retries += 1;
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        other => {
                            out.errors += 1;
                            if out.first_error.is_none() {
                                out.first_error = Some(match other {
                                    Ok(v) => format!("unexpected answer: {v}"),
                                    Err(e) => e.to_string(),
                                });
                            }
                            break;
                        }
                    }
                }
            }
            out
        }));
    }
    let mut all = InvokeOutcome::default();
    for w in workers {
        let o = w.await.expect("invoke worker");
        all.latencies.extend(o.latencies);
        all.retries += o.retries;
        all.errors += o.errors;
        if all.first_error.is_none() {
            all.first_error = o.first_error;
        }
    }
    all.latencies.sort();
    all
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
