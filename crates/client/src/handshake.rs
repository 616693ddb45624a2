//! challenge → signed `connect` → `hello-ok`, the security-critical start of every session
//! (`protocol.md` §4).
//!
//! The gateway opens with `connect.challenge {nonce, ts}`. The client answers with one
//! `connect` request whose `device` proof signs (v3 payload) the device id, client id and mode,
//! role, scopes, the challenge's `ts` and nonce, the token in use, platform and device family.
//! That binding is what stops a replayed or relayed `connect`, so it is computed here only,
//! from a [`ConnectRequest`] that differs between roles in data, never in code:
//! [`ConnectRequest::node`] for the node host, [`ConnectRequest::operator`] for the CLI.

use std::time::{Duration, Instant};

use futures_util::SinkExt;
use openclaw_protocol::connect::{
    ClientInfo, ConnectAuth, ConnectParams, DeviceProof, HelloOk, CLIENT_ID_NODE_HOST, MODE_NODE, ROLE_NODE,
};
use openclaw_protocol::device_auth::{DeviceAuthPayload, DeviceIdentity};
use openclaw_protocol::node::{ConnectChallenge, EVENT_CONNECT_CHALLENGE};
use openclaw_protocol::{ErrorCode, ErrorShape, Frame, RequestFrame, COMPAT_VERSION, PROTOCOL_VERSION};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

use crate::connection::{next_frame, FrameError, Ws};
use crate::platform::{DEVICE_FAMILY, PLATFORM};

/// `role` of an operator connection.
pub const ROLE_OPERATOR: &str = "operator";
/// `client.id` and `client.mode` of the operator CLI.
pub const CLIENT_ID_CLI: &str = "cli";

/// Everything a client says about itself in `connect`, except what the challenge supplies.
/// Built once per attempt; [`ConnectRequest::params`] turns it into the signed params.
#[derive(Debug, Clone)]
pub struct ConnectRequest<'a> {
    /// `client.id`, one of the ids the gateway knows.
    pub client_id: &'static str,
    /// `client.mode`.
    pub client_mode: &'static str,
    /// `client.displayName`: how the gateway lists a node.
    pub display_name: Option<String>,
    /// `client.instanceId`: a node's stable id.
    pub instance_id: Option<String>,
    /// `client.modelIdentifier`: the hardware model a node reports.
    pub model_identifier: Option<String>,
    /// `role`, and the role the device signature covers.
    pub role: &'static str,
    /// `scopes`, also covered by the signature.
    pub scopes: Vec<String>,
    /// `caps`: a node's capability families.
    pub caps: Option<Vec<String>>,
    /// `commands`: the node commands a node declares.
    pub commands: Option<Vec<String>>,
    /// `pathEnv`: the node's `PATH`, when it advertises one.
    pub path_env: Option<String>,
    /// The credentials; left out of `connect` when empty.
    pub auth: ConnectAuth,
    /// The device that signs; `None` sends no `device` proof (a shared-secret operator on
    /// loopback).
    pub identity: Option<&'a DeviceIdentity>,
}

impl<'a> ConnectRequest<'a> {
    /// A node host's request: client `node-host`, mode and role `node`, no scopes, always
    /// signed by the node's device identity.
    pub fn node(identity: &'a DeviceIdentity, auth: ConnectAuth) -> Self {
        ConnectRequest {
            client_id: CLIENT_ID_NODE_HOST,
            client_mode: MODE_NODE,
            display_name: None,
            instance_id: None,
            model_identifier: None,
            role: ROLE_NODE,
            scopes: Vec::new(),
            caps: None,
            commands: None,
            path_env: None,
            auth,
            identity: Some(identity),
        }
    }

    /// The operator CLI's request: client and mode `cli`, role `operator`, the given scopes.
    pub fn operator(identity: Option<&'a DeviceIdentity>, scopes: Vec<String>, auth: ConnectAuth) -> Self {
        ConnectRequest {
            client_id: CLIENT_ID_CLI,
            client_mode: CLIENT_ID_CLI,
            display_name: None,
            instance_id: None,
            model_identifier: None,
            role: ROLE_OPERATOR,
            scopes,
            caps: None,
            commands: None,
            path_env: None,
            auth,
            identity,
        }
    }

