//! `openclaw node install | start | stop | restart | uninstall | status`: wiring and output.
//! The supervisors themselves are in `openclaw-service`; this module picks one and prints.
//!
//! Results follow upstream's JSON envelope (`action`, `ok`, `result`, `message`, `service`,
//! `hints`, `warnings`, `error`) so scripts written for the TypeScript CLI keep working.

use std::path::PathBuf;
use std::process::ExitCode;

use openclaw_node_host::endpoint::{resolve_endpoint, EndpointFlags};
use openclaw_service::definition::RunArgs;
use openclaw_service::{select_manager, ServiceDefinition, ServiceError, ServiceManager, StartOutcome, SupervisorKind};
use openclaw_state::config::OpenClawConfig;
use openclaw_state::node_status::{ConnectionState, NodeHostStatus};
use openclaw_state::{StateDb, StatePaths};
use serde_json::{json, Value};

use crate::output::Elapsed;

/// Which service action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Start,
    Stop,
    Restart,
    Uninstall,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Start => "start",
            Action::Stop => "stop",
            Action::Restart => "restart",
            Action::Uninstall => "uninstall",
        }
    }
}

/// The flags of `node install`.
pub(crate) struct InstallOptions {
    pub(crate) endpoint: EndpointFlags,
    pub(crate) node_id: Option<String>,
    pub(crate) display_name: Option<String>,
    pub(crate) commands: Option<Vec<String>>,
    pub(crate) all_commands: bool,
    pub(crate) force: bool,
    pub(crate) runtime: Option<String>,
    pub(crate) supervisor: Option<SupervisorKind>,
    pub(crate) json: bool,
}

fn home() -> PathBuf {
    std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/"))
}

fn exe() -> PathBuf {
    std::env::current_exe().unwrap_or_else(|_| PathBuf::from("openclaw"))
}

fn manager(forced: Option<SupervisorKind>, paths: &StatePaths) -> Box<dyn ServiceManager> {
    select_manager(forced, &paths.state_dir, &home(), exe())
}

/// Upstream's start hints, plus the pidfile supervisor's own.
fn hints(kind: SupervisorKind) -> Vec<String> {
    let mut h = vec!["openclaw node install".to_string(), "openclaw node start".to_string()];
    match kind {
        SupervisorKind::Systemd => h.push("systemctl --user start openclaw-node.service".into()),
        SupervisorKind::Launchd => {
            h.push("launchctl bootstrap gui/$UID ~/Library/LaunchAgents/ai.openclaw.node.plist".into())
        }
        SupervisorKind::Schtasks => h.push("schtasks /Run /TN \"OpenClaw Node\"".into()),
        SupervisorKind::Pidfile => {}
    }
    h
}

struct Envelope {
    action: &'static str,
    json: bool,
}

impl Envelope {
    fn ok(
        &self,
        m: &dyn ServiceManager,
        result: &str,
        message: Option<String>,
        lines: &[String],
        warnings: &[String],
    ) -> ExitCode {
        if self.json {
            let mut v = json!({"action": self.action, "ok": true, "result": result, "service": m.label()});
            if let Some(msg) = &message {
                v["message"] = json!(msg);
            }
            if !warnings.is_empty() {
                v["warnings"] = json!(warnings);
            }
            println!("{}", serde_json::to_string_pretty(&v).expect("serialisable"));
        } else {
            for l in lines {
                println!("{l}");
            }
            if let Some(msg) = message {
                println!("{msg}");
            }
            for w in warnings {
                eprintln!("Warning: {w}");
            }
        }
        ExitCode::SUCCESS
    }

    fn fail(&self, m: &dyn ServiceManager, error: &str, hints: &[String]) -> ExitCode {
        if self.json {
            let mut v = json!({"action": self.action, "ok": false, "error": error, "service": m.label()});
            if !hints.is_empty() {
                v["hints"] = json!(hints);
                v["hintItems"] = json!(hints
                    .iter()
                    .map(|h| json!({"kind": if h.starts_with("openclaw node install") { "install" } else { "generic" }, "text": h}))
                    .collect::<Vec<_>>());
            }
            println!("{}", serde_json::to_string_pretty(&v).expect("serialisable"));
        } else {
            eprintln!("{error}");
            for h in hints {
                println!("Tip: {h}");
            }
        }
        ExitCode::from(1)
    }
}

