//! `POST /act` and its hooks over raw CDP (spec/browser.md §1.5, §3.5): what upstream does
//! with Playwright locators, done with `DOM.*`, `Input.*` and `Runtime.callFunctionOn`.
//!
//! - [`action`]: the action types; [`request`]: the body → action normalisation with upstream's 400/403 codes (pure).
//! - `element`: finding a ref or selector and Playwright-style actionability (visible,
//!   enabled, editable, not covered), polled until the timeout.
//! - `keys` / `input`: the US key table, chords, mouse and keyboard events.
//! - `forms`: fill, checkboxes and `<select>`.
//! - `run`: executing one action or a batch; `wait` and `script` the wait conditions and
//!   `evaluate`; `dialogs` the per-tab dialog record; `upload` the file-chooser hook.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::control::Live;

pub mod action;
pub(crate) mod dialogs;
mod element;
mod forms;
mod input;
mod keys;
pub mod request;
pub(crate) mod run;
mod script;
pub(crate) mod upload;
mod values;
mod wait;

pub use request::{check, Act, Action, Elem};

/// Per-browser state the act routes keep beside the CDP connection: each tab's dialogs, and
/// which file-chooser arming is the newest per tab (a newer one supersedes the older).
#[derive(Debug, Default)]
pub(crate) struct ActState {
    dialogs: Mutex<HashMap<String, dialogs::DialogState>>,
    dialog_opened: tokio::sync::Notify,
    upload_arms: Mutex<HashMap<String, u64>>,
}

impl ActState {
    /// Forgets a tab that is gone.
    pub(crate) fn forget(&self, target: &str) {
        self.dialogs.lock().unwrap_or_else(|p| p.into_inner()).remove(target);
        self.upload_arms.lock().unwrap_or_else(|p| p.into_inner()).remove(target);
    }
}

/// The tab an action runs in: the connection, the page's flat session and its target id.
#[derive(Clone, Copy)]
pub(crate) struct Page<'a> {
    pub live: &'a Live,
    pub session: &'a str,
    pub target: &'a str,
}
