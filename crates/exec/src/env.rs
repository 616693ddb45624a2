//! Environment policy for `system.run` (`exec.md` §5.3 and Appendix A).
//!
//! Three rules: overrides that could change what a binary loads or where it reaches are
//! refused outright (the request fails, nothing runs); dangerous variables inherited from the
//! node's own environment are dropped from the child; and for shell-wrapper invocations only
//! terminal and locale overrides survive, because the shell would otherwise interpret them.

use std::collections::BTreeMap;

/// Rejected as overrides and dropped when inherited (except the two sanitised `GIT_*` keys).
pub const BLOCKED_EVERYWHERE: &[&str] = &[
    "NODE_OPTIONS",
    "NODE_PATH",
    "NODE_REDIRECT_WARNINGS",
    "NODE_REPL_EXTERNAL_MODULE",
    "NODE_REPL_HISTORY",
    "NODE_V8_COVERAGE",
    "PYTHONHOME",
    "PYTHONPATH",
    "PERL5LIB",
    "PERL5OPT",
    "RUBYLIB",
    "RUBYOPT",
    "BASHOPTS",
    "BASH_ENV",
    "ENV",
    "KSH_ENV",
    "BROWSER",
    "GIT_ALLOW_PROTOCOL",
    "GIT_EDITOR",
    "GIT_EXTERNAL_DIFF",
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_COMMON_DIR",
    "GIT_EXEC_PATH",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_NAMESPACE",
    "GIT_PROTOCOL_FROM_USER",
    "GIT_SEQUENCE_EDITOR",
    "GIT_TEMPLATE_DIR",
    "GIT_SSL_NO_VERIFY",
    "GIT_SSL_CAINFO",
    "GIT_SSL_CAPATH",
    "CC",
    "CPP",
    "CXX",
    "CXXCPP",
    "CARGO_BUILD_RUSTC",
    "CARGO_BUILD_RUSTC_WRAPPER",
    "CARGO_BUILD_RUSTC_WORKSPACE_WRAPPER",
    "CARGO_BUILD_RUSTDOC",
    "RUSTC",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "RUSTDOC",
    "CMAKE_C_COMPILER",
    "CMAKE_CXX_COMPILER",
    "SHELL",
    "SHELLOPTS",
    "PS4",
    "GCONV_PATH",
    "IFS",
    "SSLKEYLOGFILE",
    "JAVA_OPTS",
    "JAVA_TOOL_OPTIONS",
    "_JAVA_OPTIONS",
    "JDK_JAVA_OPTIONS",
    "PYTHONBREAKPOINT",
    "DOTNET_STARTUP_HOOKS",
    "DOTNET_ADDITIONAL_DEPS",
    "FPATH",
    "GLIBC_TUNABLES",
    "MAVEN_OPTS",
    "MAKE",
    "MAKEFLAGS",
    "MFLAGS",
    "SBT_OPTS",
    "GRADLE_OPTS",
    "ANT_OPTS",
    "HGRCPATH",
    "HGEDITOR",
    "HGMERGE",
    "EXINIT",
    "VIMINIT",
    "MYVIMRC",
    "GVIMINIT",
    "LUA_INIT",
    "LUA_INIT_5_1",
    "LUA_INIT_5_2",
    "LUA_INIT_5_3",
    "LUA_INIT_5_4",
    "EMACSLOADPATH",
    "RUBYSHELL",
    "GIT_HOOK_PATH",
    "SVN_EDITOR",
    "SVN_SSH",
    "BZR_EDITOR",
    "BZR_SSH",
    "BZR_PLUGIN_PATH",
    "SUDO_ASKPASS",
    "JULIA_EDITOR",
    "CONFIG_SITE",
    "CONFIG_SHELL",
    "CMAKE_TOOLCHAIN_FILE",
    "CATALINA_OPTS",
    "CORECLR_PROFILER",
    "HELM_PLUGINS",
    "PACKER_PLUGIN_PATH",
    "VAGRANT_VAGRANTFILE",
    "ERL_AFLAGS",
    "ERL_FLAGS",
    "ERL_ZFLAGS",
    "ELIXIR_ERL_OPTIONS",
    "R_ENVIRON",
    "R_PROFILE",
    "R_ENVIRON_USER",
    "R_PROFILE_USER",
    "TCLLIBPATH",
    "HOSTALIASES",
];

