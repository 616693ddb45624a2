//! No orphan Chromium, ever: a node host killed with SIGKILL (no chance to run `shutdown`)
//! must take its browser down with it.
//!
//! The test re-runs this test binary as a child (`orphan_child`, ignored in normal runs) that
//! launches Chromium through the crate and then waits. The parent SIGKILLs that child and
//! checks, by process group and by user data directory in `/proc`, that no Chromium process of
//! it survives a few seconds later.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use openclaw_browser::{BrowserControl, BrowserSettings, RouteRequest};
use serde_json::json;

const CHROMIUM: &str = "/usr/bin/chromium";

/// Pids whose process group is `pgid` or whose command line mentions `needle`.
fn survivors(pgid: u32, needle: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else { continue };
        // Fields after the parenthesised command: state ppid pgrp …
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else { continue };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.first() == Some(&"Z") {
            continue; // a zombie waiting for its reaper is not a running browser
        }
        let pgrp: u32 = fields.get(2).and_then(|s| s.parse().ok()).unwrap_or(0);
        let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        if pgrp == pgid || String::from_utf8_lossy(&cmdline).contains(needle) {
            out.push(pid);
        }
    }
    out
}

#[test]
#[ignore = "run only as the child of sigkilled_node_host_leaves_no_chromium"]
fn orphan_child() {
    let state = std::env::var("OPENCLAW_BROWSER_ORPHAN_STATE").expect("run by the orphan test only");
    let port: u16 = std::env::var("OPENCLAW_BROWSER_ORPHAN_PORT").unwrap().parse().unwrap();
    let settings = BrowserSettings::from_config(Some(&json!({
        "noSandbox": true, "headless": true, "executablePath": CHROMIUM,
        "profiles": {"openclaw": {"cdpPort": port}},
    })))
    .unwrap();
    let c = BrowserControl::new(settings, state.into());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let r = c.dispatch(RouteRequest { method: "POST".into(), path: "/start".into(), ..Default::default() }).await;
        assert_eq!(r.status, 200, "{}", r.body);
        println!("BROWSER_PID {}", c.browser_pids()[0]);
        // Wait to be killed; the parent never lets this end on its own.
        tokio::time::sleep(Duration::from_secs(120)).await;
    });
}

#[test]
fn sigkilled_node_host_leaves_no_chromium() {
    if !Path::new(CHROMIUM).exists() {
        println!("browser: SKIPPED ({CHROMIUM} is not installed; run scripts/browser-deps)");
        eprintln!("browser: SKIPPED ({CHROMIUM} is not installed; run scripts/browser-deps)");
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "orphan_child", "--ignored", "--nocapture", "--test-threads=1"])
        .env("OPENCLAW_BROWSER_ORPHAN_STATE", state.path())
        .env("OPENCLAW_BROWSER_ORPHAN_PORT", port.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let child_pid = Pid::from_raw(child.id() as i32);
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let browser_pid = loop {
        match lines.next() {
            Some(Ok(l)) => {
                // libtest prints `test orphan_child ... ` on the same line first.
                if let Some((_, p)) = l.split_once("BROWSER_PID ") {
                    break p.trim().parse::<u32>().unwrap();
                }
            }
            _ => {
                let _ = kill(child_pid, Signal::SIGKILL);
                let _ = child.wait();
                panic!("the child exited without launching Chromium");
            }
        }
    };
    let udd = state.path().join("browser/openclaw/user-data").display().to_string();
    let before = survivors(browser_pid, &udd);
    assert!(before.contains(&browser_pid), "the browser is in its own process group: {before:?}");
    assert!(before.len() > 1, "Chromium runs helpers in its group: {before:?}");

    kill(child_pid, Signal::SIGKILL).unwrap();
    child.wait().unwrap();

    let deadline = Instant::now() + Duration::from_secs(5);
    let mut left = survivors(browser_pid, &udd);
    while !left.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        left = survivors(browser_pid, &udd);
    }
    if !left.is_empty() {
        // Clean up before failing so the test never leaks what it proves leaks.
        let _ = killpg(Pid::from_raw(browser_pid as i32), Signal::SIGKILL);
        for p in &left {
            let _ = kill(Pid::from_raw(*p as i32), Signal::SIGKILL);
        }
    }
    assert!(left.is_empty(), "Chromium processes survived the node host's SIGKILL: {left:?}");
}
