//! Allowlist globs against paths: the first line of the input is the pattern, the rest the
//! path. The matcher must answer in time linear in pattern × path and never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openclaw_exec::allowlist::glob_match;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (pattern, path) = text.split_once('\n').unwrap_or((text, ""));
    let matched = glob_match(pattern, path);
    // A pattern without wildcards matches exactly itself.
    if !pattern.contains(['*', '?']) {
        assert_eq!(matched, pattern == path);
    }
});
