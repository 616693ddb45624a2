//! SSH-verified approval of fresh node pairing requests (`gateway.nodes.pairing.sshVerify`,
//! `docs/upstream-facts/gateway-onboarding.md` §5).
//!
//! A node host on the same private network usually runs on a machine the gateway's user can
//! already reach with SSH. When such a node asks to pair for the first time, the gateway logs
//! in to the address the request came from and runs `openclaw node identity --json` there. If
//! the identity printed over SSH is the one in the pending request, the same person controls
//! both ends, and the request is approved as `approvedVia: "ssh-verified"` without an operator.
//! While the probe runs, the refused connect tells the node to retry soon (`wait_then_retry`),
//! so pairing takes one retry instead of a trip to `openclaw devices approve`.
//!
//! The pieces, in the order a connect meets them:
//! - [`SshVerifyConfig`]: the config union (`false` | `true` | `{user?, identity?, timeoutMs?,
//!   cidrs?}`), on by default.
//! - [`plan`]: whether this request may be probed at all: a fresh, scopeless, non-silent,
//!   non-repair `node` request, from a private, link-local, CGNAT or ULA address that is not
//!   loopback (or from `cidrs` when set). Anything else is never probed: the gateway must not
//!   become a tool to make SSH connections to arbitrary addresses.
//! - [`SshVerifier`]: the in-flight probes (keyed as upstream, at most
//!   [`MAX_CONCURRENT_PROBES`]) and the cooldowns after a failure ([`FAILURE_COOLDOWN`]) or a
//!   mismatch ([`MISMATCH_COOLDOWN`]).
//! - [`run_probe`]: `ssh` with upstream's exact options, in a process group of its own, stdout
//!   capped at [`MAX_PROBE_OUTPUT_BYTES`], the group killed on timeout.
//! - [`parse_remote_identity`] and [`identity_matches`]: the first JSON line with string
//!   `deviceId` and `publicKey`, keys compared as base64url.
//! - [`start`]: the one call the handshake makes; the probe runs on a task of its own and, on a
//!   match, approves the still-pending request and tells operators (`device.pair.resolved`).
//!
//! Security decisions fail closed: no resolvable user, an address that cannot be dialled
//! (an IPv6 link-local peer, whose zone the socket address does not carry), a request that
//! changed while the probe ran, or any output we cannot read all leave the request pending
//! for an operator. Nothing secret is logged: the identity path is configuration, the remote
//! output is never echoed, and ssh's stderr is logged only at debug level, trimmed.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use openclaw_protocol::Role;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt};

use super::{DeviceClaim, PairingNotice, PairingReason, PendingDevice};
use crate::config::{Cidr, InvalidCidr};
use crate::handshake::Peer;
use crate::Shared;

/// How long a probe may take when `timeoutMs` is not set (upstream: 7000).
pub const DEFAULT_TIMEOUT_MS: u64 = 7_000;
/// The shortest probe timeout honoured, whatever `timeoutMs` says (upstream: 250).
pub const MIN_TIMEOUT_MS: u64 = 250;
/// After a failed, timed-out or unreadable probe, the same request is not probed again for
/// this long: a node that retries every second must not make the gateway dial SSH every second.
pub const FAILURE_COOLDOWN: Duration = Duration::from_secs(60);
/// After a probe that read a *different* identity, this long: someone else's node (or a
/// spoofed request) is on that address, and retrying soon will not change that.
pub const MISMATCH_COOLDOWN: Duration = Duration::from_secs(300);
/// Probes running at once, gateway-wide; beyond it a request waits for an operator (no probe,
/// no retry hint), as upstream.
pub const MAX_CONCURRENT_PROBES: usize = 4;
/// Cooldown entries kept; the oldest are dropped beyond it (upstream: 512).
pub const MAX_COOLDOWN_ENTRIES: usize = 512;
/// The part of the probe's stdout that is read (upstream keeps the first 64 KiB).
pub const MAX_PROBE_OUTPUT_BYTES: usize = 64 * 1024;
/// The part of ssh's stderr kept for the debug log.
const MAX_STDERR_BYTES: usize = 4 * 1024;
/// The remote command, exactly as upstream sends it: a login shell, so the user's profile puts
/// `openclaw` on PATH.
pub const REMOTE_IDENTITY_COMMAND: &str = "sh -lc 'openclaw node identity --json'";
/// The SSH port: upstream's config has no port key, so it is always 22.
pub const SSH_PORT: u16 = 22;

