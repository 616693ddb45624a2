//! Node-specific events and methods: invokes, results, node events (`protocol.md` §6).

use std::io::{self, Write};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ErrorCode;

/// Event name of a command the gateway asks this node to run.
pub const EVENT_INVOKE_REQUEST: &str = "node.invoke.request";
/// Event name of a cancellation of a running invoke.
pub const EVENT_INVOKE_CANCEL: &str = "node.invoke.cancel";
/// Event name of a resolved node surface request (approved while connected).
pub const EVENT_PAIR_RESOLVED: &str = "node.pair.resolved";
/// Event name of the first frame on every connection.
pub const EVENT_CONNECT_CHALLENGE: &str = "connect.challenge";
/// Event name of the periodic keepalive broadcast.
pub const EVENT_TICK: &str = "tick";
/// Event name of the gateway's announcement that it is going down.
pub const EVENT_SHUTDOWN: &str = "shutdown";

/// Method a node uses to answer an invoke.
pub const METHOD_INVOKE_RESULT: &str = "node.invoke.result";
/// Method a node uses to publish an event (host stats, exec events).
pub const METHOD_NODE_EVENT: &str = "node.event";

/// `connect.challenge` payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectChallenge {
    /// Random per-connection nonce, signed back verbatim.
    pub nonce: String,
    /// Server time in ms; used as `device.signedAt`.
    pub ts: u64,
    /// Pre-auth capabilities (a node ignores them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Vec<String>>,
}

/// `node.invoke.request` payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvokeRequest {
    /// Gateway-generated invoke id; echoed in the result.
    pub id: String,
    /// Our device id.
    pub node_id: String,
    /// The command to run, e.g. `system.which`.
    pub command: String,
    /// The caller's params as a JSON string; null when there are none (any non-string is
    /// treated as absent, and `params` is used instead, as the reference host does).
    #[serde(
        rename = "paramsJSON",
        default,
        deserialize_with = "string_or_none",
        skip_serializing_if = "Option::is_none"
    )]
    pub params_json: Option<String>,
    /// Fallback: params as an object, accepted when `paramsJSON` is not a string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Value>,
    /// The remaining gateway deadline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Caller-supplied dedupe key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// The agent session this invoke belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_key: Option<String>,
}

fn string_or_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => Some(s),
        _ => None,
    })
}

/// `node.invoke.cancel` payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvokeCancel {
    /// The invoke to stop.
    pub invoke_id: String,
    /// Our device id.
    pub node_id: String,
}

/// `node.pair.resolved` payload (sent to the node when its surface is approved).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PairResolved {
    /// The node surface request.
    pub request_id: String,
    /// Our device id.
    pub node_id: String,
    /// `approved`, `rejected` or `removed`.
    pub decision: String,
    /// Server time.
    pub ts: u64,
}

/// The error half of `node.invoke.result`.
///
/// The code is typed so that the node host and the audit branch on it with a `match`; on the
/// wire it is the same `{"code": "<STRING>", "message": …}` as before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvokeError {
    /// `INVALID_REQUEST`, `UNAVAILABLE`, `SYSTEM_RUN_DENIED`, … (unknown codes kept verbatim).
    pub code: ErrorCode,
    /// Human text, forwarded to the operator as `<code>: <message>`.
    pub message: String,
}

impl InvokeError {
    /// An invoke error with a code and a message. Prefer the named constructors; this one
    /// exists for codes read from elsewhere (a `&str` is classified with [`ErrorCode::parse`]).
    pub fn new(code: impl Into<ErrorCode>, message: impl Into<String>) -> Self {
        InvokeError { code: code.into(), message: message.into() }
    }

    /// `INVALID_REQUEST` with `message` exactly as given (callers that need upstream's
    /// `Error: INVALID_REQUEST: ` prefix add it themselves, because upstream is not uniform).
    pub fn invalid_request(message: impl Into<String>) -> Self {
        InvokeError::new(ErrorCode::InvalidRequest, message)
    }

    /// `UNAVAILABLE`: the node cannot do this now (unknown command, store down, cancelled).
    pub fn unavailable(message: impl Into<String>) -> Self {
        InvokeError::new(ErrorCode::Unavailable, message)
    }

    /// `SYSTEM_RUN_DENIED`: the exec policy refused the command.
    pub fn denied(message: impl Into<String>) -> Self {
        InvokeError::new(ErrorCode::SystemRunDenied, message)
    }
}

