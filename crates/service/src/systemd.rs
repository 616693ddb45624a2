//! systemd user unit `openclaw-node.service` (`nodehost.md` §5.1).
//!
//! Secrets go to `<stateDir>/node.systemd.env` (0600), referenced by `EnvironmentFile=-…`, so
//! the unit itself (world-readable by systemd tooling) never holds a token.

use std::path::{Path, PathBuf};

use crate::definition::{ServiceDefinition, DESCRIPTION, SECRET_KEYS, SYSTEMD_UNIT};
use crate::{
    remove_file, run_tool, write_file, InstalledService, Runtime, ServiceError, ServiceLabel, ServiceManager,
    StartOutcome, SupervisorKind,
};

/// `openclaw-node.service`.
pub fn unit_name() -> String {
    format!("{SYSTEMD_UNIT}.service")
}

/// `$HOME/.config/systemd/user/openclaw-node.service`.
pub fn unit_path(home: &Path) -> PathBuf {
    home.join(".config/systemd/user").join(unit_name())
}

/// `<stateDir>/node.systemd.env`.
pub fn env_file_path(state_dir: &Path) -> PathBuf {
    state_dir.join("node.systemd.env")
}

/// Refuses newlines; names the offending item, never its value (it may be a secret).
fn check_line(what: &str, value: &str) -> Result<(), ServiceError> {
    if value.contains('\n') || value.contains('\r') {
        return Err(ServiceError::Invalid(format!("{what} contains a newline, which a systemd unit cannot hold")));
    }
    Ok(())
}