/// `gateway.nodes.pairing.sshVerify`: off, or on with a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SshVerifyConfig {
    /// `false`: every fresh node request waits for an operator (or another auto-approval).
    Off,
    /// Absent, `true` or an object: probe eligible requests with this policy.
    On(SshVerifyPolicy),
}

impl Default for SshVerifyConfig {
    /// On, with the defaults: upstream enables SSH verification unless told otherwise.
    fn default() -> Self {
        SshVerifyConfig::On(SshVerifyPolicy::default())
    }
}

/// How to probe, from the object form of `sshVerify`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SshVerifyPolicy {
    /// The remote login (`user`); `None` means the gateway process's own user name.
    pub user: Option<String>,
    /// A private key for `ssh -i` (`identity`), with `IdentitiesOnly=yes`; `None` lets ssh use
    /// the gateway user's usual keys and agent-free defaults.
    pub identity: Option<String>,
    /// `timeoutMs` as configured (`None`: [`DEFAULT_TIMEOUT_MS`]).
    pub timeout_ms: Option<u64>,
    /// `cidrs`: when non-empty, the only source addresses probed (loopback included if listed);
    /// when empty, private, link-local, CGNAT and ULA addresses other than loopback.
    pub cidrs: Vec<Cidr>,
    /// The `cidrs` entries as written (trimmed, sorted), part of the in-flight key as upstream.
    pub cidrs_text: Vec<String>,
}

impl SshVerifyPolicy {
    /// The probe's time budget: the configured or default timeout, never below
    /// [`MIN_TIMEOUT_MS`].
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS).max(MIN_TIMEOUT_MS))
    }
}

/// Why `gateway.nodes.pairing.sshVerify` was refused; each message names the key and the
/// accepted forms, because a gateway that starts with half a security setting is worse than
/// one that does not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SshVerifyConfigError {
    /// Neither a boolean nor an object.
    #[error(
        "gateway.nodes.pairing.sshVerify must be false, true or an object {{user?, identity?, timeoutMs?, cidrs?}}"
    )]
    WrongType,
    /// The object has a key upstream's strict schema does not know.
    #[error("gateway.nodes.pairing.sshVerify.{0} is not a setting (the keys are user, identity, timeoutMs, cidrs)")]
    UnknownKey(String),
    /// `user` or `identity` is not a string.
    #[error("gateway.nodes.pairing.sshVerify.{0} must be a string")]
    NotAString(&'static str),
    /// `timeoutMs` is not a positive integer.
    #[error(
        "gateway.nodes.pairing.sshVerify.timeoutMs must be a positive integer number of milliseconds (default 7000)"
    )]
    BadTimeout,
    /// `cidrs` is not a list of strings.
    #[error("gateway.nodes.pairing.sshVerify.cidrs must be a list of CIDRs or IP addresses")]
    CidrsNotAList,
    /// A `cidrs` entry does not parse.
    #[error("gateway.nodes.pairing.sshVerify.cidrs: {0}")]
    Cidr(#[from] InvalidCidr),
}

