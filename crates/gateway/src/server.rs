//! Sockets: accept, TLS, WebSocket upgrade, and the life of one connection.
//!
//! A connection is a reader loop (this module) plus a writer task fed by its
//! [`Outbox`]. Before `hello-ok` the reader enforces the pre-auth
//! rules: the challenge goes out at once, the first frame must be `connect` and at most 64 KiB
//! (else close 1009), and a client that has not connected within the handshake timeout is
//! closed 1000 with an empty reason. After `hello-ok`, `session` serves requests (a slow
//! `node.invoke` never holds up the socket), keeps the peer alive with pings, and delivers the
//! results a node had in flight when the server closed its connection.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use openclaw_protocol::{ErrorCode, ErrorShape, Frame, ResponseFrame, Role, COMPAT_VERSION, PROTOCOL_VERSION};
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tracing::{debug, info, warn};

use crate::handshake::{admit, Challenge, Peer};
use crate::methods::{self, ConnCtx};
use crate::pairing::Pairing;
use crate::registry::{Client, NodeSession, Outbox, Outgoing};
use crate::store::GatewayStore;
use crate::tls::TlsMaterial;
use crate::{GatewayConfig, Shared};

mod join_http;
mod session;

/// Largest frame accepted before `hello-ok`.
pub const MAX_PREAUTH_PAYLOAD: usize = 64 * 1024;
/// Largest frame accepted after `hello-ok` (advertised as `policy.maxPayload`).
pub const MAX_PAYLOAD: usize = 25 * 1024 * 1024;
/// Connections served at once; more are refused at accept (they would only queue memory).
pub const MAX_CONNECTIONS: usize = 20_000;

/// Why a gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The state database could not be opened.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The TLS certificate could not be loaded or generated.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// The port is taken or the address is not ours.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// Why binding failed.
        #[source]
        source: std::io::Error,
    },
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A bound gateway, ready to [`run`](Gateway::run).
pub struct Gateway {
    shared: Arc<Shared>,
    listener: TcpListener,
    tls: Option<(tokio_rustls::TlsAcceptor, String)>,
}

impl Gateway {
    /// Opens the state, prepares TLS and binds the listener.
    pub async fn bind(config: GatewayConfig) -> Result<Gateway, GatewayError> {
        let store = GatewayStore::open(&config.state_dir)?;
        let pairing = Pairing::load(store)?;
        let tls = match &config.tls {
            Some(source) => {
                let material = TlsMaterial::load(source, &config.state_dir)?;
                let acceptor = tokio_rustls::TlsAcceptor::from(material.server_config()?);
                Some((acceptor, material.fingerprint()))
            }
            None => None,
        };
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| GatewayError::Listen { addr: config.listen, source })?;
        let shared = Arc::new(Shared {
            config,
            pairing: Mutex::new(pairing),
            limiter: Mutex::new(crate::auth::RateLimiter::default()),
            // Upstream locks the join URL at the 10th failure and refuses the 11th request
            // before looking at it; ours locks on the failure after `max_failures`.
            join_limiter: Mutex::new(crate::auth::RateLimiter::new(
                crate::auth::RateLimiter::MAX_FAILURES - 1,
                crate::auth::RateLimiter::WINDOW,
                crate::auth::RateLimiter::LOCKOUT,
            )),
            registry: Mutex::new(Default::default()),
            approvals: Mutex::new(Default::default()),
            tls_fingerprint: tls.as_ref().map(|(_, f): &(_, String)| f.clone()),
            ssh_verifier: Default::default(),
            boot_id: uuid::Uuid::new_v4().to_string(),
            started: Instant::now(),
        });
        Ok(Gateway { shared, listener, tls })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("bound listener has an address")
    }

    /// SHA-256 of the TLS certificate, when TLS is on.
    pub fn tls_fingerprint(&self) -> Option<&str> {
        self.tls.as_ref().map(|(_, f)| f.as_str())
    }

    /// The shared state (for tests and embedding).
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Serves until `shutdown` turns true, then says `shutdown` to every client and closes
    /// them 1012 "service restart".
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let shared = self.shared.clone();
        let active = Arc::new(AtomicUsize::new(0));
        let ticker = tokio::spawn(tick_loop(shared.clone()));
        loop {
            let accepted = tokio::select! {
                r = self.listener.accept() => r,
                _ = shutdown.changed() => break,
            };
            let (stream, addr) = match accepted {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and friends: back off briefly instead of spinning.
                    warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            if active.load(Ordering::Relaxed) >= MAX_CONNECTIONS {
                debug!("refusing {addr}: {MAX_CONNECTIONS} connections open");
                continue;
            }
            let _ = stream.set_nodelay(true);
            let (shared, tls, active) = (shared.clone(), self.tls.as_ref().map(|(a, _)| a.clone()), active.clone());
            active.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                serve_connection(shared, stream, addr, tls).await;
                active.fetch_sub(1, Ordering::Relaxed);
            });
        }
        ticker.abort();
        for c in shared.registry().clients() {
            c.outbox.send_broadcast("shutdown", json!({"reason": "gateway stopping"}));
            c.outbox.close(1012, "service restart");
        }
        // Let writers flush the close frames.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn tick_loop(shared: Arc<Shared>) {
    let mut interval = tokio::time::interval(shared.config.tick_interval);
    interval.tick().await;
    loop {
        interval.tick().await;
        let now = openclaw_state::now_ms();
        shared.registry().broadcast_all("tick", &json!({"ts": now}));
        let expired = shared.approvals().sweep(now);
        crate::exec_approval::publish_expired_approvals(&shared, &expired);
    }
}

