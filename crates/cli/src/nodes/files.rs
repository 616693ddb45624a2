//! `openclaw nodes files ls|stat|pull|push|pull-dir`: files on a node from a terminal, through
//! the node's file-transfer commands (`dir.list`, `file.stat`, `file.fetch`, `file.write`,
//! `dir.fetch`) and therefore through the gateway's file-transfer policy, exactly as an agent's
//! file tools go.
//!
//! What arrives is checked before it is kept: size and sha256 against what the node reported,
//! a directory's archive inspected as the node inspects it (files and directories only, no
//! path escaping the target) before `tar` unpacks it. A pulled file is published atomically and
//! never replaces an existing one without `--force`.
//!
//! Exit codes a script can use: 0 done; 1 usage, connection or local I/O; 2 refused by the
//! gateway (its file-transfer policy or its node command allowlist: the message says what to add
//! to the gateway's config); 3 the node reported a file error (not found, too large, exists,
//! changed under the binding, …) or what arrived failed its integrity check.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use base64::Engine;
use clap::{Args, Subcommand};
use openclaw_file_transfer::archive;
use openclaw_operator::{ClientError, OperatorClient};
use openclaw_protocol::methods::{NodeEntry, NodeInvokeParams};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::output::{params, print_json, table, Elapsed, Failure};

/// The most `file.write` carries (decoded), and the most `file.fetch`/`dir.fetch` may send: the
/// node's hard limits. The gateway's policy may clamp lower.
const MAX_TRANSFER_BYTES: u64 = 16 * 1024 * 1024;

/// Exit code for a refusal by the gateway's policy.
const EXIT_REFUSED: u8 = 2;
/// Exit code for a file error the node reported, or a failed integrity check.
const EXIT_FILE_ERROR: u8 = 3;

/// `openclaw nodes files`.
#[derive(Args)]
pub(crate) struct FilesArgs {
    #[command(subcommand)]
    command: FilesCommand,
}

/// The node and the deadline every verb takes.
#[derive(Args)]
struct Target {
    /// Node id, name, or IP
    #[arg(long)]
    node: String,
    /// Node invoke timeout in ms
    #[arg(long, default_value_t = 60_000, value_parser = clap::value_parser!(u64).range(1..))]
    invoke_timeout: u64,
}

#[derive(Subcommand)]
enum FilesCommand {
    /// List a directory on a node (dir.list)
    Ls {
        #[command(flatten)]
        target: Target,
        /// Absolute path of the directory on the node
        path: String,
        /// Entries per page (the node allows 1 to 5000; default 200)
        #[arg(long)]
        max_entries: Option<u32>,
        /// Continue a listing from this token (printed when a page is not the last)
        #[arg(long, conflicts_with = "all")]
        page_token: Option<String>,
        /// Fetch every page
        #[arg(long)]
        all: bool,
    },
    /// Show a file's or directory's type, size and modification time (file.stat)
    Stat {
        #[command(flatten)]
        target: Target,
        /// Absolute path on the node
        path: String,
    },
    /// Copy a file from a node (file.fetch); the local file is created atomically
    Pull {
        #[command(flatten)]
        target: Target,
        /// Absolute path of the file on the node
        remote: String,
        /// Local file or directory (default: the remote file's name here)
        local: Option<PathBuf>,
        /// Largest file to accept, bytes (the node's limit is 16 MiB; the policy may lower it)
        #[arg(long, default_value_t = MAX_TRANSFER_BYTES, value_parser = clap::value_parser!(u64).range(1..=MAX_TRANSFER_BYTES))]
        max_bytes: u64,
        /// Replace an existing local file
        #[arg(long)]
        force: bool,
    },
    /// Copy a local file to a node (file.write, at most 16 MiB)
    Push {
        #[command(flatten)]
        target: Target,
        /// The local file
        local: PathBuf,
        /// Absolute path on the node
        remote: String,
        /// Replace the file on the node if it exists
        #[arg(long)]
        overwrite: bool,
        /// Create missing parent directories on the node
        #[arg(long)]
        create_parents: bool,
    },
    /// Copy a directory tree from a node (dir.fetch) into a new or empty local directory
    PullDir {
        #[command(flatten)]
        target: Target,
        /// Absolute path of the directory on the node
        remote: String,
        /// Local directory to unpack into (created; must be empty if it exists)
        local: PathBuf,
        /// Largest compressed archive to accept, bytes (at most 16 MiB)
        #[arg(long, default_value_t = MAX_TRANSFER_BYTES, value_parser = clap::value_parser!(u64).range(1..=MAX_TRANSFER_BYTES))]
        max_bytes: u64,
    },
}

