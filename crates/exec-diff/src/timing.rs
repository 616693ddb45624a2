//! Where a run's time goes: wall time per phase (node start-up per profile, case directory
//! setup, shrinking) and the time each side spent waiting for each kind of invoke.
//!
//! The harness is part of the test command, so it has a time budget; these figures say which
//! part of a case to make cheaper. They are printed with `--timings` (on stderr, so the report
//! on stdout stays comparable between runs) and never decide anything.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// Accumulated durations by label; shared by every job of a run.
#[derive(Debug, Default)]
pub struct Timings {
    spans: Mutex<BTreeMap<String, Span>>,
}

/// The total and the count of one label.
#[derive(Clone, Copy, Debug, Default)]
struct Span {
    total: Duration,
    count: u64,
}

impl Timings {
    /// Adds one occurrence of `label` that took `took`.
    pub fn record(&self, label: impl Into<String>, took: Duration) {
        let mut spans = self.spans.lock().expect("timings lock");
        let span = spans.entry(label.into()).or_default();
        span.total += took;
        span.count += 1;
    }

    /// The total and the count recorded under `label`.
    pub fn get(&self, label: &str) -> (Duration, u64) {
        let spans = self.spans.lock().expect("timings lock");
        spans.get(label).map_or((Duration::ZERO, 0), |s| (s.total, s.count))
    }

    /// One line per label: count, total seconds, mean milliseconds.
    pub fn render(&self) -> String {
        let spans = self.spans.lock().expect("timings lock");
        let mut out = String::new();
        let _ = writeln!(out, "{:<48} {:>8} {:>10} {:>9}", "timing", "count", "total s", "mean ms");
        for (label, s) in spans.iter() {
            let mean = s.total.as_secs_f64() * 1000.0 / s.count.max(1) as f64;
            let _ = writeln!(out, "{label:<48} {:>8} {:>10.1} {mean:>9.1}", s.count, s.total.as_secs_f64());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_add_up_by_label() {
        let t = Timings::default();
        t.record("ours run system.run", Duration::from_millis(10));
        t.record("ours run system.run", Duration::from_millis(30));
        t.record("typescript set", Duration::from_millis(5));
        assert_eq!(t.get("ours run system.run"), (Duration::from_millis(40), 2));
        assert_eq!(t.get("missing"), (Duration::ZERO, 0));
        let text = t.render();
        assert!(text.contains("ours run system.run"), "{text}");
        assert!(text.lines().nth(1).is_some_and(|l| l.contains("20.0")), "mean of 10 and 30 ms: {text}");
    }
}
