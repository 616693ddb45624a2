//! Exec-approvals documents as a gateway may send them (`system.execApprovals.set`): the
//! normalisation, per-agent resolution, serialisation and redaction the node applies. None
//! may panic; a normalised document must survive serialise → parse → normalise unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openclaw_exec::approvals::{normalize, redact, resolve, resolve_defaults, serialize};
use openclaw_exec::policy::{Ask, Security};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(doc) = serde_json::from_slice::<Value>(data) else { return };
    let Ok(normal) = normalize(&doc) else { return };
    let text = serialize(&normal);
    let reparsed: Value = serde_json::from_str(&text).expect("serialised document is JSON");
    assert_eq!(normalize(&reparsed).expect("a normalised document stays valid"), normal);
    for agent in [None, Some("main"), Some("*"), Some("a/b~c")] {
        let _ = resolve(&normal, agent, Security::Allowlist, Ask::OnMiss);
    }
    let _ = resolve_defaults(&normal);
    let _ = redact(&normal);
});