/// Checks what can be checked before connecting: remote paths absolute, the local side usable.
pub(crate) fn check(args: &FilesArgs) -> Result<(), Failure> {
    let remote = match &args.command {
        FilesCommand::Ls { path, .. } | FilesCommand::Stat { path, .. } => path,
        FilesCommand::Pull { remote, local, force, .. } => {
            let local = pull_destination(remote, local.as_deref())?;
            if !force && local.symlink_metadata().is_ok() {
                return Err(Failure(format!("{} exists; pass --force to replace it", local.display()), 1));
            }
            remote
        }
        FilesCommand::Push { local, remote, .. } => {
            let meta = std::fs::metadata(local).map_err(|e| Failure(format!("{}: {e}", local.display()), 1))?;
            if !meta.is_file() {
                return Err(Failure(format!("{} is not a regular file", local.display()), 1));
            }
            if meta.len() > MAX_TRANSFER_BYTES {
                return Err(Failure(
                    format!(
                        "{} is {} bytes; file.write carries at most {MAX_TRANSFER_BYTES}",
                        local.display(),
                        meta.len()
                    ),
                    1,
                ));
            }
            remote
        }
        FilesCommand::PullDir { remote, local, .. } => {
            check_empty_dir(local)?;
            remote
        }
    };
    if !remote.starts_with('/') {
        return Err(Failure(format!("{remote:?}: the path on the node must be absolute"), 1));
    }
    Ok(())
}

/// Runs one `nodes files` verb; with `prompts`, the gateway's approval prompts for this run's
/// own calls are answered on the terminal.
pub(crate) async fn files(
    client: &OperatorClient,
    args: FilesArgs,
    json_mode: bool,
    prompts: bool,
) -> Result<ExitCode, Failure> {
    check(&args)?;
    let prompts = Prompts(tokio::sync::Mutex::new(if prompts { client.take_events() } else { None }));
    match args.command {
        FilesCommand::Ls { target, path, max_entries, page_token, all } => {
            let node = Node::resolve(client, &target, prompts).await?;
            ls(client, &node, &path, max_entries, page_token, all, json_mode).await
        }
        FilesCommand::Stat { target, path } => {
            let node = Node::resolve(client, &target, prompts).await?;
            stat(client, &node, &path, json_mode).await
        }
        FilesCommand::Pull { target, remote, local, max_bytes, force } => {
            let node = Node::resolve(client, &target, prompts).await?;
            let local = pull_destination(&remote, local.as_deref())?;
            pull(client, &node, &remote, &local, max_bytes, force, json_mode).await
        }
        FilesCommand::Push { target, local, remote, overwrite, create_parents } => {
            let node = Node::resolve(client, &target, prompts).await?;
            push(client, &node, &local, &remote, overwrite, create_parents, json_mode).await
        }
        FilesCommand::PullDir { target, remote, local, max_bytes } => {
            let node = Node::resolve(client, &target, prompts).await?;
            pull_dir(client, &node, &remote, &local, max_bytes, json_mode).await
        }
    }
}

type Events = tokio::sync::mpsc::UnboundedReceiver<openclaw_protocol::EventFrame>;

/// The gateway's events while this terminal answers prompts (`None` otherwise).
struct Prompts(tokio::sync::Mutex<Option<Events>>);

impl Prompts {
    /// Awaits `invoke`, answering on the terminal every plugin approval prompt the gateway
    /// raises for this very call (file-transfer, this command, this path) meanwhile.
    async fn answering<F: std::future::Future<Output = Result<Value, ClientError>>>(
        &self,
        client: &OperatorClient,
        command: &str,
        path: &str,
        invoke: F,
    ) -> Result<Value, ClientError> {
        let mut slot = self.0.lock().await;
        let Some(events) = slot.as_mut() else { return invoke.await };
        tokio::pin!(invoke);
        loop {
            tokio::select! {
                answer = &mut invoke => return answer,
                event = events.recv() => {
                    let Some(event) = event else { return invoke.await };
                    if let Some((id, request)) = own_prompt(&event, command, path) {
                        answer_prompt(client, id, request).await;
                    }
                }
            }
        }
    }
}

