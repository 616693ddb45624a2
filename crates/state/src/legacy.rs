//! Automatic import of the pre-SQLite state files (`nodehost.md` §2.6).
//!
//! Upstream 2026.9.6 refuses to start while `node.json`, `identity/device.json` or
//! `identity/device-auth.json` exist and asks the user to run `openclaw doctor --fix`. We do
//! the import ourselves: validate the file, write the rows in one transaction, then rename
//! the file to `<name>.migrated` as a backup. Rows that already exist win over files (the
//! database is the newer truth), and a file we cannot understand stops the import with its
//! path, leaving everything untouched. A crash between commit and rename is harmless: the
//! next run finds the rows present and only renames.

use std::fs;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use openclaw_protocol::device_auth::DeviceIdentity;
use serde::Deserialize;
use serde_json::Value;

use crate::db::{self, NodeHostConfig, SavedGateway, StateDb, StateError};
use crate::paths::StatePaths;

/// One file that was imported and renamed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    /// The original file.
    pub from: PathBuf,
    /// Where the backup now is.
    pub backup: PathBuf,
    /// Whether rows were written (false when the database already had them).
    pub wrote_rows: bool,
}

/// Imports every legacy file present. Returns what was imported (empty when nothing was found).
pub fn import_legacy_state(paths: &StatePaths, db: &mut StateDb) -> Result<Vec<Imported>, StateError> {
    let node_json = paths.join("node.json");
    let device_json = paths.join("identity").join("device.json");
    let device_auth_json = paths.join("identity").join("device-auth.json");
    let mut out: Vec<Imported> = import_exec_approvals(paths, db)?.into_iter().collect();
    let present: Vec<&PathBuf> =
        [&node_json, &device_json, &device_auth_json].into_iter().filter(|p| p.exists()).collect();
    if present.is_empty() {
        return Ok(out);
    }
    // Parse everything before writing anything.
    let node = node_json.exists().then(|| parse_node_json(&node_json)).transpose()?;
    let identity = device_json.exists().then(|| parse_device_json(&device_json)).transpose()?;
    let auth = device_auth_json.exists().then(|| parse_device_auth_json(&device_auth_json)).transpose()?;

    let wrote = db.write(|tx| {
        let mut wrote = [false; 3];
        if let Some(cfg) = &node {
            let exists: bool = tx
                .query_row(
                    "SELECT COUNT(*) FROM config_machine_state WHERE state_key = ?1",
                    [db::NODE_HOST_CONFIG_KEY],
                    |r| r.get::<_, i64>(0),
                )
                .map(|n| n > 0)
                .map_err(|source| db::sql(tx, source))?;
            if !exists {
                db::put_node_config(tx, cfg)?;
                wrote[0] = true;
            }
        }
        if let Some(identity) = &identity {
            if !db::identity_exists(tx)? {
                db::put_identity(tx, identity)?;
                wrote[1] = true;
            }
        }
        if let Some(auth) = &auth {
            for t in &auth.tokens {
                if !db::device_token_exists(tx, &auth.device_id, &t.role)? {
                    db::put_device_token(tx, &auth.device_id, &t.role, &t.token, &t.scopes)?;
                    wrote[2] = true;
                }
            }
        }
        Ok(wrote)
    })?;

    for (i, path) in [&node_json, &device_json, &device_auth_json].into_iter().enumerate() {
        if present.contains(&path) {
            out.push(Imported { from: path.clone(), backup: back_up(path)?, wrote_rows: wrote[i] });
        }
    }
    Ok(out)
}

/// Renames an imported file to `<name>.migrated`, private (backups hold keys and tokens).
fn back_up(path: &Path) -> Result<PathBuf, StateError> {
    use std::os::unix::fs::PermissionsExt;
    let backup = PathBuf::from(format!("{}.migrated", path.display()));
    fs::rename(path, &backup).map_err(|source| StateError::Io {
        action: "rename",
        path: path.to_path_buf(),
        source,
    })?;
    fs::set_permissions(&backup, fs::Permissions::from_mode(0o600)).map_err(|source| StateError::Io {
        action: "restrict permissions of",
        path: backup.clone(),
        source,
    })?;
    Ok(backup)
}

