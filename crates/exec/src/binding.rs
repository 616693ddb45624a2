//! Binding an approval to exactly what was approved: the plan `system.run.prepare` hands out
//! and `system.run` checks.
//!
//! An approval is only as good as its binding. The plan pins the argv (executables by real
//! path), the canonical cwd and, when the command runs a file the user could change between
//! approval and execution (an interpreter's script, or a writable executable), that file's
//! SHA-256. [`valid_plan`] checks the shape of a forwarded plan and [`plan_matches`] that it
//! describes this very request.

use std::path::{Path, PathBuf};

use crate::command::CommandRequest;
use crate::policy::{Ask, Security};
use serde_json::{json, Value};

use crate::command::js_string;

/// `{argvIndex, path, sha256}` for a file the current user could modify between approval and
/// execution (for root, every file); `None` when it is not writable by us.
pub fn file_operand(index: usize, path: &Path) -> Option<Value> {
    nix::unistd::access(path, nix::unistd::AccessFlags::W_OK).ok()?;
    Some(json!({"argvIndex": index, "path": path.to_string_lossy(), "sha256": file_sha256(path)?}))
}

/// Script interpreters whose first operand is a file the approval must be bound to.
const SCRIPT_INTERPRETERS: &[&str] =
    &["python", "node", "nodejs", "ruby", "perl", "php", "bun", "deno", "lua", "tsx", "ts-node", "rscript"];
/// Interpreter options that take the program from argv (inline eval) or run a module instead
/// of a file: then there is no script operand to bind.
const NO_SCRIPT_FLAGS: &[&str] = &["-c", "-e", "-E", "-m", "-p", "-r", "--eval", "--print", "--command"];

/// The script an interpreter invocation runs (`python3 tool.py …` → index 1 and its real path),
/// so the approval can be bound to the file's contents. `Ok(None)` for anything that is not an
/// interpreter running a script file; an error when the script does not exist.
pub fn script_operand(argv: &[String], cwd: &Path) -> Result<Option<(usize, PathBuf)>, &'static str> {
    let name = argv[0].rsplit('/').next().unwrap_or(&argv[0]).to_ascii_lowercase();
    let base = name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
    if !SCRIPT_INTERPRETERS.contains(&base) {
        return Ok(None);
    }
    let mut i = 1;
    if base == "deno" && argv.get(1).map(String::as_str) == Some("run") {
        i = 2;
    }
    while let Some(arg) = argv.get(i) {
        if arg == "--" {
            i += 1;
            break;
        }
        if !arg.starts_with('-') || arg == "-" {
            break;
        }
        if NO_SCRIPT_FLAGS.iter().any(|f| arg == f || (f.len() == 2 && arg.starts_with(f) && !arg.starts_with("--"))) {
            return Ok(None);
        }
        i += 1;
    }
    let Some(operand) = argv.get(i).filter(|a| *a != "-") else { return Ok(None) };
    let real = std::fs::canonicalize(cwd.join(operand))
        .ok()
        .filter(|p| p.is_file())
        .ok_or("SYSTEM_RUN_DENIED: approval requires an existing script operand")?;
    Ok(Some((i, real)))
}

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

    #[test]
    fn interpreter_scripts_are_bound_operands() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tool.py"), "print(1)\n").unwrap();
        let argv = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let real = std::fs::canonicalize(dir.path().join("tool.py")).unwrap();
        assert_eq!(
            script_operand(&argv(&["/usr/bin/python3.12", "-u", "tool.py", "x"]), dir.path()),
            Ok(Some((2, real.clone())))
        );
        assert_eq!(script_operand(&argv(&["/usr/bin/node", "--", "tool.py"]), dir.path()), Ok(Some((2, real.clone()))));
        assert_eq!(script_operand(&argv(&["deno", "run", "tool.py"]), dir.path()), Ok(Some((2, real))));
        assert_eq!(script_operand(&argv(&["/usr/bin/python3", "-c", "print(1)"]), dir.path()), Ok(None));
        assert_eq!(script_operand(&argv(&["/usr/bin/python3", "-m", "http.server"]), dir.path()), Ok(None));
        assert_eq!(script_operand(&argv(&["/usr/bin/python3"]), dir.path()), Ok(None));
        assert_eq!(script_operand(&argv(&["/usr/bin/ls", "tool.py"]), dir.path()), Ok(None));
        assert!(script_operand(&argv(&["/usr/bin/perl", "missing.pl"]), dir.path()).is_err());
    }

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