/// The id and request of a `plugin.approval.requested` event about this call, if it is one.
fn own_prompt(event: &openclaw_protocol::EventFrame, command: &str, path: &str) -> Option<(String, Value)> {
    if event.event != "plugin.approval.requested" {
        return None;
    }
    let payload = event.payload.as_ref()?;
    let request = payload.get("request")?;
    let ours = request.get("pluginId").and_then(Value::as_str) == Some("file-transfer")
        && request.get("toolName").and_then(Value::as_str) == Some(command)
        && request.get("title").and_then(Value::as_str).is_some_and(|t| names_path(t, path));
    ours.then(|| (payload.get("id").and_then(Value::as_str).unwrap_or_default().to_string(), request.clone()))
}

/// Whether a prompt title (`<verb>: <path>`, cut at 80 UTF-16 units by the gateway) is about
/// `path`: the whole path, or its beginning when the title was cut.
fn names_path(title: &str, path: &str) -> bool {
    let Some((_, shown)) = title.split_once(": ") else { return false };
    let cut = title.encode_utf16().count() >= 80;
    shown == path || (cut && !shown.is_empty() && path.starts_with(shown))
}

/// Asks on the terminal and sends the decision (a failure to send leaves the prompt to expire,
/// which refuses the call).
async fn answer_prompt(client: &OperatorClient, id: String, request: Value) {
    let title = request.get("title").and_then(Value::as_str).unwrap_or_default().to_string();
    let description = request.get("description").and_then(Value::as_str).unwrap_or_default().to_string();
    let always =
        request.get("allowedDecisions").and_then(Value::as_array).is_none_or(|a| a.iter().any(|d| d == "allow-always"));
    let decision = tokio::task::spawn_blocking(move || crate::output::ask_plugin_prompt(&title, &description, always))
        .await
        .unwrap_or("deny");
    if let Err(e) = client.request("plugin.approval.resolve", json!({"id": id, "decision": decision})).await {
        eprintln!("could not send the decision ({decision}): {e}");
    }
}

/// Whether a command reads or writes on the node: which allow list of the policy governs it.
#[derive(Clone, Copy)]
enum Access {
    Read,
    Write,
}

impl Access {
    fn allow_list(self) -> &'static str {
        match self {
            Access::Read => "allowReadPaths",
            Access::Write => "allowWritePaths",
        }
    }
}

/// The node a verb addresses, the deadline of its invokes, and the terminal's prompt events.
struct Node {
    entry: NodeEntry,
    timeout_ms: u64,
    prompts: Prompts,
}

impl Node {
    async fn resolve(client: &OperatorClient, target: &Target, prompts: Prompts) -> Result<Self, Failure> {
        let entry = super::resolve(client, &target.node).await?;
        Ok(Node { entry, timeout_ms: target.invoke_timeout, prompts })
    }

    /// The key a policy entry for this node would have: its name when it has one (what people
    /// read in `nodes status`), else its id.
    fn policy_key(&self) -> &str {
        self.entry.display_name.as_deref().filter(|n| !n.trim().is_empty()).unwrap_or(&self.entry.node_id)
    }

    /// One file-transfer command on the node: the node's payload when it reports `ok: true`;
    /// a refusal by the gateway (exit 2, with what to add to its config) or the node's file
    /// error (exit 3) otherwise.
    async fn call(
        &self,
        client: &OperatorClient,
        command: &str,
        access: Access,
        path: &str,
        command_params: Value,
    ) -> Result<Value, Failure> {
        let request = NodeInvokeParams {
            node_id: self.entry.node_id.clone(),
            command: command.into(),
            params: Some(command_params),
            timeout_ms: Some(self.timeout_ms),
            idempotency_key: uuid::Uuid::new_v4().to_string(),
            session_key: None,
        };
        let deadline = Duration::from_millis(self.timeout_ms.saturating_add(10_000));
        let invoke = client.request_with_timeout("node.invoke", params(request), deadline);
        let answer = match self.prompts.answering(client, command, path, invoke).await {
            Ok(answer) => answer,
            Err(e) => return Err(self.refusal(command, access, path, e)),
        };
        let payload = answer.get("payload").cloned().unwrap_or(Value::Null);
        if payload.get("ok") == Some(&Value::Bool(true)) {
            return Ok(payload);
        }
        let code = payload.get("code").and_then(Value::as_str).unwrap_or("UNKNOWN");
        let message = payload.get("message").and_then(Value::as_str).unwrap_or("the node sent no result");
        Err(Failure(format!("{command} {code}: {message}"), EXIT_FILE_ERROR))
    }