impl SshVerifyConfig {
    /// Reads the config value with upstream's schema (`boolean | strictObject`), trimming
    /// strings as upstream does (a blank `user` or `identity` means the default, blank `cidrs`
    /// entries are dropped, and an empty list means the default ranges).
    pub fn from_json(value: &Value) -> Result<Self, SshVerifyConfigError> {
        let object = match value {
            Value::Bool(false) => return Ok(SshVerifyConfig::Off),
            Value::Bool(true) => return Ok(SshVerifyConfig::default()),
            Value::Object(o) => o,
            _ => return Err(SshVerifyConfigError::WrongType),
        };
        if let Some(unknown) = object.keys().find(|k| !["user", "identity", "timeoutMs", "cidrs"].contains(&k.as_str()))
        {
            return Err(SshVerifyConfigError::UnknownKey(unknown.clone()));
        }
        let text = |key: &'static str| -> Result<Option<String>, SshVerifyConfigError> {
            match object.get(key) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.trim().to_string()).filter(|s| !s.is_empty())),
                Some(_) => Err(SshVerifyConfigError::NotAString(key)),
            }
        };
        let timeout_ms = match object.get("timeoutMs") {
            None => None,
            Some(v) => Some(v.as_u64().filter(|ms| *ms > 0).ok_or(SshVerifyConfigError::BadTimeout)?),
        };
        let mut cidrs_text = match object.get("cidrs") {
            None => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(|s| s.trim().to_string()).ok_or(SshVerifyConfigError::CidrsNotAList))
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect(),
            Some(_) => return Err(SshVerifyConfigError::CidrsNotAList),
        };
        cidrs_text.sort();
        let cidrs = cidrs_text.iter().map(|s| s.parse::<Cidr>()).collect::<Result<Vec<_>, _>>()?;
        Ok(SshVerifyConfig::On(SshVerifyPolicy {
            user: text("user")?,
            identity: text("identity")?,
            timeout_ms,
            cidrs,
            cidrs_text,
        }))
    }
}

/// One probe, decided: where to log in, as whom, and how long to wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbePlan {
    /// The request's source address (IPv4-mapped addresses unwrapped).
    pub host: IpAddr,
    /// The remote login.
    pub user: String,
    /// `ssh -i`, when configured.
    pub identity: Option<String>,
    /// The probe's time budget.
    pub timeout: Duration,
    /// The configured `cidrs` (as written), for the in-flight key.
    cidrs: Vec<String>,
}

impl ProbePlan {
    /// The `ssh` arguments, exactly upstream's: batch mode, publickey only, strict host keys, no
    /// agent, X11 or port forwarding, port 22, then `--`, `user@host` and the remote command.
    pub fn ssh_args(&self) -> Vec<String> {
        let mut args: Vec<String> = [
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=5",
            "-o",
            "NumberOfPasswordPrompts=0",
            "-o",
            "PreferredAuthentications=publickey",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "UpdateHostKeys=no",
            "-a",
            "-x",
            "-o",
            "ForwardAgent=no",
            "-o",
            "ForwardX11=no",
            "-o",
            "ForwardX11Trusted=no",
            "-o",
            "ClearAllForwardings=yes",
            "-o",
            "ExitOnForwardFailure=yes",
            "-p",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.push(SSH_PORT.to_string());
        if let Some(identity) = &self.identity {
            args.extend(["-i".to_string(), identity.clone(), "-o".to_string(), "IdentitiesOnly=yes".to_string()]);
        }
        args.push("--".into());
        // ssh takes a bare IPv6 literal in user@host form (no brackets).
        args.push(format!("{}@{}", self.user, self.host));
        args.push(REMOTE_IDENTITY_COMMAND.into());
        args
    }
}

/// The gateway process's user name, the default remote login (upstream: `os.userInfo()`,
/// then `$USER` / `$USERNAME`).
fn process_user() -> Option<String> {
    let from_passwd = nix::unistd::User::from_uid(nix::unistd::geteuid())
        .ok()
        .flatten()
        .map(|u| u.name.trim().to_string())
        .filter(|n| !n.is_empty());
    from_passwd.or_else(|| {
        ["USER", "USERNAME"]
            .iter()
            .find_map(|k| std::env::var(k).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty()))
    })
}

/// Client ids and modes of browser UIs: never probed (upstream refuses Control UI and webchat
/// clients, whose pairing is an operator's business).
fn is_browser_client(claim: &DeviceClaim) -> bool {
    let id = claim.client_id.as_deref().unwrap_or("");
    let mode = claim.client_mode.as_deref().unwrap_or("");
    matches!(id, "openclaw-control-ui" | "webchat-ui" | "webchat") || matches!(mode, "webchat" | "ui")
}