async fn serve_connection(
    shared: Arc<Shared>,
    stream: TcpStream,
    addr: SocketAddr,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    let deadline = Instant::now() + shared.config.handshake_timeout;
    let mut io: Box<dyn Io> = match tls {
        Some(acceptor) => match tokio::time::timeout_at(deadline.into(), acceptor.accept(stream)).await {
            Ok(Ok(s)) => Box::new(s),
            Ok(Err(e)) => {
                debug!("TLS handshake with {addr} failed: {e}");
                return;
            }
            Err(_) => return,
        },
        None => Box::new(stream),
    };
    let first = tokio::time::timeout_at(deadline.into(), join_http::route(&shared, &mut io, addr.ip().to_canonical()));
    let io: Box<dyn Io> = match first.await {
        Ok(join_http::FirstRequest::Other(head)) => Box::new(join_http::Rewind::new(head, io)),
        Ok(join_http::FirstRequest::Answered | join_http::FirstRequest::Gone) | Err(_) => return,
    };
    let forwarded = Arc::new(AtomicBool::new(false));
    let seen = forwarded.clone();
    let callback = move |req: &Request, resp: Response| {
        let h = req.headers();
        let proxied =
            ["x-forwarded-for", "forwarded", "x-real-ip", "x-forwarded-host"].iter().any(|k| h.contains_key(*k));
        seen.store(proxied, Ordering::Relaxed);
        Ok(resp)
    };
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_PAYLOAD))
        .max_frame_size(Some(MAX_PAYLOAD))
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .accept_unmasked_frames(false);
    let upgrade = tokio_tungstenite::accept_hdr_async_with_config(io, callback, Some(config));
    let ws = match tokio::time::timeout_at(deadline.into(), upgrade).await {
        Ok(Ok(ws)) => ws,
        Ok(Err(e)) => {
            debug!("WebSocket upgrade from {addr} failed: {e}");
            return;
        }
        Err(_) => return,
    };
    let peer = Peer {
        ip: addr.ip().to_canonical(),
        direct_local: addr.ip().to_canonical().is_loopback() && !forwarded.load(Ordering::Relaxed),
    };
    let (sink, mut stream) = ws.split();
    let (outbox, rx, queued) = Outbox::new();
    let writer = tokio::spawn(write_loop(sink, rx, queued));

    let challenge = Challenge {
        nonce: uuid::Uuid::new_v4().to_string(),
        ts: openclaw_state::now_ms(),
        conn_id: uuid::Uuid::new_v4().to_string(),
    };
    outbox.send_event("connect.challenge", json!({"nonce": challenge.nonce, "ts": challenge.ts, "capabilities": []}));
    let ctx = match preauth(&shared, &mut stream, &outbox, &challenge, peer, deadline).await {
        Some(ctx) => ctx,
        None => {
            finish_writer(writer).await;
            return;
        }
    };
    let ending = session::serve_authenticated(&shared, &mut stream, &outbox, &ctx).await;
    if ending == session::Ending::ServerClosed && ctx.role == Role::Node {
        session::drain_after_close(&shared, &mut stream, &outbox, &ctx).await;
    }
    let removed = shared.registry().remove(&ctx.conn_id);
    if let Some(client) = removed {
        if let (Some(_), Some(device)) = (&client.node, &client.device_id) {
            info!("node disconnected node={device}");
            crate::registry::touch_node_seen(&shared, device, "disconnect");
            // Already back on a newer connection (it replaced this one): its re-sent results
            // are arriving now. Otherwise it gets the grace window this ending allows.
            let grace = ending.orphan_grace();
            let (back, orphans) = {
                let mut registry = shared.registry();
                if grace.is_none() {
                    registry.expire_orphans(device, std::time::Instant::now());
                }
                (registry.node(device).is_some(), registry.has_orphans(device))
            };
            if let (true, Some(grace)) = (orphans, grace) {
                let wait = if back { crate::registry::RECONNECT_SETTLE } else { grace };
                expire_orphans_later(&shared, device, wait);
            }
        }
    }
    outbox.close(1000, "");
    finish_writer(writer).await;
}