/// `<stateDir>/exec-approvals.json` (the pre-SQLite approvals file) becomes the
/// `exec_approvals_config` row when there is none yet. The file is refused if it is a symlink,
/// larger than 4 MiB or not a version-1 document; legacy `null` usage fields are dropped.
fn import_exec_approvals(paths: &StatePaths, db: &mut StateDb) -> Result<Option<Imported>, StateError> {
    let path = paths.join("exec-approvals.json");
    let Ok(meta) = fs::symlink_metadata(&path) else { return Ok(None) };
    if !meta.is_file() || meta.len() > 4 * 1024 * 1024 {
        return Err(legacy_err(&path, "must be a regular file of at most 4 MiB"));
    }
    let mut doc = read_json(&path)?;
    if doc.get("version").and_then(Value::as_u64) != Some(1) {
        return Err(legacy_err(&path, "expected an exec approvals document with version 1"));
    }
    for agent in doc.get_mut("agents").and_then(Value::as_object_mut).into_iter().flat_map(|a| a.values_mut()) {
        for entry in agent.get_mut("allowlist").and_then(Value::as_array_mut).into_iter().flatten() {
            if let Some(e) = entry.as_object_mut() {
                e.retain(|k, v| !(v.is_null() && (k == "lastUsedAt" || k == "lastUsedCommand")));
            }
        }
    }
    let wrote = db.exec_approvals_raw()?.is_none();
    if wrote {
        let raw = format!("{}\n", serde_json::to_string_pretty(&doc).expect("JSON values serialise"));
        match db.write_exec_approvals(&raw, &crate::exec_approvals::hash_of(None)) {
            Ok(()) => {}
            Err(crate::exec_approvals::CasError::Changed) => {}
            Err(crate::exec_approvals::CasError::State(e)) => return Err(e),
        }
    }
    Ok(Some(Imported { from: path.clone(), backup: back_up(&path)?, wrote_rows: wrote }))
}

fn legacy_err(path: &Path, reason: impl Into<String>) -> StateError {
    StateError::Legacy { path: path.to_path_buf(), reason: reason.into() }
}