/// Whether a request asks for nothing but the node role (upstream's
/// `isScopelessNodePairingRequest`): no repair, no scopes, only `node` among its roles.
pub fn is_scopeless_node_request(request: &PendingDevice) -> bool {
    !request.is_repair
        && request.scopes.is_empty()
        && request.role == Role::Node.as_str()
        && request.roles.iter().all(|r| r == Role::Node.as_str())
}

/// Whether `ip` is in the default probe ranges: a private, link-local, CGNAT or ULA address
/// that is not loopback. IPv4-mapped IPv6 addresses count as their IPv4 address, and so do the
/// IPv4 addresses embedded in NAT64 (`64:ff9b::/96`) and 6to4 (`2002::/16`) addresses.
///
/// Upstream's list also names IPv6 special-use ranges that are never the source of a TCP
/// connection (documentation, benchmarking, multicast, unspecified); they are left out here,
/// which can only refuse a probe, never allow one.
pub fn is_default_probe_address(ip: IpAddr) -> bool {
    fn private_v4(v4: Ipv4Addr) -> bool {
        let [a, b, ..] = v4.octets();
        v4.is_private() || v4.is_link_local() || (a == 100 && (64..128).contains(&b))
    }
    match ip.to_canonical() {
        IpAddr::V4(v4) => private_v4(v4),
        IpAddr::V6(v6) => {
            let seg = v6.segments();
            let ula = seg[0] & 0xfe00 == 0xfc00;
            let link_local = seg[0] & 0xffc0 == 0xfe80;
            let site_local = seg[0] & 0xffc0 == 0xfec0;
            if ula || link_local || site_local {
                return true;
            }
            embedded_v4(v6).is_some_and(|v4| private_v4(v4) && !v4.is_loopback())
        }
    }
}

/// The IPv4 address inside a NAT64 well-known-prefix or 6to4 address.
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let o = v6.octets();
    let seg = v6.segments();
    if seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
    }
    if seg[0] == 0x2002 {
        return Some(Ipv4Addr::new(o[2], o[3], o[4], o[5]));
    }
    None
}

/// Decides whether this pending request may be verified over SSH, and how. `None` for
/// everything upstream's eligibility refuses, and also when no remote user can be resolved or
/// the address cannot be dialled without a zone (an IPv6 link-local peer).
pub fn plan(
    config: &SshVerifyConfig,
    claim: &DeviceClaim,
    request: &PendingDevice,
    reason: PairingReason,
    peer: Peer,
) -> Option<ProbePlan> {
    let SshVerifyConfig::On(policy) = config else { return None };
    let fresh = reason == PairingReason::NotPaired
        && !request.silent
        && is_scopeless_node_request(request)
        && claim.role == Role::Node.as_str()
        && claim.scopes.is_empty()
        && !is_browser_client(claim);
    if !fresh {
        return None;
    }
    let host = peer.ip.to_canonical();
    let in_range = if policy.cidrs.is_empty() {
        is_default_probe_address(host) && !host.is_loopback()
    } else {
        policy.cidrs.iter().any(|c| c.contains(host))
    };
    if !in_range {
        return None;
    }
    if let IpAddr::V6(v6) = host {
        if v6.segments()[0] & 0xffc0 == 0xfe80 {
            tracing::debug!(
                "node pairing ssh-verify skipped device={}: link-local {host} has no zone",
                claim.device_id
            );
            return None;
        }
    }
    let user = policy.user.clone().or_else(process_user)?;
    Some(ProbePlan {
        host,
        user,
        identity: policy.identity.clone(),
        timeout: policy.timeout(),
        cidrs: policy.cidrs_text.clone(),
    })
}

/// The identity the remote `openclaw node identity --json` printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteIdentity {
    /// `deviceId`, trimmed.
    pub device_id: String,
    /// `publicKey`, trimmed (any encoding `decode_public_key` accepts).
    pub public_key: String,
}

