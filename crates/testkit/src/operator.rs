//! One operator request through our own client, for tests that need a gateway method quickly:
//! the peer's `openclaw gateway call` takes seconds per call, ours milliseconds.
//!
//! Uses only `openclaw_operator`'s public surface (`OperatorClient::connect`,
//! `request_with_timeout`, `close`, `ConnectOptions`, `client::endpoint_from_url`,
//! `ClientError::Gateway`, `OPERATOR_SCOPES`), so the client's internals can move freely.

use std::time::Duration;

use openclaw_operator::{ClientError, ConnectOptions, OperatorClient, OPERATOR_SCOPES};
use serde_json::Value;

/// One request to the gateway at `url` as the local CLI would make it (shared token, no device
/// identity, all operator scopes; `pin` is a TLS certificate fingerprint for `wss://`).
/// Returns the payload, or `{"ok":false,"error":<ErrorShape>}` when the gateway refuses, so a
/// test can assert on the refusal.
///
/// # Panics
/// When the gateway cannot be reached or the connection fails in any other way.
pub fn operator_call(url: &str, pin: Option<&str>, token: &str, method: &str, params: Value) -> Value {
    let opts = ConnectOptions {
        endpoint: openclaw_operator::client::endpoint_from_url(url, pin).unwrap(),
        token: Some(token.to_string()),
        password: None,
        device_token: None,
        identity: None,
        scopes: OPERATOR_SCOPES.iter().map(|s| s.to_string()).collect(),
        timeout: Duration::from_secs(20),
        caps: Vec::new(),
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let client = OperatorClient::connect(&opts).await.unwrap_or_else(|e| panic!("operator connect: {e}"));
        let answer = client.request_with_timeout(method, params, Duration::from_secs(90)).await;
        client.close().await;
        match answer {
            Ok(v) => v,
            Err(ClientError::Gateway(e)) => serde_json::json!({"ok": false, "error": *e}),
            Err(e) => panic!("{method}: {e}"),
        }
    })
}
