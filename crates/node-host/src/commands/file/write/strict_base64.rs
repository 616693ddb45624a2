//! `file.write`'s strict base64 (upstream's `inspectStrictBase64`, the 16 MiB limit and the
//! re-encode check after it in `handleFileWrite`; `INVALID_BASE64` in
//! `../shared/spec/node-commands.md` A3–A8).
//!
//! Upstream checks the structure first without decoding (so an oversized payload is refused
//! before any allocation), then decodes with Node's lenient decoder and refuses any input
//! that does not re-encode to itself. Here the structure check is the same scan, and the
//! decode is strict from the start: the re-encode comparison only ever fails on non-zero
//! unused bits in the last character once the structure is valid, so that is what
//! [`decode`] checks, without building a re-encoded copy of a 16 MiB payload.

/// A data character of either alphabet: `A–Z a–z 0–9 + / - _`.
fn sextet(byte: u8) -> Option<u8> {
    match byte {
        b'A'..=b'Z' => Some(byte - b'A'),
        b'a'..=b'z' => Some(byte - b'a' + 26),
        b'0'..=b'9' => Some(byte - b'0' + 52),
        b'+' | b'-' => Some(62),
        b'/' | b'_' => Some(63),
        _ => None,
    }
}

/// `inspectStrictBase64`: the decoded size of a structurally valid string, or `None`.
///
/// Both alphabets are accepted (even mixed), padding is optional but, when present, must
/// complete the last quantum; `=` may only end the string (at most two); any other
/// character, whitespace included, is invalid. Non-ASCII text is invalid (its UTF-16 code
/// units are no data characters, and neither are its UTF-8 bytes).
pub fn inspect(text: &str) -> Option<usize> {
    let (mut data, mut padding) = (0usize, 0usize);
    for &byte in text.as_bytes() {
        if byte == b'=' {
            padding += 1;
            if padding > 2 {
                return None;
            }
            continue;
        }
        if padding > 0 || sextet(byte).is_none() {
            return None;
        }
        data += 1;
    }
    if data == 0 {
        return (padding == 0).then_some(0);
    }
    let remainder = data % 4;
    if padding == 0 {
        return (remainder != 1).then_some(data * 3 / 4);
    }
    if data + padding < 4 || (data + padding) % 4 != 0 {
        return None;
    }
    if (padding == 1 && remainder != 3) || (padding == 2 && remainder != 2) {
        return None;
    }
    Some(data * 3 / 4)
}

/// Decodes a string [`inspect`] accepted into `size` bytes, or `None` when its last
/// character carries non-zero unused bits (upstream's re-encode mismatch: `aGl=` is not the
/// canonical `aGk=`).
pub fn decode(text: &str, size: usize) -> Option<Vec<u8>> {
    let data = text.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(size);
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let n = chunk.iter().fold(0u32, |acc, &b| (acc << 6) | u32::from(sextet(b).unwrap_or(0)));
        out.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8]);
    }
    let tail = chunks.remainder();
    let n = tail.iter().fold(0u32, |acc, &b| (acc << 6) | u32::from(sextet(b).unwrap_or(0)));
    match tail.len() {
        0 => {}
        2 => {
            if n & 0xf != 0 {
                return None;
            }
            out.push((n >> 4) as u8);
        }
        3 => {
            if n & 0x3 != 0 {
                return None;
            }
            out.extend_from_slice(&[(n >> 10) as u8, (n >> 2) as u8]);
        }
        _ => return None,
    }
    debug_assert_eq!(out.len(), size);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn strict(text: &str) -> Option<Vec<u8>> {
        inspect(text).and_then(|n| decode(text, n))
    }

    /// Rule (upstream's `inspectStrictBase64`): both alphabets, mixed or not, padded or not;
    /// whitespace, stray `=`, too much padding and a lone fifth character are invalid.
    #[test]
    fn structure_is_checked_as_upstream() {
        assert_eq!(inspect(""), Some(0));
        assert_eq!(inspect("="), None);
        assert_eq!(inspect("aGk"), Some(2));
        assert_eq!(inspect("aGk="), Some(2));
        assert_eq!(inspect("aG=="), Some(1));
        assert_eq!(inspect("aG="), None, "padding must complete the quantum");
        assert_eq!(inspect("aGk=="), None);
        assert_eq!(inspect("aGlh="), None);
        assert_eq!(inspect("a"), None);
        assert_eq!(inspect("aGk=a"), None);
        assert_eq!(inspect("aG k="), None);
        assert_eq!(inspect("aGk\n"), None);
        assert_eq!(inspect("-_+/"), Some(3));
        assert_eq!(inspect("a==="), None);
        assert_eq!(inspect("é"), None);
    }

    /// Rule (the re-encode check in `handleFileWrite`): the decoded bytes must re-encode to the
    /// input, so non-zero unused bits are refused; the URL alphabet decodes like the standard one.
    #[test]
    fn decoding_is_canonical() {
        assert_eq!(strict("aGk=").as_deref(), Some(&b"hi"[..]));
        assert_eq!(strict("aGl="), None);
        assert_eq!(strict("aGk"), Some(b"hi".to_vec()));
        assert_eq!(strict("aR=="), None);
        assert_eq!(strict("aQ=="), Some(b"i".to_vec()));
        assert_eq!(strict("-_-_"), strict("+/+/"));
        let bytes: Vec<u8> = (0..=255u8).collect();
        let std = base64::engine::general_purpose::STANDARD.encode(&bytes);
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes);
        assert_eq!(strict(&std), Some(bytes.clone()));
        assert_eq!(strict(&url), Some(bytes));
    }
}