/// The first line of `stdout` that, trimmed, starts with `{`, parses as JSON and has string
/// `deviceId` and `publicKey` (upstream's `parseRemoteIdentity`): login shells print banners
/// and profile noise before it.
pub fn parse_remote_identity(stdout: &str) -> Option<RemoteIdentity> {
    stdout.split('\n').map(str::trim).filter(|l| l.starts_with('{')).find_map(|line| {
        let v: Value = serde_json::from_str(line).ok()?;
        Some(RemoteIdentity {
            device_id: v.get("deviceId")?.as_str()?.trim().to_string(),
            public_key: v.get("publicKey")?.as_str()?.trim().to_string(),
        })
    })
}

/// An Ed25519 public key as canonical base64url (no padding), whatever form it came in (PEM,
/// base64, base64url); `None` when it is not a key.
pub fn normalize_public_key(key: &str) -> Option<String> {
    let raw = openclaw_protocol::device_auth::decode_public_key(key).ok()?;
    Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw))
}

/// Whether the remote identity is the requesting device: the same device id, and the same key
/// once both are normalised to base64url. An expected key that does not decode never matches.
pub fn identity_matches(expected_device_id: &str, expected_public_key: &str, remote: &RemoteIdentity) -> bool {
    let Some(expected) = normalize_public_key(expected_public_key) else { return false };
    normalize_public_key(&remote.public_key).as_deref() == Some(expected.as_str())
        && remote.device_id == expected_device_id
}

/// What ssh did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeResult {
    /// Exit 0; the first [`MAX_PROBE_OUTPUT_BYTES`] of stdout.
    Ok(Vec<u8>),
    /// A non-zero exit or a signal; the code when there was one, and the start of stderr.
    Failed {
        /// The exit code.
        code: Option<i32>,
        /// The first few KiB of stderr.
        stderr: String,
    },
    /// The time budget ran out; the process group was killed.
    Timeout,
    /// `ssh` could not be started (not installed, not on PATH).
    SpawnError(String),
}

/// Why a probe did not approve, as upstream's log line says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotApproved {
    /// ssh failed, timed out or could not start.
    ProbeFailed,
    /// ssh succeeded but printed no identity line.
    IdentityUnreadable,
    /// The identity printed is not the requesting device's.
    IdentityMismatch,
}

impl NotApproved {
    /// `reason=` in the log line.
    pub fn as_str(self) -> &'static str {
        match self {
            NotApproved::ProbeFailed => "probe-failed",
            NotApproved::IdentityUnreadable => "identity-unreadable",
            NotApproved::IdentityMismatch => "identity-mismatch",
        }
    }

    /// How long the same request is left alone afterwards.
    pub fn cooldown(self) -> Duration {
        match self {
            NotApproved::IdentityMismatch => MISMATCH_COOLDOWN,
            NotApproved::ProbeFailed | NotApproved::IdentityUnreadable => FAILURE_COOLDOWN,
        }
    }
}

/// Judges a probe's result against the expected identity.
pub fn judge(result: &ProbeResult, expected_device_id: &str, expected_public_key: &str) -> Result<(), NotApproved> {
    let ProbeResult::Ok(stdout) = result else { return Err(NotApproved::ProbeFailed) };
    let remote = parse_remote_identity(&String::from_utf8_lossy(stdout)).ok_or(NotApproved::IdentityUnreadable)?;
    if identity_matches(expected_device_id, expected_public_key, &remote) {
        Ok(())
    } else {
        Err(NotApproved::IdentityMismatch)
    }
}

/// Reads `reader` to its end, keeping the first `cap` bytes and discarding the rest, so the
/// child never blocks on a full pipe and a chatty remote costs no memory.
async fn read_capped(mut reader: impl AsyncRead + Unpin, cap: usize) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        match reader.read(&mut chunk).await {
            Ok(0) | Err(_) => return kept,
            Ok(n) => {
                let room = cap.saturating_sub(kept.len());
                kept.extend_from_slice(&chunk[..n.min(room)]);
            }
        }
    }
}

