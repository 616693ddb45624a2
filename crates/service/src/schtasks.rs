//! Windows scheduled task "OpenClaw Node" (`nodehost.md` §5.3).
//!
//! The task runs `<stateDir>\node.vbs`, which starts `<stateDir>\node.cmd` hidden; the script
//! sets the environment (secrets included, as upstream does: the state dir is private to the
//! user) and runs the node host.

use std::path::{Path, PathBuf};

use crate::definition::{ServiceDefinition, DESCRIPTION, WINDOWS_TASK};
use crate::{
    remove_file, run_tool, write_file, InstalledService, Runtime, ServiceError, ServiceLabel, ServiceManager,
    StartOutcome, SupervisorKind,
};

/// `<stateDir>\node.cmd`.
pub fn script_path(state_dir: &Path) -> PathBuf {
    state_dir.join("node.cmd")
}

/// `<stateDir>\node.vbs`.
pub fn launcher_path(state_dir: &Path) -> PathBuf {
    state_dir.join("node.vbs")
}

/// Quotes one argument for cmd.exe: `%` doubled, `!` caret-escaped, wrapped in quotes when
/// it has spaces or specials.
fn cmd_arg(arg: &str) -> String {
    let escaped = arg.replace('%', "%%").replace('!', "^!").replace('"', "\"\"");
    if escaped.is_empty() || escaped.chars().any(|c| c.is_whitespace() || "&|<>^()".contains(c)) {
        format!("\"{escaped}\"")
    } else {
        escaped
    }
}

/// `node.cmd`: env `set` lines (not PATH or the hidden-launcher flag), then the command.
pub fn render_cmd(def: &ServiceDefinition) -> Result<String, ServiceError> {
    let mut out = format!("@echo off\r\nrem {DESCRIPTION}\r\n");
    if let Some(dir) = &def.working_directory {
        out.push_str(&format!("cd /d {}\r\n", cmd_arg(&dir.to_string_lossy())));
    }
    for (k, v) in def.environment.iter().chain(def.secrets.iter()) {
        if k == "PATH" || k == "OPENCLAW_WINDOWS_TASK_HIDDEN_LAUNCHER" {
            continue;
        }
        if v.contains('\n') || v.contains('\r') {
            return Err(ServiceError::Invalid(format!("{k} cannot contain a newline")));
        }
        out.push_str(&format!("set \"{k}={}\"\r\n", v.replace('%', "%%")));
    }
    let line: Vec<String> = def.program_arguments.iter().map(|a| cmd_arg(a)).collect();
    out.push_str(&format!("{} < NUL\r\n", line.join(" ")));
    Ok(out)
}

/// `node.vbs`: runs node.cmd without a console window and waits for it.
pub fn render_launcher(script: &Path) -> String {
    format!(
        "' {DESCRIPTION}: run node.cmd hidden\r\nSet shell = CreateObject(\"WScript.Shell\")\r\nWScript.Quit shell.Run(\"cmd.exe /d /c \"\"{}\"\"\", 0, True)\r\n",
        script.to_string_lossy().replace('"', "\"\"")
    )
}

