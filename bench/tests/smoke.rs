//! Runs `openclaw-bench --smoke` (a few seconds: our gateway and our node host, tiny counts)
//! so the benchmark harness cannot rot. The full benchmark stays manual (`scripts/bench`).

use std::path::PathBuf;
use std::process::Command;

#[test]
fn smoke_run_prints_the_tables() {
    let bench = PathBuf::from(env!("CARGO_BIN_EXE_openclaw-bench"));
    // Our `openclaw` binary sits next to it when the workspace was built (`cargo test
    // --workspace` / `cargo nextest run --workspace` build every package's binaries).
    let openclaw = bench.with_file_name(format!("openclaw{}", std::env::consts::EXE_SUFFIX));
    assert!(
        openclaw.exists(),
        "{} is missing: this test needs our binary built in the same profile; run it with \
         `cargo test --workspace` (or `cargo build -p openclaw-cli` first)",
        openclaw.display()
    );
    let out = Command::new(&bench)
        .arg("--smoke")
        .arg("--openclaw")
        .arg(&openclaw)
        .env_remove("RUST_LOG")
        .output()
        .expect("run openclaw-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "openclaw-bench --smoke failed ({}):\n{stdout}\n{stderr}", out.status);
    for needle in [
        "| start → connected, median of 2 (ms) |",
        "| idle RSS after 1 s, all processes (MiB) |",
        "`system.which` round trip p99",
        "`system.run echo` throughput",
        "MB output: peak RSS of the host (MiB) |",
        "| reconnect after gateway restart, from gateway ready (ms) |",
        "| ours | 20 |",
        "`system.run echo` throughput via our gateway, 32 calls at concurrency 8 (calls/s) |",
        "`system.run echo` throughput via our gateway, 64 calls at concurrency 32 (calls/s) |",
        "| `system.run echo` failed calls via our gateway at concurrency 32 | 0 of 64 |",
        "`system.run echo` CPU per call at concurrency 32, node host and its commands (ms) |",
        "`system.run echo` CPU per call at concurrency 32, our gateway (ms) |",
        "Dependencies: ",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?} in:\n{stdout}\n{stderr}");
    }
    // The browser table drives our node's Chromium when one is installed, and says why not
    // otherwise. `POST /act` may still answer 501 (not implemented yet on this node).
    let act = "| `POST /act` click by ref p50, 3 calls (ms) |";
    if std::path::Path::new("/usr/bin/chromium").exists() {
        for needle in [
            "| first `POST /tabs/open`, browser start included (ms) |",
            "| `GET /snapshot` mode=efficient p99, 5 calls (ms) |",
            act,
            "| `POST /screenshot` viewport PNG p50, 3 calls (ms) |",
            "| node host RSS with its browser running, own processes (MiB) |",
            "| Chromium RSS, its process tree (MiB) |",
        ] {
            assert!(stdout.contains(needle), "missing {needle:?} in:\n{stdout}\n{stderr}");
        }
    } else {
        assert!(stdout.contains("Browser proxy: skipped ("), "no browser table nor its reason in:\n{stdout}");
    }
    // Every node-host and browser row has a number for ours.
    for line in stdout.lines().filter(|l| l.starts_with("| ") && l.contains("| – | – |")) {
        let ours = line.split('|').nth(2).unwrap_or("").trim();
        if line.starts_with(act) && ours.contains("HTTP 501") {
            continue;
        }
        assert!(
            ours.split_whitespace().next().is_some_and(|v| v.parse::<f64>().is_ok_and(f64::is_finite)),
            "no value for ours in {line:?}"
        );
    }
}
