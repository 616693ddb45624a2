//! Which shared secret a client sends (`nodehost.md` §3.3).
//!
//! The node host and the operator CLI read the same `openclaw.json` and env, so they resolve
//! the secret with this one function and cannot disagree about precedence.
//!
//! Env first (`OPENCLAW_GATEWAY_TOKEN` / `OPENCLAW_GATEWAY_PASSWORD`), then `openclaw.json`
//! (`gateway.auth.*`, and `gateway.remote.*` in remote mode). A SecretRef is resolved only
//! on a path that can still win under `gateway.auth.mode`; if it cannot be resolved the node
//! refuses to start rather than connect with a weaker credential.

use openclaw_state::config::{ConfigError, OpenClawConfig, SecretError, SecretInput, SecretResolver};

/// The shared credentials selected for `connect.auth`. Debug output is redacted.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct GatewayCredentials {
    /// `connect.auth.token`.
    pub token: Option<String>,
    /// `connect.auth.password`.
    pub password: Option<String>,
}

impl std::fmt::Debug for GatewayCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayCredentials")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Credential resolution failed; the client must not connect with a weaker credential.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// A SecretRef on a winning path could not be resolved.
    #[error("{path} is configured as a secret reference but is unavailable in this command path ({cause}).\nFix: set OPENCLAW_GATEWAY_TOKEN/OPENCLAW_GATEWAY_PASSWORD, or make the reference resolvable.")]
    SecretRefUnavailable {
        /// The config path holding the reference, e.g. `gateway.auth.token`.
        path: String,
        /// Why the reference did not resolve.
        #[source]
        cause: SecretError,
    },
    /// The config has a malformed secret input.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// Which kind of secret a field holds.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Token,
    Password,
}

