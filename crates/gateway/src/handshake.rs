//! Admission of a `connect` request, in the real Gateway's order of checks (`protocol.md` §4.7):
//! schema → protocol range → role → device identity → device proof → shared secret or device
//! token (rate limited) → device pairing → node surface. The first failing check decides the
//! error the client sees, so the order is part of the contract.

use std::net::IpAddr;
use std::sync::{Arc, LazyLock};
use std::time::Instant;

use openclaw_protocol::connect::{ConnectParams, CLIENT_IDS, CLIENT_MODES};
use openclaw_protocol::device_auth::{
    decode_public_key, device_id_for_public_key, verify_signature, DeviceAuthPayload,
};
use openclaw_protocol::{ErrorCode, ErrorShape, Role, PROTOCOL_VERSION};
use serde_json::{json, Value};

use crate::config::AuthMode;
use crate::pairing::{
    admitted_at_pairing, normalize_declared, ssh_verify, BootstrapClaim, BootstrapGrant, DeviceCheck, DeviceClaim,
    NodeClaim, NodeFacts, PairingNotice, PairingReason,
};
use crate::schema::{array, non_empty, opt, req, string, Shape};
use crate::Shared;

/// Oldest protocol a node may speak (a v3 node is still served).
const MIN_NODE_PROTOCOL: u32 = 3;
/// Allowed clock skew of `device.signedAt`.
const MAX_SIGNATURE_SKEW_MS: i64 = 120_000;

/// Who is on the other end of the socket, as far as the transport can tell.
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    /// The TCP peer address.
    pub ip: IpAddr,
    /// Direct loopback TCP with no forwarding headers: eligible for silent local pairing.
    pub direct_local: bool,
}

/// A successful admission.
#[derive(Debug)]
pub struct Admission {
    /// The `connect` params as sent.
    pub params: ConnectParams,
    /// The admitted role.
    pub role: Role,
    /// Granted operator scopes (empty for nodes and scopeless clients).
    pub scopes: Vec<String>,
    /// The paired device, when one was presented.
    pub device_id: Option<String>,
    /// Whether the connection authenticated with that device's own token (not a shared
    /// secret): such a caller manages only its own device unless it is an admin (upstream's
    /// `isDeviceTokenAuth`).
    pub device_token_auth: bool,
    /// `hello-ok.auth`.
    pub hello_auth: Value,
    /// For nodes: the effective command list.
    pub node_commands: Option<Vec<String>>,
    /// Pairing events to broadcast to operators.
    pub notices: Vec<PairingNotice>,
}

/// A refused connect: the error response, then a close frame.
#[derive(Debug)]
pub struct Refusal {
    /// The error response.
    pub error: ErrorShape,
    /// The WebSocket close code sent after it.
    pub close_code: u16,
    /// The close reason (at most 123 bytes on the wire).
    pub close_reason: String,
    /// Pairing events to broadcast even though the connect failed.
    pub notices: Vec<PairingNotice>,
}

impl Refusal {
    fn new(error: ErrorShape) -> Self {
        let close_reason = truncate_utf8(&error.message, 120);
        Refusal { error, close_code: 1008, close_reason, notices: Vec::new() }
    }
}

