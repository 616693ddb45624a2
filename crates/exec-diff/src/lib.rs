//! A generative differential harness for `system.run` and `system.run.prepare`.
//!
//! Sixty hand-picked cases showed no difference between our node host and the TypeScript one
//! while wider runs showed dozens (issue 11), so this crate generates the cases instead: a
//! seeded grammar of commands ([`gen::command`]) crossed with approvals documents
//! ([`gen::approvals`]), node configurations and approval flows ([`gen`]). Each case goes to
//! both node hosts under the same conditions through a scripted relay in front of each
//! ([`relay`]), so fields the real Gateway strips can be sent too; the answers, `exec.*`
//! events, prepared plans, persisted allow-always entries and later runs are normalised and
//! compared ([`compare`], [`run`]), sorted into classes by severity ([`classify`]), and the
//! deliberate differences listed in one place ([`known`]) are counted apart ([`report`]); each class's example is shrunk by re-running smaller
//! variants ([`shrink`]); [`timing`] says where a run's time goes, and
//! [`schedule`] shards cases over several pairs of node hosts.
//!
//! Only harmless programs run (printers, readers of the files the harness creates, missing
//! programs), and writes go only to each case's own directory.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod classify;
pub mod compare;
pub mod gen;
pub mod known;
/// The scripted gateway each node dials (it lives in the test kit: file-command tests use it too).
pub use openclaw_testkit::relay;
pub mod report;
pub mod rng;
pub mod run;
pub mod schedule;
pub mod shrink;
pub mod timing;
