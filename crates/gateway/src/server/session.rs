//! The life of one connection after `hello-ok`: requests, keepalive, and the close.
//!
//! Keepalive follows upstream (`src/gateway/websocket-keepalive.ts`): a WebSocket ping every
//! [`ping_interval`](crate::GatewayConfig::ping_interval) (25 s), and a pong due within
//! [`pong_timeout`](crate::GatewayConfig::pong_timeout) (25 s) of the ping. The deadline is a
//! timer of its own, so a silent peer is dropped 25 s after the ping that it did not answer, at
//! most 50 s after it went silent (the old check ran on the next ping tick and, losing a race
//! against that tick by a few microseconds, waited a whole extra interval: ~75 s).
//!
//! Two rules keep a live peer from being condemned by our own hiccups:
//! - Reading wins: the loop always takes frames that are already buffered before it looks at
//!   a timer, and anything heard from the peer after the ping counts as proof of life (upstream
//!   counts only the pong; a node busy sending results is plainly not dead).
//! - A timer that fires much later than it was due means this process was not running (SIGSTOP,
//!   a VM pause, a blocked runtime), not that the peer was silent: the peer gets a fresh ping
//!   and a full timeout instead of being dropped for our stall.
//!
//! When the server decides to close (pong timeout, repeated unauthorized calls, an oversized
//! frame), it keeps reading for a short [`CLOSE_DRAIN`] so that results a node sent before it
//! saw the close are still delivered to the operators waiting for them.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use openclaw_protocol::{Frame, ResponseFrame};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tracing::debug;

use super::WsStream;
use crate::methods::{self, ConnCtx};
use crate::registry::Outbox;
use crate::Shared;

/// How long the server keeps reading after it decided to close a connection, for results
/// that were already on their way.
pub const CLOSE_DRAIN: Duration = Duration::from_secs(2);

/// Why the authenticated loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The socket ended without a close frame (EOF or an error): nothing more will arrive.
    PeerGone,
    /// The peer sent a close frame, with this code (`None`: no status).
    PeerClosed(Option<u16>),
    /// The server closed the connection; the peer may still send what it had in flight.
    ServerClosed,
    /// The peer did not answer a ping in time: dropped without a close handshake, as upstream.
    Unresponsive,
}

impl Ending {
    /// How long a node's unanswered invokes wait for it to reconnect and re-send its results
    /// after this ending; `None` when it said goodbye on purpose (a close frame with no status,
    /// 1000 or 1001: it is shutting down and will not re-send), so its callers are told at once,
    /// as upstream does. A dead link gets the long window (the node needs time to notice and
    /// come back), any other end the short one.
    pub fn orphan_grace(self) -> Option<Duration> {
        match self {
            Ending::PeerClosed(None | Some(1000 | 1001)) => None,
            Ending::Unresponsive => Some(crate::registry::ORPHAN_GRACE),
            Ending::PeerGone | Ending::PeerClosed(_) | Ending::ServerClosed => {
                Some(crate::registry::ORPHAN_GRACE_SHORT)
            }
        }
    }
}

/// The keepalive timers of one connection.
struct Keepalive {
    ping_every: Duration,
    pong_timeout: Duration,
    /// How late a timer may fire before we blame our own stall rather than the peer.
    stall_slack: Duration,
    next_ping: Instant,
    /// Set while a ping is unanswered: when the pong is due, and when the ping went out.
    pong_due: Option<(Instant, Instant)>,
    last_heard: Instant,
}

/// What a keepalive timer asks the loop to do.
enum Tick {
    Ping,
    Nothing,
    Drop,
}

impl Keepalive {
    fn new(ping_every: Duration, pong_timeout: Duration) -> Keepalive {
        let now = Instant::now();
        Keepalive {
            ping_every,
            pong_timeout,
            stall_slack: (pong_timeout.min(ping_every) / 5).max(Duration::from_millis(50)),
            next_ping: now + ping_every,
            pong_due: None,
            last_heard: now,
        }
    }

    /// The next moment a timer is due.
    fn next_deadline(&self) -> Instant {
        let mut at = self.next_ping;
        if let Some((due, _)) = self.pong_due {
            at = at.min(due);
        }
        at
    }

