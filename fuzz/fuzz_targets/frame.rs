//! Every text frame a gateway or client may receive: the envelope, and when it is a
//! `connect` request, its params through the same checks the gateway applies before
//! admission (types, the client enums, non-empty strings), then a device public key and
//! signature check on whatever the frame claims. Nothing may panic, and a frame that
//! parses must serialise and parse back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openclaw_protocol::device_auth::{decode_public_key, verify_signature};
use openclaw_protocol::{ConnectParams, Frame};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(frame) = Frame::parse(text) else { return };
    let again = Frame::parse(&frame.to_text()).expect("a parsed frame serialises to a parseable one");
    assert_eq!(again, frame);
    let Frame::Req(req) = frame else { return };
    let Some(params) = req.params else { return };
    let Ok(connect) = serde_json::from_value::<ConnectParams>(params) else { return };
    let _ = connect.client.validate();
    if let Some(device) = &connect.device {
        if let Ok(key) = decode_public_key(&device.public_key) {
            let _ = verify_signature(&key, &device.nonce, &device.signature);
        }
    }
});