/// Truncates to at most `max` bytes on a character boundary (close reasons are bounded).
pub fn truncate_utf8(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

fn invalid(message: impl Into<String>, details: Option<Value>) -> ErrorShape {
    let mut e = ErrorShape::new(ErrorCode::InvalidRequest, message);
    e.details = details;
    e
}

static CONNECT_SCHEMA: LazyLock<Shape> = LazyLock::new(|| {
    let strings = || array(non_empty());
    Shape::Object(vec![
        req("minProtocol", Shape::Int { min: 1 }),
        req("maxProtocol", Shape::Int { min: 1 }),
        req(
            "client",
            Shape::Object(vec![
                req("id", Shape::Enum(CLIENT_IDS)),
                opt("displayName", non_empty()),
                req("version", non_empty()),
                opt("buildId", Shape::Str { min: 1, max: Some(96) }),
                req("platform", non_empty()),
                opt("deviceFamily", non_empty()),
                opt("modelIdentifier", non_empty()),
                opt("timeZone", Shape::Str { min: 1, max: Some(64) }),
                req("mode", Shape::Enum(CLIENT_MODES)),
                opt("instanceId", non_empty()),
            ]),
        ),
        opt("caps", strings()),
        opt("commands", array(string())),
        opt("computerUse", Shape::Any),
        opt("workerRuns", Shape::Any),
        opt("permissions", Shape::Record(Box::new(Shape::Bool))),
        opt("pathEnv", string()),
        opt("role", string()),
        opt("scopes", array(string())),
        opt("modelCatalog", Shape::Any),
        opt(
            "device",
            Shape::Object(vec![
                req("id", string()),
                req("publicKey", string()),
                req("signature", string()),
                req("signedAt", Shape::Int { min: 0 }),
                req("nonce", string()),
            ]),
        ),
        opt(
            "auth",
            Shape::Object(vec![
                opt("token", string()),
                opt("bootstrapToken", string()),
                opt("deviceToken", string()),
                opt("password", string()),
                opt("approvalRuntimeToken", string()),
                opt("agentRuntimeIdentityToken", string()),
            ]),
        ),
        opt("locale", string()),
        opt("userAgent", string()),
    ])
});

/// The challenge this connection was sent.
#[derive(Debug, Clone)]
pub struct Challenge {
    /// The random nonce the device must sign.
    pub nonce: String,
    /// Server time when it was sent, ms.
    pub ts: i64,
    /// The connection's id (`hello-ok.server.connId` once admitted), fixed when the challenge
    /// goes out so that work a refused connect leaves behind (an SSH verification) can name it.
    pub conn_id: String,
}

/// Runs every check on a `connect` request's params.
pub fn admit(shared: &Arc<Shared>, raw: &Value, challenge: &Challenge, peer: Peer) -> Result<Admission, Refusal> {
    CONNECT_SCHEMA.check(raw).map_err(|m| Refusal::new(invalid(format!("invalid connect params: {m}"), None)))?;
    let params: ConnectParams = serde_json::from_value(raw.clone())
        .map_err(|e| Refusal::new(invalid(format!("invalid connect params: {e}"), None)))?;

    // Parsed now, refused only after the protocol range check (upstream's order).
    let role = params.role.as_deref().unwrap_or("operator").parse::<Role>();
    let is_node_client = role == Ok(Role::Node) && params.client.mode == "node";
    let current = params.max_protocol >= PROTOCOL_VERSION && params.min_protocol <= PROTOCOL_VERSION;
    let legacy_node =
        is_node_client && params.max_protocol >= MIN_NODE_PROTOCOL && params.min_protocol <= MIN_NODE_PROTOCOL;
    if !current && !legacy_node {
        let mut r = Refusal::new(invalid(
            "protocol mismatch",
            Some(json!({
                "code": "PROTOCOL_MISMATCH",
                "clientMinProtocol": params.min_protocol,
                "clientMaxProtocol": params.max_protocol,
                "expectedProtocol": PROTOCOL_VERSION,
                "minimumProbeProtocol": 3,
            })),
        ));
        r.close_code = 1002;
        return Err(r);
    }
    let Ok(role) = role else {
        return Err(Refusal::new(invalid("invalid role", None)));
    };

    let auth = params.auth.clone().unwrap_or_default();
    let shared_secret_sent = auth.token.is_some() || auth.password.is_some();
    let device_id = match &params.device {
        None if role == Role::Node || !shared_secret_sent || shared.config.auth == AuthMode::None => {
            return Err(Refusal::new(not_paired(
                "device identity required",
                json!({"code": "DEVICE_IDENTITY_REQUIRED"}),
            )))
        }
        None => None,
        Some(device) => {
            let key = decode_public_key(&device.public_key).map_err(|_| {
                device_auth("device public key invalid", "DEVICE_AUTH_PUBLIC_KEY_INVALID", "device-public-key-invalid")
            })?;
            if device_id_for_public_key(&key) != device.id {
                return Err(device_auth(
                    "device identity mismatch",
                    "DEVICE_AUTH_DEVICE_ID_MISMATCH",
                    "device-id-mismatch",
                ));
            }
            if (openclaw_state::now_ms() - device.signed_at as i64).abs() > MAX_SIGNATURE_SKEW_MS {
                return Err(device_auth(
                    "device signature expired",
                    "DEVICE_AUTH_SIGNATURE_EXPIRED",
                    "device-signature-stale",
                ));
            }
            if device.nonce.trim().is_empty() {
                return Err(device_auth("device nonce required", "DEVICE_AUTH_NONCE_REQUIRED", "device-nonce-missing"));
            }
            if device.nonce != challenge.nonce {
                return Err(device_auth(
                    "device nonce mismatch",
                    "DEVICE_AUTH_NONCE_MISMATCH",
                    "device-nonce-mismatch",
                ));
            }
            let scopes = params.scopes.clone().unwrap_or_default();
            let payload = DeviceAuthPayload {
                device_id: &device.id,
                client_id: &params.client.id,
                client_mode: &params.client.mode,
                role: role.as_str(),
                scopes: &scopes,
                signed_at_ms: device.signed_at,
                token: auth.signature_token(),
                nonce: &device.nonce,
                platform: Some(&params.client.platform),
                device_family: params.client.device_family.as_deref(),
            };
            let valid = verify_signature(&key, &payload.to_v3_string(), &device.signature)
                || verify_signature(&key, &payload.to_v2_string(), &device.signature);
            if !valid {
                return Err(device_auth(
                    "device signature invalid",
                    "DEVICE_AUTH_SIGNATURE_INVALID",
                    "device-signature",
                ));
            }
            Some(device.id.clone())
        }
    };

    let requested_scopes = if role == Role::Node { Vec::new() } else { params.scopes.clone().unwrap_or_default() };
    let public_key = params.device.as_ref().map(|d| d.public_key.as_str()).unwrap_or_default();
    let bootstrap_claim = device_id.as_deref().map(|device_id| BootstrapClaim {
        device_id,
        public_key,
        role: role.as_str(),
        scopes: &requested_scopes,
    });
    let Authenticated { method, bootstrap } = authenticate(shared, &auth, bootstrap_claim, role, peer)?;

    let Some(device_id) = device_id else {
        // An operator with a valid shared secret and no device identity keeps its scopes only
        // as the local `openclaw` CLI; any other such client gets none (as upstream).
        let local_cli = peer.direct_local && params.client.id == "cli" && params.client.mode == "cli";
        let requested_scopes = if local_cli { requested_scopes } else { Vec::new() };
        return Ok(Admission {
            hello_auth: json!({"method": method, "role": role, "scopes": requested_scopes}),
            params,
            role,
            scopes: requested_scopes,
            device_id: None,
            device_token_auth: false,
            node_commands: None,
            notices: Vec::new(),
        });
    };

    let now = openclaw_state::now_ms();
    let claim = DeviceClaim {
        device_id: device_id.clone(),
        public_key: params.device.as_ref().map(|d| d.public_key.clone()).unwrap_or_default(),
        role: role.as_str().into(),
        scopes: requested_scopes.clone(),
        display_name: params.client.display_name.clone(),
        platform: Some(params.client.platform.clone()),
        device_family: params.client.device_family.clone(),
        client_id: Some(params.client.id.clone()),
        client_mode: Some(params.client.mode.clone()),
        remote_ip: reported_ip(peer),
    };
    let mut notices = Vec::new();
    let mut pairing = shared.pairing();
    let check = pairing.check_device(&claim, now).map_err(|e| Refusal::new(unavailable(&e.to_string())))?;
    if let DeviceCheck::Required { reason, request, superseded } = check {
        if let Some(old) = superseded {
            notices.push(PairingNotice::device_resolved(&old.request_id, &old.device_id, "rejected", now));
        }
        // A fresh, scopeless node that proved a setup code (upstream's "mobile node connect").
        let existing = pairing.device(&claim.device_id).is_some();
        let fresh_bootstrap_node = bootstrap.is_some()
            && reason == PairingReason::NotPaired
            && !existing
            && role == Role::Node
            && params.client.mode == "node";
        let handed_off = fresh_bootstrap_node
            && bootstrap.as_ref().is_some_and(|g| g.profile.hands_off_to(&params.client.id, &params.client.platform));
        // A setup code's hand-off wins over local approval, as upstream orders them: the
        // device is then `bootstrap`-approved and its first surface comes with it.
        let auto =
            handed_off.then_some("bootstrap").or_else(|| auto_approval(&shared.config, peer, &claim, reason, existing));
        match auto {
            Some(via) => {
                pairing
                    .approve_device(&request.request_id, via, now)
                    .map_err(|e| Refusal::new(unavailable(&e.to_string())))?;
                tracing::info!("device pairing auto-approved device={} role={} via={via}", claim.device_id, claim.role);
                if via == "bootstrap" {
                    notices.push(PairingNotice::device_resolved(
                        &request.request_id,
                        &claim.device_id,
                        "approved",
                        now,
                    ));
                }
            }
            None => {
                notices.push(PairingNotice::device_requested(&request));
                // A fresh node on the local network may be approved by reading its identity
                // back over SSH; while that runs, the client is told to retry soon.
                let retry_soon = ssh_verify::start(shared, &claim, &request, reason, peer, &challenge.conn_id);
                let mut details = json!({
                    "code": "PAIRING_REQUIRED",
                    "reason": reason.as_str(),
                    "requestId": request.request_id,
                    "remediationHint": "Approve this device from the pending pairing requests.",
                });
                // A good setup code: the node should keep retrying rather than pause, as it
                // does while an SSH verification runs.
                if retry_soon || fresh_bootstrap_node {
                    details["recommendedNextStep"] = json!("wait_then_retry");
                    details["retryable"] = json!(true);
                    details["pauseReconnect"] = json!(false);
                }
                details["deviceId"] = json!(claim.device_id);
                details["requestedRole"] = json!(claim.role);
                if !claim.scopes.is_empty() {
                    details["requestedScopes"] = json!(claim.scopes);
                }
                let message = format!("pairing required: {}", reason.requirement());
                let mut r = Refusal::new(not_paired(&message, details));
                r.close_reason = truncate_utf8(&format!("{message} (requestId: {})", request.request_id), 120);
                r.notices = notices;
                return Err(r);
            }
        }
    }
    let paired_via_bootstrap = pairing.device(&device_id).is_some_and(|d| d.approved_via == "bootstrap");
    let token = pairing.ensure_token(&device_id, role, now).map_err(|e| Refusal::new(unavailable(&e.to_string())))?;
    let granted_scopes = if role == Role::Node { Vec::new() } else { requested_scopes };
    let hello_auth = json!({
        "method": method,
        "role": role,
        "scopes": granted_scopes,
        "deviceToken": token.token,
        "issuedAtMs": token.created_at_ms,
    });

    let node_commands = if role == Role::Node {
        let declared = normalize_declared(&params.commands.clone().unwrap_or_default());
        let mut caps = params.caps.clone().unwrap_or_default();
        caps.sort();
        let facts = NodeFacts {
            platform: &params.client.platform,
            device_family: params.client.device_family.as_deref(),
            caps: &caps,
            commands: &declared,
            approved: None,
        };
        let allowed = admitted_at_pairing(&shared.config.node_commands, &facts);
        let withheld: Vec<&String> = declared.iter().filter(|c| !allowed.contains(c)).collect();
        if !withheld.is_empty() {
            tracing::info!(
                "node command surface withheld node={device_id} commands={}",
                withheld.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(",")
            );
        }
        // A node paired by a setup code or SSH verification gets its first surface without a
        // second approval; later growth goes through `nodes approve` like any other.
        let first_surface = pairing.node(&device_id).is_none()
            && pairing
                .device(&device_id)
                .is_some_and(|d| matches!(d.approved_via.as_str(), "bootstrap" | "ssh-verified"));
        let mut surface = pairing
            .reconcile_node(
                &NodeClaim {
                    node_id: device_id.clone(),
                    client_id: Some(params.client.id.clone()),
                    client_mode: Some(params.client.mode.clone()),
                    display_name: params.client.display_name.clone(),
                    platform: Some(params.client.platform.clone()),
                    version: Some(params.client.version.clone()),
                    device_family: params.client.device_family.clone(),
                    caps,
                    commands: allowed,
                    remote_ip: reported_ip(peer),
                },
                now,
            )
            .map_err(|e| Refusal::new(unavailable(&e.to_string())))?;
        if let Some(old) = surface.superseded {
            notices.push(PairingNotice::node_resolved(&old.request_id, &old.node_id, "rejected", now));
        }
        match surface.pending.take() {
            Some((request, _)) if first_surface => {
                let record = pairing
                    .approve_node(&request.request_id, now)
                    .map_err(|e| Refusal::new(unavailable(&e.to_string())))?;
                tracing::info!(
                    "security audit: node capability surface bootstrap auto-approve node={device_id} commands={}",
                    if record.commands.is_empty() { "<none>".to_string() } else { record.commands.join(",") }
                );
                notices.push(PairingNotice::node_resolved(&request.request_id, &device_id, "approved", now));
                surface.effective = record.commands;
            }
            Some((request, true)) => notices.push(PairingNotice::node_requested(&request)),
            _ => {}
        }
        Some(surface.effective)
    } else {
        None
    };
    if let Some(grant) = &bootstrap {
        // Consumed before the hello-ok goes out: a journal failure fails the connect instead
        // of leaving a code that works twice.
        let consumed = pairing
            .redeem_bootstrap(&grant.setup_id, role.as_str(), paired_via_bootstrap)
            .map_err(|e| Refusal::new(unavailable(&e.to_string())))?;
        if consumed {
            notices.push(PairingNotice::setup_completed(grant, &device_id, params.client.display_name.as_deref(), now));
        }
    }
    Ok(Admission {
        params,
        role,
        scopes: granted_scopes,
        device_id: Some(device_id),
        device_token_auth: method == "device-token",
        hello_auth,
        node_commands,
        notices,
    })
}

/// The address reported to operators: none for loopback clients, as upstream.
pub fn reported_ip(peer: Peer) -> Option<String> {
    (!peer.ip.is_loopback() && !peer.ip.to_canonical().is_loopback()).then(|| peer.ip.to_canonical().to_string())
}

/// Who approves a pairing request without an operator: direct loopback clients (`silent`,
/// unless turned off) and fresh, scopeless node requests from a trusted network
/// (`trusted-cidr`). Never a role or scope upgrade from a network.
///
/// A device that is already paired (`existing`) and asks for a non-operator role is never
/// approved silently, even over loopback (as upstream): otherwise a node whose token an
/// operator revoked would simply re-pair itself on its next connect.
fn auto_approval(
    config: &crate::GatewayConfig,
    peer: Peer,
    claim: &DeviceClaim,
    reason: PairingReason,
    existing: bool,
) -> Option<&'static str> {
    let re_pairing_non_operator = existing && claim.role != Role::Operator.as_str();
    if peer.direct_local && config.auto_approve_local && !re_pairing_non_operator {
        return Some("silent");
    }
    let fresh_scopeless_node =
        reason == PairingReason::NotPaired && !existing && claim.role == Role::Node.as_str() && claim.scopes.is_empty();
    if fresh_scopeless_node && !peer.ip.is_loopback() && config.auto_approve_cidrs.iter().any(|c| c.contains(peer.ip)) {
        return Some("trusted-cidr");
    }
    None
}