    /// Anything from the peer at `now`: it is alive.
    fn heard(&mut self, now: Instant, pong: bool) {
        self.last_heard = now;
        if pong {
            self.pong_due = None;
        }
    }

    /// A timer fired at `now` for `deadline`.
    fn fire(&mut self, deadline: Instant, now: Instant, conn: &str) -> Tick {
        let late = now.saturating_duration_since(deadline);
        if late > self.stall_slack {
            // We were not running: the peer had no chance to answer. Start over.
            debug!("keepalive timer of {conn} fired {late:?} late (the gateway was stalled); pinging afresh");
            self.pong_due = Some((now + self.pong_timeout, now));
            self.next_ping = now + self.ping_every;
            return Tick::Ping;
        }
        if let Some((due, sent)) = self.pong_due {
            if now >= due {
                if self.last_heard > sent {
                    // It spoke after the ping (the pong may be queued behind its frames).
                    self.pong_due = None;
                } else {
                    return Tick::Drop;
                }
            }
        }
        if now >= self.next_ping {
            self.next_ping = now + self.ping_every;
            if self.pong_due.is_none() {
                self.pong_due = Some((now + self.pong_timeout, now));
                return Tick::Ping;
            }
        }
        Tick::Nothing
    }
}

/// After hello-ok: requests, pings, until the socket closes or the server closes it.
pub(super) async fn serve_authenticated(
    shared: &Arc<Shared>,
    stream: &mut WsStream,
    outbox: &Outbox,
    ctx: &ConnCtx,
) -> Ending {
    let ctx = Arc::new(ctx.clone());
    let mut keepalive = Keepalive::new(shared.config.ping_interval, shared.config.pong_timeout);
    let mut unauthorized_streak = 0u32;
    loop {
        let deadline = keepalive.next_deadline();
        let msg = tokio::select! {
            biased;
            m = stream.next() => m,
            _ = tokio::time::sleep_until(deadline) => {
                match keepalive.fire(deadline, Instant::now(), &ctx.conn_id) {
                    Tick::Ping => outbox.ping(),
                    Tick::Nothing => {}
                    Tick::Drop => {
                        debug!("no pong from {} within {:?}; terminating", ctx.conn_id, keepalive.pong_timeout);
                        outbox.terminate();
                        return Ending::Unresponsive;
                    }
                }
                continue;
            }
        };
        let msg = match msg {
            None => return Ending::PeerGone,
            Some(Err(WsError::Capacity(e))) => {
                // As upstream (the `ws` library): 1009 with no reason.
                debug!("frame from {} over the limit: {e}", ctx.conn_id);
                outbox.close(1009, "");
                return Ending::ServerClosed;
            }
            Some(Err(_)) => return Ending::PeerGone,
            Some(Ok(m)) => m,
        };
        keepalive.heard(Instant::now(), matches!(msg, Message::Pong(_)));
        if outbox.is_closed() {
            return Ending::ServerClosed;
        }
        let keep = match msg {
            Message::Text(text) => handle_text(shared, &ctx, outbox, text.as_str(), &mut unauthorized_streak).await,
            Message::Close(frame) => return Ending::PeerClosed(frame.map(|f| u16::from(f.code))),
            _ => true,
        };
        if !keep {
            return Ending::ServerClosed;
        }
    }
}

/// After the server closed a node's connection: reads for at most [`CLOSE_DRAIN`] (until the
/// peer's close or EOF) and delivers the invoke results that were already on their way.
pub(super) async fn drain_after_close(shared: &Arc<Shared>, stream: &mut WsStream, outbox: &Outbox, ctx: &ConnCtx) {
    let ctx = Arc::new(ctx.clone());
    let until = Instant::now() + CLOSE_DRAIN;
    loop {
        let msg = match tokio::time::timeout_at(until, stream.next()).await {
            Ok(Some(Ok(m))) => m,
            _ => return,
        };
        match msg {
            Message::Text(text) => {
                let Ok(Frame::Req(req)) = Frame::parse(text.as_str()) else { continue };
                if req.method == "node.invoke.result" && methods::authorize(&ctx, &req.method).is_ok() {
                    // The answer cannot reach a closed socket; the delivery is what matters.
                    methods::answer(shared, &ctx, outbox, req).await;
                }
            }
            Message::Close(_) => return,
            _ => {}
        }
    }
}

