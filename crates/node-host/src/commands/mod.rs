//! The node's built-in commands, one folder per command family, and the list of them.
//!
//! This is the one place that names concrete commands: [`builtin`] is what `node run`
//! serves (and advertises), [`stateless`] the subset that needs no state. Adding a command is
//! one new module implementing [`crate::invoke::Command`] plus one line in [`builtin`], with
//! its params tests beside it. Commands share what they need through
//! [`crate::services::NodeServices`], never through each other's modules.
//!
//! Families: [`system`] (`system.which`, `system.run`, `system.run.prepare`,
//! `system.execApprovals.get` / `.set`), [`host_files`] (`fs.listDir`, `terminal.upload`), [`notify`]
//! (`system.notify`, when `notify-send` is there), [`file`] (the file-transfer plugin's commands:
//! `file.stat`, `file.fetch`, `dir.list`, `dir.fetch`, `file.write`), [`browser`] (`browser.proxy`,
//! `browser.proxy.upload.v1`, when a Chromium is installed).

pub mod browser;
pub mod file;
pub mod host_files;
pub mod notify;
pub mod system;

use std::sync::Arc;

use crate::invoke::CommandRegistry;
use crate::services::NodeServices;

/// Every command this build implements, sharing `services`.
pub fn builtin(services: &Arc<NodeServices>) -> CommandRegistry {
    let mut r = CommandRegistry::default();
    r.register(Arc::new(system::which::SystemWhich));
    r.register(Arc::new(system::approvals::ExecApprovalsGet(services.clone())));
    r.register(Arc::new(system::approvals::ExecApprovalsSet(services.clone())));
    r.register(Arc::new(system::run::SystemRun(services.clone())));
    r.register(Arc::new(system::run::SystemRunPrepare(services.clone())));
    r.register(Arc::new(host_files::list_dir::ListDir));
    r.register(Arc::new(host_files::terminal_upload::TerminalUpload));
    r.register(Arc::new(file::stat::FileStat));
    r.register(Arc::new(file::fetch::FileFetch));
    r.register(Arc::new(file::write::FileWrite));
    r.register(Arc::new(file::list::DirList));
    r.register(Arc::new(file::fetch_dir::DirFetch));
    if notify::available(&services.config, &crate::services::NodeEnv::from_process().path) {
        r.register(Arc::new(notify::SystemNotify));
    }
    if let Some(host) = browser::BrowserHost::from_config(&services.config, &services.paths.state_dir) {
        r.register(Arc::new(browser::BrowserProxy(host.clone())));
        r.register(Arc::new(browser::BrowserProxyUpload(host)));
    }
    r
}

/// Only `system.which` (tests and tools that need no state).
pub fn stateless() -> CommandRegistry {
    let mut r = CommandRegistry::default();
    r.register(Arc::new(system::which::SystemWhich));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_derives_the_manifest() {
        let r = stateless();
        assert_eq!(r.command_names(), vec!["system.which"]);
        assert_eq!(r.caps(), vec!["system"]);
        let err = r.restrict_to(&["nope".into()]).err().unwrap();
        assert!(err
            .to_string()
            .starts_with("Node command allowlist retained no available commands. Unknown or unavailable ids: nope."));
        assert_eq!(r.restrict_to(&["system.which".into(), "x".into()]).unwrap().command_names(), vec!["system.which"]);
    }
}
