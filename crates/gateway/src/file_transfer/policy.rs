//! The pure half of the file-transfer policy: upstream's `evaluateFilePolicy` /
//! `evaluateFilePolicyConstraints` over `plugins.entries.file-transfer.config`, and the
//! parameter rules (`maxBytes` validation and clamping, `prepareParams`). No I/O: every rule
//! here is a function of (config, node, kind, command, path) or of the caller's params, so the
//! order of upstream's checks can be tested without sockets (`node-commands.md` §A3–A8).

use serde_json::{json, Map, Value};

use super::glob::Glob;

/// The commands the file-transfer policy owns.
pub const COMMANDS: &[&str] = &["file.stat", "file.fetch", "dir.list", "dir.fetch", "file.write", "file.create"];

/// `file.fetch`'s default `maxBytes`.
pub const FILE_FETCH_DEFAULT_MAX_BYTES: f64 = 8_388_608.0;
/// `file.fetch`'s hard `maxBytes` (unary transport).
pub const FILE_FETCH_HARD_MAX_BYTES: f64 = 16_777_216.0;
/// `dir.fetch`'s default `maxBytes`.
pub const DIR_FETCH_DEFAULT_MAX_BYTES: f64 = 8_388_608.0;
/// `dir.fetch`'s hard `maxBytes`.
pub const DIR_FETCH_HARD_MAX_BYTES: f64 = 16_777_216.0;
/// `file.create`'s default `maxBytes`.
pub const FILE_CREATE_DEFAULT_MAX_BYTES: f64 = 52_428_800.0;
/// JavaScript's `Number.MAX_SAFE_INTEGER`.
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// Whether a command reads or writes (`file.write` and `file.create` write).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `file.stat`, `file.fetch`, `dir.list`, `dir.fetch`.
    Read,
    /// `file.write`, `file.create`.
    Write,
}

impl Kind {
    /// The kind of `command`.
    pub fn of(command: &str) -> Kind {
        if matches!(command, "file.write" | "file.create") {
            Kind::Write
        } else {
            Kind::Read
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Kind::Read => "read",
            Kind::Write => "write",
        }
    }

    /// `Read` / `Write`, as the allow-list names spell it.
    fn label(self) -> &'static str {
        match self {
            Kind::Read => "Read",
            Kind::Write => "Write",
        }
    }
}

/// `ask` of a node entry (anything unknown reads as `off`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AskMode {
    /// Never prompt.
    Off,
    /// Prompt when no allow glob matches.
    OnMiss,
    /// Prompt for every call.
    Always,
}

impl AskMode {
    fn read(value: Option<&Value>) -> AskMode {
        match value.and_then(Value::as_str) {
            Some("on-miss") => AskMode::OnMiss,
            Some("always") => AskMode::Always,
            _ => AskMode::Off,
        }
    }

    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            AskMode::Off => "off",
            AskMode::OnMiss => "on-miss",
            AskMode::Always => "always",
        }
    }
}

/// What the policy says about one (node, kind, command, path).
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// An allow glob matched (or, for constraints only, nothing denied).
    MatchedAllow,
    /// `ask: "always"`: the operator must be asked.
    AskAlways,
    /// A literal grant for exactly this node, command and requested path; the canonical path it
    /// was granted for.
    MatchedLiteral(String),
    /// Refused with `code`; `askable` when an operator prompt could still allow it.
    Denied {
        /// `POLICY_DENIED`, `NO_POLICY` or `POLICY_MIGRATION_REQUIRED`.
        code: &'static str,
        /// Whether `ask` lets an operator approve it.
        askable: bool,
    },
}

/// One evaluation: the verdict, its reason text and the constraints of the node entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Allowed, ask or denied.
    pub verdict: Verdict,
    /// Upstream's reason text (`matched-allow`, `path matches a denyPaths pattern`, …).
    pub reason: String,
    /// The entry's `ask`, when an entry was resolved.
    pub ask: Option<AskMode>,
    /// The entry's `maxBytes` (floored, at least 1).
    pub max_bytes: Option<f64>,
    /// The entry's `followSymlinks === true`.
    pub follow_symlinks: bool,
    /// The selector of a pending reapproval for this path, if any.
    pub pending_selector: Option<String>,
}