/// Prefixes blocked everywhere.
pub const BLOCKED_PREFIXES: &[&str] = &["DYLD_", "LD_", "BASH_FUNC_"];

/// Prefixes blocked for overrides only.
pub const BLOCKED_OVERRIDE_PREFIXES: &[&str] = &["GIT_CONFIG_", "NPM_CONFIG_", "CARGO_REGISTRIES_", "TF_VAR_"];

/// Blocked as overrides, but kept when inherited.
pub const OVERRIDE_BLOCKED_INHERIT_OK: &[&str] = &[
    "HOME",
    "GRADLE_USER_HOME",
    "ZDOTDIR",
    "PAGER",
    "MANPAGER",
    "GIT_PAGER",
    "HISTFILE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "NODE_TLS_REJECT_UNAUTHORIZED",
    "NODE_EXTRA_CA_CERTS",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "DOCKER_HOST",
    "DOCKER_TLS_VERIFY",
    "DOCKER_CERT_PATH",
    "DOCKER_CONTEXT",
    "RUSTUP_DIST_ROOT",
    "RUSTUP_DIST_SERVER",
    "RUSTUP_HOME",
    "RUSTUP_TOOLCHAIN",
    "RUSTUP_UPDATE_ROOT",
    "XDG_CACHE_HOME",
    "XDG_CONFIG_DIRS",
    "XDG_CONFIG_HOME",
    "XDG_DATA_DIRS",
    "XDG_DATA_HOME",
    "XDG_RUNTIME_DIR",
    "XDG_STATE_HOME",
    "AWS_CONFIG_FILE",
    "KUBECONFIG",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AZURE_AUTH_LOCATION",
    "SSH_AUTH_SOCK",
    "SYSTEMROOT",
    "WINDIR",
];

/// Blocked as overrides and dropped when inherited.
pub const OVERRIDE_BLOCKED_INHERIT_DROPPED: &[&str] = &[
    "GIT_SSH_COMMAND",
    "GIT_SSH",
    "GIT_PROXY_COMMAND",
    "GIT_ASKPASS",
    "SSH_ASKPASS",
    "LESSOPEN",
    "LESSCLOSE",
    "EDITOR",
    "VISUAL",
    "FCEDIT",
    "SUDO_EDITOR",
    "PROMPT_COMMAND",
    "PERL5DB",
    "PERL5DBCMD",
    "OPENSSL_CONF",
    "OPENSSL_ENGINES",
    "PYTHONSTARTUP",
    "WGETRC",
    "CURL_HOME",
    "CLASSPATH",
    "CFLAGS",
    "CGO_CFLAGS",
    "CGO_LDFLAGS",
    "GOFLAGS",
    "CORECLR_PROFILER_PATH",
    "PHPRC",
    "PHP_INI_SCAN_DIR",
    "DENO_DIR",
    "BUN_CONFIG_REGISTRY",
    "YARN_RC_FILENAME",
    "PIP_INDEX_URL",
    "PIP_PYPI_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_CONFIG_FILE",
    "PIP_FIND_LINKS",
    "PIP_TRUSTED_HOST",
    "UV_INDEX",
    "UV_INDEX_URL",
    "UV_PYTHON",
    "UV_EXTRA_INDEX_URL",
    "UV_DEFAULT_INDEX",
    "LIBRARY_PATH",
    "LDFLAGS",
    "CPATH",
    "C_INCLUDE_PATH",
    "CPLUS_INCLUDE_PATH",
    "OBJC_INCLUDE_PATH",
    "GOPROXY",
    "GONOSUMCHECK",
    "GONOSUMDB",
    "GONOPROXY",
    "GOPRIVATE",
    "GOENV",
    "GOPATH",
    "PYTHONUSERBASE",
    "RUSTFLAGS",
    "CARGO_HOME",
    "VIRTUAL_ENV",
    "LUA_PATH",
    "LUA_CPATH",
    "GEM_HOME",
    "GEM_PATH",
    "BUNDLE_GEMFILE",
    "COMPOSER_HOME",
    "CONDA_DEFAULT_ENV",
    "CONDA_PREFIX",
    "HELM_HOME",
    "ANSIBLE_CONFIG",
    "ANSIBLE_LIBRARY",
    "ANSIBLE_CALLBACK_PLUGINS",
    "ANSIBLE_COLLECTIONS_PATH",
    "ANSIBLE_CONNECTION_PLUGINS",
    "ANSIBLE_FILTER_PLUGINS",
    "ANSIBLE_INVENTORY_PLUGINS",
    "ANSIBLE_LOOKUP_PLUGINS",
    "ANSIBLE_MODULE_UTILS",
    "ANSIBLE_REMOTE_TEMP",
    "ANSIBLE_ROLES_PATH",
    "ANSIBLE_STRATEGY_PLUGINS",
    "R_LIBS_USER",
    "TF_CLI_CONFIG_FILE",
    "TF_PLUGIN_CACHE_DIR",
    "AMQP_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SECURITY_TOKEN",
    "AWS_SESSION_TOKEN",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "DATABASE_URL",
    "GH_TOKEN",
    "GITHUB_TOKEN",
    "GITLAB_TOKEN",
    "MONGODB_URI",
    "NODE_AUTH_TOKEN",
    "NPM_TOKEN",
    "REDIS_URL",
];

