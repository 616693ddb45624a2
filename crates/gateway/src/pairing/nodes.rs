//! Node surface approval: which declared commands of a node are effective, the pending
//! requests for the rest, and the node records operators rename and remove.

use openclaw_protocol::methods::{NodeRecord, PendingNode};
use openclaw_protocol::Role;

use super::{new_request_id, required_approve_scopes, Pairing, PairingError};
use crate::store::{Kind, StoreError};

/// What a connecting node declares (commands already filtered by [`allowlisted_commands`](super::allowlisted_commands)).
#[derive(Debug, Clone, Default)]
pub struct NodeClaim {
    /// The node's id (its device id).
    pub node_id: String,
    /// `node-host`, …
    pub client_id: Option<String>,
    /// `node`, …
    pub client_mode: Option<String>,
    /// The node's own name.
    pub display_name: Option<String>,
    /// `linux`, …
    pub platform: Option<String>,
    /// The node host's version.
    pub version: Option<String>,
    /// `Linux`, …
    pub device_family: Option<String>,
    /// Declared capabilities (sorted).
    pub caps: Vec<String>,
    /// Declared commands that the platform allowlist lets through.
    pub commands: Vec<String>,
    /// The reported address (none for loopback).
    pub remote_ip: Option<String>,
}

/// The effective surface of a connecting node.
#[derive(Debug)]
pub struct NodeSurface {
    /// The commands the gateway will route to it.
    pub effective: Vec<String>,
    /// A pending request, and whether it was created just now (then operators are told).
    pub pending: Option<(PendingNode, bool)>,
    /// A previous pending request this connect replaced.
    pub superseded: Option<PendingNode>,
}

impl Pairing {
    /// A node's approved surface record.
    pub fn node(&self, node_id: &str) -> Option<&NodeRecord> {
        self.nodes.get(node_id)
    }

    /// Every node with an approved surface.
    pub fn nodes(&self) -> impl Iterator<Item = &NodeRecord> {
        self.nodes.values()
    }

    /// Pending node requests, oldest first.
    pub fn node_requests(&self) -> Vec<PendingNode> {
        let mut v: Vec<PendingNode> = self.node_requests.values().cloned().collect();
        v.sort_by_key(|r| r.ts);
        v
    }

    /// The pending request of a node, if any.
    pub fn node_request_for(&self, node_id: &str) -> Option<&PendingNode> {
        self.node_requests.get(node_id)
    }

    fn insert_node_request(&mut self, r: PendingNode) {
        self.node_request_ids.insert(r.request_id.clone(), r.node_id.clone());
        if let Some(old) = self.node_requests.insert(r.node_id.clone(), r) {
            self.node_request_ids.remove(&old.request_id);
        }
    }

    fn take_node_request(&mut self, request_id: &str) -> Option<PendingNode> {
        let node_id = self.node_request_ids.remove(request_id)?;
        self.node_requests.remove(&node_id)
    }

    /// Compares a connecting node's declared surface with the approved one.
    pub fn reconcile_node(&mut self, claim: &NodeClaim, now: i64) -> Result<NodeSurface, StoreError> {
        let approved = self.nodes.get(&claim.node_id).cloned();
        let covered = approved.as_ref().is_some_and(|n| {
            claim.commands.iter().all(|c| n.commands.contains(c)) && claim.caps.iter().all(|c| n.caps.contains(c))
        });
        if let Some(mut n) = approved.clone() {
            n.last_seen_at_ms = Some(now);
            n.last_seen_reason = Some("connect".into());
            n.version = claim.version.clone().or(n.version);
            n.remote_ip = claim.remote_ip.clone();
            self.store.put(Kind::Node, &n.node_id, &n)?;
            self.nodes.insert(n.node_id.clone(), n);
        }
        if covered {
            return Ok(NodeSurface { effective: claim.commands.clone(), pending: None, superseded: None });
        }
        let effective: Vec<String> = match &approved {
            Some(n) => claim.commands.iter().filter(|c| n.commands.contains(c)).cloned().collect(),
            None => Vec::new(),
        };
        let existing = self.node_request_for(&claim.node_id).cloned();
        if let Some(r) = &existing {
            if r.commands == claim.commands && r.caps == claim.caps {
                return Ok(NodeSurface { effective, pending: Some((r.clone(), false)), superseded: None });
            }
            self.take_node_request(&r.request_id);
            self.store.delete(Kind::NodeRequest, &r.request_id)?;
        }
        let request = PendingNode {
            request_id: new_request_id(),
            node_id: claim.node_id.clone(),
            client_id: claim.client_id.clone(),
            client_mode: claim.client_mode.clone(),
            display_name: claim.display_name.clone(),
            platform: claim.platform.clone(),
            version: claim.version.clone(),
            device_family: claim.device_family.clone(),
            caps: claim.caps.clone(),
            commands: claim.commands.clone(),
            required_approve_scopes: required_approve_scopes(&claim.commands),
            remote_ip: claim.remote_ip.clone(),
            ts: Some(now),
        };
        self.store.put(Kind::NodeRequest, &request.request_id, &request)?;
        self.insert_node_request(request.clone());
        Ok(NodeSurface { effective, pending: Some((request, true)), superseded: existing })
    }