impl Decision {
    fn denied(code: &'static str, reason: impl Into<String>) -> Decision {
        Decision {
            verdict: Verdict::Denied { code, askable: false },
            reason: reason.into(),
            ask: None,
            max_bytes: None,
            follow_symlinks: false,
            pending_selector: None,
        }
    }

    /// Whether the verdict lets the call go on without asking.
    pub fn is_ok(&self) -> bool {
        !matches!(self.verdict, Verdict::Denied { .. })
    }
}

/// What is being asked for.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The node's id.
    pub node_id: &'a str,
    /// The node's display name, if it has one.
    pub display_name: Option<&'a str>,
    /// Read or write.
    pub kind: Kind,
    /// The command (literal grants are per command).
    pub command: Option<&'a str>,
    /// The path to decide (the requested one, or the node's canonical one).
    pub path: &'a str,
}

/// A raw `..` segment anywhere, with `\` read as `/` (checked on the raw string so that a
/// normaliser cannot hide a traversal before the glob match).
pub fn contains_parent_ref(path: &str) -> bool {
    path.replace('\\', "/").split('/').any(|segment| segment == "..")
}

/// JavaScript truthiness of a JSON value.
fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

fn policy_version_2(config: &Map<String, Value>) -> bool {
    config.get("policyVersion").and_then(Value::as_f64) == Some(2.0)
}

/// Whether `config` holds older positive rules without `policyVersion: 2` (refused until
/// migrated); saved grants must not silently upgrade such a policy.
pub fn needs_migration(config: &Value) -> bool {
    let Some(plugin) = config.as_object() else { return false };
    let nodes = plugin.get("nodes").and_then(Value::as_object);
    !policy_version_2(plugin) && nodes.is_some_and(has_legacy_positive_rules)
}

fn has_legacy_positive_rules(nodes: &Map<String, Value>) -> bool {
    nodes.values().any(|entry| {
        ["allowReadPaths", "allowWritePaths"]
            .iter()
            .any(|k| entry.get(k).and_then(Value::as_array).is_some_and(|a| !a.is_empty()))
    })
}

/// `~` and `~/…` expand against the gateway's home directory, as `os.homedir()` does.
fn expand_tilde(pattern: &str) -> String {
    let home = || std::env::var("HOME").unwrap_or_default();
    if pattern == "~" {
        home()
    } else if let Some(rest) = pattern.strip_prefix("~/") {
        let home = home();
        if home.ends_with('/') {
            format!("{home}{rest}")
        } else {
            format!("{home}/{rest}")
        }
    } else {
        pattern.to_string()
    }
}

