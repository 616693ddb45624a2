//! How many `system.run` processes run at once, and how many wait.
//!
//! Without a limit, 10,000 concurrent invokes started 6,976 processes and the other 3,024
//! failed for lack of file descriptors (each child holds pipes). The node now runs at most
//! `limit` commands at once (`OPENCLAW_NODE_MAX_CONCURRENT_RUNS`, default
//! [`DEFAULT_MAX_CONCURRENT_RUNS`]); further requests queue, at most 16 × `limit` of them,
//! and a request beyond that is refused at once with [`Busy`], which says what to change.
//! A queued request still honours `node.invoke.cancel` and disconnects.

use std::sync::atomic::{AtomicUsize, Ordering};

use openclaw_protocol::node::InvokeError;
use tokio::sync::{watch, Semaphore, SemaphorePermit};

/// Commands that run at once unless configured otherwise: well inside a 1,024-descriptor
/// limit (a child costs the node about three), and more than two cores can keep busy.
pub const DEFAULT_MAX_CONCURRENT_RUNS: usize = 128;

/// How many requests may wait per running slot.
const QUEUE_PER_SLOT: usize = 16;

/// The node is running its limit and the queue is full.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("node is busy: {limit} system.run commands are running and {queued} are queued (the most allowed; set OPENCLAW_NODE_MAX_CONCURRENT_RUNS to change the limit); retry later")]
pub struct Busy {
    /// The concurrency limit.
    pub limit: usize,
    /// The queue bound.
    pub queued: usize,
}

impl From<Busy> for InvokeError {
    fn from(busy: Busy) -> Self {
        InvokeError::unavailable(busy.to_string())
    }
}

/// Run slots with a bounded queue in front of them.
#[derive(Debug)]
pub struct RunLimiter {
    slots: Semaphore,
    limit: usize,
    queue: usize,
    waiting: AtomicUsize,
}

impl Default for RunLimiter {
    fn default() -> Self {
        RunLimiter::new(DEFAULT_MAX_CONCURRENT_RUNS)
    }
}

/// Counts a request as queued for as long as it waits.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl RunLimiter {
    /// `limit` concurrent runs (at least 1) and a queue of 16 × `limit`.
    pub fn new(limit: usize) -> Self {
        let limit = limit.max(1);
        RunLimiter { slots: Semaphore::new(limit), limit, queue: limit * QUEUE_PER_SLOT, waiting: AtomicUsize::new(0) }
    }

    /// The concurrency limit.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Waits for a slot: at once when one is free, after queueing when the queue has room,
    /// never when it is full ([`Busy`]). A cancel while queued ends the wait.
    pub async fn acquire(&self, cancel: &mut watch::Receiver<bool>) -> Result<SemaphorePermit<'_>, InvokeError> {
        if let Ok(permit) = self.slots.try_acquire() {
            return Ok(permit);
        }
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.queue {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(Busy { limit: self.limit, queued: self.queue }.into());
        }
        let _waiting = Waiting(&self.waiting);
        tokio::select! {
            permit = self.slots.acquire() => permit.map_err(|_| InvokeError::unavailable("node is shutting down")),
            _ = cancel.wait_for(|c| *c) => Err(InvokeError::unavailable("invocation cancelled")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt;

    #[tokio::test(flavor = "current_thread")]
    async fn runs_beyond_the_limit_queue_and_beyond_the_queue_are_refused() {
        let limiter = RunLimiter::new(2);
        let (_tx, rx) = watch::channel(false);
        let a = limiter.acquire(&mut rx.clone()).await.unwrap();
        let b = limiter.acquire(&mut rx.clone()).await.unwrap();
        // 32 may queue; the 33rd is refused at once.
        let queued: Vec<_> = (0..32)
            .map(|_| {
                let mut rx = rx.clone();
                let limiter = &limiter;
                Box::pin(async move { limiter.acquire(&mut rx).await.map(drop) })
            })
            .collect();
        let mut queued = futures_util::future::join_all(queued);
        assert!((&mut queued).now_or_never().is_none());
        let err = limiter.acquire(&mut rx.clone()).await.unwrap_err();
        assert_eq!(err.code, openclaw_protocol::ErrorCode::Unavailable);
        assert!(err.message.starts_with("node is busy: 2 system.run commands are running and 32 are queued"));
        drop(a);
        let done = tokio::time::timeout(std::time::Duration::from_secs(5), queued).await.unwrap();
        assert!(done.iter().all(Result::is_ok), "every queued run got a slot in turn");

        // A cancel ends the wait.
        drop(b);
        let _c = limiter.acquire(&mut rx.clone()).await.unwrap();
        let _d = limiter.acquire(&mut rx.clone()).await.unwrap();
        let (cancel_tx, mut cancel_rx) = watch::channel(false);
        let wait = limiter.acquire(&mut cancel_rx);
        tokio::pin!(wait);
        assert!(wait.as_mut().now_or_never().is_none());
        cancel_tx.send(true).unwrap();
        assert_eq!(wait.await.unwrap_err().message, "invocation cancelled");
    }
}
