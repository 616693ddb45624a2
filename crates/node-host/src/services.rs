//! What the node's commands share: the state database, the state paths, the node's own
//! `openclaw.json`, the gateway's skill binaries and the node's process environment.
//!
//! These are services, not dispatch, so they live apart from [`crate::invoke`]: a command
//! gets them through its constructor (`commands::builtin(&services)`) and never reaches
//! into another command's module for them. The exec approvals document, which both
//! `system.execApprovals.*` and `system.run` read and write, is accessed only through the
//! methods here, so there is one reader, one compare-and-swap writer and one retry policy.
//!
//! Lock poisoning has one policy in this crate: a lock whose holder panicked is recovered
//! ([`lock_recovering`]), because every critical section here is a short read or a
//! whole-value replace that leaves the data consistent, and a node that stops serving
//! because one command panicked would be worse than the panic.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use openclaw_exec::approvals;
use openclaw_protocol::node::InvokeError;
use openclaw_state::exec_approvals::{hash_of, CasError};
use openclaw_state::StateError;
use serde_json::{json, Value};

/// The PATH used when the process has none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Locks `mutex`, recovering it if a previous holder panicked (see the module doc for why
/// that is safe here). Never hold the guard across an `.await`.
pub fn lock_recovering<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The node's own process environment, fixed at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeEnv {
    /// The effective PATH (never empty): what commands inherit and resolve executables on.
    pub path: String,
    /// PATH was bootstrapped here ([`crate::path_env`]): commands also get the marker.
    pub bootstrapped: bool,
}

impl NodeEnv {
    /// The effective PATH: the process PATH bootstrapped as upstream's node host does
    /// ([`crate::path_env::bootstrap`]), or the default when it ends up empty.
    pub fn from_process() -> Self {
        let env = |k: &str| std::env::var(k).ok();
        let is_dir = |p: &std::path::Path| p.is_dir();
        let inputs = crate::path_env::PathInputs {
            env: &env,
            home: std::env::var_os("HOME").map(std::path::PathBuf::from).unwrap_or_else(|| "/".into()),
            exe: std::env::current_exe().ok(),
            is_dir: &is_dir,
        };
        let (path, bootstrapped) = match crate::path_env::bootstrap(&inputs) {
            Some(path) => (path, true),
            None => (env("PATH").unwrap_or_default(), false),
        };
        let path = if path.trim().is_empty() { DEFAULT_PATH.to_string() } else { path };
        NodeEnv { path, bootstrapped }
    }
}

/// What the built-in commands share: the state database, the state paths, the node's own
/// `openclaw.json`, and the gateway's skill binaries.
pub struct NodeServices {
    /// The state database, shared with the connection (device tokens). Lock it through
    /// [`NodeServices::db`], which applies the crate's poisoning policy.
    pub db: Arc<Mutex<openclaw_state::StateDb>>,
    /// Where the node keeps its state (the approvals socket path is derived from it).
    pub paths: openclaw_state::StatePaths,
    /// The node's own `openclaw.json`, read once at start-up (`tools.exec` policy, safe bins).
    pub config: openclaw_state::config::OpenClawConfig,
    /// The gateway's skill binaries, refreshed by the connection while commands read them.
    pub skill_bins: Arc<SkillBins>,
    /// The `system.run` concurrency limit and its bounded queue.
    pub runs: crate::run_limit::RunLimiter,
}

/// The binary names of the gateway's installed skills (`skills.bins`), which `autoAllowSkills`
/// lets run by bare name. The session refreshes them on connect and every 90 s; the list is
/// emptied on reconnect, and a failed refresh keeps the previous one.
#[derive(Debug, Default)]
pub struct SkillBins {
    names: Mutex<Vec<String>>,
}

impl SkillBins {
    /// The current names (lower-cased).
    pub fn names(&self) -> Vec<String> {
        lock_recovering(&self.names).clone()
    }