/// The non-blank string patterns of a list, trimmed and `~`-expanded.
fn globs(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .filter(|p| !p.trim().is_empty())
                .map(|p| expand_tilde(p.trim()))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `target` matches a pattern, as is or with `\` read as `/` on both sides.
/// `unsupported` is what a pattern this matcher cannot evaluate answers (see [`Glob`]).
fn matches_any(target: &str, patterns: &[String], unsupported: bool) -> bool {
    let normalized_target = target.replace('\\', "/");
    patterns.iter().any(|pattern| {
        let glob = Glob::new(pattern);
        if !glob.is_supported() {
            return unsupported;
        }
        glob.matches(target) || Glob::new(&pattern.replace('\\', "/")).matches(&normalized_target)
    })
}

/// `denyPaths` also match the path with one trailing `/`, so `/x/**` denies `/x` itself.
fn matches_any_deny(target: &str, patterns: &[String]) -> bool {
    matches_any(target, patterns, true)
        || matches_any(&format!("{}/", target.trim_end_matches(['/', '\\'])), patterns, true)
}

/// Upstream's `evaluateFilePolicy` (`constraints_only: false`) and
/// `evaluateFilePolicyConstraints` (`true`: only the hard rules up to `denyPaths`, used once a
/// prompt or a literal grant authorised the call). `config` is
/// `plugins.entries.file-transfer.config`.
///
/// Order: `..` segment → no config → legacy rules without `policyVersion: 2` → no node entry
/// (by id, then display name, then `"*"`) → `denyPaths` → (constraints stop here) →
/// `ask: "always"` → allow globs → literal grant → pending reapproval → `ask: "on-miss"` →
/// denied.
pub fn evaluate(config: Option<&Value>, request: &Request<'_>, constraints_only: bool) -> Decision {
    if contains_parent_ref(request.path) {
        return Decision::denied("POLICY_DENIED", "path contains '..' segments; reject before glob match");
    }
    let plugin = config.and_then(Value::as_object);
    let Some((plugin, nodes)) = plugin.and_then(|p| p.get("nodes").and_then(Value::as_object).map(|n| (p, n))) else {
        return Decision::denied(
            "NO_POLICY",
            "no plugins.entries.file-transfer.config.nodes config; file-transfer is deny-by-default until configured",
        );
    };
    let version_2 = policy_version_2(plugin);
    if !version_2 && has_legacy_positive_rules(nodes) {
        return Decision::denied(
            "POLICY_MIGRATION_REQUIRED",
            "older file-transfer permissions need review; run `openclaw file-transfer approvals migrate`",
        );
    }
    let candidates = [Some(request.node_id), request.display_name].into_iter().flatten().filter(|k| !k.is_empty());
    let resolved = candidates
        .chain(std::iter::once("*"))
        .find_map(|key| nodes.get(key).filter(|entry| truthy(entry)).map(|entry| (key, entry)));
    let Some((key, entry)) = resolved else {
        let name = request.display_name.unwrap_or(request.node_id);
        return Decision::denied(
            "NO_POLICY",
            format!(
                "no file-transfer policy entry for \"{name}\"; configure plugins.entries.file-transfer.config.nodes or \"*\""
            ),
        );
    };
    let ask = AskMode::read(entry.get("ask"));
    let max_bytes = entry.get("maxBytes").and_then(Value::as_f64).filter(|n| n.is_finite()).map(|n| n.floor().max(1.0));
    let follow_symlinks = entry.get("followSymlinks") == Some(&Value::Bool(true));
    let base = Decision {
        verdict: Verdict::MatchedAllow,
        reason: String::new(),
        ask: Some(ask),
        max_bytes,
        follow_symlinks,
        pending_selector: None,
    };
    let with = |verdict: Verdict, reason: String, pending: Option<String>| Decision {
        verdict,
        reason,
        pending_selector: pending,
        ..base.clone()
    };
    if matches_any_deny(request.path, &globs(entry.get("denyPaths"))) {
        return with(
            Verdict::Denied { code: "POLICY_DENIED", askable: false },
            "path matches a denyPaths pattern".into(),
            None,
        );
    }
    if constraints_only {
        return Decision { ask: None, ..with(Verdict::MatchedAllow, "matched-allow".into(), None) };
    }
    let pending = pending_reapprovals(plugin, version_2)
        .into_iter()
        .find(|p| p.kind == request.kind.as_str() && p.path == request.path && p.selector == key)
        .map(|p| p.selector);
    if ask == AskMode::Always {
        return with(Verdict::AskAlways, "ask-always".into(), pending);
    }
    let allow_key = match request.kind {
        Kind::Read => "allowReadPaths",
        Kind::Write => "allowWritePaths",
    };
    let allow = globs(entry.get(allow_key));
    if !allow.is_empty() && matches_any(request.path, &allow, false) {
        return with(Verdict::MatchedAllow, "matched-allow".into(), None);
    }
    if let Some(command) = request.command {
        let literal = literal_grants(plugin, version_2)
            .into_iter()
            .find(|g| g["nodeId"] == request.node_id && g["command"] == command && g["requestedPath"] == request.path);
        if let Some(grant) = literal {
            let canonical = grant["canonicalPath"].as_str().unwrap_or_default().to_string();
            return with(Verdict::MatchedLiteral(canonical), "matched-literal".into(), None);
        }
    }
    let label = request.kind.label();
    if pending.is_some() {
        return with(
            Verdict::Denied { code: "POLICY_DENIED", askable: true },
            "path requires exact reapproval".into(),
            pending,
        );
    }
    if ask == AskMode::OnMiss {
        return with(
            Verdict::Denied { code: "POLICY_DENIED", askable: true },
            format!("path does not match any allow{label}Paths pattern"),
            None,
        );
    }
    let reason = if allow.is_empty() {
        format!("no allow{label}Paths configured")
    } else {
        format!("path does not match any allow{label}Paths pattern")
    };
    with(Verdict::Denied { code: "POLICY_DENIED", askable: false }, reason, None)
}

struct Pending {
    selector: String,
    kind: String,
    path: String,
}

fn pending_reapprovals(plugin: &Map<String, Value>, version_2: bool) -> Vec<Pending> {
    if !version_2 {
        return Vec::new();
    }
    let Some(list) = plugin.get("pendingReapprovals").and_then(Value::as_array) else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|p| {
            let (selector, kind, path) =
                (p.get("selector")?.as_str()?, p.get("kind")?.as_str()?, p.get("path")?.as_str()?);
            matches!(kind, "read" | "write").then(|| Pending {
                selector: selector.into(),
                kind: kind.into(),
                path: path.into(),
            })
        })
        .collect()
}

/// The well-formed literal grants (only under `policyVersion: 2`).
fn literal_grants(plugin: &Map<String, Value>, version_2: bool) -> Vec<&Value> {
    if !version_2 {
        return Vec::new();
    }
    let Some(list) = plugin.get("literalGrants").and_then(Value::as_array) else {
        return Vec::new();
    };
    list.iter()
        .filter(|g| {
            g.is_object()
                && g["nodeId"].is_string()
                && g["command"].as_str().is_some_and(|c| COMMANDS.contains(&c))
                && g["requestedPath"].is_string()
                && g["canonicalPath"].is_string()
        })
        .collect()
}

/// A parameter the policy refuses before anything is sent (`INVALID_PARAMS`); the message is
/// upstream's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidParams(pub String);

/// JavaScript's strict numeric string: optional sign, digits with an optional fraction (or a
/// bare fraction), optional exponent.
fn strict_number(text: &str) -> Option<f64> {
    let t = text.trim();
    let b = t.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let int_start = i;
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    let int_digits = i - int_start;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let frac_start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if int_digits == 0 && i == frac_start {
            return None;
        }
    } else if int_digits == 0 {
        return None;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp_start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == exp_start {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    t.parse::<f64>().ok().filter(|n| n.is_finite())
}

fn is_safe_integer(n: f64) -> bool {
    n.is_finite() && n.fract() == 0.0 && n.abs() <= MAX_SAFE_INTEGER
}

/// `readPositiveIntegerParam(params, "maxBytes")` on one value: `Ok(None)` when absent, null
/// or blank; the positive safe integer; or upstream's error.
fn positive_integer(value: Option<&Value>) -> Result<Option<f64>, InvalidParams> {
    let parsed = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) if s.trim().is_empty() => return Ok(None),
        Some(Value::String(s)) => strict_number(s),
        Some(_) => None,
    };
    match parsed {
        Some(n) if is_safe_integer(n) && n > 0.0 => Ok(Some(n)),
        _ => Err(InvalidParams("maxBytes must be a positive integer".into())),
    }
}

/// `readFileFetchBinaryMaxBytes`: the binary transport's budget, or `None` for unary.
fn binary_max_bytes(params: &Map<String, Value>) -> Result<Option<f64>, InvalidParams> {
    let Some(transport) = params.get("transport") else {
        return Ok(None);
    };
    if transport != "binary" {
        return Err(InvalidParams("file.fetch transport must be \"binary\" when supplied".into()));
    }
    match params.get("maxBytes").and_then(Value::as_f64) {
        Some(n) if is_safe_integer(n) && n > 0.0 => Ok(Some(n)),
        _ => Err(InvalidParams("binary file.fetch maxBytes must be a positive safe integer".into())),
    }
}

/// `validateFetchMaxBytesParam`: the up-front check of `file.fetch` / `dir.fetch` params.
pub fn validate_fetch_params(command: &str, params: &Map<String, Value>) -> Result<(), InvalidParams> {
    if command != "file.fetch" && command != "dir.fetch" {
        return Ok(());
    }
    if params.contains_key("maxBytes") {
        positive_integer(params.get("maxBytes"))?;
    }
    if command == "file.fetch" {
        binary_max_bytes(params)?;
    }
    Ok(())
}

/// A byte count as JSON: an integer when it is one.
fn number(n: f64) -> Value {
    if is_safe_integer(n) {
        json!(n as i64)
    } else {
        json!(n)
    }
}

fn clamp_max_bytes(value: Option<&Value>, default: f64, hard_max: f64, policy_max: Option<f64>) -> f64 {
    let requested = match value {
        None => default,
        Some(v) => positive_integer(Some(v)).ok().flatten().unwrap_or(default),
    };
    let clamped = requested.min(hard_max).max(1.0);
    policy_max.map_or(clamped, |p| clamped.min(p))
}

/// `prepareParams`: what the gateway forwards. The caller's `preflightOnly`,
/// `expectedCanonicalPath` and `expectedBinding` are dropped (only the gateway binds a call),
/// `followSymlinks` is the policy's unless the caller turned it off, and the byte budgets are
/// clamped to the hard limits and the policy's `maxBytes`.
pub fn prepare_params(
    command: &str,
    params: &Map<String, Value>,
    follow_symlinks: bool,
    policy_max: Option<f64>,
) -> Result<Map<String, Value>, InvalidParams> {
    let mut next = params.clone();
    let caller_off = params.get("followSymlinks") == Some(&Value::Bool(false));
    next.insert("followSymlinks".into(), Value::Bool(follow_symlinks && !caller_off));
    for key in ["preflightOnly", "expectedCanonicalPath", "expectedBinding"] {
        next.shift_remove(key);
    }
    match command {
        "file.create" => {
            let (size, max, sha) = file_create_metadata(params, policy_max)?;
            next.insert("sizeBytes".into(), number(size));
            next.insert("maxBytes".into(), number(max));
            next.insert("expectedSha256".into(), json!(sha));
        }
        "file.fetch" => {
            let hard = binary_max_bytes(params)?.unwrap_or(FILE_FETCH_HARD_MAX_BYTES);
            let max = clamp_max_bytes(params.get("maxBytes"), FILE_FETCH_DEFAULT_MAX_BYTES, hard, policy_max);
            next.insert("maxBytes".into(), number(max));
        }
        "dir.fetch" => {
            let max = clamp_max_bytes(
                params.get("maxBytes"),
                DIR_FETCH_DEFAULT_MAX_BYTES,
                DIR_FETCH_HARD_MAX_BYTES,
                policy_max,
            );
            next.insert("maxBytes".into(), number(max));
        }
        _ => {}
    }
    Ok(next)
}

/// `readFileCreateMetadata`: `(sizeBytes, maxBytes, expectedSha256 lower-cased)`.
fn file_create_metadata(
    params: &Map<String, Value>,
    policy_max: Option<f64>,
) -> Result<(f64, f64, String), InvalidParams> {
    let size = params.get("sizeBytes").and_then(Value::as_f64).filter(|n| is_safe_integer(*n) && *n >= 0.0);
    let Some(size) = size else {
        return Err(InvalidParams("file.create sizeBytes must be a non-negative safe integer".into()));
    };
    let requested = match params.get("maxBytes") {
        None | Some(Value::Null) => Some(FILE_CREATE_DEFAULT_MAX_BYTES),
        Some(v) => v.as_f64().filter(|n| is_safe_integer(*n) && *n >= 0.0),
    };
    let Some(requested) = requested else {
        return Err(InvalidParams("file.create maxBytes must be a non-negative safe integer".into()));
    };
    let max = policy_max.map_or(requested, |p| requested.min(p));
    if size > max {
        return Err(InvalidParams("file.create sizeBytes exceeds the authorized byte limit".into()));
    }
    let sha = params
        .get("expectedSha256")
        .and_then(Value::as_str)
        .filter(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()));
    let Some(sha) = sha else {
        return Err(InvalidParams("file.create expectedSha256 must be a SHA-256 digest".into()));
    };
    Ok((size, max, sha.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests;
