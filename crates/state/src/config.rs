//! `openclaw.json` (JSON5) and SecretRef resolution (`nodehost.md` §3).
//!
//! The node host reads only a handful of keys, so the config is kept as a JSON tree with a
//! dotted-path accessor rather than a full typed schema. Secrets are the exception: a
//! SecretInput is parsed into [`SecretInput`] and resolved by [`SecretResolver`], which fails
//! closed — a reference that cannot be resolved is an error, never an empty credential — and
//! never puts a secret value into an error message. The `file` and `exec` providers live in
//! `providers`, the error enums in `errors`.

use std::path::{Path, PathBuf};

use serde_json::Value;

mod errors;
mod providers;
pub use errors::{ConfigTextError, SecretFailure, SecretInputError};
use providers::{resolve_exec, resolve_file};

/// Environment variables that carry the node's gateway credentials: written only to private
/// service env files, and never passed on to the commands the node runs.
pub const CREDENTIAL_ENV_KEYS: [&str; 4] =
    ["OPENCLAW_GATEWAY_TOKEN", "OPENCLAW_GATEWAY_PASSWORD", "CF_ACCESS_CLIENT_ID", "CF_ACCESS_CLIENT_SECRET"];

/// A problem with the config file itself.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file exists but could not be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The config file.
        path: PathBuf,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid JSON5 (or not an object at the top).
    #[error("config {path} is invalid: {reason}")]
    Parse {
        /// The config file.
        path: PathBuf,
        /// Where the parser stopped, or what the top level is.
        reason: ConfigTextError,
    },
    /// A SecretInput has the wrong shape.
    #[error("{path} is not a valid secret input: {reason}")]
    BadSecretInput {
        /// The config key (dotted path) holding the bad value.
        path: String,
        /// What shape was expected.
        reason: SecretInputError,
    },
}

/// The parsed `openclaw.json`; an absent file is an empty config.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OpenClawConfig {
    root: Value,
}

impl OpenClawConfig {
    /// Loads and parses the file (JSON5: comments, trailing commas, unquoted keys).
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => return Err(ConfigError::Read { path: path.to_path_buf(), source }),
        };
        Self::parse(&text).map_err(|reason| ConfigError::Parse { path: path.to_path_buf(), reason })
    }

    /// Parses config text.
    pub fn parse(text: &str) -> Result<Self, ConfigTextError> {
        // The parser's own message quotes the offending source line, which may hold a secret:
        // report only where the error is.
        let root: Value = json5::from_str(text).map_err(|e| match e {
            json5::Error::Message { location: Some(at), .. } => {
                ConfigTextError::Syntax { line: at.line, column: at.column }
            }
            json5::Error::Message { location: None, .. } => ConfigTextError::SyntaxSomewhere,
        })?;
        if !root.is_object() {
            return Err(ConfigTextError::NotAnObject);
        }
        Ok(OpenClawConfig { root })
    }

    /// Wraps an already-parsed tree (tests, callers that build config in code).
    pub fn from_value(root: Value) -> Self {
        OpenClawConfig { root }
    }

    /// The whole tree.
    pub fn root(&self) -> &Value {
        &self.root
    }

    /// The value at a dotted path such as `gateway.auth.token`.
    pub fn get(&self, dotted: &str) -> Option<&Value> {
        dotted.split('.').try_fold(&self.root, |v, k| v.get(k)).filter(|v| !v.is_null())
    }

    /// A string at a dotted path.
    pub fn get_str(&self, dotted: &str) -> Option<&str> {
        self.get(dotted)?.as_str()
    }

    /// A boolean at a dotted path.
    pub fn get_bool(&self, dotted: &str) -> Option<bool> {
        self.get(dotted)?.as_bool()
    }

    /// Parses the SecretInput at `dotted`; `None` when absent or an empty literal.
    pub fn secret_input(&self, dotted: &str) -> Result<Option<SecretInput>, ConfigError> {
        match self.get(dotted) {
            None => Ok(None),
            Some(v) => SecretInput::parse(v, self.default_alias(SecretSource::Env), |s| self.default_alias(s))
                .map_err(|reason| ConfigError::BadSecretInput { path: dotted.to_string(), reason }),
        }
    }

    fn default_alias(&self, source: SecretSource) -> String {
        self.get_str(&format!("secrets.defaults.{}", source.as_str())).unwrap_or("default").to_string()
    }
}