/// `node install`.
pub(crate) fn install(opts: InstallOptions) -> ExitCode {
    let paths = StatePaths::from_env();
    let env = |k: &str| std::env::var(k).ok();
    let m = manager(opts.supervisor, &paths);
    let out = Envelope { action: "install", json: opts.json };
    let mut warnings = Vec::new();
    match opts.runtime.as_deref() {
        None => {}
        Some("node") | Some("bun") => warnings.push(
            "--runtime has no effect: this node host is a native binary and needs no JavaScript runtime.".to_string(),
        ),
        Some(_) => return out.fail(m.as_ref(), "Invalid --runtime (use \"node\" or \"bun\")", &[]),
    }
    if opts.all_commands && opts.commands.is_some() {
        return out.fail(m.as_ref(), "--all-commands cannot be combined with --commands", &[]);
    }
    // Defaults come from the saved node config, which install reads but never writes.
    let saved = StateDb::open_existing_read_only(&paths).ok().flatten().and_then(|db| db.node_config().ok().flatten());
    let config = match OpenClawConfig::load(&paths.config_path) {
        Ok(c) => c,
        Err(e) => return out.fail(m.as_ref(), &format!("Node install failed: {e}"), &[]),
    };
    let endpoint = match resolve_endpoint(
        &opts.endpoint,
        saved.as_ref().and_then(|c| c.gateway.as_ref()),
        config.get_bool("gateway.tls.enabled"),
    ) {
        Ok(e) => e,
        Err(e) => return out.fail(m.as_ref(), &format!("Node install failed: {e}"), &[]),
    };
    let label = m.label();
    if label.loaded && !opts.force {
        let lines = vec!["Reinstall with: openclaw node install --force".to_string()];
        return out.ok(
            m.as_ref(),
            "already-installed",
            Some(format!("Node service already {}.", label.loaded_text)),
            &lines,
            &warnings,
        );
    }
    let run_args = RunArgs {
        host: endpoint.host.clone(),
        port: endpoint.port,
        tls: endpoint.tls,
        tls_fingerprint: endpoint.tls_fingerprint.clone(),
        context_path: endpoint.context_path.clone(),
        node_id: opts.node_id,
        display_name: opts.display_name,
        all_commands: opts.all_commands,
        commands: opts.commands,
    };
    let def = ServiceDefinition::new(&exe(), &run_args.to_args(), &env, &paths.state_dir, &home());
    match m.install(&def) {
        Ok(lines) => {
            warnings.extend(m.warnings());
            out.ok(m.as_ref(), "installed", None, &lines, &warnings)
        }
        Err(e) => out.fail(m.as_ref(), &format!("Node install failed: {e}"), &[]),
    }
}

/// `node start|stop|restart|uninstall`.
pub(crate) fn action(action: Action, supervisor: Option<SupervisorKind>, json: bool) -> ExitCode {
    let paths = StatePaths::from_env();
    let m = manager(supervisor, &paths);
    let out = Envelope { action: action.as_str(), json };
    let label = m.label();
    let not_installed =
        |out: &Envelope| out.fail(m.as_ref(), &format!("Node service {}.", label.not_loaded_text), &hints(m.kind()));
    let result = match action {
        Action::Start => match m.start() {
            Ok(StartOutcome::Started) => Ok(("started", "Started node service.".to_string())),
            Ok(StartOutcome::AlreadyRunning(pid)) => Ok((
                "already-running",
                format!("Node service already running{}.", pid.map(|p| format!(" (pid {p})")).unwrap_or_default()),
            )),
            Err(e) => Err(e),
        },
        Action::Stop => {
            if !label.loaded {
                return out.ok(
                    m.as_ref(),
                    "not-loaded",
                    Some(format!("Node service {}.", label.not_loaded_text)),
                    &[],
                    &[],
                );
            }
            m.stop().map(|_| ("stopped", "Stopped node service.".to_string()))
        }
        Action::Restart => m.restart().map(|_| ("restarted", "Restarted node service.".to_string())),
        Action::Uninstall => m.uninstall().map(|removed| {
            let msg = if removed.is_empty() {
                "Node service was not installed; nothing removed.".to_string()
            } else {
                removed.iter().map(|p| format!("Removed {}", p.display())).collect::<Vec<_>>().join("\n")
            };
            ("uninstalled", msg)
        }),
    };
    match result {
        Ok((result, message)) => out.ok(m.as_ref(), result, Some(message), &[], &[]),
        Err(ServiceError::NotInstalled(_)) => not_installed(&out),
        Err(e) => out.fail(m.as_ref(), &format!("Node {} failed: {e}", action.as_str()), &[]),
    }
}