/// Ends, after `wait`, the invokes of `node_id` that were orphaned by now and are still
/// unanswered (`Registry::expire_orphans`); orphans made later get their own timer. Takes no
/// lock now, so it may be called with the registry locked.
fn expire_orphans_later(shared: &Arc<Shared>, node_id: &str, wait: Duration) {
    let cutoff = std::time::Instant::now();
    let (shared, node_id) = (shared.clone(), node_id.to_string());
    tokio::spawn(async move {
        tokio::time::sleep(wait).await;
        let ended = shared.registry().expire_orphans(&node_id, cutoff);
        if ended > 0 {
            info!("node {node_id} did not re-send {ended} result(s); their callers are told it disconnected");
        }
    });
}

async fn finish_writer(writer: tokio::task::JoinHandle<()>) {
    let abort = writer.abort_handle();
    if tokio::time::timeout(Duration::from_secs(2), writer).await.is_err() {
        abort.abort();
    }
}

type WsStream = futures_util::stream::SplitStream<tokio_tungstenite::WebSocketStream<Box<dyn Io>>>;
type WsSink = futures_util::stream::SplitSink<tokio_tungstenite::WebSocketStream<Box<dyn Io>>, Message>;

async fn write_loop(mut sink: WsSink, mut rx: mpsc::UnboundedReceiver<Outgoing>, queued: Arc<AtomicUsize>) {
    while let Some(item) = rx.recv().await {
        let result = match item {
            Outgoing::Text(text) => {
                let n = text.len();
                let r = sink.send(Message::text(text)).await;
                queued.fetch_sub(n, Ordering::Relaxed);
                r
            }
            Outgoing::Ping => sink.send(Message::Ping(Default::default())).await,
            // Upstream terminates an unresponsive peer: no close handshake with a dead socket.
            Outgoing::Terminate => return,
            Outgoing::Close(code, reason) => {
                let frame = CloseFrame { code: CloseCode::from(code), reason: reason.into() };
                let _ = tokio::time::timeout(Duration::from_secs(1), sink.send(Message::Close(Some(frame)))).await;
                break;
            }
        };
        if result.is_err() {
            break;
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;
}

/// Challenge → connect → hello-ok. `None` when the client was refused or went away.
async fn preauth(
    shared: &Arc<Shared>,
    stream: &mut WsStream,
    outbox: &Outbox,
    challenge: &Challenge,
    peer: Peer,
    deadline: Instant,
) -> Option<ConnCtx> {
    loop {
        let msg = match tokio::time::timeout_at(deadline.into(), stream.next()).await {
            Err(_) => {
                outbox.close(1000, "");
                return None;
            }
            Ok(None) | Ok(Some(Err(_))) => return None,
            Ok(Some(Ok(m))) => m,
        };
        let text = match msg {
            Message::Text(t) => t,
            Message::Binary(b) if b.len() > MAX_PREAUTH_PAYLOAD => {
                outbox.close(1009, "preauth payload too large");
                return None;
            }
            Message::Binary(_) => {
                outbox.close(1008, "invalid handshake frame");
                return None;
            }
            Message::Close(_) => return None,
            _ => continue,
        };
        if text.len() > MAX_PREAUTH_PAYLOAD {
            outbox.close(1009, "preauth payload too large");
            return None;
        }
        let req = match Frame::parse(text.as_str()) {
            Ok(Frame::Req(r)) => r,
            Ok(_) => {
                outbox.close(1008, "invalid request frame");
                return None;
            }
            Err(_) => {
                outbox.close(1000, "");
                return None;
            }
        };
        if req.method != "connect" {
            let e = ErrorShape::new(ErrorCode::InvalidRequest, "invalid handshake: first request must be connect");
            outbox.send_frame(&Frame::Res(ResponseFrame::err(&req.id, e)));
            outbox.close(1008, "invalid handshake: first request must be connect");
            return None;
        }
        let params = req.params.clone().unwrap_or(Value::Null);
        return match admit(shared, &params, challenge, peer) {
            Err(refusal) => {
                notify_operators(shared, &refusal.notices);
                debug!("connect refused from {}: {}", peer.ip, refusal.error.message);
                outbox.send_frame(&Frame::Res(ResponseFrame::err(&req.id, refusal.error)));
                outbox.close(refusal.close_code, &refusal.close_reason);
                None
            }
            Ok(admission) => Some(register(shared, admission, outbox, peer, &req.id, &challenge.conn_id)),
        };
    }
}

fn notify_operators(shared: &Shared, notices: &[crate::pairing::PairingNotice]) {
    if notices.is_empty() {
        return;
    }
    let registry = shared.registry();
    for n in notices {
        registry.notify_pairing(n);
    }
}

fn register(
    shared: &Arc<Shared>,
    a: crate::handshake::Admission,
    outbox: &Outbox,
    peer: Peer,
    req_id: &str,
    conn_id: &str,
) -> ConnCtx {
    let conn_id = conn_id.to_string();
    let now = openclaw_state::now_ms();
    let p = &a.params;
    let node = a.node_commands.clone().map(|commands| NodeSession {
        display_name: p.client.display_name.clone(),
        platform: p.client.platform.clone(),
        version: p.client.version.clone(),
        device_family: p.client.device_family.clone(),
        model_identifier: p.client.model_identifier.clone(),
        client_id: p.client.id.clone(),
        client_mode: p.client.mode.clone(),
        caps: p.caps.clone().unwrap_or_default(),
        declared_commands: p.commands.clone().unwrap_or_default(),
        commands,
        path_env: p.path_env.clone(),
        connected_at_ms: now,
        host_stats: None,
    });
    let ctx = ConnCtx {
        conn_id: conn_id.clone(),
        role: a.role,
        device_id: a.device_id.clone(),
        device_token_auth: a.device_token_auth,
        scopes: a.scopes.clone(),
        name: p.client.display_name.clone().unwrap_or_else(|| p.client.id.clone()),
        remote_ip: crate::handshake::reported_ip(peer),
    };
    let client = Client {
        conn_id: conn_id.clone(),
        role: a.role,
        device_id: a.device_id.clone(),
        scopes: a.scopes.clone(),
        remote_ip: ctx.remote_ip.clone(),
        outbox: outbox.clone(),
        node: node.clone(),
        plugin_approver: crate::registry::presents_plugin_approvals(
            &p.client.id,
            p.caps.as_deref().unwrap_or_default(),
        ),
    };
    let mut registry = shared.registry();
    if let (Some(_), Some(device)) = (&node, &a.device_id) {
        // Invokes orphaned by its previous connection: what it re-sends arrives first.
        if registry.has_orphans(device) {
            expire_orphans_later(shared, device, crate::registry::RECONNECT_SETTLE);
        }
    }
    registry.add(client);
    // Operators get the presence list; nodes do not need it, and with thousands of nodes it
    // would make every node's hello-ok as large as the fleet.
    let presence = if node.is_some() { Vec::new() } else { registry.presence() };
    let hello = json!({
        "type": "hello-ok",
        "protocol": PROTOCOL_VERSION,
        "server": {"version": COMPAT_VERSION, "bootId": shared.boot_id, "connId": conn_id},
        "features": {"methods": *methods::METHODS, "events": methods::EVENTS},
        "snapshot": {
            "presence": presence,
            "health": {"ok": true, "ts": now},
            "stateVersion": {"presence": registry.presence_version, "health": 1},
            "uptimeMs": shared.started.elapsed().as_millis() as u64,
            "authMode": shared.config.auth.name(),
        },
        "auth": a.hello_auth,
        "policy": {
            "maxPayload": MAX_PAYLOAD,
            "maxBufferedBytes": crate::registry::MAX_BUFFERED_BYTES,
            "tickIntervalMs": shared.config.tick_interval.as_millis() as u64,
        },
    });
    outbox.send_frame(&Frame::Res(ResponseFrame::ok(req_id, hello)));
    if node.is_some() {
        outbox.send_event("voicewake.changed", json!({"triggers": []}));
        info!(
            "node connected node={} name={} commands={}",
            a.device_id.as_deref().unwrap_or("?"),
            ctx.name,
            a.node_commands.as_ref().map(|c| c.len()).unwrap_or(0)
        );
    }
    for n in &a.notices {
        registry.notify_pairing(n);
    }
    drop(registry);
    ctx
}