    /// Replaces the list.
    pub fn set(&self, names: Vec<String>) {
        let names = names.into_iter().map(|n| n.trim().to_ascii_lowercase()).filter(|n| !n.is_empty()).collect();
        *lock_recovering(&self.names) = names;
    }
}

/// The exec approvals document as stored: raw text (if any) and its normalised tree.
pub struct ApprovalsSnapshot {
    /// The stored text; `None` before anything was written (its hash is the empty hash).
    pub raw: Option<String>,
    /// The normalised document (the empty document when nothing is stored).
    pub doc: Value,
}

/// Why an edit of the approvals document (allow-always, usage stamps) could not be written.
/// The texts end up inside `SYSTEM_RUN_DENIED: approval state could not be persisted (…)`.
#[derive(Debug, thiserror::Error)]
pub enum ApprovalsEditError {
    /// The stored document could not be read or is malformed.
    #[error("{}", .0.message)]
    Read(InvokeError),
    /// The database refused the write.
    #[error(transparent)]
    Store(#[from] StateError),
    /// Another writer won the compare-and-swap twice in a row.
    #[error("the approvals document kept changing")]
    KeptChanging,
}

impl NodeServices {
    /// Locks the database for a short synchronous read or write (never across an await).
    pub fn db(&self) -> MutexGuard<'_, openclaw_state::StateDb> {
        lock_recovering(&self.db)
    }

    /// Where the approvals socket would live (`<stateDir>/exec-approvals.sock`), as recorded
    /// in the document.
    pub fn approvals_socket_path(&self) -> String {
        self.paths.join("exec-approvals.sock").to_string_lossy().into_owned()
    }

    /// Reads the stored approvals document as upstream does: a row that is not a valid
    /// document reads as the deny-everything fallback ([`approvals::parse_stored`]).
    pub fn read_approvals(&self) -> Result<ApprovalsSnapshot, InvokeError> {
        let raw = self
            .db()
            .exec_approvals_raw()
            .map_err(|e| InvokeError::unavailable(format!("ExecApprovalsStoreUnavailableError: {e}")))?;
        let doc = match &raw {
            Some(text) => approvals::parse_stored(text),
            None => approvals::normalize(&json!({"version": 1, "agents": {}})).expect("the empty document is valid"),
        };
        Ok(ApprovalsSnapshot { raw, doc })
    }

    /// Serialises `doc` and writes it if the stored text still hashes to `base_hash`; returns
    /// the text written.
    pub fn write_approvals(&self, doc: &Value, base_hash: &str) -> Result<String, CasError> {
        let raw = approvals::serialize(doc);
        self.db().write_exec_approvals(&raw, base_hash)?;
        Ok(raw)
    }

    /// Applies `edit` to the current approvals document and writes it back (compare-and-swap,
    /// retried once when another writer got there first). `edit` says whether it changed
    /// anything; nothing is written when it did not.
    pub fn edit_approvals(&self, mut edit: impl FnMut(&mut Value) -> bool) -> Result<(), ApprovalsEditError> {
        for _ in 0..2 {
            let mut snap = self.read_approvals().map_err(ApprovalsEditError::Read)?;
            if !edit(&mut snap.doc) {
                return Ok(());
            }
            approvals::ensure_socket(&mut snap.doc, &self.approvals_socket_path());
            let expected = hash_of(snap.raw.as_deref());
            match self.write_approvals(&snap.doc, &expected) {
                Ok(_) => return Ok(()),
                Err(CasError::Changed) => continue,
                Err(CasError::State(e)) => return Err(ApprovalsEditError::Store(e)),
            }
        }
        Err(ApprovalsEditError::KeptChanging)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poisoned_lock_is_recovered_with_its_data() {
        let bins = Arc::new(SkillBins::default());
        bins.set(vec![" Gog ".into(), "".into()]);
        let poisoner = bins.clone();
        let _ = std::thread::spawn(move || {
            let _guard = poisoner.names.lock().unwrap();
            panic!("poison the lock");
        })
        .join();
        assert!(bins.names.is_poisoned());
        assert_eq!(bins.names(), vec!["gog"]);
    }
}