/// Where a SecretRef's value lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretSource {
    /// An environment variable.
    Env,
    /// A private local file (JSON pointer or single value).
    File,
    /// The stdout of a trusted resolver program.
    Exec,
    /// OpenClaw's shared secret store (not available to the node host; fails closed).
    Store,
}

impl SecretSource {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "env" => SecretSource::Env,
            "file" => SecretSource::File,
            "exec" => SecretSource::Exec,
            "store" => SecretSource::Store,
            _ => return None,
        })
    }

    /// The string used in config.
    pub fn as_str(self) -> &'static str {
        match self {
            SecretSource::Env => "env",
            SecretSource::File => "file",
            SecretSource::Exec => "exec",
            SecretSource::Store => "store",
        }
    }
}

/// `{source, provider, id}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRef {
    /// Which kind of provider resolves it.
    pub source: SecretSource,
    /// The provider's name under `secrets.providers` (the default env provider when omitted).
    pub provider: String,
    /// What to look up in that provider (variable name, JSON pointer, key).
    pub id: String,
}

/// A config value that is either a literal secret or a reference to one.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretInput {
    /// A plain string (trimmed, non-empty).
    Literal(String),
    /// A reference to resolve.
    Ref(SecretRef),
}

impl std::fmt::Debug for SecretInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretInput::Literal(_) => f.write_str("Literal(<redacted>)"),
            SecretInput::Ref(r) => f.debug_tuple("Ref").field(r).finish(),
        }
    }
}

fn is_env_id(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && b[0].is_ascii_uppercase()
        && b.iter().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == b'_')
}

fn is_provider_alias(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_lowercase()
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_' || *c == b'-')
}

fn is_exec_id(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 256
        && b[0].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || b"._:/#-".contains(c))
        && !s.split('/').any(|seg| seg == "." || seg == "..")
}

impl SecretInput {
    /// Parses a config value. `"$NAME"` / `"${NAME}"` are env references; an object must
    /// have exactly `source`, `provider` (optional) and `id`. Empty literals are `None`.
    pub fn parse(
        value: &Value,
        default_env_alias: String,
        default_alias: impl Fn(SecretSource) -> String,
    ) -> Result<Option<Self>, SecretInputError> {
        match value {
            Value::String(s) => {
                let name = s.strip_prefix("${").and_then(|r| r.strip_suffix('}')).or_else(|| s.strip_prefix('$'));
                if let Some(name) = name.filter(|n| is_env_id(n)) {
                    return Ok(Some(SecretInput::Ref(SecretRef {
                        source: SecretSource::Env,
                        provider: default_env_alias,
                        id: name.to_string(),
                    })));
                }
                let t = s.trim();
                Ok((!t.is_empty()).then(|| SecretInput::Literal(t.to_string())))
            }
            Value::Object(map) => {
                if let Some(extra) = map.keys().find(|k| !["source", "provider", "id"].contains(&k.as_str())) {
                    return Err(SecretInputError::UnexpectedKey(extra.clone()));
                }
                let source = map
                    .get("source")
                    .and_then(Value::as_str)
                    .and_then(SecretSource::parse)
                    .ok_or(SecretInputError::BadSource)?;
                let id = map.get("id").and_then(Value::as_str).ok_or(SecretInputError::IdNotString)?.to_string();
                let provider = match map.get("provider") {
                    None => default_alias(source),
                    Some(Value::String(p)) if is_provider_alias(p) => p.clone(),
                    Some(_) => return Err(SecretInputError::BadProvider),
                };
                let id_ok = match source {
                    SecretSource::Env | SecretSource::Store => is_env_id(&id),
                    SecretSource::File => id == "value" || id.starts_with('/'),
                    SecretSource::Exec => is_exec_id(&id),
                };
                if !id_ok {
                    return Err(SecretInputError::BadId { id, kind: source });
                }
                Ok(Some(SecretInput::Ref(SecretRef { source, provider, id })))
            }
            _ => Err(SecretInputError::NotStringOrObject),
        }
    }
}

