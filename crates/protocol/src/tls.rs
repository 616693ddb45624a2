//! TLS certificate fingerprints as users type them (`protocol.md` §10).

/// Why a `--tls-fingerprint` value was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("Invalid TLS fingerprint; expected a SHA-256 certificate fingerprint.")]
pub struct FingerprintError;

/// Normalises a SHA-256 fingerprint to 64 lowercase hex characters.
///
/// Accepts 64 hex digits or 32 colon-separated pairs, in any case, with an optional
/// case-insensitive `sha256:` prefix, as the reference client does. Anything else is an
/// error: a pin that silently matched nothing would defeat its purpose.
pub fn normalize_fingerprint(input: &str) -> Result<String, FingerprintError> {
    let mut s = input.trim();
    // `get`, not slicing: the input is whatever a user typed, and byte 7 may fall inside a
    // multi-byte character.
    if s.get(..7).is_some_and(|prefix| prefix.eq_ignore_ascii_case("sha256:")) {
        s = s[7..].trim();
    }
    let hex: String = if s.contains(':') {
        let parts: Vec<&str> = s.split(':').collect();
        if parts.len() != 32 || parts.iter().any(|p| p.len() != 2) {
            return Err(FingerprintError);
        }
        parts.concat()
    } else {
        s.to_string()
    };
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(FingerprintError);
    }
    Ok(hex.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12";

    /// Robustness: non-ASCII input is refused with the usual error (slicing at byte 7 of
    /// `"sha25é…"` panicked, exiting 101).
    #[test]
    fn non_ascii_is_an_error_not_a_panic() {
        for input in [
            "sha256\u{e9}",
            "abcdef\u{e9}00",
            "sha25\u{e9}:00",
            "\u{e9}\u{e9}\u{e9}\u{e9}",
            "sha256:\u{1f600}",
            "ab:\u{e9}",
            "\u{10ffff}",
        ] {
            assert_eq!(normalize_fingerprint(input), Err(FingerprintError), "{input:?}");
        }
        let colons: Vec<String> = (0..31).map(|_| "ab".to_string()).chain(["\u{e9}".to_string()]).collect();
        assert_eq!(normalize_fingerprint(&colons.join(":")), Err(FingerprintError));
    }

    #[test]
    fn accepted_forms() {
        assert_eq!(normalize_fingerprint(HEX).unwrap(), HEX);
        assert_eq!(normalize_fingerprint(&HEX.to_uppercase()).unwrap(), HEX);
        assert_eq!(normalize_fingerprint(&format!("sha256:{HEX}")).unwrap(), HEX);
        assert_eq!(normalize_fingerprint(&format!("SHA256:{}", HEX.to_uppercase())).unwrap(), HEX);
        let colons: Vec<String> = HEX.as_bytes().chunks(2).map(|c| String::from_utf8(c.to_vec()).unwrap()).collect();
        assert_eq!(normalize_fingerprint(&colons.join(":")).unwrap(), HEX);
        assert_eq!(normalize_fingerprint(&format!("sha256:{}", colons.join(":").to_uppercase())).unwrap(), HEX);
    }

    #[test]
    fn rejected_forms() {
        for bad in
            ["", "abc", &HEX[..62], &format!("{HEX}00"), &HEX.replace('a', "g"), "sha1:abcd", &format!("md5:{HEX}")]
        {
            assert_eq!(normalize_fingerprint(bad), Err(FingerprintError), "{bad}");
        }
        // colon form with a wrong group size
        let mut colons: Vec<String> =
            HEX.as_bytes().chunks(2).map(|c| String::from_utf8(c.to_vec()).unwrap()).collect();
        colons[0] = "a".into();
        colons[1] = "b12".into();
        assert!(normalize_fingerprint(&colons.join(":")).is_err());
    }
}