    /// The `connect` params answering `challenge`, with the device proof signed over it.
    pub fn params(&self, challenge: &ConnectChallenge) -> ConnectParams {
        let client = ClientInfo {
            id: self.client_id.into(),
            display_name: self.display_name.clone(),
            version: COMPAT_VERSION.into(),
            build_id: None,
            platform: PLATFORM.into(),
            device_family: DEVICE_FAMILY.map(String::from),
            model_identifier: self.model_identifier.clone(),
            time_zone: None,
            mode: self.client_mode.into(),
            instance_id: self.instance_id.clone(),
        };
        let device = self.identity.map(|identity| {
            let device_id = identity.device_id();
            let payload = DeviceAuthPayload {
                device_id: &device_id,
                client_id: &client.id,
                client_mode: &client.mode,
                role: self.role,
                scopes: &self.scopes,
                signed_at_ms: challenge.ts,
                token: self.auth.signature_token(),
                nonce: &challenge.nonce,
                platform: Some(&client.platform),
                device_family: client.device_family.as_deref(),
            };
            DeviceProof {
                id: device_id.clone(),
                public_key: identity.public_key_b64url(),
                signature: identity.sign(&payload.to_v3_string()),
                signed_at: challenge.ts,
                nonce: challenge.nonce.clone(),
            }
        });
        ConnectParams {
            min_protocol: PROTOCOL_VERSION,
            max_protocol: PROTOCOL_VERSION,
            client,
            caps: self.caps.clone(),
            commands: self.commands.clone(),
            computer_use: None,
            worker_runs: None,
            permissions: None,
            path_env: self.path_env.clone(),
            role: Some(self.role.into()),
            scopes: Some(self.scopes.clone()),
            model_catalog: None,
            device,
            auth: (!self.auth.is_empty()).then(|| self.auth.clone()),
            locale: None,
            user_agent: None,
        }
    }
}

/// How long the handshake may wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeouts {
    /// One budget for challenge and answer together (the CLI's `--timeout`).
    Total(Duration),
    /// This long for the challenge, and again this long for the answer (the node host).
    PerStep(Duration),
}

/// Why a handshake ended without `hello-ok`. The messages are the node host's log lines; the
/// operator words the same cases its own way.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// No challenge came: timeout, close or transport error.
    #[error("{}", describe_wait("closed before challenge", "connect challenge timeout", .0))]
    ChallengeWait(FrameError),
    /// The challenge has no nonce (or does not parse), so there is nothing to sign.
    #[error("gateway connect challenge timestamp invalid or nonce missing")]
    InvalidChallenge {
        /// What was wrong with it.
        detail: String,
    },
    /// Sending `connect` failed.
    #[error("send connect: {0}")]
    Send(String),
    /// No answer to `connect` came: timeout, close or transport error.
    #[error("{}", describe_wait("closed during connect", "connect timeout", .0))]
    HelloWait(FrameError),
    /// The gateway refused `connect`; the shape says why (and whether to retry).
    #[error("{}", .0.message)]
    Refused(Box<ErrorShape>),
    /// The gateway accepted but its `hello-ok` does not parse.
    #[error("invalid hello-ok: {0}")]
    InvalidHello(String),
}

impl HandshakeError {
    /// Whether the `connect` request may have reached the gateway. Before that, the gateway
    /// has seen nothing of ours, so a client holding several candidate URLs may move on to the
    /// next one; after it, the gateway has answered (or may) and this URL is the one to retry.
    pub fn connect_sent(&self) -> bool {
        !matches!(self, HandshakeError::ChallengeWait(_) | HandshakeError::InvalidChallenge { .. })
    }
}

fn describe_wait(closed: &str, timeout: &str, e: &FrameError) -> String {
    match e {
        FrameError::Timeout => timeout.to_string(),
        FrameError::Transport(e) => e.clone(),
        other => {
            let (code, reason) = other.close_code_and_reason().unwrap_or_default();
            format!("{closed} ({code}): {reason}")
        }
    }
}

