//! What a node service runs: program arguments and environment (`nodehost.md` §5).

use std::path::{Path, PathBuf};

/// Service description shown by every supervisor.
pub const DESCRIPTION: &str = "OpenClaw Node Host";
/// systemd unit name (without `.service`).
pub const SYSTEMD_UNIT: &str = "openclaw-node";
/// launchd label.
pub const LAUNCHD_LABEL: &str = "ai.openclaw.node";
/// Windows scheduled task name.
pub const WINDOWS_TASK: &str = "OpenClaw Node";

/// Environment keys that carry secrets: never written inline into a unit or plist.
pub use openclaw_state::config::CREDENTIAL_ENV_KEYS as SECRET_KEYS;

/// A complete, supervisor-independent service definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceDefinition {
    /// `[<openclaw binary>, "node", "run", …]`.
    pub program_arguments: Vec<String>,
    /// Non-secret environment, in upstream's order.
    pub environment: Vec<(String, String)>,
    /// Secret environment (file-sourced).
    pub secrets: Vec<(String, String)>,
    /// `WorkingDirectory=` and friends; unset for installed services.
    pub working_directory: Option<PathBuf>,
    /// The state dir the service uses (for env files and logs).
    pub state_dir: PathBuf,
    /// The account home.
    pub home: PathBuf,
}

