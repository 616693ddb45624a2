//! Requests the gateway has not acknowledged yet, kept across reconnects.
//!
//! `node.invoke.result` (and the `node.event`s a command sends before it) are requests: the
//! gateway's response acknowledges them. A result written into a link that turns out to be
//! dead (half-open, a stalled gateway) is not delivered, and upstream's node host loses it.
//! Ours keeps every such request until its response arrives; when the session ends, the
//! unacknowledged ones move to the [`Outbox`] and the next session sends them again, in their
//! original order, before anything new. A gateway answers a result it no longer waits for with
//! `ignored: true` (upstream's `late invoke result ignored`), so a duplicate is harmless.
//!
//! The outbox is bounded ([`MAX_ENTRIES`], [`MAX_BYTES`]): past that the oldest entries are
//! dropped with a warning, so a gateway that never answers cannot grow the node's memory.

use std::collections::VecDeque;
use std::sync::Mutex;

use tracing::warn;

use crate::invoke::Outbound;
use crate::services::lock_recovering;

/// The most requests kept for re-sending.
pub const MAX_ENTRIES: usize = 1024;
/// The most bytes (frame text) kept for re-sending.
pub const MAX_BYTES: usize = 64 * 1024 * 1024;

/// Unacknowledged requests, in the order they were first sent.
#[derive(Debug, Default)]
pub(crate) struct Unacked {
    entries: VecDeque<Outbound>,
    bytes: usize,
}

impl Unacked {
    /// Remembers a request just sent (or not sent at all).
    pub fn push(&mut self, request: Outbound) {
        self.bytes += request.frame.len();
        self.entries.push_back(request);
        while self.entries.len() > MAX_ENTRIES || self.bytes > MAX_BYTES {
            let Some(dropped) = self.entries.pop_front() else { break };
            self.bytes -= dropped.frame.len();
            warn!(
                "node host dropped an unacknowledged {} (more than {MAX_ENTRIES} requests or {} MiB waiting for the gateway)",
                dropped.method,
                MAX_BYTES >> 20
            );
        }
    }

    /// The gateway answered request `id`: forget it. Returns whether it was ours.
    pub fn ack(&mut self, id: &str) -> bool {
        match self.entries.iter().position(|p| p.id == id) {
            Some(i) => {
                let done = self.entries.remove(i).expect("index from position");
                self.bytes -= done.frame.len();
                true
            }
            None => false,
        }
    }

    /// How many are waiting.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    fn drain(&mut self) -> impl Iterator<Item = Outbound> + '_ {
        self.bytes = 0;
        self.entries.drain(..)
    }
}

/// What one session leaves to the next: the requests still unacknowledged when it ended.
#[derive(Debug, Default)]
pub struct Outbox {
    carried: Mutex<Unacked>,
}

impl Outbox {
    /// Keeps `unacked` (then `unsent`, which never reached the socket) for the next session.
    pub(crate) fn keep(&self, mut unacked: Unacked, unsent: Vec<Outbound>) {
        let mut carried = lock_recovering(&self.carried);
        for request in unacked.drain().chain(unsent) {
            carried.push(request);
        }
    }

    /// Takes everything kept, oldest first.
    pub(crate) fn take(&self) -> Vec<Outbound> {
        lock_recovering(&self.carried).drain().collect()
    }

    /// How many requests wait for the next session.
    pub fn len(&self) -> usize {
        lock_recovering(&self.carried).len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::Bytes;

    fn request(id: &str, bytes: usize) -> Outbound {
        Outbound { id: id.into(), method: "node.invoke.result", frame: Bytes::from(vec![b' '; bytes]) }
    }

    #[test]
    fn acknowledged_requests_are_forgotten_and_the_rest_carried_in_order_within_bounds() {
        let mut unacked = Unacked::default();
        for i in 0..3 {
            unacked.push(request(&format!("r{i}"), 10));
        }
        assert!(unacked.ack("r1"));
        assert!(!unacked.ack("r1"), "an id is acknowledged once");
        let outbox = Outbox::default();
        outbox.keep(unacked, vec![request("late", 10)]);
        let ids: Vec<_> = outbox.take().into_iter().map(|o| o.id).collect();
        assert_eq!(ids, ["r0", "r2", "late"]);
        assert!(outbox.is_empty());

        let mut big = Unacked::default();
        for i in 0..(MAX_ENTRIES + 5) {
            big.push(request(&format!("b{i}"), 1));
        }
        assert_eq!(big.len(), MAX_ENTRIES, "the oldest are dropped past the bound");
        big.push(request("huge", MAX_BYTES));
        assert_eq!(big.len(), 1, "the byte bound drops older entries too");
        assert_eq!(big.bytes, MAX_BYTES);
    }
}