/// Kills the probe's process group unless disarmed: a task cancelled mid-probe (gateway
/// shutdown) must not leave ssh, or anything a `ProxyCommand` started, behind.
struct GroupGuard(Pid);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        let _ = killpg(self.0, Signal::SIGKILL);
    }
}

/// Runs `program` (normally `ssh`, found on the gateway's PATH) with the plan's arguments, in a
/// process group of its own, stdin at EOF. Stdout is capped at [`MAX_PROBE_OUTPUT_BYTES`]. On
/// timeout the whole group is killed (SIGKILL) before the child is reaped, so no ssh outlives
/// its budget; after a normal exit the group is killed too, for anything ssh left behind.
pub async fn run_probe_with(program: &str, plan: &ProbePlan) -> ProbeResult {
    let mut child = match tokio::process::Command::new(program)
        .args(plan.ssh_args())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return ProbeResult::SpawnError(e.to_string()),
    };
    let Some(pid) = child.id() else { return ProbeResult::SpawnError("ssh exited before it could be watched".into()) };
    let pgid = Pid::from_raw(pid as i32);
    let guard = GroupGuard(pgid);
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let run = async {
        let out = async {
            match stdout {
                Some(s) => read_capped(s, MAX_PROBE_OUTPUT_BYTES).await,
                None => Vec::new(),
            }
        };
        let err = async {
            match stderr {
                Some(s) => read_capped(s, MAX_STDERR_BYTES).await,
                None => Vec::new(),
            }
        };
        let (out, err) = tokio::join!(out, err);
        (out, err, child.wait().await)
    };
    match tokio::time::timeout(plan.timeout, run).await {
        Err(_) => {
            // Kill the group while ssh is still unreaped (its pid, and so the group id, cannot
            // have been reused), then reap it.
            drop(guard);
            let _ = child.wait().await;
            ProbeResult::Timeout
        }
        Ok((out, err, status)) => {
            // ssh is reaped; the group id stays ours while anything ssh started is still in it,
            // and a group that is already empty is ESRCH, ignored.
            drop(guard);
            match status {
                Ok(s) if s.success() => ProbeResult::Ok(out),
                Ok(s) => ProbeResult::Failed { code: s.code(), stderr: String::from_utf8_lossy(&err).into_owned() },
                Err(e) => ProbeResult::Failed { code: None, stderr: e.to_string() },
            }
        }
    }
}

/// [`run_probe_with`] `ssh` from the gateway's PATH, as upstream.
pub async fn run_probe(plan: &ProbePlan) -> ProbeResult {
    run_probe_with("ssh", plan).await
}

/// The in-flight key, as upstream: host, device, key, user, identity, timeout and cidrs. Two
/// connects of the same device under the same policy share one probe.
type ProbeKey = String;

fn probe_key(plan: &ProbePlan, device_id: &str, public_key: &str) -> ProbeKey {
    serde_json::json!([
        plan.host.to_string(),
        device_id,
        public_key,
        plan.user,
        plan.identity,
        plan.timeout.as_millis() as u64,
        plan.cidrs
    ])
    .to_string()
}

#[derive(Debug, Default)]
struct VerifierState {
    in_flight: HashSet<ProbeKey>,
    cooldowns: HashMap<ProbeKey, Instant>,
}

/// What [`SshVerifier::begin`] decided for one connect.
#[derive(Debug)]
pub enum Begin {
    /// A new probe: the caller runs it and holds the ticket until it is judged.
    Started(ProbeTicket),
    /// The same probe is already running: tell the client to retry soon, start nothing.
    AlreadyInFlight,
    /// Cooling down after a failure or a mismatch: no probe, no retry hint.
    CoolingDown,
    /// [`MAX_CONCURRENT_PROBES`] are running: no probe, no retry hint.
    Busy,
}