fn not_paired(message: &str, details: Value) -> ErrorShape {
    let mut e = ErrorShape::new(ErrorCode::NotPaired, message);
    e.details = Some(details);
    e
}

fn unavailable(message: &str) -> ErrorShape {
    tracing::error!("connect failed on gateway state: {message}");
    let mut e = ErrorShape::new(ErrorCode::Unavailable, "gateway state unavailable; retry shortly");
    e.retryable = Some(true);
    e
}

fn device_auth(message: &str, code: &str, reason: &str) -> Refusal {
    Refusal::new(invalid(message, Some(json!({"code": code, "reason": reason}))))
}

/// What went wrong with the presented credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AuthFailure {
    TokenMissing,
    TokenMismatch,
    PasswordMissing,
    PasswordMismatch,
    DeviceTokenMismatch,
}

impl AuthFailure {
    fn parts(self) -> (&'static str, &'static str, &'static str) {
        match self {
            AuthFailure::TokenMissing => (
                "unauthorized: gateway token missing (provide gateway auth token)",
                "AUTH_TOKEN_MISSING",
                "token_missing",
            ),
            AuthFailure::TokenMismatch => (
                "unauthorized: gateway token mismatch (provide gateway auth token)",
                "AUTH_TOKEN_MISMATCH",
                "token_mismatch",
            ),
            AuthFailure::PasswordMissing => (
                "unauthorized: gateway password missing (provide gateway auth password)",
                "AUTH_PASSWORD_MISSING",
                "password_missing",
            ),
            AuthFailure::PasswordMismatch => (
                "unauthorized: gateway password mismatch (provide gateway auth password)",
                "AUTH_PASSWORD_MISMATCH",
                "password_mismatch",
            ),
            AuthFailure::DeviceTokenMismatch => (
                "unauthorized: device token mismatch (rotate/reissue device token)",
                "AUTH_DEVICE_TOKEN_MISMATCH",
                "device_token_mismatch",
            ),
        }
    }
}

