//! Binding an approval to exactly what was approved: the plan `system.run.prepare` hands out
//! and `system.run` checks.
//!
//! An approval is only as good as its binding. The plan pins the argv (executables by real
//! path), the canonical cwd and, when the command runs a file the user could change between
//! approval and execution (an interpreter's script, or a writable executable), that file's
//! SHA-256. [`valid_plan`] checks the shape of a forwarded plan and [`plan_matches`] that it
//! describes this very request; [`pinned_argv`] pins argv\[0\] as upstream's
//! `hardenApprovedExecutionPaths` does.
//!
//! Which file is bound, and which commands cannot be bound at all, is upstream's rule set in
//! [`mutable_operand`]; the argv grammar those rules read besides the wrappers (package
//! managers, shell options, interpreter names) is in [`argv_scan`].

pub mod argv_scan;
pub mod mutable_operand;

use std::path::{Path, PathBuf};

use crate::command::CommandRequest;
use crate::policy::{Ask, Security};
use serde_json::Value;

use crate::command::js_string;

/// `hardenApprovedExecutionPaths`' executable pin: argv\[0\] replaced by the real path (else the
/// path) of the executable upstream's trust plan finds, unless wrappers were looked through
/// (then argv stays as approved). The executable name is read trimmed, as upstream resolves
/// it. An error when it resolves nowhere.
pub fn pinned_argv(argv: &[String], cwd: &Path, path: &str) -> Result<Vec<String>, StableExecutableRequired> {
    // A blocked (or too deep) chain counts only the wrappers looked through before the pass
    // that blocked, so its blocked wrapper's executable is pinned, as upstream does.
    let plan = argv_scan::exec_wrapper_trust_plan(argv);
    if !plan.wrapper_chain.is_empty() {
        return Ok(argv.to_vec());
    }
    let raw = plan.argv.first().map(|a| a.trim()).unwrap_or_default();
    let found = resolve_executable(raw, cwd, path).ok_or(StableExecutableRequired)?;
    let pinned = std::fs::canonicalize(&found).unwrap_or(found);
    let mut argv = argv.to_vec();
    argv[0] = pinned.to_string_lossy().into_owned();
    Ok(argv)
}

/// Where `raw` runs from: a path (relative to `cwd`) when it has a slash, else the first
/// `path` entry holding an executable file of that name.
fn resolve_executable(raw: &str, cwd: &Path, path: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            && nix::unistd::access(p, nix::unistd::AccessFlags::X_OK).is_ok()
    };
    if raw.is_empty() {
        return None;
    }
    // `~` and `~/…` name the node's home, as upstream expands them.
    let home = std::env::var("HOME").unwrap_or_default();
    let expanded = match raw.strip_prefix('~') {
        Some(rest) if !home.is_empty() && (rest.is_empty() || rest.starts_with('/')) => format!("{home}{rest}"),
        _ => raw.to_string(),
    };
    let raw = expanded.as_str();
    if raw.contains(['/', '\\']) {
        let candidate = cwd.join(raw);
        return executable(&candidate).then_some(candidate);
    }
    path.split(':').filter(|d| !d.is_empty()).map(|d| Path::new(d).join(raw)).find(|c| executable(c))
}

/// argv\[0\] of an approved command resolves to no executable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("SYSTEM_RUN_DENIED: approval requires a stable executable path")]
pub struct StableExecutableRequired;

/// The SHA-256 of a file's contents, lower-case hex: what binds an approval to a script.
pub fn file_sha256(path: &Path) -> Option<String> {
    use sha2::Digest;
    let bytes = std::fs::read(path).ok()?;
    Some(sha2::Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect())
}

/// A canonical working directory: it exists, is a directory, and is replaced by its real path.
pub fn canonical_cwd(cwd: Option<&str>) -> Result<PathBuf, &'static str> {
    let cwd = match cwd {
        Some(c) => PathBuf::from(c),
        None => {
            std::env::current_dir().map_err(|_| "SYSTEM_RUN_DENIED: approval requires an existing canonical cwd")?
        }
    };
    let real =
        std::fs::canonicalize(&cwd).map_err(|_| "SYSTEM_RUN_DENIED: approval requires an existing canonical cwd")?;
    if !real.is_dir() {
        return Err("SYSTEM_RUN_DENIED: approval requires cwd to be a directory");
    }
    Ok(real)
}