/// Overrides that survive for shell-wrapper invocations (plus any `LC_*`).
pub const SHELL_WRAPPER_ALLOWED: &[&str] = &[
    "TERM",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "LC_MESSAGES",
    "COLORTERM",
    "NO_COLOR",
    "FORCE_COLOR",
    "OPENCLAW_SUBAGENT_EXEC",
];

fn is_portable_key(key: &str) -> bool {
    let mut chars = key.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_cargo_target_tool(key: &str) -> bool {
    key.strip_prefix("CARGO_TARGET_")
        .and_then(|rest| rest.strip_suffix("_LINKER").or_else(|| rest.strip_suffix("_RUNNER")))
        .is_some_and(|mid| {
            !mid.is_empty() && mid.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
}

/// Whether an override key is refused (keys are compared upper-cased).
pub fn is_blocked_override(key: &str) -> bool {
    let k = key.to_ascii_uppercase();
    k == "PATH"
        || BLOCKED_EVERYWHERE.contains(&k.as_str())
        || OVERRIDE_BLOCKED_INHERIT_OK.contains(&k.as_str())
        || OVERRIDE_BLOCKED_INHERIT_DROPPED.contains(&k.as_str())
        || BLOCKED_PREFIXES.iter().chain(BLOCKED_OVERRIDE_PREFIXES).any(|p| k.starts_with(p))
        || is_cargo_target_tool(&k)
}

fn is_dropped_when_inherited(key: &str) -> bool {
    let k = key.to_ascii_uppercase();
    (BLOCKED_EVERYWHERE.contains(&k.as_str()) && k != "GIT_ALLOW_PROTOCOL" && k != "GIT_PROTOCOL_FROM_USER")
        || BLOCKED_PREFIXES.iter().any(|p| k.starts_with(p))
        || OVERRIDE_BLOCKED_INHERIT_DROPPED.contains(&k.as_str())
}

/// Why a request's env overrides were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SYSTEM_RUN_DENIED: environment override rejected ({})", self.parts())]
pub struct OverrideRejected {
    /// Upper-cased, sorted, unique.
    pub blocked: Vec<String>,
    /// As given, sorted, unique.
    pub invalid: Vec<String>,
}

impl OverrideRejected {
    fn parts(&self) -> String {
        let mut parts = Vec::new();
        if !self.blocked.is_empty() {
            parts.push(format!("blocked override keys: {}", self.blocked.join(", ")));
        }
        if !self.invalid.is_empty() {
            parts.push(format!("invalid non-portable override keys: {}", self.invalid.join(", ")));
        }
        parts.join("; ")
    }
}

/// Validates the request's `env` overrides. `PAGER`/`GIT_PAGER` of `cat` or empty are accepted
/// and normalised to empty; any other refused key fails the whole request.
pub fn validate_overrides(overrides: &BTreeMap<String, String>) -> Result<BTreeMap<String, String>, OverrideRejected> {
    let mut blocked = Vec::new();
    let mut invalid = Vec::new();
    let mut accepted = BTreeMap::new();
    for (raw_key, value) in overrides {
        let key = raw_key.trim();
        if !is_portable_key(key) {
            invalid.push(raw_key.clone());
            continue;
        }
        let upper = key.to_ascii_uppercase();
        if (upper == "PAGER" || upper == "GIT_PAGER") && (value == "cat" || value.is_empty()) {
            accepted.insert(key.to_string(), String::new());
            continue;
        }
        if is_blocked_override(key) {
            blocked.push(upper);
            continue;
        }
        accepted.insert(key.to_string(), value.clone());
    }
    if blocked.is_empty() && invalid.is_empty() {
        return Ok(accepted);
    }
    blocked.sort();
    blocked.dedup();
    invalid.sort();
    invalid.dedup();
    Err(OverrideRejected { blocked, invalid })
}

/// An `env NAME=…` inside the command's dispatch wrappers assigns a key that is refused as an
/// override.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SYSTEM_RUN_DENIED: command env assignment rejected (blocked env assignment keys: {})", self.blocked.join(", "))]
pub struct EnvAssignmentRejected {
    /// Upper-cased, sorted, unique.
    pub blocked: Vec<String>,
}

/// Refuses a command whose dispatch wrappers (up to four deep: `nice env X=…`, `env -- env
/// X=…`) assign a key that would be refused as an override: the assignment would change what
/// the command loads exactly as the override would. The keys are judged as overrides with a
/// placeholder value, so `PAGER=…` counts as blocked whatever its value.
pub fn check_command_env_assignments(argv: &[String]) -> Result<(), EnvAssignmentRejected> {
    let keys = crate::wrappers::env_assignment_keys(argv);
    if keys.is_empty() {
        return Ok(());
    }
    let as_overrides: BTreeMap<String, String> = keys.into_iter().map(|k| (k, "1".to_string())).collect();
    match validate_overrides(&as_overrides) {
        Err(rejected) if !rejected.blocked.is_empty() => Err(EnvAssignmentRejected { blocked: rejected.blocked }),
        _ => Ok(()),
    }
}

/// Keeps only the overrides a shell wrapper may see (terminal and locale settings, and the
/// PAGER normalisation).
pub fn filter_for_shell_wrapper(accepted: BTreeMap<String, String>) -> BTreeMap<String, String> {
    accepted
        .into_iter()
        .filter(|(k, v)| {
            let u = k.to_ascii_uppercase();
            SHELL_WRAPPER_ALLOWED.contains(&u.as_str())
                || u.starts_with("LC_")
                || ((u == "PAGER" || u == "GIT_PAGER") && v.is_empty())
        })
        .collect()
}

/// The child's environment: the node's inherited env without dangerous keys, the accepted
/// overrides on top, and `OPENCLAW_CLI=1`.
pub fn child_env(
    inherited: &BTreeMap<String, String>,
    overrides: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for (k, v) in inherited {
        if is_dropped_when_inherited(k) {
            continue;
        }
        match k.to_ascii_uppercase().as_str() {
            "GIT_ALLOW_PROTOCOL" => {
                let kept: Vec<&str> = v.split(':').filter(|p| ["git", "http", "https", "ssh"].contains(p)).collect();
                env.insert(k.clone(), kept.join(":"));
            }
            "GIT_PROTOCOL_FROM_USER" => {
                let permissive = matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "yes" | "on")
                    || v.trim().parse::<f64>().is_ok_and(|n| n != 0.0);
                env.insert(k.clone(), if permissive { "0".into() } else { v.clone() });
            }
            _ => {
                env.insert(k.clone(), v.clone());
            }
        }
    }
    for (k, v) in overrides {
        env.insert(k.clone(), v.clone());
    }
    env.insert("OPENCLAW_CLI".into(), "1".into());
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// Appendix B: blocked and invalid keys, with the upstream message.
    #[test]
    fn override_rejection_vector() {
        let err = validate_overrides(&map(&[
            ("PATH", "/x"),
            ("LD_PRELOAD", "x.so"),
            ("HOME", "/h"),
            ("GIT_PAGER", "less"),
            ("FOO", "1"),
            ("BAD-KEY", "1"),
        ]))
        .unwrap_err();
        assert_eq!(err.blocked, ["GIT_PAGER", "HOME", "LD_PRELOAD", "PATH"]);
        assert_eq!(err.invalid, ["BAD-KEY"]);
        assert_eq!(
            err.to_string(),
            "SYSTEM_RUN_DENIED: environment override rejected (blocked override keys: GIT_PAGER, HOME, LD_PRELOAD, PATH; invalid non-portable override keys: BAD-KEY)"
        );
        let only_invalid = validate_overrides(&map(&[("x-y", "1")])).unwrap_err();
        assert_eq!(
            only_invalid.to_string(),
            "SYSTEM_RUN_DENIED: environment override rejected (invalid non-portable override keys: x-y)"
        );
        for key in [
            "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER",
            "GIT_CONFIG_COUNT",
            "npm_config_registry",
            "TF_VAR_x",
            "DYLD_INSERT_LIBRARIES",
            "BASH_FUNC_f%%",
        ] {
            assert!(validate_overrides(&map(&[(key, "1")])).is_err(), "{key}");
        }
    }

    /// Rule (§5.3): env assignments are refused through any dispatch wrapper chain up to four
    /// deep, with upstream's message; harmless keys and assignments behind `command` pass.
    #[test]
    fn command_env_assignment_rule() {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let err = check_command_env_assignments(&v(&["nice", "-n", "5", "env", "PATH=/x", "ls"])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "SYSTEM_RUN_DENIED: command env assignment rejected (blocked env assignment keys: PATH)"
        );
        assert!(check_command_env_assignments(&v(&["env", "--", "env", "LD_PRELOAD=x", "ls"])).is_err());
        assert!(check_command_env_assignments(&v(&["timeout", "5", "env", "X=1", "ls"])).is_ok());
        assert!(check_command_env_assignments(&v(&["timeout", "5", "env", "LD_PRELOAD=x", "ls"])).is_err());
        let deep = ["nice", "timeout", "5", "nohup", "env", "LD_PRELOAD=x", "ls"];
        assert!(check_command_env_assignments(&v(&deep)).is_err(), "three wrappers deep");
        let both = check_command_env_assignments(&v(&["env", "pager=less", "LD_PRELOAD=x", "ls"])).unwrap_err();
        assert_eq!(both.blocked, ["LD_PRELOAD", "PAGER"]);
        assert!(check_command_env_assignments(&v(&["env", "PAGER=cat", "ls"])).is_err(), "judged with a placeholder");
        assert!(check_command_env_assignments(&v(&["command", "env", "LD_PRELOAD=x", "ls"])).is_ok());
    }

    /// Appendix B: only terminal/locale overrides survive a shell wrapper; PAGER=cat → "".
    #[test]
    fn shell_wrapper_filter_vector() {
        let accepted =
            validate_overrides(&map(&[("TERM", "xterm"), ("FOO", "1"), ("LC_ALL", "C"), ("PAGER", "cat")])).unwrap();
        assert_eq!(filter_for_shell_wrapper(accepted), map(&[("TERM", "xterm"), ("LC_ALL", "C"), ("PAGER", "")]));
    }

    /// §5.3 [verified] base env + overrides → child env.
    #[test]
    fn child_env_vector() {
        let base = map(&[
            ("PATH", "/usr/bin"),
            ("HOME", "/h"),
            ("NODE_OPTIONS", "--x"),
            ("LD_PRELOAD", "x"),
            ("BASH_FUNC_foo", "()"),
            ("AWS_ACCESS_KEY_ID", "a"),
            ("GITHUB_TOKEN", "t"),
            ("EDITOR", "vi"),
            ("PAGER", "less"),
            ("SSH_AUTH_SOCK", "/s"),
            ("GIT_ALLOW_PROTOCOL", "file:https:ext"),
            ("GIT_PROTOCOL_FROM_USER", "1"),
            ("HTTP_PROXY", "p"),
            ("XDG_CONFIG_HOME", "/x"),
            ("GOPATH", "/g"),
            ("TERM", "xterm"),
            ("SHELL", "/bin/bash"),
            ("FOO", "bar"),
        ]);
        let overrides = validate_overrides(&map(&[("FOO", "baz"), ("NEW", "1"), ("PAGER", "cat")])).unwrap();
        let env = child_env(&base, &overrides);
        assert_eq!(
            env,
            map(&[
                ("PATH", "/usr/bin"),
                ("HOME", "/h"),
                ("PAGER", ""),
                ("SSH_AUTH_SOCK", "/s"),
                ("GIT_ALLOW_PROTOCOL", "https"),
                ("GIT_PROTOCOL_FROM_USER", "0"),
                ("HTTP_PROXY", "p"),
                ("XDG_CONFIG_HOME", "/x"),
                ("TERM", "xterm"),
                ("FOO", "baz"),
                ("NEW", "1"),
                ("OPENCLAW_CLI", "1"),
            ])
        );
    }
}