/// `node.invoke.result` params.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvokeResult {
    /// The invoke id from the request.
    pub id: String,
    /// Our device id (the gateway checks it).
    pub node_id: String,
    /// Success or failure.
    pub ok: bool,
    /// Object payload (MCP-style results).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
    /// The result serialised as a JSON string (what the reference host sends).
    #[serde(rename = "payloadJSON", default, skip_serializing_if = "Option::is_none")]
    pub payload_json: Option<String>,
    /// The failure when `ok` is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<InvokeError>,
}

impl InvokeResult {
    /// A success carrying `payload` serialised into `payloadJSON`.
    pub fn success(id: &str, node_id: &str, payload: &Value) -> Self {
        InvokeResult {
            id: id.to_string(),
            node_id: node_id.to_string(),
            ok: true,
            payload: None,
            payload_json: Some(payload.to_string()),
            error: None,
        }
    }

    /// The whole request frame (`{"type":"req",…,"params":<this result>}`) of a success,
    /// written in one pass into a buffer allocated once at its final size.
    ///
    /// It is the text `Frame::Req(RequestFrame::new(request_id, METHOD_INVOKE_RESULT,
    /// params)).to_text()` gives for [`Self::success`]'s params, but `payload` is serialised
    /// straight into the escaped `payloadJSON` string instead of first into a string, then a
    /// `Value`, then the frame. A 15 MiB `file.fetch` is a 20 MiB base64 string; the three
    /// steps held it up to four times at once, this holds it twice (the payload and the frame).
    pub fn success_frame(request_id: &str, id: &str, node_id: &str, payload: &Value) -> String {
        let write = |out: &mut dyn Write| -> io::Result<()> {
            out.write_all(br#"{"type":"req","id":"#)?;
            serde_json::to_writer(&mut *out, request_id)?;
            out.write_all(br#","method":""#)?;
            out.write_all(METHOD_INVOKE_RESULT.as_bytes())?;
            out.write_all(br#"","params":{"id":"#)?;
            serde_json::to_writer(&mut *out, id)?;
            out.write_all(br#","nodeId":"#)?;
            serde_json::to_writer(&mut *out, node_id)?;
            out.write_all(br#","ok":true,"payloadJSON":""#)?;
            serde_json::to_writer(JsonStringEscaper(&mut *out), payload)?;
            out.write_all(br#""}}"#)
        };
        let mut size = ByteCounter(0);
        write(&mut size).expect("counting cannot fail");
        let mut text = Vec::with_capacity(size.0);
        write(&mut text).expect("writing to memory cannot fail");
        String::from_utf8(text).expect("serde_json writes UTF-8 and the escapes are ASCII")
    }

    /// A failure.
    pub fn failure(id: &str, node_id: &str, error: InvokeError) -> Self {
        InvokeResult {
            id: id.to_string(),
            node_id: node_id.to_string(),
            ok: false,
            payload: None,
            payload_json: None,
            error: Some(error),
        }
    }
}

/// Counts the bytes written through it: sizes a buffer before the real write.
struct ByteCounter(usize);

impl Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes JSON text through it as the inside of a JSON string literal, escaped exactly as
/// `serde_json` escapes a string (`"` and `\`, and control characters, which compact JSON
/// output only ever holds already escaped).
struct JsonStringEscaper<W>(W);

impl<W: Write> Write for JsonStringEscaper<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut plain = 0;
        for (i, &b) in buf.iter().enumerate() {
            let unicode;
            let escape: &[u8] = match b {
                b'"' => b"\\\"",
                b'\\' => b"\\\\",
                b'\n' => b"\\n",
                b'\r' => b"\\r",
                b'\t' => b"\\t",
                0x08 => b"\\b",
                0x0c => b"\\f",
                0x00..=0x1f => {
                    unicode = [b'\\', b'u', b'0', b'0', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]];
                    &unicode
                }
                _ => continue,
            };
            self.0.write_all(&buf[plain..i])?;
            self.0.write_all(escape)?;
            plain = i + 1;
        }
        self.0.write_all(&buf[plain..])?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// `node.event` params: the reference host always sends `payloadJSON`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeEvent {
    /// Event name, e.g. `node.host.stats` or `exec.finished`.
    pub event: String,
    /// The payload as a JSON string.
    #[serde(rename = "payloadJSON")]
    pub payload_json: String,
}

impl NodeEvent {
    /// A node event with its payload serialised.
    pub fn new(event: impl Into<String>, payload: &Value) -> Self {
        NodeEvent { event: event.into(), payload_json: payload.to_string() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invoke_request_from_the_wire() {
        let text = r#"{"id":"6876905f-d6c7-4c39-8604-58efe5ad5971","nodeId":"5c76","command":"system.which","paramsJSON":"{\"bins\":[\"git\"]}","timeoutMs":14993,"idempotencyKey":"5a33"}"#;
        let req: InvokeRequest = serde_json::from_str(text).unwrap();
        assert_eq!(req.params_json.as_deref(), Some(r#"{"bins":["git"]}"#));
        assert_eq!(req.timeout_ms, Some(14993));
        let null_params: InvokeRequest =
            serde_json::from_str(r#"{"id":"a","nodeId":"b","command":"c","paramsJSON":null}"#).unwrap();
        assert_eq!(null_params.params_json, None);
        let object_params: InvokeRequest =
            serde_json::from_str(r#"{"id":"a","nodeId":"b","command":"c","paramsJSON":{"x":1},"params":{"bins":[]}}"#)
                .unwrap();
        assert_eq!(object_params.params_json, None, "a non-string paramsJSON falls back to params");
        assert!(object_params.params.is_some());
    }

    /// The one-pass frame is byte for byte the frame built the long way, for payloads with
    /// every character a JSON string escapes.
    #[test]
    fn success_frame_is_the_request_frame_of_success() {
        use crate::{Frame, RequestFrame};
        let control: String = (0u8..0x20).map(char::from).collect();
        let payloads = [
            serde_json::json!({}),
            serde_json::json!(null),
            serde_json::json!("plain"),
            serde_json::json!({"ok": true, "base64": "aGVsbG8=", "path": "/tmp/a \"q\" \\ b", "n": [1, 2.5, -3]}),
            serde_json::json!({"control": control, "unicode": "é \u{2028} 😀", "nested": {"a": ["\\\""]}}),
        ];
        for payload in payloads {
            let params = serde_json::to_value(InvokeResult::success("inv \"1\"", "node\\id", &payload)).unwrap();
            let expected = Frame::Req(RequestFrame::new("7:req", METHOD_INVOKE_RESULT, params)).to_text();
            let text = InvokeResult::success_frame("7:req", "inv \"1\"", "node\\id", &payload);
            assert_eq!(text, expected);
            assert_eq!(text.capacity(), text.len(), "sized before writing");
        }
        let mut escaped = Vec::new();
        JsonStringEscaper(&mut escaped).write_all(control.as_bytes()).unwrap();
        let expected = serde_json::to_string(&control).unwrap();
        assert_eq!(String::from_utf8(escaped).unwrap(), expected[1..expected.len() - 1]);
    }

    #[test]
    fn invoke_result_shapes() {
        let ok = InvokeResult::success("i", "n", &serde_json::json!({"bins": {}}));
        assert_eq!(
            serde_json::to_string(&ok).unwrap(),
            r#"{"id":"i","nodeId":"n","ok":true,"payloadJSON":"{\"bins\":{}}"}"#
        );
        let err = InvokeResult::failure("i", "n", InvokeError::new("UNAVAILABLE", "command not supported"));
        assert_eq!(
            serde_json::to_string(&err).unwrap(),
            r#"{"id":"i","nodeId":"n","ok":false,"error":{"code":"UNAVAILABLE","message":"command not supported"}}"#
        );
        assert_eq!(err.error, Some(InvokeError::unavailable("command not supported")));
        let denied = InvokeResult::failure("i", "n", InvokeError::denied("SYSTEM_RUN_DENIED: allowlist miss"));
        let text = serde_json::to_string(&denied).unwrap();
        assert_eq!(
            text,
            r#"{"id":"i","nodeId":"n","ok":false,"error":{"code":"SYSTEM_RUN_DENIED","message":"SYSTEM_RUN_DENIED: allowlist miss"}}"#
        );
        let back: InvokeResult = serde_json::from_str(&text).unwrap();
        assert_eq!(back.error.unwrap().code, ErrorCode::SystemRunDenied);
        let newer: InvokeError = serde_json::from_str(r#"{"code":"CANONICAL_PATH_CHANGED","message":"m"}"#).unwrap();
        assert_eq!(newer.code, ErrorCode::Other("CANONICAL_PATH_CHANGED".into()));
        assert_eq!(serde_json::to_string(&newer).unwrap(), r#"{"code":"CANONICAL_PATH_CHANGED","message":"m"}"#);
    }
}
