//! Shell payloads (`sh -c '…'`) through the tree-sitter analysis policy relies on. It must
//! never panic, recurse per nesting level or run past its parse budget; what it accepts
//! must have a name range inside the payload for every command it will rewrite.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use openclaw_exec::shell::{analyze, Analysis, MAX_PARSE_TIME};

fuzz_target!(|data: &[u8]| {
    let Ok(payload) = std::str::from_utf8(data) else { return };
    let started = Instant::now();
    let analysis = analyze(payload);
    // The budget plus slack for the walk and a sanitised, loaded machine.
    assert!(started.elapsed() < MAX_PARSE_TIME + Duration::from_secs(2), "analysis ran {:?}", started.elapsed());
    if let Analysis::Segments(segments) = analysis {
        for s in segments {
            if let Some(range) = s.name_range {
                assert!(payload.get(range).is_some(), "name range inside the payload");
            }
        }
    }
});