/// Validates the shape of a forwarded plan.
pub fn valid_plan(plan: &Value) -> bool {
    let argv_ok = plan.get("argv").and_then(Value::as_array).is_some_and(|a| !a.is_empty());
    let text_ok = plan
        .get("commandText")
        .or_else(|| plan.get("rawCommand"))
        .and_then(Value::as_str)
        .is_some_and(|t| !t.is_empty());
    let operand_ok = plan.get("mutableFileOperand").is_none_or(|m| {
        m.get("argvIndex").and_then(Value::as_u64).is_some()
            && m.get("path").and_then(Value::as_str).is_some_and(|p| !p.is_empty())
            && m.get("sha256").and_then(Value::as_str).is_some_and(|p| !p.is_empty())
    });
    let snapshot_ok = plan.get("policySnapshot").is_none_or(|s| {
        s.get("security").and_then(Value::as_str).and_then(Security::parse).is_some()
            && s.get("ask").and_then(Value::as_str).and_then(Ask::parse).is_some()
            && s.get("askFallback").and_then(Value::as_str).and_then(Security::parse).is_some()
            && s.get("autoAllowSkills").is_some_and(Value::is_boolean)
            && s.get("allowlistRules").and_then(Value::as_array).is_some_and(|rules| {
                rules.iter().all(|r| {
                    r.get("pattern").is_some_and(Value::is_string)
                        && r.get("argPattern").is_none_or(Value::is_string)
                        && r.get("source").is_none_or(|s| s == "allow-always")
                })
            })
    });
    argv_ok && text_ok && operand_ok && snapshot_ok
}

fn same_trimmed(a: Option<&Value>, b: Option<&Value>) -> bool {
    let norm = |v: Option<&Value>| v.and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(String::from);
    norm(a) == norm(b)
}

/// The plan the approval was given for must describe exactly this request.
pub fn plan_matches(plan: &Value, params: &Value, req: &CommandRequest) -> bool {
    let argv: Vec<String> = plan["argv"].as_array().map(|a| a.iter().map(js_string).collect()).unwrap_or_default();
    argv == req.argv
        && plan.get("commandText").or_else(|| plan.get("rawCommand")).and_then(Value::as_str)
            == Some(req.command_text.as_str())
        && same_trimmed(plan.get("cwd"), params.get("cwd"))
        && same_trimmed(plan.get("agentId"), params.get("agentId"))
        && same_trimmed(plan.get("sessionKey"), params.get("sessionKey"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command;
    use serde_json::json;

    #[test]
    fn plan_shape_and_match() {
        let req = command::resolve_command(vec!["echo".into(), "hi".into()], None).unwrap();
        let plan = json!({"argv": ["echo", "hi"], "commandText": "echo hi", "cwd": " /tmp ", "agentId": null, "sessionKey": "s"});
        assert!(valid_plan(&plan));
        assert!(plan_matches(&plan, &json!({"cwd": "/tmp", "sessionKey": " s "}), &req));
        assert!(!plan_matches(&plan, &json!({"cwd": "/var", "sessionKey": "s"}), &req), "another cwd");
        assert!(!plan_matches(&plan, &json!({"cwd": "/tmp"}), &req), "another session");
        let tampered = json!({"argv": ["echo", "hi;rm"], "commandText": "echo hi", "cwd": "/tmp", "sessionKey": "s"});
        assert!(!plan_matches(&tampered, &json!({"cwd": "/tmp", "sessionKey": "s"}), &req));
        assert!(!valid_plan(&json!({"argv": [], "commandText": "x"})));
        assert!(!valid_plan(&json!({"argv": ["x"], "commandText": "x", "policySnapshot": {"security": "sometimes"}})));
    }
}