    /// Looks up a pending node request.
    pub fn node_request(&self, request_id: &str) -> Option<&PendingNode> {
        self.node_request_ids.get(request_id).and_then(|n| self.node_requests.get(n))
    }

    /// Approves a pending node surface.
    pub fn approve_node(&mut self, request_id: &str, now: i64) -> Result<NodeRecord, PairingError> {
        let req = self.node_request(request_id).cloned().ok_or(PairingError::UnknownRequest)?;
        let previous = self.nodes.get(&req.node_id);
        let record = NodeRecord {
            node_id: req.node_id.clone(),
            client_id: req.client_id.clone(),
            client_mode: req.client_mode.clone(),
            display_name: previous.and_then(|p| p.display_name.clone()).or(req.display_name.clone()),
            platform: req.platform.clone(),
            version: req.version.clone(),
            device_family: req.device_family.clone(),
            caps: req.caps.clone(),
            commands: req.commands.clone(),
            remote_ip: req.remote_ip.clone(),
            created_at_ms: previous.map(|p| p.created_at_ms).unwrap_or(now),
            approved_at_ms: now,
            last_seen_at_ms: Some(now),
            last_seen_reason: Some("approved".into()),
        };
        self.store.put(Kind::Node, &record.node_id, &record)?;
        self.store.delete(Kind::NodeRequest, request_id)?;
        self.take_node_request(request_id);
        self.nodes.insert(record.node_id.clone(), record.clone());
        Ok(record)
    }

    /// Rejects a pending node surface.
    pub fn reject_node(&mut self, request_id: &str) -> Result<PendingNode, PairingError> {
        let req = self.node_request(request_id).cloned().ok_or(PairingError::UnknownRequest)?;
        self.store.delete(Kind::NodeRequest, request_id)?;
        self.take_node_request(request_id);
        Ok(req)
    }

    /// Forgets a node's surface and pending requests, and revokes its device's node role.
    pub fn remove_node(&mut self, node_id: &str) -> Result<(), PairingError> {
        let had_node = self.nodes.remove(node_id).is_some();
        self.store.delete(Kind::Node, node_id)?;
        let pending: Vec<String> = self.node_requests.get(node_id).map(|r| r.request_id.clone()).into_iter().collect();
        for id in &pending {
            self.take_node_request(id);
            self.store.delete(Kind::NodeRequest, id)?;
        }
        let mut had_role = false;
        if let Some(d) = self.devices.get_mut(node_id) {
            had_role = d.has_role(Role::Node);
            d.roles.retain(|r| r != Role::Node.as_str());
            d.tokens.remove(Role::Node.as_str());
            let d = d.clone();
            if d.roles.is_empty() {
                self.devices.remove(node_id);
                self.store.delete(Kind::Device, node_id)?;
            } else {
                self.store.put(Kind::Device, node_id, &d)?;
            }
        }
        if had_node || had_role || !pending.is_empty() {
            Ok(())
        } else {
            Err(PairingError::UnknownNode)
        }
    }

    /// Records that a node with an approved surface was just seen (connect, disconnect).
    pub fn touch_node(&mut self, node_id: &str, reason: &str, now: i64) -> Result<(), StoreError> {
        let Some(n) = self.nodes.get_mut(node_id) else { return Ok(()) };
        n.last_seen_at_ms = Some(now);
        n.last_seen_reason = Some(reason.to_string());
        let n = n.clone();
        self.store.put(Kind::Node, node_id, &n)
    }

    /// Sets a node's display name (kept across reconnects).
    pub fn rename_node(&mut self, node_id: &str, display_name: &str) -> Result<(), PairingError> {
        let n = self.nodes.get_mut(node_id).ok_or(PairingError::UnknownNode)?;
        n.display_name = Some(display_name.to_string());
        let n = n.clone();
        self.store.put(Kind::Node, node_id, &n)?;
        Ok(())
    }
}
