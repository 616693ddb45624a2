//! `--tls-fingerprint` values as users type them: normalised or refused, never a panic
//! (a non-ASCII value once made `node run` and the operator CLI exit 101), and whatever is
//! accepted is 64 lowercase hex digits that normalise to themselves.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openclaw_protocol::tls::normalize_fingerprint;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(hex) = normalize_fingerprint(text) {
        assert_eq!(hex.len(), 64);
        assert!(hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        assert_eq!(normalize_fingerprint(&hex).as_deref(), Ok(hex.as_str()));
    }
});