    /// A failed `node.invoke` as the user should read it.
    fn refusal(&self, command: &str, access: Access, path: &str, e: ClientError) -> Failure {
        let Some(shape) = e.shape() else { return e.into() };
        let policy_code = shape.details.as_ref().and_then(|d| d.get("code")).and_then(Value::as_str);
        let not_allowed = shape.message.starts_with("node command not allowed");
        match (policy_code, not_allowed) {
            (Some(code), _) => {
                let hint = policy_hint(code, &shape.message, access, path, self.policy_key());
                Failure(join_hint(&shape.message, hint), EXIT_REFUSED)
            }
            (None, true) => {
                let hint = shape.message.contains("allowlist").then(|| {
                    format!("to allow it, add {command:?} to gateway.nodes.commands.allow in the gateway's config")
                });
                Failure(join_hint(&shape.message, hint), EXIT_REFUSED)
            }
            (None, false) => {
                // A node failure the gateway wrapped (`<nodeCode>: <nodeMessage>`).
                let node_error = shape.details.as_ref().and_then(|d| d.get("nodeError"));
                let code = if node_error.is_some() { EXIT_FILE_ERROR } else { 1 };
                Failure(shape.message.clone(), code)
            }
        }
    }
}

fn join_hint(message: &str, hint: Option<String>) -> String {
    match hint {
        Some(hint) => format!("{message}\n{hint}"),
        None => message.to_string(),
    }
}

/// What to add to the gateway's config for a policy refusal that configuration can lift:
/// no policy at all, or a path outside the allow lists. A deny rule, a `..` segment, a symlink
/// or a migration are left to the message, which says what they need.
fn policy_hint(code: &str, message: &str, access: Access, path: &str, node_key: &str) -> Option<String> {
    let list = access.allow_list();
    match code {
        "NO_POLICY" => {
            let policy = json!({"policyVersion": 2, "nodes": {node_key: {list: [path]}}});
            Some(format!(
                "to allow it, set in the gateway's config:\n  plugins.entries.file-transfer.config = {policy}"
            ))
        }
        "POLICY_DENIED" if message.contains("does not match any allow") => {
            let parent = Path::new(path).parent().map(|p| p.to_string_lossy().trim_end_matches('/').to_string());
            let glob = parent.map(|p| format!(" (or a glob such as \"{p}/**\")")).unwrap_or_default();
            Some(format!(
                "to allow it, add {path:?}{glob} to plugins.entries.file-transfer.config.nodes.{}.{list} in the gateway's config",
                serde_json::to_string(node_key).expect("a string serialises")
            ))
        }
        _ => None,
    }
}

