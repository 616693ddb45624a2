//! Shared-secret checks and the limiter that slows down guessing.
//!
//! A failed shared-secret or device-token check counts against the client's IP address. Past
//! [`RateLimiter::MAX_FAILURES`] failures inside [`RateLimiter::WINDOW`], that address is
//! refused with `AUTH_RATE_LIMITED` (and a `retryAfterMs`) until the lockout ends, whatever it
//! sends, so a correct guess inside the lockout is not confirmed either. A success clears the
//! address's record.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Failure counts per client address.
#[derive(Debug)]
pub struct RateLimiter {
    entries: HashMap<IpAddr, Entry>,
    max_failures: u32,
    window: Duration,
    lockout: Duration,
}

#[derive(Debug)]
struct Entry {
    window_start: Instant,
    failures: u32,
    locked_until: Option<Instant>,
}

impl Default for RateLimiter {
    fn default() -> Self {
        Self::new(Self::MAX_FAILURES, Self::WINDOW, Self::LOCKOUT)
    }
}

impl RateLimiter {
    /// Failures allowed per window before the lockout starts.
    pub const MAX_FAILURES: u32 = 10;
    /// The counting window.
    pub const WINDOW: Duration = Duration::from_secs(60);
    /// How long a locked-out address is refused.
    pub const LOCKOUT: Duration = Duration::from_secs(300);
    /// Addresses tracked at most; the oldest windows are dropped first beyond this.
    const MAX_ENTRIES: usize = 65_536;

    /// A limiter with explicit parameters (tests use short ones).
    pub fn new(max_failures: u32, window: Duration, lockout: Duration) -> Self {
        RateLimiter { entries: HashMap::new(), max_failures, window, lockout }
    }

    /// `Some(retry_after)` while `ip` is locked out.
    pub fn locked(&mut self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let entry = self.entries.get_mut(&ip)?;
        match entry.locked_until {
            Some(until) if until > now => Some(until - now),
            Some(_) => {
                self.entries.remove(&ip);
                None
            }
            None => None,
        }
    }

    /// Records a failure; returns the lockout when this failure starts one.
    pub fn fail(&mut self, ip: IpAddr, now: Instant) -> Option<Duration> {
        if self.entries.len() >= Self::MAX_ENTRIES && !self.entries.contains_key(&ip) {
            self.prune(now);
        }
        let entry = self.entries.entry(ip).or_insert(Entry { window_start: now, failures: 0, locked_until: None });
        if now.duration_since(entry.window_start) > self.window {
            entry.window_start = now;
            entry.failures = 0;
        }
        entry.failures += 1;
        if entry.failures > self.max_failures {
            entry.locked_until = Some(now + self.lockout);
            return Some(self.lockout);
        }
        None
    }

    /// Clears `ip` after a successful authentication.
    pub fn succeed(&mut self, ip: IpAddr) {
        self.entries.remove(&ip);
    }

    fn prune(&mut self, now: Instant) {
        let (window, lockout) = (self.window, self.lockout);
        self.entries.retain(|_, e| match e.locked_until {
            Some(until) => until > now,
            None => now.duration_since(e.window_start) <= window.max(lockout),
        });
        if self.entries.len() >= Self::MAX_ENTRIES {
            self.entries.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_out_after_too_many_failures_and_recovers() {
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        let mut l = RateLimiter::new(3, Duration::from_secs(60), Duration::from_secs(10));
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(l.fail(ip, t0), None);
        }
        assert_eq!(l.locked(ip, t0), None);
        assert_eq!(l.fail(ip, t0), Some(Duration::from_secs(10)));
        assert_eq!(l.locked(ip, t0 + Duration::from_secs(4)), Some(Duration::from_secs(6)));
        assert_eq!(l.locked(other, t0), None);
        assert_eq!(l.locked(ip, t0 + Duration::from_secs(11)), None);
        // A fresh window after the lockout.
        assert_eq!(l.fail(ip, t0 + Duration::from_secs(12)), None);
        l.succeed(ip);
        assert_eq!(l.locked(ip, t0 + Duration::from_secs(12)), None);
    }

    #[test]
    fn window_resets_the_count() {
        let ip: IpAddr = "::1".parse().unwrap();
        let mut l = RateLimiter::new(2, Duration::from_secs(5), Duration::from_secs(10));
        let t0 = Instant::now();
        l.fail(ip, t0);
        l.fail(ip, t0);
        assert_eq!(l.fail(ip, t0 + Duration::from_secs(6)), None);
    }
}