/// Runs the handshake on a fresh `ws` and returns the gateway's `hello-ok`. `request_id` is
/// the id of the `connect` request (frames with other ids are skipped while waiting).
pub async fn handshake(
    ws: &mut Ws,
    request: &ConnectRequest<'_>,
    request_id: &str,
    timeouts: Timeouts,
) -> Result<HelloOk, HandshakeError> {
    let (first, step) = match timeouts {
        Timeouts::Total(t) => (t, None),
        Timeouts::PerStep(t) => (t, Some(t)),
    };
    let deadline = Instant::now() + first;
    let challenge = await_challenge(ws, deadline).await?;
    let params = request.params(&challenge);
    let req = Frame::Req(RequestFrame::new(
        request_id,
        "connect",
        serde_json::to_value(&params).expect("connect params serialise"),
    ));
    ws.send(Message::text(req.to_text())).await.map_err(|e| HandshakeError::Send(e.to_string()))?;
    let deadline = step.map_or(deadline, |t| Instant::now() + t);
    loop {
        match next_frame(ws, deadline).await.map_err(HandshakeError::HelloWait)? {
            Frame::Res(res) if res.id == request_id => {
                if !res.ok {
                    let error = res.error.unwrap_or_else(|| ErrorShape::new(ErrorCode::Unavailable, "connect refused"));
                    return Err(HandshakeError::Refused(Box::new(error)));
                }
                return serde_json::from_value::<HelloOk>(res.payload.unwrap_or(Value::Null))
                    .map_err(|e| HandshakeError::InvalidHello(e.to_string()));
            }
            _ => continue,
        }
    }
}

