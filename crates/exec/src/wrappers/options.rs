//! The option grammar shared by `env` and the shell's `exec`: `--long[=value]` and short
//! clusters `-abc` checked against a carrier's known options.
//!
//! It lives apart because two layers of the analysis (the `env` prelude and the shell argv
//! carriers of the trust plan) read options the same way, and an option outside a carrier's
//! grammar must block both alike (fail closed).

/// `--name=value` → (`--name`, Some(`value`)); anything without `=` is all name.
pub(super) fn split_inline_option(token: &str) -> (&str, Option<&str>) {
    match token.split_once('=') {
        Some((name, value)) => (name, Some(value)),
        None => (token, None),
    }
}

/// One option parsed from a carrier's option token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CarrierOption {
    pub(super) name: String,
    pub(super) inline_value: Option<String>,
}

/// Parses `--long[=v]` or a short cluster `-abc` against a carrier's option sets; `None` when
/// any part is unknown (the carrier is then not understood, which blocks it).
pub(super) fn parse_carrier_option(
    token: &str,
    standalone: &[&str],
    with_value: &[&str],
) -> Option<Vec<CarrierOption>> {
    if token.starts_with("--") {
        let (name, value) = split_inline_option(token);
        return (standalone.contains(&name) || with_value.contains(&name))
            .then(|| vec![CarrierOption { name: name.to_string(), inline_value: value.map(str::to_string) }]);
    }
    let mut chars = token.char_indices().skip(1);
    if !token.starts_with('-') || !token[1..].starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return None;
    }
    let mut options = Vec::new();
    for (at, c) in chars.by_ref() {
        let name = format!("-{c}");
        if with_value.contains(&name.as_str()) {
            let rest = &token[at + c.len_utf8()..];
            options.push(CarrierOption { name, inline_value: (!rest.is_empty()).then(|| rest.to_string()) });
            return Some(options);
        }
        if !standalone.contains(&name.as_str()) {
            return None;
        }
        options.push(CarrierOption { name, inline_value: None });
    }
    (!options.is_empty()).then_some(options)
}

/// Whether the parsed options leave the next argv entry as their value.
pub(super) fn consumes_next_value(options: &[CarrierOption], with_value: &[&str]) -> bool {
    let mut consumes = false;
    for o in options {
        if with_value.contains(&o.name.as_str()) {
            consumes = o.inline_value.is_none();
        }
    }
    consumes
}