/// Resolves the shared credentials a client sends in `connect.auth`.
///
/// `env_only` is set when this endpoint already has a stored device token: then only the
/// env vars are honoured and config auth is skipped, as upstream does.
pub fn resolve_credentials(
    cfg: &OpenClawConfig,
    env: &dyn Fn(&str) -> Option<String>,
    env_only: bool,
) -> Result<GatewayCredentials, CredentialError> {
    let from_env = |k: &str| env(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    let env_token = from_env("OPENCLAW_GATEWAY_TOKEN");
    let env_password = from_env("OPENCLAW_GATEWAY_PASSWORD");
    if env_only {
        return Ok(GatewayCredentials { token: env_token, password: env_password });
    }
    let remote = cfg.get_str("gateway.mode") == Some("remote");
    let paths = |kind: Kind| -> Vec<&'static str> {
        match (kind, remote) {
            (Kind::Token, true) => vec!["gateway.remote.token", "gateway.auth.token"],
            (Kind::Token, false) => vec!["gateway.auth.token"],
            (Kind::Password, true) => vec!["gateway.remote.password", "gateway.auth.password"],
            (Kind::Password, false) => vec!["gateway.auth.password"],
        }
    };
    // The first configured input per field is its selection (env already wins above it).
    let selected = |kind: Kind| -> Result<Option<(&'static str, SecretInput)>, ConfigError> {
        for path in paths(kind) {
            if let Some(input) = cfg.secret_input(path)? {
                return Ok(Some((path, input)));
            }
        }
        Ok(None)
    };
    let token_sel = if env_token.is_some() { None } else { selected(Kind::Token)? };
    let password_sel = if env_password.is_some() { None } else { selected(Kind::Password)? };
    let literal = |s: &Option<(&str, SecretInput)>| matches!(s, Some((_, SecretInput::Literal(_))));
    let token_settled = env_token.is_some() || literal(&token_sel);
    let password_settled = env_password.is_some() || literal(&password_sel);
    let can_win = |kind: Kind| match cfg.get_str("gateway.auth.mode") {
        Some("token") => kind == Kind::Token,
        Some("password") | Some("trusted-proxy") => kind == Kind::Password,
        Some("none") => false,
        _ => match kind {
            Kind::Token => !password_settled,
            Kind::Password => !token_settled,
        },
    };
    let resolver = SecretResolver::new(cfg, env);
    let resolve = |kind: Kind, env_value: Option<String>, sel: Option<(&'static str, SecretInput)>| {
        if env_value.is_some() {
            return Ok(env_value);
        }
        match sel {
            None => Ok(None),
            Some((_, SecretInput::Literal(v))) => Ok(Some(v)),
            Some((path, SecretInput::Ref(r))) => {
                if !can_win(kind) {
                    return Ok(None);
                }
                resolver
                    .resolve(&r)
                    .map(Some)
                    .map_err(|cause| CredentialError::SecretRefUnavailable { path: path.to_string(), cause })
            }
        }
    };
    let token = resolve(Kind::Token, env_token.clone(), token_sel)?;
    let password = resolve(Kind::Password, env_password.clone(), password_sel)?;
    Ok(GatewayCredentials { token, password })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::HashMap;

    fn run(cfg: serde_json::Value, env: &[(&str, &str)]) -> Result<GatewayCredentials, CredentialError> {
        let map: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let lookup = move |k: &str| map.get(k).cloned();
        resolve_credentials(&OpenClawConfig::from_value(cfg), &lookup, false)
    }

    fn creds(token: Option<&str>, password: Option<&str>) -> GatewayCredentials {
        GatewayCredentials { token: token.map(String::from), password: password.map(String::from) }
    }

    /// The observed matrix of nodehost.md §3.3, row by row.
    #[test]
    fn upstream_matrix() {
        let ref_missing = json!({"gateway": {"auth": {"token": {"source": "env", "id": "MISSING_NODE_TOKEN"}}}});
        assert_eq!(
            run(ref_missing.clone(), &[("MISSING_NODE_TOKEN", "fromref")]).unwrap(),
            creds(Some("fromref"), None)
        );
        assert_eq!(
            run(ref_missing.clone(), &[("OPENCLAW_GATEWAY_TOKEN", "envtok")]).unwrap(),
            creds(Some("envtok"), None)
        );
        let err = run(ref_missing, &[]).unwrap_err().to_string();
        assert!(err.starts_with("gateway.auth.token is configured as a secret reference but is unavailable"), "{err}");

        let local = json!({"gateway": {"auth": {"token": "cfgtok"}, "remote": {"token": "remote-tok"}}});
        assert_eq!(run(local, &[]).unwrap(), creds(Some("cfgtok"), None));
        let only_remote = json!({"gateway": {"remote": {"token": "remote-tok", "password": "rp"}}});
        assert_eq!(run(only_remote, &[]).unwrap(), creds(None, None));
        let remote =
            json!({"gateway": {"mode": "remote", "remote": {"token": "remote-tok"}, "auth": {"token": "local-tok"}}});
        assert_eq!(run(remote.clone(), &[]).unwrap(), creds(Some("remote-tok"), None));
        assert_eq!(run(remote, &[("OPENCLAW_GATEWAY_TOKEN", "envtok")]).unwrap(), creds(Some("envtok"), None));
        let pw = json!({"gateway": {"auth": {"password": "pw1"}}});
        assert_eq!(run(pw.clone(), &[]).unwrap(), creds(None, Some("pw1")));
        assert_eq!(run(pw, &[("OPENCLAW_GATEWAY_TOKEN", "envtok")]).unwrap(), creds(Some("envtok"), Some("pw1")));
        let cannot_win = json!({"gateway": {"auth": {"token": {"source": "env", "id": "NOPE_X"}, "password": "pw2"}}});
        assert_eq!(run(cannot_win, &[]).unwrap(), creds(None, Some("pw2")));
    }

    #[test]
    fn auth_mode_limits_which_refs_resolve() {
        let cfg = json!({"gateway": {"auth": {"mode": "password", "token": {"source": "env", "id": "NOPE"}, "password": "${PW}"}}});
        assert_eq!(run(cfg.clone(), &[("PW", "p")]).unwrap(), creds(None, Some("p")));
        assert!(run(cfg, &[]).is_err(), "the password ref can win and is missing");
        let none = json!({"gateway": {"auth": {"mode": "none", "token": {"source": "env", "id": "NOPE"}}}});
        assert_eq!(run(none, &[]).unwrap(), creds(None, None));
    }

    #[test]
    fn env_only_skips_config() {
        let lookup = |k: &str| (k == "OPENCLAW_GATEWAY_PASSWORD").then(|| " pw ".to_string());
        let cfg = OpenClawConfig::from_value(json!({"gateway": {"auth": {"token": {"source": "env", "id": "NOPE"}}}}));
        assert_eq!(resolve_credentials(&cfg, &lookup, true).unwrap(), creds(None, Some("pw")));
        assert!(!format!("{:?}", creds(Some("secret"), None)).contains("secret"));
    }
}