/// Who the credentials of a connect proved it to be.
struct Authenticated {
    /// `hello-ok.auth.method`.
    method: &'static str,
    /// The setup code's token, when that is what authenticated the device.
    bootstrap: Option<BootstrapGrant>,
}

/// Checks the shared secret, then a setup code's bootstrap token (devices only), then the
/// device token, as upstream: a bad bootstrap token is fatal unless the shared secret already
/// succeeded, and a device token is consulted only when neither did.
fn authenticate(
    shared: &Shared,
    auth: &openclaw_protocol::connect::ConnectAuth,
    bootstrap_claim: Option<BootstrapClaim<'_>>,
    role: Role,
    peer: Peer,
) -> Result<Authenticated, Refusal> {
    let device_id = bootstrap_claim.map(|c| c.device_id);
    let now = Instant::now();
    let rate_limited = |retry: std::time::Duration| {
        let ms = retry.as_millis() as u64;
        let mut e = invalid(
            "unauthorized: too many failed authentication attempts (retry later)",
            Some(
                json!({"code": "AUTH_RATE_LIMITED", "authReason": "rate_limited", "canRetryWithDeviceToken": false, "recommendedNextStep": "wait_then_retry"}),
            ),
        );
        // Upstream leaves the retry hint out when the client sent a device identity.
        if device_id.is_none() {
            e.retryable = Some(true);
            e.retry_after_ms = Some(ms);
        }
        Refusal::new(e)
    };
    let limited = !(peer.ip.is_loopback() && shared.config.rate_limit_exempt_loopback);
    if limited {
        if let Some(retry) = shared.limiter().locked(peer.ip, now) {
            return Err(rate_limited(retry));
        }
    }
    let shared_secret_ok = match &shared.config.auth {
        AuthMode::None => true,
        AuthMode::Token(secret) | AuthMode::Password(secret) => {
            auth.token.as_ref().or(auth.password.as_ref()).is_some_and(|t| crate::pairing::secrets_equal(t, secret))
        }
    };
    if let (false, Some(presented), Some(claim)) = (shared_secret_ok, &auth.bootstrap_token, bootstrap_claim) {
        let grant = shared.pairing().verify_bootstrap(presented, claim, openclaw_state::now_ms());
        return match grant {
            Some(grant) => {
                shared.limiter().succeed(peer.ip);
                Ok(Authenticated { method: "bootstrap-token", bootstrap: Some(grant) })
            }
            None => {
                if limited {
                    if let Some(retry) = shared.limiter().fail(peer.ip, now) {
                        return Err(rate_limited(retry));
                    }
                }
                Err(Refusal::new(invalid(
                    "unauthorized: setup code invalid, expired, revoked, or already used (create a new code; review `openclaw devices list`)",
                    Some(json!({
                        "code": "AUTH_BOOTSTRAP_TOKEN_INVALID",
                        "authReason": "bootstrap_token_invalid",
                        "canRetryWithDeviceToken": false,
                        "recommendedNextStep": "review_auth_configuration",
                    })),
                )))
            }
        };
    }
    let device_token_ok = |t: &str| device_id.is_some_and(|d| shared.pairing().device_token_matches(d, role, t));
    let outcome: Result<&'static str, AuthFailure> = match &shared.config.auth {
        AuthMode::None => Ok("none"),
        // Either secret field carries the shared secret, whatever the mode (as upstream).
        AuthMode::Token(secret) => match (auth.token.as_ref().or(auth.password.as_ref()), &auth.device_token) {
            (Some(t), _) if crate::pairing::secrets_equal(t, secret) => Ok("token"),
            (Some(_), Some(dt)) if device_token_ok(dt) => Ok("device-token"),
            (Some(_), _) => Err(AuthFailure::TokenMismatch),
            (None, Some(dt)) if device_token_ok(dt) => Ok("device-token"),
            (None, Some(_)) => Err(AuthFailure::DeviceTokenMismatch),
            (None, None) => Err(AuthFailure::TokenMissing),
        },
        AuthMode::Password(secret) => match (auth.password.as_ref().or(auth.token.as_ref()), &auth.device_token) {
            (Some(p), _) if crate::pairing::secrets_equal(p, secret) => Ok("password"),
            (Some(_), Some(dt)) if device_token_ok(dt) => Ok("device-token"),
            (Some(_), _) => Err(AuthFailure::PasswordMismatch),
            (None, Some(dt)) if device_token_ok(dt) => Ok("device-token"),
            (None, Some(_)) => Err(AuthFailure::DeviceTokenMismatch),
            (None, None) => Err(AuthFailure::PasswordMissing),
        },
    };
    match outcome {
        Ok(method) => {
            shared.limiter().succeed(peer.ip);
            Ok(Authenticated { method, bootstrap: None })
        }
        Err(failure) => {
            let missing = matches!(failure, AuthFailure::TokenMissing | AuthFailure::PasswordMissing);
            if !missing && limited {
                if let Some(retry) = shared.limiter().fail(peer.ip, now) {
                    return Err(rate_limited(retry));
                }
            }
            let (message, code, reason) = failure.parts();
            let retry_with_device_token = failure == AuthFailure::TokenMismatch && device_id.is_some();
            let next = if missing {
                "update_auth_configuration"
            } else if retry_with_device_token {
                "retry_with_device_token"
            } else {
                "update_auth_credentials"
            };
            Err(Refusal::new(invalid(
                message,
                Some(json!({
                    "code": code,
                    "authReason": reason,
                    "canRetryWithDeviceToken": retry_with_device_token,
                    "recommendedNextStep": next,
                })),
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AuthMode, GatewayConfig};

    #[test]
    fn who_is_approved_without_an_operator() {
        let mut config = GatewayConfig::new("/nonexistent".into(), AuthMode::None);
        config.auto_approve_cidrs = vec!["10.1.0.0/16".parse().unwrap()];
        let node = DeviceClaim { role: "node".into(), ..Default::default() };
        let lan = |ip: &str| Peer { ip: ip.parse().unwrap(), direct_local: false };
        let local = Peer { ip: "127.0.0.1".parse().unwrap(), direct_local: true };
        assert_eq!(auto_approval(&config, local, &node, PairingReason::NotPaired, false), Some("silent"));
        assert_eq!(
            auto_approval(&config, lan("10.1.2.3"), &node, PairingReason::NotPaired, false),
            Some("trusted-cidr")
        );
        assert_eq!(auto_approval(&config, lan("10.2.0.1"), &node, PairingReason::NotPaired, false), None);
        // Only fresh, scopeless node requests qualify.
        assert_eq!(auto_approval(&config, lan("10.1.2.3"), &node, PairingReason::MetadataUpgrade, false), None);
        let operator =
            DeviceClaim { role: "operator".into(), scopes: vec!["operator.read".into()], ..Default::default() };
        assert_eq!(auto_approval(&config, lan("10.1.2.3"), &operator, PairingReason::NotPaired, false), None);
        // Proxied loopback traffic is not "local".
        let proxied = Peer { ip: "127.0.0.1".parse().unwrap(), direct_local: false };
        assert_eq!(auto_approval(&config, proxied, &node, PairingReason::NotPaired, false), None);
        // A paired node asking again (its token was revoked, its key or role changed) needs
        // an operator, even on loopback; a paired operator device does not.
        assert_eq!(auto_approval(&config, local, &node, PairingReason::RoleUpgrade, true), None);
        assert_eq!(auto_approval(&config, lan("10.1.2.3"), &node, PairingReason::NotPaired, true), None);
        assert_eq!(auto_approval(&config, local, &operator, PairingReason::ScopeUpgrade, true), Some("silent"));
        config.auto_approve_local = false;
        assert_eq!(auto_approval(&config, local, &node, PairingReason::NotPaired, false), None);
    }

    #[test]
    fn close_reasons_are_bounded_on_char_boundaries() {
        assert_eq!(truncate_utf8("abc", 120), "abc");
        let long = "é".repeat(100);
        let cut = truncate_utf8(&long, 120);
        assert!(cut.len() <= 120 && cut.chars().all(|c| c == 'é'));
    }
}