/// `node status`: exit 0 when the service is running, 3 when it is installed but not running
/// or not installed (LSB `status` convention, so scripts can branch on it).
pub(crate) fn status(supervisor: Option<SupervisorKind>, json: bool) -> ExitCode {
    let paths = StatePaths::from_env();
    let m = manager(supervisor, &paths);
    let label = m.label();
    let installed = m.installed();
    let runtime = m.runtime();
    // The node's own report counts only while that process is the one running.
    let node = NodeHostStatus::read(&NodeHostStatus::path(&paths))
        .filter(|s| runtime.pid == Some(s.pid) || runtime.status != "running");
    let running = runtime.status == "running";
    let warnings = if label.loaded { m.warnings() } else { Vec::new() };
    if json {
        let mut service = serde_json::to_value(&label).expect("serialisable");
        service["supervisor"] = json!(m.kind());
        service["command"] =
            installed.as_ref().map(|i| serde_json::to_value(i).expect("serialisable")).unwrap_or(Value::Null);
        service["runtime"] = serde_json::to_value(&runtime).expect("serialisable");
        if !warnings.is_empty() {
            service["warnings"] = json!(warnings);
        }
        let node_json = node.as_ref().map(|n| {
            json!({
                "gateway": n.gateway,
                "state": n.state,
                "connected": running && n.state == ConnectionState::Connected,
                "sinceMs": n.since_ms,
                "lastConnectedMs": n.last_connected_ms,
                "lastError": n.last_error,
                "pairingRequestId": n.pairing_request_id,
                "pid": n.pid,
            })
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"service": service, "node": node_json})).expect("serialisable")
        );
    } else {
        println!("Service: {} ({})", label.label, if label.loaded { label.loaded_text } else { label.not_loaded_text });
        if let Some(i) = &installed {
            println!("Command: {}", i.program_arguments.join(" "));
            println!("Service file: {}", i.source_path.display());
        }
        let mut parts = Vec::new();
        if let Some(pid) = runtime.pid {
            parts.push(format!("pid {pid}"));
        }
        if let Some(start) = runtime.started_at_ms.filter(|_| running) {
            parts.push(format!("up {}", Elapsed::since(start).two_units()));
        }
        if let Some(state) = &runtime.state {
            parts.push(format!("state {state}"));
        }
        if let Some(r) = runtime.restarts.filter(|r| *r > 0) {
            parts.push(format!("restarts {r}"));
        }
        match (runtime.last_exit_status, &runtime.last_exit_reason) {
            (Some(code), _) => parts.push(format!("last exit {code}")),
            (None, Some(reason)) => parts.push(format!("last exit: {reason}")),
            _ => {}
        }
        let parts = if parts.is_empty() { String::new() } else { format!(" ({})", parts.join(", ")) };
        println!("Runtime: {}{parts}", runtime.status);
        if let Some(detail) = &runtime.detail {
            println!("Detail: {detail}");
        }
        if let Some(n) = &node {
            let state = match (running, n.state) {
                (true, ConnectionState::Connected) => {
                    format!("connected since {}", Elapsed::since(n.since_ms).two_units_ago())
                }
                (true, ConnectionState::PairingPending) => format!(
                    "waiting for pairing approval: openclaw devices approve {}",
                    n.pairing_request_id.as_deref().unwrap_or("<requestId>")
                ),
                (true, s) => format!(
                    "{} since {}",
                    serde_json::to_value(s).expect("serialisable").as_str().unwrap_or(""),
                    Elapsed::since(n.since_ms).two_units_ago()
                ),
                (false, _) => "not running".to_string(),
            };
            println!("Gateway: {} ({state})", n.gateway);
            if let Some(e) = &n.last_error {
                println!("Last error: {e}");
            }
        }
        for w in &warnings {
            println!("Warning: {w}");
        }
        if !label.loaded {
            println!();
            for h in hints(m.kind()) {
                println!("Start with: {h}");
            }
        } else if !running {
            println!("Service is loaded but not running.");
            if m.kind() == SupervisorKind::Pidfile {
                println!("Logs: {}", openclaw_service::pidfile::Layout::new(&paths.state_dir).log().display());
            } else if m.kind() == SupervisorKind::Systemd {
                println!("Logs: journalctl --user -u openclaw-node.service -n 200 --no-pager");
            }
        }
    }
    if running {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    }
}