impl ServiceDefinition {
    /// Builds the definition for `node run <run_args>` run by `exe`.
    ///
    /// The environment follows upstream's order: HOME, TMPDIR, CA settings, state/config
    /// overrides, a minimal PATH, the secrets, the insecure-ws break-glass, then the service
    /// markers the TypeScript tools use to recognise a node service.
    pub fn new(
        exe: &Path,
        run_args: &[String],
        env: &dyn Fn(&str) -> Option<String>,
        state_dir: &Path,
        home: &Path,
    ) -> Self {
        let mut program_arguments = vec![exe.to_string_lossy().into_owned(), "node".into(), "run".into()];
        program_arguments.extend(run_args.iter().cloned());
        let get = |k: &str| env(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let mut environment: Vec<(String, String)> = Vec::new();
        let mut push = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                environment.push((k.to_string(), v));
            }
        };
        push("HOME", Some(home.to_string_lossy().into_owned()));
        push(
            "TMPDIR",
            get("TMPDIR").or_else(|| Some(std::env::temp_dir().to_string_lossy().trim_end_matches('/').to_string())),
        );
        for key in [
            "NODE_EXTRA_CA_CERTS",
            "NODE_USE_SYSTEM_CA",
            "OPENCLAW_STATE_DIR",
            "OPENCLAW_CONFIG_PATH",
            "OPENCLAW_PROXY_URL",
        ] {
            push(key, get(key));
        }
        push("PATH", Some(minimal_path(exe, home)));
        let secrets: Vec<(String, String)> =
            SECRET_KEYS.iter().filter_map(|k| get(k).map(|v| (k.to_string(), v))).collect();
        push("OPENCLAW_ALLOW_INSECURE_PRIVATE_WS", get("OPENCLAW_ALLOW_INSECURE_PRIVATE_WS"));
        for (k, v) in [
            ("OPENCLAW_LAUNCHD_LABEL", LAUNCHD_LABEL),
            ("OPENCLAW_SYSTEMD_UNIT", SYSTEMD_UNIT),
            ("OPENCLAW_WINDOWS_TASK_NAME", WINDOWS_TASK),
            ("OPENCLAW_WINDOWS_TASK_HIDDEN_LAUNCHER", "1"),
            ("OPENCLAW_TASK_SCRIPT_NAME", "node.cmd"),
            ("OPENCLAW_LOG_PREFIX", "node"),
            ("OPENCLAW_SERVICE_MARKER", "openclaw"),
            ("OPENCLAW_SERVICE_KIND", "node"),
        ] {
            push(k, Some(v.to_string()));
        }
        ServiceDefinition {
            program_arguments,
            environment,
            secrets,
            working_directory: None,
            state_dir: state_dir.to_path_buf(),
            home: home.to_path_buf(),
        }
    }

    /// The value of an inline environment variable.
    pub fn env(&self, key: &str) -> Option<&str> {
        self.environment.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// The service PATH: the binary's directory, the system dirs, then the usual user bin dirs.
/// Nothing derived from the current directory, so the service does not depend on where
/// `install` was run.
fn minimal_path(exe: &Path, home: &Path) -> String {
    let mut dirs: Vec<String> = Vec::new();
    if let Some(dir) = exe.parent() {
        dirs.push(dir.to_string_lossy().into_owned());
    }
    dirs.extend(["/usr/local/bin", "/usr/bin", "/bin"].map(String::from));
    for rel in [".local/bin", ".npm-global/bin", "bin", ".nix-profile/bin"] {
        dirs.push(home.join(rel).to_string_lossy().into_owned());
    }
    let mut seen = std::collections::HashSet::new();
    dirs.retain(|d| seen.insert(d.clone()));
    dirs.join(":")
}

/// The `node run` arguments `install` bakes into the service, in upstream's order.
#[derive(Debug, Clone, Default)]
pub struct RunArgs {
    /// `--host`: the gateway the service connects to, fixed at install time.
    pub host: String,
    /// `--port`.
    pub port: u16,
    /// `--tls` / `--no-tls`, always written so the service never guesses.
    pub tls: bool,
    /// `--tls-fingerprint`: the pin, so the service trusts only the gateway the user chose.
    pub tls_fingerprint: Option<String>,
    /// `--context-path`: the gateway's URL path, when served under a sub-path.
    pub context_path: Option<String>,
    /// `--node-id`, when the user set one at install.
    pub node_id: Option<String>,
    /// `--display-name`, when the user set one at install.
    pub display_name: Option<String>,
    /// `--all-commands`: advertise every command, not only the default set.
    pub all_commands: bool,
    /// `--commands a,b`: the advertised command allowlist.
    pub commands: Option<Vec<String>>,
}

impl RunArgs {
    /// `--host H --port P --tls|--no-tls [--tls-fingerprint F] [--context-path C] [--node-id N]
    /// [--display-name D] [--all-commands | --commands a,b]`.
    pub fn to_args(&self) -> Vec<String> {
        let mut a = vec!["--host".into(), self.host.clone(), "--port".into(), self.port.to_string()];
        a.push(if self.tls || self.tls_fingerprint.is_some() { "--tls" } else { "--no-tls" }.into());
        for (flag, v) in [
            ("--tls-fingerprint", &self.tls_fingerprint),
            ("--context-path", &self.context_path),
            ("--node-id", &self.node_id),
            ("--display-name", &self.display_name),
        ] {
            if let Some(v) = v {
                a.push(flag.into());
                a.push(v.clone());
            }
        }
        if self.all_commands {
            a.push("--all-commands".into());
        } else if let Some(c) = &self.commands {
            a.push("--commands".into());
            a.push(c.join(","));
        }
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_separate_and_order_is_upstreams() {
        let env = |k: &str| match k {
            "OPENCLAW_GATEWAY_TOKEN" => Some("tok".to_string()),
            "OPENCLAW_ALLOW_INSECURE_PRIVATE_WS" => Some(" 1 ".to_string()),
            "OPENCLAW_STATE_DIR" => Some("/s".to_string()),
            "TMPDIR" => Some("/tmp".to_string()),
            _ => None,
        };
        let args = RunArgs {
            host: "gw.lan".into(),
            port: 18789,
            display_name: Some("Build Box".into()),
            ..Default::default()
        };
        let def = ServiceDefinition::new(
            Path::new("/usr/local/bin/openclaw"),
            &args.to_args(),
            &env,
            Path::new("/s"),
            Path::new("/home/alice"),
        );
        assert_eq!(
            def.program_arguments,
            [
                "/usr/local/bin/openclaw",
                "node",
                "run",
                "--host",
                "gw.lan",
                "--port",
                "18789",
                "--no-tls",
                "--display-name",
                "Build Box"
            ]
        );
        assert_eq!(def.secrets, vec![("OPENCLAW_GATEWAY_TOKEN".to_string(), "tok".to_string())]);
        assert!(def.environment.iter().all(|(k, _)| !SECRET_KEYS.contains(&k.as_str())));
        let keys: Vec<&str> = def.environment.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(&keys[..5], ["HOME", "TMPDIR", "OPENCLAW_STATE_DIR", "PATH", "OPENCLAW_ALLOW_INSECURE_PRIVATE_WS"]);
        assert_eq!(def.env("OPENCLAW_ALLOW_INSECURE_PRIVATE_WS"), Some("1"));
        assert_eq!(
            def.env("PATH"),
            Some("/usr/local/bin:/usr/bin:/bin:/home/alice/.local/bin:/home/alice/.npm-global/bin:/home/alice/bin:/home/alice/.nix-profile/bin")
        );
        assert_eq!(def.environment.last().unwrap(), &("OPENCLAW_SERVICE_KIND".to_string(), "node".to_string()));
    }

    #[test]
    fn run_args_shapes() {
        let a = RunArgs {
            host: "h".into(),
            port: 1,
            tls_fingerprint: Some("ab".into()),
            context_path: Some("/c".into()),
            node_id: Some("n".into()),
            commands: Some(vec!["system.run".into(), "system.which".into()]),
            ..Default::default()
        };
        assert_eq!(
            a.to_args(),
            [
                "--host",
                "h",
                "--port",
                "1",
                "--tls",
                "--tls-fingerprint",
                "ab",
                "--context-path",
                "/c",
                "--node-id",
                "n",
                "--commands",
                "system.run,system.which"
            ]
        );
        let b = RunArgs {
            host: "h".into(),
            port: 1,
            all_commands: true,
            commands: Some(vec!["x".into()]),
            ..Default::default()
        };
        assert_eq!(b.to_args().last().unwrap(), "--all-commands");
    }
}