/// Why a SecretRef could not be resolved. Never contains the secret.
#[derive(Debug, thiserror::Error)]
#[error("secret reference {source_name}:{provider}:{id} could not be resolved: {reason}")]
pub struct SecretError {
    /// The reference's source (`env`, `file`, `exec`, `store`), so the user knows where to look.
    pub source_name: &'static str,
    /// The reference's provider.
    pub provider: String,
    /// The reference's id.
    pub id: String,
    /// What went wrong, without the secret (boxed: this error travels inside others).
    pub reason: Box<SecretFailure>,
}

/// Resolves SecretRefs against the config's providers and an environment.
pub struct SecretResolver<'a> {
    config: &'a OpenClawConfig,
    env: &'a dyn Fn(&str) -> Option<String>,
}

impl<'a> SecretResolver<'a> {
    /// A resolver reading providers from `config` and env vars through `env`.
    pub fn new(config: &'a OpenClawConfig, env: &'a dyn Fn(&str) -> Option<String>) -> Self {
        SecretResolver { config, env }
    }

    /// Resolves a SecretInput to its value.
    pub fn resolve_input(&self, input: &SecretInput) -> Result<String, SecretError> {
        match input {
            SecretInput::Literal(s) => Ok(s.clone()),
            SecretInput::Ref(r) => self.resolve(r),
        }
    }