/// One text frame. `false` when the connection is to be closed.
async fn handle_text(
    shared: &Arc<Shared>,
    ctx: &Arc<ConnCtx>,
    outbox: &Outbox,
    text: &str,
    unauthorized_streak: &mut u32,
) -> bool {
    let req = match Frame::parse(text) {
        Ok(Frame::Req(r)) => r,
        _ => {
            debug!("ignoring a non-request frame from {}", ctx.conn_id);
            return true;
        }
    };
    match methods::authorize(ctx, &req.method) {
        Ok(()) => {
            *unauthorized_streak = 0;
            if methods::runs_inline(&req.method) {
                // Quick node reports (results above all) are handled in arrival order, so
                // a result read before the socket closed is delivered before the node's
                // pending invokes are failed.
                methods::answer(shared, ctx, outbox, req).await;
            } else {
                let (shared, ctx, outbox) = (shared.clone(), ctx.clone(), outbox.clone());
                tokio::spawn(async move {
                    methods::answer(&shared, &ctx, &outbox, req).await;
                });
            }
            true
        }
        Err(error) => {
            let role_refusal = error.message.starts_with("unauthorized role");
            outbox.send_frame(&Frame::Res(ResponseFrame::err(&req.id, error)));
            if role_refusal {
                *unauthorized_streak += 1;
                if *unauthorized_streak > 10 {
                    outbox.close(1008, "repeated unauthorized calls");
                    return false;
                }
            } else {
                *unauthorized_streak = 0;
            }
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    /// A goodbye fails a node's invokes at once (upstream's behaviour); a dead link waits
    /// longest for re-sent results; any other end waits briefly.
    #[test]
    fn orphan_grace_by_ending() {
        use crate::registry::{ORPHAN_GRACE, ORPHAN_GRACE_SHORT};
        for goodbye in [None, Some(1000), Some(1001)] {
            assert_eq!(Ending::PeerClosed(goodbye).orphan_grace(), None, "{goodbye:?}");
        }
        assert_eq!(Ending::Unresponsive.orphan_grace(), Some(ORPHAN_GRACE));
        for other in
            [Ending::PeerGone, Ending::PeerClosed(Some(4000)), Ending::PeerClosed(Some(1011)), Ending::ServerClosed]
        {
            assert_eq!(other.orphan_grace(), Some(ORPHAN_GRACE_SHORT), "{other:?}");
        }
    }

    #[test]
    fn a_silent_peer_is_condemned_one_timeout_after_the_ping() {
        let start = Instant::now();
        let mut k = Keepalive::new(25 * S, 25 * S);
        // The ping at 25 s.
        let ping = k.next_deadline();
        assert!(ping - start >= 25 * S && ping - start < 26 * S);
        assert!(matches!(k.fire(ping, ping, "c"), Tick::Ping));
        // The pong deadline at 50 s (not the ping after it).
        let d = k.next_deadline();
        assert_eq!(d - ping, 25 * S);
        assert!(matches!(k.fire(d, d, "c"), Tick::Drop));
    }

    #[test]
    fn a_peer_heard_after_the_ping_is_not_dropped() {
        let mut k = Keepalive::new(25 * S, 25 * S);
        let d = k.next_deadline();
        assert!(matches!(k.fire(d, d, "c"), Tick::Ping));
        k.heard(d + S, false);
        let d = k.next_deadline();
        assert!(matches!(k.fire(d, d, "c"), Tick::Ping), "spoke after the ping: pinged again, not dropped");
    }

    #[test]
    fn a_late_timer_gives_a_fresh_ping_instead_of_a_drop() {
        let mut k = Keepalive::new(25 * S, 25 * S);
        let d = k.next_deadline();
        assert!(matches!(k.fire(d, d, "c"), Tick::Ping));
        let d = k.next_deadline();
        // The process was stopped for 90 s: the deadline is seen 90 s late.
        let now = d + 90 * S;
        assert!(matches!(k.fire(d, now, "c"), Tick::Ping));
        assert_eq!(k.next_deadline(), now + 25 * S);
    }
}