/// The gateway-wide probe bookkeeping: which probes run, and which requests cool down.
#[derive(Default)]
pub struct SshVerifier {
    state: Arc<Mutex<VerifierState>>,
}

impl std::fmt::Debug for SshVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.lock();
        f.debug_struct("SshVerifier")
            .field("in_flight", &s.in_flight.len())
            .field("cooldowns", &s.cooldowns.len())
            .finish()
    }
}

/// A running probe's slot. Dropping it frees the slot; [`finish`](ProbeTicket::finish) also
/// records the cooldown. A probe task that panics or is cancelled frees its slot all the same.
#[derive(Debug)]
pub struct ProbeTicket {
    key: ProbeKey,
    state: Arc<Mutex<VerifierState>>,
}

impl ProbeTicket {
    /// Frees the slot and, for a failure, starts the cooldown (from now, as upstream).
    pub fn finish(self, outcome: Result<(), NotApproved>) {
        if let Err(why) = outcome {
            let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            s.cooldowns.insert(self.key.clone(), Instant::now() + why.cooldown());
            prune(&mut s, Instant::now());
        }
    }
}

impl Drop for ProbeTicket {
    fn drop(&mut self) {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).in_flight.remove(&self.key);
    }
}

fn prune(s: &mut VerifierState, now: Instant) {
    s.cooldowns.retain(|_, until| *until > now);
    while s.cooldowns.len() > MAX_COOLDOWN_ENTRIES {
        let Some(oldest) = s.cooldowns.iter().min_by_key(|(_, until)| **until).map(|(k, _)| k.clone()) else { break };
        s.cooldowns.remove(&oldest);
    }
}

impl SshVerifier {
    fn lock(&self) -> std::sync::MutexGuard<'_, VerifierState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Claims a probe slot for `plan` and this device, unless one is running, the request is
    /// cooling down, or every slot is taken.
    pub fn begin(&self, plan: &ProbePlan, device_id: &str, public_key: &str, now: Instant) -> Begin {
        let key = probe_key(plan, device_id, public_key);
        let mut s = self.lock();
        prune(&mut s, now);
        if s.in_flight.contains(&key) {
            return Begin::AlreadyInFlight;
        }
        if s.cooldowns.get(&key).is_some_and(|until| *until > now) {
            return Begin::CoolingDown;
        }
        if s.in_flight.len() >= MAX_CONCURRENT_PROBES {
            return Begin::Busy;
        }
        s.in_flight.insert(key.clone());
        Begin::Started(ProbeTicket { key, state: self.state.clone() })
    }

    /// Probes running now.
    pub fn in_flight(&self) -> usize {
        self.lock().in_flight.len()
    }
}

/// Starts (or joins) the SSH verification of a pending device request the handshake is about
/// to refuse; returns whether the refusal should tell the client to wait and retry
/// (`wait_then_retry`): true while a probe for this request runs.
///
/// The probe runs on a task of its own, so the connection's task answers at once and no lock
/// is held across its await. Only the connect that started the probe approves; on a match the
/// still-pending request is approved as `ssh-verified`, the security-audit line is logged and
/// operators get `device.pair.resolved`. Called with the pairing lock held: it takes no lock
/// but the verifier's own.
pub fn start(
    shared: &Arc<Shared>,
    claim: &DeviceClaim,
    request: &PendingDevice,
    reason: PairingReason,
    peer: Peer,
    conn_id: &str,
) -> bool {
    let Some(plan) = plan(&shared.config.ssh_verify, claim, request, reason, peer) else { return false };
    // The handshake runs on the gateway's runtime; without one there is nowhere to run the
    // probe, so none starts (and the client gets no hint).
    let Ok(runtime) = tokio::runtime::Handle::try_current() else { return false };
    let ticket = match shared.ssh_verifier.begin(&plan, &request.device_id, &request.public_key, Instant::now()) {
        Begin::Started(ticket) => ticket,
        Begin::AlreadyInFlight => return true,
        Begin::CoolingDown | Begin::Busy => return false,
    };
    let job = Approval {
        shared: shared.clone(),
        request_id: request.request_id.clone(),
        device_id: request.device_id.clone(),
        public_key: request.public_key.clone(),
        client_id: claim.client_id.clone().unwrap_or_default(),
        reported_ip: request.remote_ip.clone(),
        conn_id: conn_id.to_string(),
        plan,
    };
    runtime.spawn(job.run(ticket));
    true
}