    /// Resolves a reference; an empty value is an error.
    pub fn resolve(&self, r: &SecretRef) -> Result<String, SecretError> {
        let fail = |reason: SecretFailure| SecretError {
            source_name: r.source.as_str(),
            provider: r.provider.clone(),
            id: r.id.clone(),
            reason: Box::new(reason),
        };
        let entry = self.config.get(&format!("secrets.providers.{}", r.provider));
        let entry_source = entry.and_then(|e| e.get("source")).and_then(Value::as_str);
        let value = match r.source {
            SecretSource::Env => {
                let is_default = r.provider == self.config.default_alias(SecretSource::Env);
                match (entry_source, is_default) {
                    (Some("env"), _) => {
                        if let Some(list) = entry.and_then(|e| e.get("allowlist")).and_then(Value::as_array) {
                            if !list.iter().any(|v| v.as_str() == Some(&r.id)) {
                                return Err(fail(SecretFailure::NotInAllowlist));
                            }
                        }
                    }
                    (_, true) => {}
                    _ => return Err(fail(SecretFailure::NoProvider(SecretSource::Env))),
                }
                (self.env)(&r.id).ok_or_else(|| fail(SecretFailure::EnvUnset))?
            }
            SecretSource::File => {
                let entry = entry
                    .filter(|_| entry_source == Some("file"))
                    .ok_or_else(|| fail(SecretFailure::NoProvider(SecretSource::File)))?;
                resolve_file(entry, &r.id).map_err(fail)?
            }
            SecretSource::Exec => {
                let entry = entry
                    .filter(|_| entry_source == Some("exec"))
                    .ok_or_else(|| fail(SecretFailure::NoProvider(SecretSource::Exec)))?;
                resolve_exec(entry, &r.provider, &r.id, self.env).map_err(fail)?
            }
            SecretSource::Store => return Err(fail(SecretFailure::StoreUnavailable)),
        };
        if value.trim().is_empty() {
            return Err(fail(SecretFailure::Empty));
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::HashMap;
    use std::os::unix::fs::PermissionsExt;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn json5_and_dotted_access() {
        let cfg =
            OpenClawConfig::parse("{ // comment\n gateway: { auth: { token: 'abc', }, mode: \"remote\" }, }").unwrap();
        assert_eq!(cfg.get_str("gateway.auth.token"), Some("abc"));
        assert_eq!(cfg.get_str("gateway.mode"), Some("remote"));
        assert!(cfg.get("gateway.nope.x").is_none());
        assert!(OpenClawConfig::parse("[1]").is_err());
        assert!(OpenClawConfig::parse("{").is_err());
        let err = OpenClawConfig::parse("{ gateway: { auth: { token: \"s3cr3t-value } } }").unwrap_err().to_string();
        assert!(err.starts_with("JSON5 syntax error at line 1") && !err.contains("s3cr3t"), "{err}");
    }

    #[test]
    fn errors_say_what_to_fix_in_the_words_users_already_see() {
        assert_eq!(OpenClawConfig::parse("[1]").unwrap_err(), ConfigTextError::NotAnObject);
        assert_eq!(ConfigTextError::NotAnObject.to_string(), "the top level must be an object");
        assert_eq!(
            OpenClawConfig::parse("{\n  a: ,\n}").unwrap_err().to_string(),
            "JSON5 syntax error at line 2, column 6"
        );
        assert_eq!(ConfigTextError::SyntaxSomewhere.to_string(), "JSON5 syntax error");
        let cfg = OpenClawConfig::from_value(json!({
            "a": {"source": "env", "id": "X", "extra": 1}, "b": {"id": "X"}, "c": {"source": "env"},
            "d": {"source": "env", "provider": "Bad", "id": "X"}, "e": {"source": "file", "id": "rel"}, "f": 5,
        }));
        let message = |p: &str| cfg.secret_input(p).unwrap_err().to_string();
        assert_eq!(message("a"), "a is not a valid secret input: unexpected key \"extra\"");
        assert_eq!(message("b"), "b is not a valid secret input: source must be env, file, exec or store");
        assert_eq!(message("c"), "c is not a valid secret input: id must be a string");
        assert_eq!(message("d"), "d is not a valid secret input: provider must match ^[a-z][a-z0-9_-]{0,63}$");
        assert_eq!(message("e"), "e is not a valid secret input: id \"rel\" is not valid for source file");
        assert_eq!(message("f"), "f is not a valid secret input: expected a string or a SecretRef object");
        let env = env_of(&[]);
        let res = SecretResolver::new(&cfg, &env);
        let failure = |source: SecretSource, id: &str| {
            res.resolve(&SecretRef { source, provider: "nope".into(), id: id.into() }).unwrap_err()
        };
        let err = failure(SecretSource::Exec, "x");
        assert!(matches!(*err.reason, SecretFailure::NoProvider(SecretSource::Exec)));
        assert_eq!(
            err.to_string(),
            "secret reference exec:nope:x could not be resolved: no exec provider with this alias is configured"
        );
        assert_eq!(
            failure(SecretSource::Store, "X").to_string(),
            "secret reference store:nope:X could not be resolved: the secret store is not available to the node host"
        );
    }

    #[test]
    fn secret_input_forms() {
        let cfg = OpenClawConfig::from_value(json!({
            "a": "$MY_TOKEN", "b": "${MY_TOKEN}", "c": " lit ", "d": "", "e": {"source": "env", "id": "X"},
            "f": {"source": "env", "id": "X", "extra": 1}, "g": {"source": "nope", "id": "X"}, "h": "$lower",
            "i": {"source": "exec", "provider": "vault", "id": "a/../b"}
        }));
        let r = |p: &str| cfg.secret_input(p);
        let env_ref = |id: &str| {
            Some(SecretInput::Ref(SecretRef { source: SecretSource::Env, provider: "default".into(), id: id.into() }))
        };
        assert_eq!(r("a").unwrap(), env_ref("MY_TOKEN"));
        assert_eq!(r("b").unwrap(), env_ref("MY_TOKEN"));
        assert_eq!(r("c").unwrap(), Some(SecretInput::Literal("lit".into())));
        assert_eq!(r("d").unwrap(), None);
        assert_eq!(r("e").unwrap(), env_ref("X"));
        assert!(r("f").is_err());
        assert!(r("g").is_err());
        assert_eq!(r("h").unwrap(), Some(SecretInput::Literal("$lower".into())));
        assert!(r("i").is_err());
    }

    #[test]
    fn env_refs_fail_closed() {
        let cfg = OpenClawConfig::from_value(
            json!({"secrets": {"providers": {"strict": {"source": "env", "allowlist": ["OK_VAR"]}}}}),
        );
        let env = env_of(&[("OK_VAR", "v1"), ("OTHER", "v2"), ("EMPTY", " ")]);
        let res = SecretResolver::new(&cfg, &env);
        let r = |p: &str, id: &str| {
            res.resolve(&SecretRef { source: SecretSource::Env, provider: p.into(), id: id.into() })
        };
        assert_eq!(r("default", "OTHER").unwrap(), "v2");
        assert!(r("default", "MISSING").is_err());
        assert!(r("default", "EMPTY").is_err());
        assert_eq!(r("strict", "OK_VAR").unwrap(), "v1");
        let err = r("strict", "OTHER").unwrap_err().to_string();
        assert!(err.contains("allowlist") && !err.contains("v2"), "{err}");
        assert!(r("unknown", "OTHER").is_err());
    }

    #[test]
    fn file_refs_require_a_private_file() {
        let dir = tempfile::tempdir().unwrap();
        let json_path = dir.path().join("s.json");
        std::fs::write(&json_path, r#"{"gw":{"token":"t-from-file"}}"#).unwrap();
        std::fs::set_permissions(&json_path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let single = dir.path().join("single");
        std::fs::write(&single, "pw-from-file\n").unwrap();
        std::fs::set_permissions(&single, std::fs::Permissions::from_mode(0o644)).unwrap();
        let cfg = OpenClawConfig::from_value(json!({"secrets": {"providers": {
            "f": {"source": "file", "path": json_path},
            "s": {"source": "file", "path": single, "mode": "singleValue"}}}}));
        let env = env_of(&[]);
        let res = SecretResolver::new(&cfg, &env);
        let file = |p: &str, id: &str| {
            res.resolve(&SecretRef { source: SecretSource::File, provider: p.into(), id: id.into() })
        };
        assert_eq!(file("f", "/gw/token").unwrap(), "t-from-file");
        assert!(file("f", "/gw/none").is_err());
        assert!(file("s", "value").unwrap_err().to_string().contains("chmod 600"), "0644 is refused");
        std::fs::set_permissions(&single, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(file("s", "value").unwrap(), "pw-from-file");
        std::fs::hard_link(&single, dir.path().join("link")).unwrap();
        assert!(file("s", "value").unwrap_err().to_string().contains("hardlinked"));
    }

    #[test]
    fn exec_refs_speak_protocol_v1() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("resolver.sh");
        std::fs::write(
            &script,
            "#!/bin/sh\nread -r req\ncase \"$req\" in *gw/token*) printf '{\"protocolVersion\":1,\"values\":{\"gw/token\":\"%s\"}}' \"$SECRET_SEED\";; *) printf '{\"protocolVersion\":1,\"values\":{},\"errors\":{\"x\":{\"code\":\"NOT_FOUND\"}}}';; esac\n",
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700)).unwrap();
        let cfg = OpenClawConfig::from_value(json!({"secrets": {"providers": {
            "vault": {"source": "exec", "command": script, "passEnv": ["SECRET_SEED"]}}}}));
        let env = env_of(&[("SECRET_SEED", "exec-secret")]);
        let res = SecretResolver::new(&cfg, &env);
        let exec =
            |id: &str| res.resolve(&SecretRef { source: SecretSource::Exec, provider: "vault".into(), id: id.into() });
        assert_eq!(exec("gw/token").unwrap(), "exec-secret");
        assert!(exec("x").is_err());
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(exec("gw/token").unwrap_err().to_string().contains("writable"));
    }
}