/// Waits for `connect.challenge`, skipping anything else, and insists on a nonce: without
/// one the signature would not be bound to this connection.
async fn await_challenge(ws: &mut Ws, deadline: Instant) -> Result<ConnectChallenge, HandshakeError> {
    loop {
        match next_frame(ws, deadline).await.map_err(HandshakeError::ChallengeWait)? {
            Frame::Event(e) if e.event == EVENT_CONNECT_CHALLENGE => {
                return match serde_json::from_value::<ConnectChallenge>(e.payload.unwrap_or(Value::Null)) {
                    Ok(c) if !c.nonce.is_empty() => Ok(c),
                    Ok(_) => Err(HandshakeError::InvalidChallenge { detail: "nonce missing".into() }),
                    Err(e) => Err(HandshakeError::InvalidChallenge { detail: e.to_string() }),
                };
            }
            _ => continue,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn challenge() -> ConnectChallenge {
        serde_json::from_value(json!({"nonce": "n-123", "ts": 1_700_000_000_000u64})).unwrap()
    }

    fn identity() -> DeviceIdentity {
        DeviceIdentity::from_seed(&[7u8; 32])
    }

    /// The node's connect params, field for field, as the node host sent them before the
    /// handshake moved here.
    #[test]
    fn node_params_are_pinned() {
        let id = identity();
        let auth = ConnectAuth { token: Some("tok".into()), ..Default::default() };
        let request = ConnectRequest {
            display_name: Some("box".into()),
            instance_id: Some("node-1".into()),
            model_identifier: Some("Model X".into()),
            caps: Some(vec!["system".into()]),
            commands: Some(vec!["system.run".into(), "system.which".into()]),
            path_env: Some("/usr/bin:/bin".into()),
            ..ConnectRequest::node(&id, auth)
        };
        let params = serde_json::to_value(request.params(&challenge())).unwrap();
        let device_id = id.device_id();
        let signed = format!(
            "v3|{device_id}|node-host|node|node||1700000000000|tok|n-123|{PLATFORM}|{}",
            DEVICE_FAMILY.unwrap_or("").to_ascii_lowercase()
        );
        let mut client =
            json!({"id": "node-host", "displayName": "box", "version": COMPAT_VERSION, "platform": PLATFORM});
        if let Some(family) = DEVICE_FAMILY {
            client["deviceFamily"] = json!(family);
        }
        client["modelIdentifier"] = json!("Model X");
        client["mode"] = json!("node");
        client["instanceId"] = json!("node-1");
        let expected = json!({
            "minProtocol": PROTOCOL_VERSION,
            "maxProtocol": PROTOCOL_VERSION,
            "client": client,
            "caps": ["system"],
            "commands": ["system.run", "system.which"],
            "pathEnv": "/usr/bin:/bin",
            "role": "node",
            "scopes": [],
            "device": {
                "id": device_id,
                "publicKey": id.public_key_b64url(),
                "signature": id.sign(&signed),
                "signedAt": 1_700_000_000_000u64,
                "nonce": "n-123",
            },
            "auth": {"token": "tok"},
        });
        assert_eq!(params, expected);
        assert_eq!(
            serde_json::to_string(&params).unwrap(),
            serde_json::to_string(&expected).unwrap(),
            "same field order on the wire"
        );
    }

    /// The operator's connect params, with and without a device, as the CLI sent them.
    #[test]
    fn operator_params_are_pinned() {
        let id = identity();
        let scopes = vec!["operator.admin".to_string(), "operator.read".to_string()];
        let auth = ConnectAuth { device_token: Some("dt".into()), ..Default::default() };
        let params =
            serde_json::to_value(ConnectRequest::operator(Some(&id), scopes.clone(), auth).params(&challenge()))
                .unwrap();
        let device_id = id.device_id();
        let signed = format!(
            "v3|{device_id}|cli|cli|operator|operator.admin,operator.read|1700000000000|dt|n-123|{PLATFORM}|{}",
            DEVICE_FAMILY.unwrap_or("").to_ascii_lowercase()
        );
        let mut client = json!({"id": "cli", "version": COMPAT_VERSION, "platform": PLATFORM});
        if let Some(family) = DEVICE_FAMILY {
            client["deviceFamily"] = json!(family);
        }
        client["mode"] = json!("cli");
        let expected = json!({
            "minProtocol": PROTOCOL_VERSION,
            "maxProtocol": PROTOCOL_VERSION,
            "client": client.clone(),
            "role": "operator",
            "scopes": scopes,
            "device": {
                "id": device_id,
                "publicKey": id.public_key_b64url(),
                "signature": id.sign(&signed),
                "signedAt": 1_700_000_000_000u64,
                "nonce": "n-123",
            },
            "auth": {"deviceToken": "dt"},
        });
        assert_eq!(params, expected);
        assert_eq!(serde_json::to_string(&params).unwrap(), serde_json::to_string(&expected).unwrap());

        let auth = ConnectAuth { password: Some("pw".into()), ..Default::default() };
        let params = serde_json::to_value(ConnectRequest::operator(None, vec![], auth).params(&challenge())).unwrap();
        let expected = json!({
            "minProtocol": PROTOCOL_VERSION,
            "maxProtocol": PROTOCOL_VERSION,
            "client": client,
            "role": "operator",
            "scopes": [],
            "auth": {"password": "pw"},
        });
        assert_eq!(serde_json::to_string(&params).unwrap(), serde_json::to_string(&expected).unwrap());
    }

    #[test]
    fn messages_are_the_node_log_lines() {
        let closed = HandshakeError::ChallengeWait(FrameError::Closed(Some((1008, "bye".into()))));
        assert_eq!(closed.to_string(), "closed before challenge (1008): bye");
        assert_eq!(HandshakeError::ChallengeWait(FrameError::Timeout).to_string(), "connect challenge timeout");
        assert_eq!(HandshakeError::HelloWait(FrameError::Timeout).to_string(), "connect timeout");
        assert_eq!(
            HandshakeError::HelloWait(FrameError::Lost).to_string(),
            "closed during connect (1006): connection lost"
        );
        assert_eq!(HandshakeError::HelloWait(FrameError::Closed(None)).to_string(), "closed during connect (1005): ");
    }
}