/// The work of one probe, owned by its task.
struct Approval {
    shared: Arc<Shared>,
    request_id: String,
    device_id: String,
    public_key: String,
    client_id: String,
    reported_ip: Option<String>,
    conn_id: String,
    plan: ProbePlan,
}

impl Approval {
    async fn run(self, ticket: ProbeTicket) {
        let result = run_probe(&self.plan).await;
        match &result {
            ProbeResult::SpawnError(e) => tracing::warn!(
                "node pairing ssh-verify could not run ssh device={}: {e} (is the OpenSSH client on the gateway's PATH?)",
                self.device_id
            ),
            ProbeResult::Failed { code, stderr } => tracing::debug!(
                "node pairing ssh-verify ssh exited {} device={} host={}: {}",
                code.map(|c| c.to_string()).unwrap_or_else(|| "on a signal".into()),
                self.device_id,
                self.plan.host,
                stderr.lines().next().unwrap_or("").chars().take(200).collect::<String>()
            ),
            ProbeResult::Timeout => tracing::debug!(
                "node pairing ssh-verify timed out after {} ms device={} host={}",
                self.plan.timeout.as_millis(),
                self.device_id,
                self.plan.host
            ),
            ProbeResult::Ok(_) => {}
        }
        let verdict = judge(&result, &self.device_id, &self.public_key);
        match verdict {
            Err(why) => tracing::info!(
                "node pairing ssh-verify did not approve device={} host={} reason={}",
                self.device_id,
                self.plan.host,
                why.as_str()
            ),
            // Approved while the slot is still held, so a retry landing now joins this probe
            // instead of starting a second one.
            Ok(()) => self.approve(),
        }
        ticket.finish(verdict);
    }

    /// Approves the request if it is still the one that was verified: pending, the same device
    /// and key, still scopeless, and the device not paired meanwhile (by an operator, say).
    fn approve(&self) {
        let now = openclaw_state::now_ms();
        let approved = {
            let mut pairing = self.shared.pairing();
            let current = pairing.device_request(&self.request_id, now).is_some_and(|r| {
                r.device_id == self.device_id && r.public_key == self.public_key && is_scopeless_node_request(r)
            }) && pairing.device(&self.device_id).is_none();
            if current {
                pairing.approve_device(&self.request_id, "ssh-verified", now).map_err(ApproveError::Pairing)
            } else {
                Err(ApproveError::NotCurrent)
            }
        };
        match approved {
            Err(ApproveError::NotCurrent) => tracing::info!(
                "node pairing ssh-verify approval skipped device={} (request superseded or already resolved)",
                self.device_id
            ),
            Err(ApproveError::Pairing(e)) => {
                tracing::warn!("node pairing ssh-verify failed device={}: {e}", self.device_id)
            }
            Ok(_) => {
                tracing::info!(
                    "security audit: device pairing ssh-verified auto-approve device={} ip={} sshUser={} client={} conn={}",
                    self.device_id,
                    self.reported_ip.as_deref().unwrap_or("unknown-ip"),
                    self.plan.user,
                    self.client_id,
                    self.conn_id
                );
                let notice = PairingNotice::device_resolved(&self.request_id, &self.device_id, "approved", now);
                self.shared.registry().notify_pairing(&notice);
            }
        }
    }
}

/// Why a verified request was not approved after all.
enum ApproveError {
    /// It was approved, rejected, superseded or expired while the probe ran, or the device was
    /// paired meanwhile: the verification no longer speaks for what is pending.
    NotCurrent,
    /// The pairing journal refused the write.
    Pairing(super::PairingError),
}

#[cfg(test)]
mod tests;
