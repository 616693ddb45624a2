//! The `file` and `exec` SecretRef providers: reading a secret from a private file, or from a
//! trusted resolver program speaking protocol v1 on stdin/stdout.
//!
//! Both refuse anything another user could tamper with (symlinks, foreign owners, group- or
//! world-access), and both fail closed with a [`SecretFailure`] that names the file or program,
//! never the value.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::SecretFailure;

/// Checks that a file a secret comes from is a private, single-link regular file we own.
fn check_private_file(path: &Path, what: &'static str) -> Result<std::fs::Metadata, SecretFailure> {
    let path_buf = || path.to_path_buf();
    let meta = std::fs::symlink_metadata(path).map_err(|error| SecretFailure::Io { what, path: path_buf(), error })?;
    if meta.file_type().is_symlink() {
        return Err(SecretFailure::Symlink { what, path: path_buf() });
    }
    if !meta.is_file() {
        return Err(SecretFailure::NotRegular { what, path: path_buf() });
    }
    if meta.uid() != nix::unistd::getuid().as_raw() {
        return Err(SecretFailure::NotOwned { what, path: path_buf() });
    }
    Ok(meta)
}

pub(super) fn resolve_file(entry: &Value, id: &str) -> Result<String, SecretFailure> {
    let path = entry.get("path").and_then(Value::as_str).ok_or(SecretFailure::NoPath)?;
    let path = Path::new(path);
    let meta = check_private_file(path, "secret file")?;
    if meta.nlink() != 1 {
        return Err(SecretFailure::Hardlinked(path.to_path_buf()));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(SecretFailure::NotPrivate(path.to_path_buf()));
    }
    let max = entry.get("maxBytes").and_then(Value::as_u64).unwrap_or(1 << 20);
    if meta.len() > max {
        return Err(SecretFailure::TooLarge { path: path.to_path_buf(), max });
    }
    let text = std::fs::read_to_string(path).map_err(|error| SecretFailure::Io {
        what: "secret file",
        path: path.to_path_buf(),
        error,
    })?;
    match entry.get("mode").and_then(Value::as_str).unwrap_or("json") {
        "singleValue" => {
            if id != "value" {
                return Err(SecretFailure::SingleValueId);
            }
            Ok(text.strip_suffix('\n').map(|t| t.strip_suffix('\r').unwrap_or(t)).unwrap_or(&text).to_string())
        }
        "json" => {
            let doc: Value = serde_json::from_str(&text).map_err(|_| SecretFailure::NotJson(path.to_path_buf()))?;
            match doc.pointer(id) {
                Some(Value::String(s)) => Ok(s.clone()),
                Some(_) => Err(SecretFailure::PointerNotString),
                None => Err(SecretFailure::PointerMissing),
            }
        }
        other => Err(SecretFailure::UnknownMode(other.to_string())),
    }
}

pub(super) fn resolve_exec(
    entry: &Value,
    provider: &str,
    id: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, SecretFailure> {
    let command = entry.get("command").and_then(Value::as_str).ok_or(SecretFailure::NoCommand)?;
    let command_path = Path::new(command);
    if !command_path.is_absolute() {
        return Err(SecretFailure::RelativeCommand);
    }
    let meta = check_private_file(command_path, "resolver")?;
    if meta.mode() & 0o022 != 0 {
        return Err(SecretFailure::ResolverWritable(command.to_string()));
    }
    let args: Vec<String> = entry
        .get("args")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect())
        .unwrap_or_default();
    let mut child_env: BTreeMap<String, String> = BTreeMap::new();
    for key in entry.get("passEnv").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
        if let Some(v) = env(key) {
            child_env.insert(key.to_string(), v);
        }
    }
    for (k, v) in entry.get("env").and_then(Value::as_object).into_iter().flatten() {
        if let Some(v) = v.as_str() {
            child_env.insert(k.clone(), v.to_string());
        }
    }
    let timeout = Duration::from_millis(entry.get("timeoutMs").and_then(Value::as_u64).unwrap_or(5000));
    let max_out = entry.get("maxOutputBytes").and_then(Value::as_u64).unwrap_or(1 << 20) as usize;
    let json_only = entry.get("jsonOnly").and_then(Value::as_bool).unwrap_or(true);

    let mut child = Command::new(command)
        .args(&args)
        .env_clear()
        .envs(&child_env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|error| SecretFailure::Spawn { command: command.to_string(), error })?;
    let request = json!({"protocolVersion": 1, "provider": provider, "ids": [id]}).to_string();
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(request.as_bytes());
    }
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = (&mut stdout).take(max_out as u64 + 1).read_to_end(&mut buf);
        buf
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() >= timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(SecretFailure::Timeout { command: command.to_string(), ms: timeout.as_millis() as u64 });
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(error) => return Err(SecretFailure::Wait { command: command.to_string(), error }),
        }
    };
    let out = reader.join().unwrap_or_default();
    if out.len() > max_out {
        return Err(SecretFailure::OutputTooLarge { command: command.to_string(), max: max_out });
    }
    if !status.success() {
        return Err(SecretFailure::Exited { command: command.to_string(), status });
    }
    let text = String::from_utf8(out).map_err(|_| SecretFailure::NotUtf8)?;
    match serde_json::from_str::<Value>(&text) {
        Ok(doc) if doc.get("values").is_some() || doc.get("errors").is_some() => {
            match doc.get("values").and_then(|v| v.get(id)).and_then(Value::as_str) {
                Some(v) => Ok(v.to_string()),
                None => {
                    let code = doc.pointer(&format!("/errors/{}/code", id.replace('~', "~0").replace('/', "~1")));
                    Err(match code.and_then(Value::as_str) {
                        Some(c @ ("NOT_FOUND" | "AMBIGUOUS_DUPLICATE_KEY")) => SecretFailure::Reported(c.to_string()),
                        _ => SecretFailure::NoValue,
                    })
                }
            }
        }
        _ if !json_only => Ok(text.trim().to_string()),
        _ => Err(SecretFailure::NotProtocol),
    }
}
