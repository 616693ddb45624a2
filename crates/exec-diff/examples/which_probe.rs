//! `cargo run -p openclaw-exec-diff --example which_probe -- <path to our openclaw> [names…]`:
//! sends one `system.which` to our node host and to the TypeScript one (each behind a relay,
//! both with this process's PATH behind their own directory) and prints both answers.
//!
//! The exec-diff generator does not produce `system.which` cases; this is how the `.`/`..`
//! normalisation was checked against upstream. Put odd PATH entries in front to see how each
//! node joins them, e.g. `PATH="/nonexistent/..:/usr/bin/../bin:$PATH"`.

use std::path::PathBuf;
use std::time::Duration;

use openclaw_exec_diff::relay::Relay;
use serde_json::json;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(bin) = args.next().map(PathBuf::from) else {
        eprintln!("usage: which_probe <path to our openclaw> [names…]");
        std::process::exit(2);
    };
    let mut names: Vec<String> = args.collect();
    if names.is_empty() {
        names = [".", "..", "ls", "./ls", "../bin/ls", "/usr/bin/../bin/ls", "...", " sh ", "nope-xyz"]
            .iter()
            .map(|s| s.to_string())
            .collect();
    }
    if !openclaw_testkit::peer_available() {
        std::process::exit(2);
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(async {
        let peer = openclaw_testkit::Peer::installed();
        let mut ours = Relay::start(vec![]).await.expect("relay");
        let mut theirs = Relay::start(vec![]).await.expect("relay");
        let path = openclaw_testkit::relay_nodes::peer_path_env(peer);
        let token = format!("which-probe-{}", std::process::id());
        let home = std::env::temp_dir().join(format!("which-probe-{}", std::process::id()));
        let _our_node = openclaw_testkit::relay_nodes::spawn_our_node_at(&bin, ours.port(), &token, &home, None, &path)
            .expect("our node starts");
        let (port, tok) = (theirs.port(), token.clone());
        let (_ts_node, _ts_home) = tokio::task::spawn_blocking(move || {
            openclaw_testkit::relay_nodes::start_ts_node_at(peer, port, &tok, "which-probe", None)
        })
        .await
        .expect("start task")
        .expect("the TypeScript node starts");
        ours.wait_connected(Duration::from_secs(30)).await.expect("ours connects");
        theirs.wait_connected(Duration::from_secs(60)).await.expect("theirs connects");
        let params = json!({ "bins": names });
        let a = ours.invoke("system.which", &params, Duration::from_secs(20)).await.expect("ours answers");
        let b = theirs.invoke("system.which", &params, Duration::from_secs(20)).await.expect("theirs answers");
        println!("ours:     {}", a.result);
        println!("upstream: {}", b.result);
        let _ = std::fs::remove_dir_all(&home);
    });
}