/// `files ls`.
async fn ls(
    client: &OperatorClient,
    node: &Node,
    path: &str,
    max_entries: Option<u32>,
    mut page_token: Option<String>,
    all: bool,
    json_mode: bool,
) -> Result<ExitCode, Failure> {
    let mut entries = Vec::new();
    let mut last = Value::Null;
    // Every page of a large directory, but never forever: the node's offsets only grow.
    for _ in 0..10_000 {
        let mut call_params = json!({"path": path});
        if let Some(n) = max_entries {
            call_params["maxEntries"] = json!(n);
        }
        if let Some(t) = &page_token {
            call_params["pageToken"] = json!(t);
        }
        let page = node.call(client, "dir.list", Access::Read, path, call_params).await?;
        entries.extend(page.get("entries").and_then(Value::as_array).cloned().unwrap_or_default());
        page_token = page.get("nextPageToken").and_then(Value::as_str).map(String::from);
        last = page;
        if !all || page_token.is_none() {
            break;
        }
    }
    if json_mode {
        if all {
            last["entries"] = Value::Array(entries);
            if let Some(o) = last.as_object_mut() {
                o.remove("nextPageToken");
            }
        }
        print_json(&last);
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = entries.iter().map(entry_row).collect();
    table(&["Type", "Size", "Modified", "Name"], &rows);
    let noun = if entries.len() == 1 { "entry" } else { "entries" };
    match page_token {
        Some(t) => println!("{} {noun}; more with --page-token {t} (or --all)", entries.len()),
        None => println!("{} {noun}", entries.len()),
    }
    Ok(ExitCode::SUCCESS)
}

/// A row of `files ls`: Type, Size, Modified, Name.
fn entry_row(e: &Value) -> Vec<String> {
    let dir = e.get("isDir").and_then(Value::as_bool).unwrap_or(false);
    let size = e.get("size").and_then(Value::as_u64).unwrap_or(0);
    let mtime = e.get("mtime").and_then(Value::as_f64).map(|m| m as i64);
    vec![
        if dir { "dir" } else { "file" }.to_string(),
        if dir { String::new() } else { size.to_string() },
        mtime.map(|m| Elapsed::since(m).rounded_ago()).unwrap_or_default(),
        e.get("name").and_then(Value::as_str).unwrap_or("").to_string(),
    ]
}

/// `files stat`.
async fn stat(client: &OperatorClient, node: &Node, path: &str, json_mode: bool) -> Result<ExitCode, Failure> {
    let info = node.call(client, "file.stat", Access::Read, path, json!({"path": path})).await?;
    if json_mode {
        print_json(&info);
        return Ok(ExitCode::SUCCESS);
    }
    let field = |k: &str| info.get(k).map(|v| v.as_str().map(String::from).unwrap_or_else(|| v.to_string()));
    let mtime = info.get("mtimeMs").and_then(Value::as_f64).map(|m| Elapsed::since(m as i64).rounded_ago());
    let rows = vec![
        vec!["Path".to_string(), field("path").unwrap_or_default()],
        vec!["Type".into(), field("type").unwrap_or_default()],
        vec!["Size".into(), field("size").unwrap_or_default()],
        vec!["Modified".into(), mtime.unwrap_or_default()],
    ];
    table(&["Field", "Value"], &rows);
    Ok(ExitCode::SUCCESS)
}

/// Where `files pull` writes: `local`, the remote name inside `local` when it is a directory,
/// or the remote name here.
fn pull_destination(remote: &str, local: Option<&Path>) -> Result<PathBuf, Failure> {
    let name = Path::new(remote)
        .file_name()
        .ok_or_else(|| Failure(format!("{remote:?} names no file; give a local path"), 1))?;
    Ok(match local {
        Some(dir) if dir.is_dir() => dir.join(name),
        Some(file) => file.to_path_buf(),
        None => PathBuf::from(name),
    })
}

/// The bytes of a `base64` field, checked against the sizes and sha256 the node reported.
fn verified_bytes(payload: &Value, data_key: &str, size_key: &str) -> Result<Vec<u8>, Failure> {
    let integrity = |why: String| Failure(format!("integrity check failed: {why}"), EXIT_FILE_ERROR);
    let data = payload.get(data_key).and_then(Value::as_str).unwrap_or("");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|e| integrity(format!("{data_key} is not base64 ({e})")))?;
    let size = payload.get(size_key).and_then(Value::as_u64);
    if size != Some(bytes.len() as u64) {
        return Err(integrity(format!("{} bytes arrived, the node reported {size:?}", bytes.len())));
    }
    let sha = hex_sha256(&bytes);
    let reported = payload.get("sha256").and_then(Value::as_str).unwrap_or("");
    if !sha.eq_ignore_ascii_case(reported) {
        return Err(integrity(format!("sha256 {sha}, the node reported {reported:?}")));
    }
    Ok(bytes)
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Publishes `bytes` at `dest` atomically: written and synced beside it, then linked into
/// place (which fails if something appeared there meanwhile) or, with `replace`, renamed over
/// it. A crash leaves at most the temporary file, never a partial `dest`.
fn publish(dest: &Path, bytes: &[u8], replace: bool) -> Result<(), Failure> {
    let dir = dest.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let io = |what: &str, e: std::io::Error| Failure(format!("{what} {}: {e}", dest.display()), 1);
    let mut temp = tempfile::Builder::new().prefix(".openclaw-pull-").tempfile_in(dir).map_err(|e| io("writing", e))?;
    temp.write_all(bytes).and_then(|()| temp.as_file().sync_all()).map_err(|e| io("writing", e))?;
    if replace {
        temp.persist(dest).map_err(|e| io("replacing", e.error))?;
    } else {
        temp.persist_noclobber(dest).map_err(|e| match e.error.kind() {
            std::io::ErrorKind::AlreadyExists => {
                Failure(format!("{} exists; pass --force to replace it", dest.display()), 1)
            }
            _ => io("creating", e.error),
        })?;
    }
    Ok(())
}

/// A line on stderr that counts the seconds of a transfer, for terminals only, appearing once a
/// transfer has taken a second (a quick one prints nothing); cleared when it ends.
struct Progress {
    ticker: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    fn start(label: String, json_mode: bool) -> Self {
        if json_mode || !std::io::stderr().is_terminal() {
            return Progress { ticker: None };
        }
        let started = Instant::now();
        let ticker = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            loop {
                eprint!("\r{label} {:.1} s\x1b[K", started.elapsed().as_secs_f64());
                let _ = std::io::stderr().flush();
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        });
        Progress { ticker: Some(ticker) }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(ticker) = self.ticker.take() {
            ticker.abort();
            eprint!("\r\x1b[K");
        }
    }
}

