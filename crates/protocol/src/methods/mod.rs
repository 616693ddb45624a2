//! Params and results of the operator methods (`node.list`, `node.pair.*`, `device.pair.*`,
//! `exec.approval.*`, `audit.list`, `node.invoke`, …), shared by the gateway that builds them
//! and the operator code that reads them.
//!
//! Before this module each shape existed twice, untyped: once as `json!` in the gateway and once
//! as string-keyed reads in the CLI. Now every result exists once (the gateway builds it, the
//! operator and the CLI read it) and every params shape exists once on the sending side (the
//! operator and the CLI build them). The gateway still checks incoming params with its own
//! schema (`openclaw-gateway`'s `schema`), because the exact refusal texts are upstream's. Two
//! constraints shape every result type:
//!
//! - **Output is byte-for-byte what the gateway always sent.** Field order is declaration order
//!   (serde_json keeps insertion order in this workspace), a field that was left out when unknown
//!   is `Option` + `skip_serializing_if`, and a field that was sent as `null` is an `Option`
//!   *without* the skip. Comments mark the `null` ones, since that is the easy one to break.
//! - **Input is lenient**, because operators also read these from the real Gateway, which may add
//!   fields or send `null`: no `deny_unknown_fields`, and every non-optional field defaults when
//!   absent or `null` (`null_default`).
//!
//! Some payloads are relayed or free-form and stay [`Value`](serde_json::Value): the node's invoke payload, the
//! exec approvals document, an approval's `request` object and the event payloads.
//!
//! One file per family, re-exported here: `params` (what the operator sends), `nodes`,
//! `devices` and `exec` (what comes back), plus the two small results every family shares
//! ([`Ack`], [`Health`]).

use serde::{Deserialize, Deserializer, Serialize};

mod devices;
mod exec;
mod nodes;
mod params;

pub use devices::*;
pub use exec::*;
pub use nodes::*;
pub use params::*;

/// Reads `null` or an absent field as the type's default (with `#[serde(default)]`).
fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `{"ok": true}`: `exec.approval.resolve`, `node.pending.ack`, a delivered invoke result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// Always `true` on success.
    #[serde(default, deserialize_with = "null_default")]
    pub ok: bool,
}

/// `health` and `status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    /// Always `true` from a serving gateway.
    #[serde(default, deserialize_with = "null_default")]
    pub ok: bool,
    /// Server time, ms.
    #[serde(default, deserialize_with = "null_default")]
    pub ts: i64,
    /// Since the gateway started.
    #[serde(default, deserialize_with = "null_default")]
    pub uptime_ms: u64,
    /// Open connections (operators and nodes).
    #[serde(default, deserialize_with = "null_default")]
    pub connections: u64,
    /// Connected nodes.
    #[serde(default, deserialize_with = "null_default")]
    pub nodes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn absent_options_are_left_out_and_nullable_ones_are_sent() {
        let entry = NodeEntry { node_id: "n".into(), approval_state: "approved".into(), ..Default::default() };
        assert_eq!(
            serde_json::to_string(&entry).unwrap(),
            r#"{"nodeId":"n","caps":[],"commands":[],"sessionHost":false,"nodePluginTools":[],"approvalState":"approved","paired":false,"connected":false}"#
        );
        let waited = ApprovalWaited {
            id: "a".into(),
            decision: None,
            created_at_ms: 1,
            expires_at_ms: 2,
            terminal_reason: None,
        };
        assert_eq!(
            serde_json::to_string(&waited).unwrap(),
            r#"{"id":"a","decision":null,"createdAtMs":1,"expiresAtMs":2,"terminalReason":null}"#
        );
        let invoked = NodeInvokeResult {
            ok: true,
            node_id: "n".into(),
            command: "c".into(),
            payload: json!({}),
            payload_json: None,
        };
        assert_eq!(
            serde_json::to_string(&invoked).unwrap(),
            r#"{"ok":true,"nodeId":"n","command":"c","payload":{},"payloadJSON":null}"#
        );
    }

    #[test]
    fn reading_tolerates_nulls_and_unknown_fields() {
        let entry: NodeEntry = serde_json::from_value(json!({
            "nodeId": "n", "displayName": null, "caps": null, "commands": ["a"], "connected": true,
            "somethingNew": 1,
        }))
        .unwrap();
        assert_eq!(entry.display_name, None);
        assert!(entry.caps.is_empty());
        assert_eq!(entry.commands, ["a"]);
        assert!(entry.connected && !entry.paired);
        let list: NodeList = serde_json::from_value(json!({"ts": 5})).unwrap();
        assert!(list.nodes.is_empty());
    }

    #[test]
    fn a_pending_request_without_ts_reads_as_unknown_and_one_with_ts_is_sent_as_before() {
        let list: NodePairList = serde_json::from_value(json!({"pending": [
            {"requestId": "r1", "nodeId": "n"}, {"requestId": "r2", "nodeId": "n", "ts": null},
            {"requestId": "r3", "nodeId": "n", "ts": 7},
        ]}))
        .unwrap();
        assert_eq!(list.pending.iter().map(|p| p.ts).collect::<Vec<_>>(), [None, None, Some(7)]);
        assert_eq!(
            serde_json::to_string(&list.pending[2]).unwrap(),
            r#"{"requestId":"r3","nodeId":"n","caps":[],"commands":[],"requiredApproveScopes":[],"ts":7}"#
        );
        let devices: DevicePairList =
            serde_json::from_value(json!({"pending": [{"requestId": "r"}, {"requestId": "s", "ts": 9}]})).unwrap();
        assert_eq!(devices.pending.iter().map(|p| p.ts).collect::<Vec<_>>(), [None, Some(9)]);
        assert_eq!(
            serde_json::to_string(&devices.pending[1]).unwrap(),
            r#"{"requestId":"s","deviceId":"","publicKey":"","role":"","roles":[],"scopes":[],"silent":false,"isRepair":false,"ts":9}"#
        );
    }
}
