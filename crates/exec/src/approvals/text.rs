//! The stored text of a document and its hash: what upstream writes
//! (`JSON.stringify(doc, null, 2) + "\n"`) and the sha256 `get`/`set` compare.
//!
//! Apart from normalisation because the hash is over the text, not the tree: whatever changes
//! how a document is written changes its identity for every client, so it is written in one place.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// `sha256` hex of the raw text.
pub fn hash_raw(raw: &str) -> String {
    hex(&Sha256::digest(raw.as_bytes()))
}

/// The hash of a missing document: `missing:` + sha256 of the empty string.
pub fn missing_hash() -> String {
    format!("missing:{}", hash_raw(""))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `JSON.stringify(doc, null, 2) + "\n"`.
pub fn serialize(doc: &Value) -> String {
    let mut s = serde_json::to_string_pretty(doc).expect("JSON values serialise");
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::approvals::normalize;
    use serde_json::json;

    #[test]
    fn hashes_and_serialisation() {
        assert_eq!(missing_hash(), "missing:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        let doc = normalize(&json!({"version": 1})).unwrap();
        assert_eq!(
            serialize(&doc),
            "{\n  \"version\": 1,\n  \"socket\": {},\n  \"defaults\": {},\n  \"agents\": {}\n}\n"
        );
        assert_eq!(hash_raw("{}\n").len(), 64);
    }
}