/// The Task Scheduler XML (logon trigger, least privilege, one instance, no time limit,
/// restart on failure every minute, three times).
pub fn render_task_xml(launcher: &Path, user: Option<&str>) -> String {
    let user_id = user.map(|u| format!("\n      <UserId>{}</UserId>", xml_escape(u))).unwrap_or_default();
    format!(
        r#"<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo>
    <Description>{DESCRIPTION}</Description>
  </RegistrationInfo>
  <Triggers>
    <LogonTrigger>
      <Enabled>true</Enabled>{user_id}
    </LogonTrigger>
  </Triggers>
  <Principals>
    <Principal id="Author">
      <LogonType>InteractiveToken</LogonType>
      <RunLevel>LeastPrivilege</RunLevel>
    </Principal>
  </Principals>
  <Settings>
    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>
    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>
    <ExecutionTimeLimit>PT0S</ExecutionTimeLimit>
    <RestartOnFailure>
      <Interval>PT1M</Interval>
      <Count>3</Count>
    </RestartOnFailure>
    <Enabled>true</Enabled>
  </Settings>
  <Actions Context="Author">
    <Exec>
      <Command>{}</Command>
    </Exec>
  </Actions>
</Task>
"#,
        xml_escape(&launcher.to_string_lossy())
    )
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// UTF-16LE with a byte-order mark, as Task Scheduler and WScript expect.
pub fn utf16le_with_bom(text: &str) -> Vec<u8> {
    let mut out = vec![0xFF, 0xFE];
    for unit in text.encode_utf16() {
        out.extend_from_slice(&unit.to_le_bytes());
    }
    out
}

/// The Task Scheduler manager (`schtasks.exe`).
pub struct Schtasks {
    /// The node's state dir, where the task's script, launcher and XML live.
    pub state_dir: PathBuf,
}

impl Schtasks {
    fn query(&self) -> Option<String> {
        run_tool("schtasks", &["/Query", "/TN", WINDOWS_TASK, "/V", "/FO", "LIST"]).ok()
    }
}

impl ServiceManager for Schtasks {
    fn kind(&self) -> SupervisorKind {
        SupervisorKind::Schtasks
    }

    fn label(&self) -> ServiceLabel {
        ServiceLabel {
            label: "Scheduled Task",
            loaded: self.query().is_some(),
            loaded_text: "registered",
            not_loaded_text: "missing",
        }
    }

    fn install(&self, def: &ServiceDefinition) -> Result<Vec<String>, ServiceError> {
        let script = script_path(&self.state_dir);
        let launcher = launcher_path(&self.state_dir);
        write_file(&script, render_cmd(def)?.as_bytes(), 0o600)?;
        write_file(&launcher, &utf16le_with_bom(&render_launcher(&script)), 0o600)?;
        let xml_path = self.state_dir.join("node-task.xml");
        let user = std::env::var("USERNAME").ok();
        write_file(&xml_path, &utf16le_with_bom(&render_task_xml(&launcher, user.as_deref())), 0o600)?;
        let created =
            run_tool("schtasks", &["/Create", "/F", "/TN", WINDOWS_TASK, "/XML", &xml_path.to_string_lossy()]);
        let _ = remove_file(&xml_path);
        created?;
        run_tool("schtasks", &["/Run", "/TN", WINDOWS_TASK])?;
        Ok(vec![format!("Installed Scheduled Task: {WINDOWS_TASK}")])
    }

    fn start(&self) -> Result<StartOutcome, ServiceError> {
        if self.query().is_none() {
            return Err(ServiceError::NotInstalled("missing"));
        }
        if self.runtime().status == "running" {
            return Ok(StartOutcome::AlreadyRunning(None));
        }
        run_tool("schtasks", &["/Run", "/TN", WINDOWS_TASK]).map(|_| StartOutcome::Started)
    }

    fn stop(&self) -> Result<(), ServiceError> {
        if self.query().is_none() {
            return Ok(());
        }
        run_tool("schtasks", &["/End", "/TN", WINDOWS_TASK]).map(|_| ())
    }

    fn restart(&self) -> Result<(), ServiceError> {
        self.stop()?;
        self.start().map(|_| ())
    }

    fn uninstall(&self) -> Result<Vec<PathBuf>, ServiceError> {
        let _ = run_tool("schtasks", &["/Delete", "/F", "/TN", WINDOWS_TASK]);
        let mut removed = Vec::new();
        for path in [script_path(&self.state_dir), launcher_path(&self.state_dir)] {
            if remove_file(&path)? {
                removed.push(path);
            }
        }
        Ok(removed)
    }

    fn installed(&self) -> Option<InstalledService> {
        let script = script_path(&self.state_dir);
        let text = std::fs::read_to_string(&script).ok()?;
        let sources = text
            .lines()
            .filter_map(|l| l.strip_prefix("set \"")?.split_once('=').map(|(k, _)| (k.to_string(), "file")))
            .collect();
        let command = text.lines().find(|l| l.ends_with(" < NUL")).unwrap_or_default().trim_end_matches(" < NUL");
        Some(InstalledService {
            program_arguments: command.split(' ').map(|s| s.trim_matches('"').to_string()).collect(),
            environment: Default::default(),
            environment_value_sources: sources,
            source_path: script.clone(),
            definition_paths: vec![script, launcher_path(&self.state_dir)],
        })
    }

    fn runtime(&self) -> Runtime {
        match self.query() {
            None => Runtime { status: "stopped", ..Default::default() },
            Some(out) => {
                let status = out.lines().find_map(|l| l.trim().strip_prefix("Status:").map(|s| s.trim().to_string()));
                Runtime {
                    status: if status.as_deref() == Some("Running") { "running" } else { "stopped" },
                    state: status,
                    ..Default::default()
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definition::RunArgs;

    #[test]
    fn golden_cmd_launcher_and_xml() {
        let env = |k: &str| match k {
            "OPENCLAW_GATEWAY_PASSWORD" => Some("p%w!".to_string()),
            "TMPDIR" => Some("C:\\Temp".to_string()),
            _ => None,
        };
        let args =
            RunArgs { host: "gw.lan".into(), port: 18789, display_name: Some("Lab PC".into()), ..Default::default() };
        let def = ServiceDefinition::new(
            Path::new("C:/openclaw/openclaw.exe"),
            &args.to_args(),
            &env,
            Path::new("C:/Users/al/.openclaw"),
            Path::new("C:/Users/al"),
        );
        let cmd = render_cmd(&def).unwrap();
        assert_eq!(
            cmd,
            "@echo off\r\nrem OpenClaw Node Host\r\nset \"HOME=C:/Users/al\"\r\nset \"TMPDIR=C:\\Temp\"\r\nset \"OPENCLAW_LAUNCHD_LABEL=ai.openclaw.node\"\r\nset \"OPENCLAW_SYSTEMD_UNIT=openclaw-node\"\r\nset \"OPENCLAW_WINDOWS_TASK_NAME=OpenClaw Node\"\r\nset \"OPENCLAW_TASK_SCRIPT_NAME=node.cmd\"\r\nset \"OPENCLAW_LOG_PREFIX=node\"\r\nset \"OPENCLAW_SERVICE_MARKER=openclaw\"\r\nset \"OPENCLAW_SERVICE_KIND=node\"\r\nset \"OPENCLAW_GATEWAY_PASSWORD=p%%w!\"\r\nC:/openclaw/openclaw.exe node run --host gw.lan --port 18789 --no-tls --display-name \"Lab PC\" < NUL\r\n"
        );
        let launcher = render_launcher(Path::new("C:/Users/al/.openclaw/node.cmd"));
        assert!(launcher.contains("shell.Run(\"cmd.exe /d /c \"\"C:/Users/al/.openclaw/node.cmd\"\"\", 0, True)"));
        let xml = render_task_xml(Path::new("C:/Users/al/.openclaw/node.vbs"), Some("LAB\\al"));
        assert_eq!(
            xml,
            r#"<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo>
    <Description>OpenClaw Node Host</Description>
  </RegistrationInfo>
  <Triggers>
    <LogonTrigger>
      <Enabled>true</Enabled>
      <UserId>LAB\al</UserId>
    </LogonTrigger>
  </Triggers>
  <Principals>
    <Principal id="Author">
      <LogonType>InteractiveToken</LogonType>
      <RunLevel>LeastPrivilege</RunLevel>
    </Principal>
  </Principals>
  <Settings>
    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>
    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>
    <ExecutionTimeLimit>PT0S</ExecutionTimeLimit>
    <RestartOnFailure>
      <Interval>PT1M</Interval>
      <Count>3</Count>
    </RestartOnFailure>
    <Enabled>true</Enabled>
  </Settings>
  <Actions Context="Author">
    <Exec>
      <Command>C:/Users/al/.openclaw/node.vbs</Command>
    </Exec>
  </Actions>
</Task>
"#
        );
        assert_eq!(&utf16le_with_bom("A")[..], &[0xFF, 0xFE, 0x41, 0x00]);
    }
}
