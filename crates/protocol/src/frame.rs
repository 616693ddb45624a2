//! Frame envelopes: request, response and event (`protocol.md` §2).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ErrorShape;

/// One WebSocket text frame. The `type` field selects the variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Frame {
    /// A method call; the only frame a client sends.
    Req(RequestFrame),
    /// The answer to one request, matched by `id`; may arrive out of order.
    Res(ResponseFrame),
    /// A server push, either addressed to this connection or broadcast (then with `seq`).
    Event(EventFrame),
}

/// Why a text frame could not be understood.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// Not JSON, or JSON that matches none of the three frame shapes.
    #[error("malformed frame: {0}")]
    Malformed(#[from] serde_json::Error),
}

impl Frame {
    /// Parses one text frame. Unknown fields are tolerated on input (a newer gateway may add
    /// some); what matters is that the known ones have the right types.
    pub fn parse(text: &str) -> Result<Frame, FrameError> {
        Ok(serde_json::from_str(text)?)
    }

    /// Serialises the frame as compact JSON, ready to send.
    pub fn to_text(&self) -> String {
        // Serialising these plain data types cannot fail: no maps with non-string keys.
        serde_json::to_string(self).expect("frame serialisation is infallible")
    }
}

/// `{"type":"req","id","method","params"?}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestFrame {
    /// Opaque, non-empty; echoed by the response.
    pub id: String,
    /// The method name, e.g. `connect` or `node.invoke.result`.
    pub method: String,
    /// Method-specific parameters; absent rather than null when there are none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Value>,
    /// W3C trace context; ignored on `connect`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    /// Operator feature; a node never sends it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_profile_id: Option<String>,
}

impl RequestFrame {
    /// A request with params and nothing else, the shape every node request has.
    pub fn new(id: impl Into<String>, method: impl Into<String>, params: Value) -> Self {
        RequestFrame {
            id: id.into(),
            method: method.into(),
            params: Some(params),
            traceparent: None,
            expected_profile_id: None,
        }
    }
}

/// `{"type":"res","id","ok","payload"?,"error"?}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseFrame {
    /// The id of the request this answers.
    pub id: String,
    /// Whether the call succeeded; when false, `error` says why.
    pub ok: bool,
    /// The result on success (may be absent even then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
    /// The failure when `ok` is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorShape>,
}

impl ResponseFrame {
    /// A successful response.
    pub fn ok(id: impl Into<String>, payload: Value) -> Self {
        ResponseFrame { id: id.into(), ok: true, payload: Some(payload), error: None }
    }

    /// A failed response.
    pub fn err(id: impl Into<String>, error: ErrorShape) -> Self {
        ResponseFrame { id: id.into(), ok: false, payload: None, error: Some(error) }
    }
}

/// Presence/health versions carried by some broadcasts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateVersion {
    /// Presence list version.
    pub presence: u64,
    /// Health snapshot version.
    pub health: u64,
}

/// `{"type":"event","event","payload"?,"seq"?}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventFrame {
    /// The event name, e.g. `connect.challenge`, `tick`, `node.invoke.request`.
    pub event: String,
    /// Event-specific data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
    /// Per-connection counter on broadcasts only (starts at 1); absent on directed events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// On `health`/`presence` broadcasts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_version: Option<StateVersion>,
    /// Operator broadcasts only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient_profile_id: Option<String>,
}

impl EventFrame {
    /// A directed event (no `seq`).
    pub fn new(event: impl Into<String>, payload: Value) -> Self {
        EventFrame {
            event: event.into(),
            payload: Some(payload),
            seq: None,
            state_version: None,
            recipient_profile_id: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Found by the `frame` fuzz target: a number with more digits than an f64 holds parsed
    /// to a value that did not survive serialise → parse (serde_json's fast float parser is
    /// off by an ulp there), so a relayed frame could change a number in flight. With
    /// `float_roundtrip` parsing is exact and the round trip is the identity.
    #[test]
    fn long_numbers_round_trip_exactly() {
        let text = format!(r#"{{"type":"req","id":"1","method":"m","params":{{"n":1{}}}}}"#, "8".repeat(130));
        let frame = Frame::parse(&text).unwrap();
        assert_eq!(Frame::parse(&frame.to_text()).unwrap(), frame);
    }

    #[test]
    fn request_omits_absent_fields() {
        let f = Frame::Req(RequestFrame::new("1:x", "node.event", json!({"event": "e"})));
        assert_eq!(f.to_text(), r#"{"type":"req","id":"1:x","method":"node.event","params":{"event":"e"}}"#);
    }

    #[test]
    fn rejects_unknown_type_and_garbage() {
        assert!(Frame::parse(r#"{"type":"nope","id":"1"}"#).is_err());
        assert!(Frame::parse("not json").is_err());
        assert!(Frame::parse(r#"{"type":"res","id":"1"}"#).is_err(), "ok is required");
        assert!(Frame::parse(r#"[1,2]"#).is_err());
    }

    #[test]
    fn parses_event_with_seq_and_unknown_fields() {
        let f = Frame::parse(r#"{"type":"event","event":"tick","payload":{"ts":1},"seq":3,"future":true}"#).unwrap();
        match f {
            Frame::Event(e) => {
                assert_eq!(e.event, "tick");
                assert_eq!(e.seq, Some(3));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    /// Every frame of the real capture (TS node host ↔ real Gateway) must parse, and
    /// re-serialising a parsed frame must keep every field we model.
    #[test]
    fn every_frame_of_the_wire_capture_parses() {
        let capture = include_str!("../tests/data/wire-capture.jsonl");
        let mut counts = std::collections::BTreeMap::<&str, usize>::new();
        for (n, line) in capture.lines().enumerate() {
            let outer: serde_json::Value = serde_json::from_str(line).unwrap();
            let text = outer["msg"].as_str().unwrap();
            let frame = Frame::parse(text).unwrap_or_else(|e| panic!("line {}: {e}: {text}", n + 1));
            let kind = match &frame {
                Frame::Req(r) if r.method == "connect" => {
                    // The TS node host's connect params satisfy our strict schema.
                    let params = r.params.clone().unwrap();
                    let params = serde_json::from_value::<crate::ConnectParams>(params).unwrap();
                    params.client.validate().unwrap();
                    "req"
                }
                Frame::Req(_) => "req",
                Frame::Res(_) => "res",
                Frame::Event(_) => "event",
            };
            *counts.entry(kind).or_default() += 1;
            if let Frame::Res(r) = &frame {
                if let Some(hello) = r.payload.as_ref().filter(|p| p["type"] == "hello-ok") {
                    let hello: crate::HelloOk = serde_json::from_value(hello.clone()).unwrap();
                    assert_eq!(hello.policy.tick_interval_ms, 30000);
                }
            }
            let original: serde_json::Value = serde_json::from_str(text).unwrap();
            let round: serde_json::Value = serde_json::from_str(&frame.to_text()).unwrap();
            for key in ["type", "id", "method", "params", "ok", "payload", "error", "event", "seq"] {
                assert_eq!(original.get(key), round.get(key), "line {}: field {key}", n + 1);
            }
        }
        assert!(counts["req"] > 0 && counts["res"] > 0 && counts["event"] > 0, "{counts:?}");
    }
}