fn read_json(path: &Path) -> Result<Value, StateError> {
    let text = fs::read_to_string(path).map_err(|source| StateError::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| legacy_err(path, format!("not valid JSON ({e})")))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LegacyNodeJson {
    version: u32,
    node_id: String,
    // Dropped on import, as upstream's doctor does: the old per-node token is meaningless now.
    #[allow(dead_code)]
    token: Option<String>,
    display_name: Option<String>,
    gateway: Option<LegacyGateway>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LegacyGateway {
    host: Option<String>,
    port: Option<u32>,
    tls: Option<bool>,
    tls_fingerprint: Option<String>,
    context_path: Option<String>,
}

fn parse_node_json(path: &Path) -> Result<NodeHostConfig, StateError> {
    let legacy: LegacyNodeJson =
        serde_json::from_value(read_json(path)?).map_err(|e| legacy_err(path, e.to_string()))?;
    if legacy.version != 1 || legacy.node_id.trim().is_empty() {
        return Err(legacy_err(path, "expected version 1 and a non-empty nodeId"));
    }
    let mut cfg = NodeHostConfig::new();
    cfg.node_id = legacy.node_id;
    cfg.display_name = legacy.display_name.filter(|s| !s.trim().is_empty());
    cfg.gateway = legacy.gateway.map(|g| SavedGateway {
        host: g.host.filter(|s| !s.is_empty()),
        port: g.port,
        tls: g.tls,
        tls_fingerprint: g.tls_fingerprint.filter(|s| !s.is_empty()),
        context_path: g.context_path.filter(|s| !s.is_empty()),
        cloudflare_access: None,
    });
    if cfg.gateway.as_ref().is_some_and(SavedGateway::is_empty) {
        cfg.gateway = None;
    }
    // Same validation as a row read back.
    NodeHostConfig::from_row(&cfg.to_row()).map_err(|e| legacy_err(path, e.to_string()))
}

fn parse_device_json(path: &Path) -> Result<DeviceIdentity, StateError> {
    let v = read_json(path)?;
    let s = |k: &str| v.get(k).and_then(Value::as_str);
    let identity = if let (Some(private), Some(public)) = (s("privateKeyPem"), s("publicKeyPem")) {
        DeviceIdentity::from_pems(private, public).map_err(|e| legacy_err(path, e.to_string()))?
    } else if let (Some(private), Some(public)) = (s("privateKey"), s("publicKey")) {
        // The Swift app's form: raw keys in base64 or base64url.
        let decode = |t: &str| {
            URL_SAFE_NO_PAD
                .decode(t.trim_end_matches('='))
                .or_else(|_| STANDARD.decode(t))
                .map_err(|_| legacy_err(path, "keys are not base64"))
        };
        let private = decode(private)?;
        let seed: [u8; 32] = private
            .get(..32)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| legacy_err(path, "private key is shorter than 32 bytes"))?;
        let identity = DeviceIdentity::from_seed(&seed);
        if decode(public)? != identity.public_key_raw() {
            return Err(legacy_err(path, "public key does not match the private key"));
        }
        identity
    } else {
        return Err(legacy_err(path, "expected publicKeyPem/privateKeyPem or publicKey/privateKey"));
    };
    if let Some(id) = s("deviceId") {
        if id != identity.device_id() {
            return Err(legacy_err(path, "deviceId does not match the key"));
        }
    }
    Ok(identity)
}

struct LegacyAuth {
    device_id: String,
    tokens: Vec<LegacyToken>,
}

struct LegacyToken {
    role: String,
    token: String,
    scopes: Vec<String>,
}

fn parse_device_auth_json(path: &Path) -> Result<LegacyAuth, StateError> {
    let v = read_json(path)?;
    let device_id = v
        .get("deviceId")
        .and_then(Value::as_str)
        .filter(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| legacy_err(path, "deviceId must be 64 hex characters"))?
        .to_ascii_lowercase();
    let tokens =
        v.get("tokens").and_then(Value::as_object).ok_or_else(|| legacy_err(path, "tokens must be an object"))?;
    let mut out = Vec::new();
    for (role, entry) in tokens {
        let token = entry
            .get("token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| legacy_err(path, format!("tokens.{role}.token must be a non-empty string")))?;
        let scopes = entry
            .get("scopes")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect())
            .unwrap_or_default();
        out.push(LegacyToken { role: role.clone(), token: token.to_string(), scopes });
    }
    Ok(LegacyAuth { device_id, tokens: out })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, StatePaths) {
        let tmp = tempfile::tempdir().unwrap();
        let p = StatePaths { state_dir: tmp.path().join("oc"), config_path: tmp.path().join("oc/openclaw.json") };
        fs::create_dir_all(p.join("identity")).unwrap();
        (tmp, p)
    }

    #[test]
    fn imports_all_three_files_and_keeps_backups() {
        let (_tmp, p) = setup();
        let seed = [7u8; 32];
        let id = DeviceIdentity::from_seed(&seed);
        fs::write(
            p.join("node.json"),
            r#"{"version":1,"nodeId":"n-1","token":"old-secret","displayName":"Lab","gateway":{"host":"10.0.0.2","port":18789,"tls":false}}"#,
        )
        .unwrap();
        fs::write(
            p.join("identity/device.json"),
            serde_json::json!({"version":1,"deviceId":id.device_id(),"publicKeyPem":id.public_key_pem(),"privateKeyPem":id.private_key_pem(),"createdAtMs":1}).to_string(),
        )
        .unwrap();
        fs::write(
            p.join("identity/device-auth.json"),
            serde_json::json!({"version":1,"deviceId":id.device_id(),"tokens":{"node":{"token":"devtok","scopes":[],"updatedAtMs":1}}}).to_string(),
        )
        .unwrap();
        let mut db = StateDb::open(&p).unwrap();
        let imported = import_legacy_state(&p, &mut db).unwrap();
        assert_eq!(imported.len(), 3);
        assert!(imported.iter().all(|i| i.wrote_rows && i.backup.exists() && !i.from.exists()));
        use std::os::unix::fs::PermissionsExt;
        assert!(imported.iter().all(|i| fs::metadata(&i.backup).unwrap().permissions().mode() & 0o777 == 0o600));
        let cfg = db.node_config().unwrap().unwrap();
        assert_eq!(cfg.node_id, "n-1");
        assert_eq!(cfg.display_name.as_deref(), Some("Lab"));
        assert!(!cfg.to_row().contains("old-secret"), "the legacy token is dropped");
        assert_eq!(db.identity().unwrap().unwrap().device_id(), id.device_id());
        assert_eq!(db.device_token(&id.device_id(), "node").unwrap().unwrap().token, "devtok");
        // Idempotent: nothing left to import.
        assert!(import_legacy_state(&p, &mut db).unwrap().is_empty());
    }

    #[test]
    fn exec_approvals_json_becomes_the_row() {
        let (_tmp, p) = setup();
        fs::write(
            p.join("exec-approvals.json"),
            r#"{"version":1,"defaults":{"security":"allowlist"},"agents":{"main":{"allowlist":[{"pattern":"/bin/ls","lastUsedAt":null}]}}}"#,
        )
        .unwrap();
        let mut db = StateDb::open(&p).unwrap();
        let imported = import_legacy_state(&p, &mut db).unwrap();
        assert_eq!(imported.len(), 1);
        assert!(imported[0].wrote_rows && p.join("exec-approvals.json.migrated").exists());
        let raw = db.exec_approvals_raw().unwrap().unwrap();
        assert!(
            raw.contains("\"security\": \"allowlist\"") && !raw.contains("lastUsedAt") && raw.ends_with("}\n"),
            "{raw}"
        );
        // A second file never overwrites the row.
        fs::write(p.join("exec-approvals.json"), r#"{"version":1,"defaults":{"security":"full"}}"#).unwrap();
        let again = import_legacy_state(&p, &mut db).unwrap();
        assert!(!again[0].wrote_rows);
        assert_eq!(db.exec_approvals_raw().unwrap().unwrap(), raw);
        fs::write(p.join("exec-approvals.json"), r#"{"version":2}"#).unwrap();
        assert!(import_legacy_state(&p, &mut db).is_err());
    }

    #[test]
    fn swift_raw_key_form_is_accepted() {
        let (_tmp, p) = setup();
        let id = DeviceIdentity::from_seed(&[9u8; 32]);
        fs::write(
            p.join("identity/device.json"),
            serde_json::json!({"deviceId":id.device_id(),"publicKey":URL_SAFE_NO_PAD.encode(id.public_key_raw()),"privateKey":STANDARD.encode([9u8;32])}).to_string(),
        )
        .unwrap();
        let mut db = StateDb::open(&p).unwrap();
        import_legacy_state(&p, &mut db).unwrap();
        assert_eq!(db.identity().unwrap().unwrap().device_id(), id.device_id());
    }

    #[test]
    fn existing_rows_win_and_bad_files_stop_the_import() {
        let (_tmp, p) = setup();
        let mut db = StateDb::open(&p).unwrap();
        let current = db.load_or_create_identity().unwrap();
        let other = DeviceIdentity::from_seed(&[1u8; 32]);
        fs::write(
            p.join("identity/device.json"),
            serde_json::json!({"version":1,"deviceId":other.device_id(),"publicKeyPem":other.public_key_pem(),"privateKeyPem":other.private_key_pem()}).to_string(),
        )
        .unwrap();
        let imported = import_legacy_state(&p, &mut db).unwrap();
        assert!(!imported[0].wrote_rows);
        assert_eq!(db.identity().unwrap().unwrap().device_id(), current.device_id());

        fs::write(p.join("node.json"), r#"{"version":1,"nodeId":"x","surprise":true}"#).unwrap();
        let err = import_legacy_state(&p, &mut db).unwrap_err();
        assert!(err.to_string().contains("node.json"), "{err}");
        assert!(p.join("node.json").exists(), "a bad file is left in place");
    }
}