/// Quotes one `ExecStart=` argument: whitespace, `"` or `\` wrap it in quotes with `\` and `"`
/// escaped; `%` becomes `%%` (systemd specifiers).
fn exec_arg(arg: &str) -> String {
    let arg = arg.replace('%', "%%");
    if arg.is_empty() || arg.chars().any(|c| c.is_whitespace() || c == '"' || c == '\\') {
        format!("\"{}\"", arg.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        arg
    }
}

/// One `Environment=` assignment, quoted when it contains whitespace or quotes.
fn env_assignment(key: &str, value: &str) -> String {
    let kv = format!("{key}={}", value.replace('%', "%%"));
    if kv.chars().any(|c| c.is_whitespace() || c == '"' || c == '\\') {
        format!("\"{}\"", kv.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        kv
    }
}

/// Renders the unit text. `env_file` is referenced only when there are secrets.
pub fn render_unit(def: &ServiceDefinition, env_file: Option<&Path>) -> Result<String, ServiceError> {
    for (i, arg) in def.program_arguments.iter().enumerate() {
        check_line(&format!("program argument {i}"), arg)?;
    }
    for (k, v) in &def.environment {
        check_line(k, v)?;
    }
    let mut u = String::new();
    u.push_str(&format!(
        "[Unit]\nDescription={DESCRIPTION}\nAfter=network-online.target\nWants=network-online.target\nStartLimitBurst=10\nStartLimitIntervalSec=300\n\n[Service]\n"
    ));
    let exec: Vec<String> = def.program_arguments.iter().map(|a| exec_arg(a)).collect();
    u.push_str(&format!("ExecStart={}\n", exec.join(" ")));
    u.push_str("Restart=always\nRestartSec=5\nRestartPreventExitStatus=78\nTimeoutStopSec=330\nTimeoutStartSec=30\nSuccessExitStatus=0 143\nOOMPolicy=continue\nKillMode=mixed\n");
    if let Some(dir) = &def.working_directory {
        u.push_str(&format!("WorkingDirectory={}\n", exec_arg(&dir.to_string_lossy())));
    }
    if let Some(path) = env_file {
        u.push_str(&format!("EnvironmentFile=-{}\n", path.to_string_lossy().replace('%', "%%")));
    }
    for (k, v) in &def.environment {
        u.push_str(&format!("Environment={}\n", env_assignment(k, v)));
    }
    u.push_str("\n[Install]\nWantedBy=default.target\n");
    Ok(u)
}

/// Quotes an env-file value when it contains whitespace or shell-special characters.
fn env_file_value(v: &str) -> String {
    if v.chars().any(|c| c.is_whitespace() || "\\'\"`$".contains(c)) {
        let mut out = String::from("\"");
        for c in v.chars() {
            if "\\\"`$".contains(c) {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
        out
    } else {
        v.to_string()
    }
}

/// Renders `KEY=value` lines for the secrets file.
pub fn render_env_file(secrets: &[(String, String)]) -> Result<String, ServiceError> {
    let mut out = String::new();
    for (k, v) in secrets {
        check_line(k, v)?;
        out.push_str(&format!("{k}={}\n", env_file_value(v)));
    }
    Ok(out)
}

/// The systemd user manager.
pub struct Systemd {
    /// The user's HOME: the unit goes to `~/.config/systemd/user`.
    pub home: PathBuf,
    /// The node's state dir, where the unit's environment file lives.
    pub state_dir: PathBuf,
}

impl Systemd {
    fn ctl(&self, args: &[&str]) -> Result<String, ServiceError> {
        let mut full = vec!["--user"];
        full.extend_from_slice(args);
        run_tool("systemctl", &full)
    }

    /// Whether a user manager answers on this machine.
    pub fn available() -> bool {
        std::process::Command::new("systemctl")
            .args(["--user", "show-environment"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }

    fn show(&self) -> std::collections::HashMap<String, String> {
        let props = "ActiveState,SubState,MainPID,ExecMainStatus,NRestarts,Result,ExecMainStartTimestampMonotonic";
        self.ctl(&["show", &unit_name(), "-p", props])
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
            .collect()
    }
}

impl ServiceManager for Systemd {
    fn kind(&self) -> SupervisorKind {
        SupervisorKind::Systemd
    }

    fn label(&self) -> ServiceLabel {
        let loaded = self.ctl(&["is-enabled", &unit_name()]).is_ok();
        ServiceLabel { label: "systemd", loaded, loaded_text: "enabled", not_loaded_text: "disabled" }
    }

    fn install(&self, def: &ServiceDefinition) -> Result<Vec<String>, ServiceError> {
        let unit = unit_path(&self.home);
        let env_file = env_file_path(&self.state_dir);
        let mut lines = Vec::new();
        if def.secrets.is_empty() {
            remove_file(&env_file)?;
        } else {
            write_file(&env_file, render_env_file(&def.secrets)?.as_bytes(), 0o600)?;
        }
        let text = render_unit(def, (!def.secrets.is_empty()).then_some(env_file.as_path()))?;
        if unit.exists() {
            let backup = PathBuf::from(format!("{}.bak", unit.display()));
            std::fs::copy(&unit, &backup).map_err(|source| ServiceError::Io {
                action: "back up",
                path: unit.clone(),
                source,
            })?;
            lines.push(format!("Previous unit backed up to: {}", backup.display()));
        }
        write_file(&unit, text.as_bytes(), 0o600)?;
        self.ctl(&["daemon-reload"])?;
        self.ctl(&["enable", &unit_name()])?;
        self.ctl(&["restart", &unit_name()])?;
        lines.insert(0, format!("Installed systemd service: {}", unit.display()));
        Ok(lines)
    }

    fn start(&self) -> Result<StartOutcome, ServiceError> {
        if !unit_path(&self.home).exists() {
            return Err(ServiceError::NotInstalled("disabled"));
        }
        let rt = self.runtime();
        if rt.status == "running" {
            return Ok(StartOutcome::AlreadyRunning(rt.pid));
        }
        let _ = self.ctl(&["reset-failed", &unit_name()]);
        self.ctl(&["start", &unit_name()])?;
        Ok(StartOutcome::Started)
    }

    fn stop(&self) -> Result<(), ServiceError> {
        self.ctl(&["stop", &unit_name()]).map(|_| ())
    }

    fn restart(&self) -> Result<(), ServiceError> {
        if !unit_path(&self.home).exists() {
            return Err(ServiceError::NotInstalled("disabled"));
        }
        let _ = self.ctl(&["reset-failed", &unit_name()]);
        self.ctl(&["restart", &unit_name()]).map(|_| ())
    }

    fn uninstall(&self) -> Result<Vec<PathBuf>, ServiceError> {
        let _ = self.ctl(&["disable", "--now", &unit_name()]);
        let unit = unit_path(&self.home);
        let mut removed = Vec::new();
        for path in [unit.clone(), PathBuf::from(format!("{}.bak", unit.display()))] {
            if remove_file(&path)? {
                removed.push(path);
            }
        }
        // Remove our secret keys from the env file; delete it when nothing else is left.
        let env_file = env_file_path(&self.state_dir);
        if let Ok(text) = std::fs::read_to_string(&env_file) {
            let kept: Vec<&str> = text
                .lines()
                .filter(|l| !SECRET_KEYS.iter().any(|k| l.starts_with(&format!("{k}="))))
                .filter(|l| !l.trim().is_empty())
                .collect();
            if kept.is_empty() {
                remove_file(&env_file)?;
                removed.push(env_file);
            } else {
                write_file(&env_file, format!("{}\n", kept.join("\n")).as_bytes(), 0o600)?;
            }
        }
        let _ = self.ctl(&["daemon-reload"]);
        Ok(removed)
    }

    fn installed(&self) -> Option<InstalledService> {
        let unit = unit_path(&self.home);
        let text = std::fs::read_to_string(&unit).ok()?;
        let mut environment = std::collections::BTreeMap::new();
        let mut sources = std::collections::BTreeMap::new();
        let mut args = Vec::new();
        for line in text.lines() {
            if let Some(exec) = line.strip_prefix("ExecStart=") {
                args = split_exec(exec);
            } else if let Some(assign) = line.strip_prefix("Environment=") {
                let assign = split_exec(assign).into_iter().next().unwrap_or_default();
                if let Some((k, v)) = assign.split_once('=') {
                    environment.insert(k.to_string(), v.to_string());
                    sources.insert(k.to_string(), "inline");
                }
            }
        }
        if let Ok(secrets) = std::fs::read_to_string(env_file_path(&self.state_dir)) {
            for key in secrets.lines().filter_map(|l| l.split_once('=').map(|(k, _)| k.to_string())) {
                sources.insert(key, "file");
            }
        }
        Some(InstalledService {
            program_arguments: args,
            environment,
            environment_value_sources: sources,
            source_path: unit.clone(),
            definition_paths: vec![unit],
        })
    }

    fn runtime(&self) -> Runtime {
        let p = self.show();
        let active = p.get("ActiveState").cloned().unwrap_or_default();
        let status = match active.as_str() {
            "active" => "running",
            "inactive" | "failed" => "stopped",
            _ => "unknown",
        };
        Runtime {
            status,
            pid: p.get("MainPID").and_then(|v| v.parse().ok()).filter(|p| *p != 0),
            started_at_ms: None,
            state: (!active.is_empty()).then_some(active),
            sub_state: p.get("SubState").cloned(),
            last_exit_status: p.get("ExecMainStatus").and_then(|v| v.parse().ok()),
            last_exit_reason: p.get("Result").cloned(),
            restarts: p.get("NRestarts").and_then(|v| v.parse().ok()),
            detail: None,
        }
    }

    fn warnings(&self) -> Vec<String> {
        let user = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_default();
        if user.is_empty() {
            return Vec::new();
        }
        match run_tool("loginctl", &["show-user", &user, "-p", "Linger"]) {
            Ok(out) if out.trim() == "Linger=no" => vec![format!(
                "Systemd lingering is disabled for {user}. The node service will stop when you log out. Run: sudo loginctl enable-linger {user}"
            )],
            _ => Vec::new(),
        }
    }
}

/// Splits an `ExecStart=` line back into arguments (the inverse of the quoting above).
fn split_exec(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut in_arg = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                quoted = !quoted;
                in_arg = true;
            }
            '\\' if quoted => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            c if c.is_whitespace() && !quoted => {
                if in_arg {
                    out.push(std::mem::take(&mut cur).replace("%%", "%"));
                    in_arg = false;
                }
            }
            c => {
                cur.push(c);
                in_arg = true;
            }
        }
    }
    if in_arg {
        out.push(cur.replace("%%", "%"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definition::RunArgs;

    /// The upstream golden unit (nodehost.md §5.1), byte for byte except the program path.
    #[test]
    fn golden_unit() {
        let env = |k: &str| match k {
            "OPENCLAW_ALLOW_INSECURE_PRIVATE_WS" => Some("1".to_string()),
            "OPENCLAW_GATEWAY_TOKEN" => Some("s3cret value$".to_string()),
            "TMPDIR" => Some("/tmp".to_string()),
            _ => None,
        };
        let args = RunArgs {
            host: "gw.lan".into(),
            port: 18789,
            display_name: Some("Build Box".into()),
            commands: Some(vec!["system.run".into(), "system.which".into()]),
            ..Default::default()
        };
        let def = ServiceDefinition::new(
            Path::new("/usr/bin/openclaw"),
            &args.to_args(),
            &env,
            Path::new("/home/alice/.openclaw"),
            Path::new("/home/alice"),
        );
        let env_file = env_file_path(&def.state_dir);
        let unit = render_unit(&def, Some(&env_file)).unwrap();
        assert_eq!(
            unit,
            r#"[Unit]
Description=OpenClaw Node Host
After=network-online.target
Wants=network-online.target
StartLimitBurst=10
StartLimitIntervalSec=300

[Service]
ExecStart=/usr/bin/openclaw node run --host gw.lan --port 18789 --no-tls --display-name "Build Box" --commands system.run,system.which
Restart=always
RestartSec=5
RestartPreventExitStatus=78
TimeoutStopSec=330
TimeoutStartSec=30
SuccessExitStatus=0 143
OOMPolicy=continue
KillMode=mixed
EnvironmentFile=-/home/alice/.openclaw/node.systemd.env
Environment=HOME=/home/alice
Environment=TMPDIR=/tmp
Environment=PATH=/usr/bin:/usr/local/bin:/bin:/home/alice/.local/bin:/home/alice/.npm-global/bin:/home/alice/bin:/home/alice/.nix-profile/bin
Environment=OPENCLAW_ALLOW_INSECURE_PRIVATE_WS=1
Environment=OPENCLAW_LAUNCHD_LABEL=ai.openclaw.node
Environment=OPENCLAW_SYSTEMD_UNIT=openclaw-node
Environment="OPENCLAW_WINDOWS_TASK_NAME=OpenClaw Node"
Environment=OPENCLAW_WINDOWS_TASK_HIDDEN_LAUNCHER=1
Environment=OPENCLAW_TASK_SCRIPT_NAME=node.cmd
Environment=OPENCLAW_LOG_PREFIX=node
Environment=OPENCLAW_SERVICE_MARKER=openclaw
Environment=OPENCLAW_SERVICE_KIND=node

[Install]
WantedBy=default.target
"#
        );
        assert!(!unit.contains("s3cret"), "secrets never go into the unit");
        assert_eq!(render_env_file(&def.secrets).unwrap(), "OPENCLAW_GATEWAY_TOKEN=\"s3cret value\\$\"\n");
    }

    #[test]
    fn quoting_round_trips_and_newlines_are_refused() {
        let args = ["/opt/open claw/bin", "a\"b", "back\\slash", "100%", "plain"];
        let line: Vec<String> = args.iter().map(|a| exec_arg(a)).collect();
        assert_eq!(split_exec(&line.join(" ")), args);
        let mut def = ServiceDefinition::new(
            Path::new("/x"),
            &["--display-name".into(), "a\nb".into()],
            &|_| None,
            Path::new("/s"),
            Path::new("/h"),
        );
        assert!(render_unit(&def, None).is_err());
        def.program_arguments.pop();
        assert!(!render_unit(&def, None).unwrap().contains("EnvironmentFile"));
    }
}