/// `files pull`.
async fn pull(
    client: &OperatorClient,
    node: &Node,
    remote: &str,
    local: &Path,
    max_bytes: u64,
    force: bool,
    json_mode: bool,
) -> Result<ExitCode, Failure> {
    let started = Instant::now();
    let payload = {
        let _progress = Progress::start(format!("pulling {remote}"), json_mode);
        let call_params = json!({"path": remote, "maxBytes": max_bytes});
        node.call(client, "file.fetch", Access::Read, remote, call_params).await?
    };
    let bytes = verified_bytes(&payload, "base64", "size")?;
    publish(local, &bytes, force)?;
    let sha = hex_sha256(&bytes);
    if json_mode {
        print_json(&json!({
            "ok": true,
            "nodeId": node.entry.node_id,
            "remote": payload.get("path").cloned().unwrap_or(json!(remote)),
            "local": local.to_string_lossy(),
            "size": bytes.len(),
            "sha256": sha,
            "mimeType": payload.get("mimeType").cloned().unwrap_or(Value::Null),
        }));
    } else {
        println!(
            "pulled {remote} -> {} ({} bytes, sha256 {sha}) in {:.1} s",
            local.display(),
            bytes.len(),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `files push`.
async fn push(
    client: &OperatorClient,
    node: &Node,
    local: &Path,
    remote: &str,
    overwrite: bool,
    create_parents: bool,
    json_mode: bool,
) -> Result<ExitCode, Failure> {
    let started = Instant::now();
    let bytes = std::fs::read(local).map_err(|e| Failure(format!("{}: {e}", local.display()), 1))?;
    if bytes.len() as u64 > MAX_TRANSFER_BYTES {
        return Err(Failure(format!("{} grew past {MAX_TRANSFER_BYTES} bytes", local.display()), 1));
    }
    let sha = hex_sha256(&bytes);
    let call_params = json!({
        "path": remote,
        "contentBase64": base64::engine::general_purpose::STANDARD.encode(&bytes),
        "overwrite": overwrite,
        "createParents": create_parents,
        "expectedSha256": sha,
    });
    let payload = {
        let _progress = Progress::start(format!("pushing {}", local.display()), json_mode);
        node.call(client, "file.write", Access::Write, remote, call_params).await?
    };
    let written = payload.get("sha256").and_then(Value::as_str).unwrap_or("");
    if !written.eq_ignore_ascii_case(&sha) {
        return Err(Failure(
            format!("integrity check failed: the node wrote sha256 {written:?}, the file has {sha}"),
            EXIT_FILE_ERROR,
        ));
    }
    if json_mode {
        print_json(&payload);
    } else {
        let replaced = if payload.get("overwritten") == Some(&Value::Bool(true)) { ", replaced" } else { "" };
        println!(
            "pushed {} -> {}:{} ({} bytes{replaced}) in {:.1} s",
            local.display(),
            node.policy_key(),
            payload.get("path").and_then(Value::as_str).unwrap_or(remote),
            bytes.len(),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A directory `files pull-dir` may unpack into: absent, or empty.
fn check_empty_dir(dir: &Path) -> Result<(), Failure> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => match entries.next() {
            None => Ok(()),
            Some(_) => Err(Failure(format!("{} is not empty", dir.display()), 1)),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Failure(format!("{}: {e}", dir.display()), 1)),
    }
}

/// `files pull-dir`: the node's archive, verified and inspected, unpacked by `tar` into `local`.
async fn pull_dir(
    client: &OperatorClient,
    node: &Node,
    remote: &str,
    local: &Path,
    max_bytes: u64,
    json_mode: bool,
) -> Result<ExitCode, Failure> {
    let started = Instant::now();
    let payload = {
        let _progress = Progress::start(format!("pulling {remote}/"), json_mode);
        let call_params = json!({"path": remote, "maxBytes": max_bytes});
        node.call(client, "dir.fetch", Access::Read, remote, call_params).await?
    };
    let archive_bytes = verified_bytes(&payload, "tarBase64", "tarBytes")?;
    let members = archive::inspect(&archive_bytes).map_err(|e| {
        let why = match e {
            archive::InspectError::Limit(m) => m.to_string(),
            archive::InspectError::Refused(m) => m,
        };
        Failure(format!("the archive was refused: {why}"), EXIT_FILE_ERROR)
    })?;
    check_empty_dir(local)?;
    std::fs::create_dir_all(local).map_err(|e| Failure(format!("{}: {e}", local.display()), 1))?;
    unpack(&archive_bytes, local)?;
    let files = payload.get("fileCount").and_then(Value::as_u64).unwrap_or(0);
    if json_mode {
        print_json(&json!({
            "ok": true,
            "nodeId": node.entry.node_id,
            "remote": payload.get("path").cloned().unwrap_or(json!(remote)),
            "local": local.to_string_lossy(),
            "fileCount": files,
            "entries": members,
            "tarBytes": archive_bytes.len(),
            "sha256": hex_sha256(&archive_bytes),
        }));
    } else {
        println!(
            "pulled {remote} -> {} ({files} files, {} bytes compressed) in {:.1} s",
            local.display(),
            archive_bytes.len(),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Unpacks an inspected gzip'd tar into `dir` with the system's `tar`, never as the archive's
/// owners.
fn unpack(archive_bytes: &[u8], dir: &Path) -> Result<(), Failure> {
    let failed = |why: String| Failure(format!("unpacking into {}: {why}", dir.display()), 1);
    let mut child = std::process::Command::new("tar")
        .args(["-xzf", "-", "--no-same-owner", "-C"])
        .arg(dir)
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| failed(format!("cannot run tar ({e})")))?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let written = stdin.write_all(archive_bytes);
    drop(stdin);
    let out = child.wait_with_output().map_err(|e| failed(e.to_string()))?;
    if !out.status.success() {
        return Err(failed(format!("tar {}: {}", out.status, String::from_utf8_lossy(&out.stderr).trim())));
    }
    written.map_err(|e| failed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only this call's prompt is answered: the file-transfer plugin, this command, this path.
    #[test]
    fn only_the_own_prompt_is_answered() {
        let event = |name: &str, request: Value| openclaw_protocol::EventFrame {
            event: name.into(),
            payload: Some(json!({"id": "plugin:1", "request": request})),
            ..serde_json::from_value(json!({"type": "event", "event": name})).unwrap()
        };
        let request =
            json!({"pluginId": "file-transfer", "toolName": "file.stat", "title": "Read file metadata: /a/b"});
        let own = own_prompt(&event("plugin.approval.requested", request.clone()), "file.stat", "/a/b");
        assert_eq!(own.map(|(id, _)| id).as_deref(), Some("plugin:1"));
        assert!(own_prompt(&event("plugin.approval.resolved", request.clone()), "file.stat", "/a/b").is_none());
        assert!(own_prompt(&event("plugin.approval.requested", request.clone()), "file.fetch", "/a/b").is_none());
        assert!(own_prompt(&event("plugin.approval.requested", request.clone()), "file.stat", "/b").is_none());
        let long = format!("/{}", "x".repeat(100));
        let cut: String = format!("Read file metadata: {long}").chars().take(80).collect();
        let request = json!({"pluginId": "file-transfer", "toolName": "file.stat", "title": cut});
        assert!(own_prompt(&event("plugin.approval.requested", request.clone()), "file.stat", &long).is_some());
        assert!(own_prompt(&event("plugin.approval.requested", request), "file.stat", "/xx").is_none());
        let other = json!({"pluginId": "other", "toolName": "file.stat", "title": "Read file metadata: /a/b"});
        assert!(own_prompt(&event("plugin.approval.requested", other), "file.stat", "/a/b").is_none());
    }

    /// What a refusal adds: the config that lifts it, for the refusals configuration can lift.
    #[test]
    fn policy_hints_say_what_to_add() {
        let none = policy_hint("NO_POLICY", "", Access::Read, "/srv/a.txt", "box").unwrap();
        assert!(
            none.ends_with(r#"plugins.entries.file-transfer.config = {"policyVersion":2,"nodes":{"box":{"allowReadPaths":["/srv/a.txt"]}}}"#),
            "{none}"
        );
        let miss = policy_hint(
            "POLICY_DENIED",
            "file.write POLICY_DENIED: path does not match any allowWritePaths pattern",
            Access::Write,
            "/srv/up/a.txt",
            "my box",
        )
        .unwrap();
        assert_eq!(
            miss,
            "to allow it, add \"/srv/up/a.txt\" (or a glob such as \"/srv/up/**\") to \
             plugins.entries.file-transfer.config.nodes.\"my box\".allowWritePaths in the gateway's config"
        );
        assert_eq!(policy_hint("POLICY_DENIED", "path matches denyPaths", Access::Read, "/a", "b"), None);
        assert_eq!(policy_hint("SYMLINK_TARGET_DENIED", "", Access::Read, "/a", "b"), None);
    }

    /// Nothing unverified is kept: a size or sha256 that differs from the node's report fails
    /// with the integrity exit code.
    #[test]
    fn transfers_are_verified() {
        let b64 = base64::engine::general_purpose::STANDARD.encode(b"hello");
        let good = json!({"base64": b64, "size": 5, "sha256": hex_sha256(b"hello")});
        assert_eq!(verified_bytes(&good, "base64", "size").ok(), Some(b"hello".to_vec()));
        for bad in [
            json!({"base64": b64, "size": 4, "sha256": hex_sha256(b"hello")}),
            json!({"base64": b64, "size": 5, "sha256": hex_sha256(b"hellO")}),
            json!({"base64": "%%", "size": 5, "sha256": hex_sha256(b"hello")}),
        ] {
            let Err(Failure(message, code)) = verified_bytes(&bad, "base64", "size") else { panic!("{bad}") };
            assert_eq!(code, EXIT_FILE_ERROR, "{message}");
            assert!(message.starts_with("integrity check failed: "), "{message}");
        }
    }

    /// A pull never replaces a file without `--force`, and publishes whole files only.
    #[test]
    fn publish_is_atomic_and_does_not_clobber() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("a.txt");
        publish(&dest, b"one", false).unwrap();
        let Err(Failure(message, 1)) = publish(&dest, b"two", false) else { panic!("replaced") };
        assert!(message.ends_with("exists; pass --force to replace it"), "{message}");
        assert_eq!(std::fs::read(&dest).unwrap(), b"one");
        publish(&dest, b"two", true).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"two");
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, ["a.txt"], "no temporary file is left behind");
    }

    /// `pull`'s destination: the given file, the remote name inside a given directory, or here.
    #[test]
    fn pull_destinations() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(pull_destination("/srv/a.txt", None).ok(), Some(PathBuf::from("a.txt")));
        assert_eq!(pull_destination("/srv/a.txt", Some(dir.path())).ok(), Some(dir.path().join("a.txt")));
        assert_eq!(pull_destination("/srv/a.txt", Some(Path::new("b.bin"))).ok(), Some(PathBuf::from("b.bin")));
        assert!(pull_destination("/", None).is_err());
    }
}
