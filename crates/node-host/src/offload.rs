//! Running a command's CPU-bound work off the runtime thread, with a deadline.
//!
//! The node host runs one current-thread tokio runtime (it must idle in a few MB). Anything
//! that computes on input a caller controls (decoding params, shell analysis, allowlist
//! matching, PATH lookups of many names, normalising an approvals document) would stall
//! reading, pings, ticks and every other invoke if it ran there. [`off_thread`] moves such
//! work to tokio's blocking pool, a few at a time per [`Lane`], and gives up after
//! [`TIME_BOUND`]: the caller then fails closed with an error naming the bound. The work
//! itself is bounded too (exec's shell analysis stops at 128 KiB and 1 s of parsing, globs
//! match in linear time), so an abandoned thread finishes soon after.

use std::sync::OnceLock;
use std::time::Duration;

use tokio::sync::Semaphore;

/// How long one piece of analysis may take before the request is refused.
pub const TIME_BOUND: Duration = Duration::from_secs(5);

/// Where a piece of work queues. Each lane runs a few jobs at once and the rest wait their turn
/// (asynchronously), which keeps the number of threads (and their memory) small under a flood
/// of requests; separate lanes keep a flood of slow policy analyses from delaying a cheap
/// `system.which`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// Exec policy: shell analysis, allowlist matching, approvals documents (8 at once).
    Policy,
    /// Cheap lookups: decoding params, `system.which` (4 at once).
    Lookup,
}

impl Lane {
    fn slots(self) -> &'static Semaphore {
        static POLICY: OnceLock<Semaphore> = OnceLock::new();
        static LOOKUP: OnceLock<Semaphore> = OnceLock::new();
        match self {
            Lane::Policy => POLICY.get_or_init(|| Semaphore::new(8)),
            Lane::Lookup => LOOKUP.get_or_init(|| Semaphore::new(4)),
        }
    }
}

/// The analysis did not finish within [`TIME_BOUND`] (or the pool is gone).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} exceeded its time bound of {} s", .bound.as_secs_f32())]
pub struct Overrun {
    /// What was being computed (`"policy analysis"`, `"system.which lookup"`).
    pub what: &'static str,
    /// The bound that was exceeded.
    pub bound: Duration,
}

/// Runs `work` on a blocking thread and waits at most [`TIME_BOUND`] for it. A panic inside
/// `work` resumes on the caller, so the dispatcher's panic guard still answers the invoke.
pub async fn off_thread<T, F>(lane: Lane, what: &'static str, work: F) -> Result<T, Overrun>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    off_thread_within(lane, what, TIME_BOUND, work).await
}

/// [`off_thread`] with an explicit bound (tests use a tiny one).
pub async fn off_thread_within<T, F>(lane: Lane, what: &'static str, bound: Duration, work: F) -> Result<T, Overrun>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let overrun = Overrun { what, bound };
    // The semaphore is never closed, so acquiring only fails if it were; treat that as an overrun.
    let Ok(permit) = lane.slots().acquire().await else { return Err(overrun) };
    let task = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        work()
    });
    match tokio::time::timeout(bound, task).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(join)) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
        Ok(Err(_)) | Err(_) => Err(overrun),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn slow_work_is_refused_at_the_bound_while_the_runtime_keeps_running() {
        let ticker = tokio::spawn(async {
            let mut n = 0u32;
            for _ in 0..10 {
                tokio::time::sleep(Duration::from_millis(20)).await;
                n += 1;
            }
            n
        });
        let started = std::time::Instant::now();
        let err = off_thread_within(Lane::Policy, "test analysis", Duration::from_millis(300), || {
            std::thread::sleep(Duration::from_secs(2));
        })
        .await
        .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(err.to_string(), "test analysis exceeded its time bound of 0.3 s");
        assert_eq!(ticker.await.unwrap(), 10, "the runtime thread kept running");
        assert_eq!(off_thread(Lane::Lookup, "quick", || 41 + 1).await, Ok(42));
    }
}
