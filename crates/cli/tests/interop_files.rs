//! Differential tests of the node's file commands: the same `node.invoke` requests sent through
//! the real Gateway to the real TypeScript node host and to ours, on the same filesystem;
//! results and errors must match field for field (only what is random by nature, such as a
//! staging directory's name, is normalised, and then checked by other means).

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use support::*;

/// Both node hosts against one real Gateway, their command surfaces approved.
struct Nodes {
    gw: PeerGateway,
    ours: String,
    theirs: String,
    _our_node: OurNode,
    _ts: TsNode,
    state: tempfile::TempDir,
}

/// A `notify-send` that records its arguments (one line per call, `|`-separated) in
/// `<dir>/notify.log` and fails when the title is `fail`, placed first on PATH for both nodes.
/// No notification daemon runs here (no D-Bus session), so this is the stand-in the issue
/// allows; both nodes find it the same way.
fn recording_notify_send(dir: &Path) -> std::path::PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = dir.join("notify.log");
    let script = format!(
        "#!/bin/sh\nprintf '%s|' \"$@\" >> '{}'\necho >> '{}'\n[ \"$4\" = fail ] && {{ echo 'Cannot  connect:\n  no bus' >&2; exit 1; }}\n[ \"$4\" = quiet-fail ] && exit 4\nexit 0\n",
        log.display(),
        log.display()
    );
    std::fs::write(bin.join("notify-send"), script).unwrap();
    std::fs::set_permissions(bin.join("notify-send"), std::fs::Permissions::from_mode(0o755)).unwrap();
    log
}

impl Nodes {
    fn start(name: &str) -> Nodes {
        let gw = PeerGateway::start(name, &[]);
        let state = tempfile::tempdir().unwrap();
        // Both nodes inherit this PATH (the TypeScript one through its start script).
        recording_notify_send(state.path());
        let path = format!("{}:{}", state.path().join("bin").display(), std::env::var("PATH").unwrap_or_default());
        std::env::set_var("PATH", &path);
        let ts_name = format!("rs-{name}-ts-{}", std::process::id());
        // Both nodes get the same HOME, so the defaults that read it agree.
        let home = TsNode::home_for(&gw, &ts_name);
        std::fs::create_dir_all(&home).unwrap();
        let home_text = home.to_string_lossy().into_owned();
        let port = gw.port.to_string();
        let mut node = OurNode::spawn(
            &state.path().join("ours"),
            &["--port", &port, "--display-name", "rs-files"],
            &[("OPENCLAW_GATEWAY_TOKEN", &gw.token), ("HOME", &home_text)],
        );
        node.wait_for_log("node host gateway connected:", 1, Duration::from_secs(30));
        let ts = TsNode::start(&gw, &ts_name, "ts-files").expect("TS node connects");
        let ours = our_identity(&state.path().join("ours"))["deviceId"].as_str().unwrap().to_string();
        let theirs = ts.identity()["deviceId"].as_str().unwrap().to_string();
        gw.approve_node_surface(&ours);
        gw.approve_node_surface(&theirs);
        Nodes { gw, ours, theirs, _our_node: node, _ts: ts, state }
    }

    /// Invokes on both nodes concurrently: (ours, theirs).
    fn both(&self, command: &str, params: Value) -> (Value, Value) {
        std::thread::scope(|s| {
            let a = s.spawn(|| invoke_outcome(&self.gw.invoke(&self.ours, command, params.clone())));
            let b = s.spawn(|| invoke_outcome(&self.gw.invoke(&self.theirs, command, params.clone())));
            (a.join().unwrap(), b.join().unwrap())
        })
    }
}

/// Counts compared cases and collects differences, so one run reports all of them.
#[derive(Default)]
struct Tally {
    compared: usize,
    failures: Vec<String>,
}

impl Tally {
    fn check(&mut self, name: &str, ours: &Value, theirs: &Value) {
        self.compared += 1;
        if ours != theirs {
            self.failures.push(format!("{name}:\n  ours:   {ours}\n  theirs: {theirs}"));
        }
    }

    fn finish(self, what: &str) {
        assert!(
            self.failures.is_empty(),
            "{what}: {} of {} differ:\n{}",
            self.failures.len(),
            self.compared,
            self.failures.join("\n")
        );
        eprintln!("{what}: {} cases compared, all equal", self.compared);
    }
}

/// A tree with every kind of entry `fs.listDir` must sort or skip.
fn listing_fixture(root: &Path) {
    for d in ["b", "a", "B", ".hidden", "Ä", "\u{1F600}", "with space"] {
        std::fs::create_dir(root.join(d)).unwrap();
    }
    std::fs::write(root.join("file.txt"), "x").unwrap();
    std::os::unix::fs::symlink(root.join("a"), root.join("link-dir")).unwrap();
    std::os::unix::fs::symlink(root.join("file.txt"), root.join("link-file")).unwrap();
    std::os::unix::fs::symlink(root.join("gone"), root.join("dangling")).unwrap();
    std::fs::create_dir(root.join("locked")).unwrap();
    std::fs::set_permissions(root.join("locked"), std::fs::Permissions::from_mode(0o000)).unwrap();
}

#[test]
fn host_file_commands_match_the_typescript_node_host() {
    if !peer_available() {
        return;
    }
    let nodes = Nodes::start("files");
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    listing_fixture(&root);
    let r = root.to_string_lossy().into_owned();
    let mut tally = Tally::default();

    let list_cases: Vec<(&str, Value)> = vec![
        ("fixture", json!({"path": r})),
        ("fixture with dot segments", json!({"path": format!("{r}/./a/../")})),
        ("root", json!({"path": "/"})),
        ("home by default", json!({})),
        ("empty path is home", json!({"path": ""})),
        ("relative", json!({"path": "rel/dir"})),
        ("missing", json!({"path": format!("{r}/missing")})),
        ("a file", json!({"path": format!("{r}/file.txt")})),
        ("a symlinked dir", json!({"path": format!("{r}/link-dir")})),
        ("not a string", json!({"path": 7})),
        ("null path", json!({"path": null})),
        ("array params", json!([1, 2])),
    ];
    // Both must actually serve the command (equal gateway refusals would compare equal too).
    let (fixture, _) = nodes.both("fs.listDir", json!({"path": r}));
    assert_eq!(fixture["entries"].as_array().map(Vec::len), Some(9), "{fixture}");
    let (plain, _) = nodes.both("terminal.upload", json!({"name": "probe", "contentBase64": "aGk="}));
    assert_eq!(plain["size"], 2, "{plain}");
    let _ = std::fs::remove_dir_all(Path::new(plain["path"].as_str().unwrap()).parent().unwrap());
    for (name, params) in list_cases {
        let (ours, theirs) = nodes.both("fs.listDir", params);
        tally.check(&format!("fs.listDir {name}"), &ours, &theirs);
    }

    // Staged paths differ by their random directory; the rest must not.
    let staged = regex::Regex::new(r"/openclaw-terminal-upload-[A-Za-z0-9]{6}/").unwrap();
    let upload_cases: Vec<(&str, Value)> = vec![
        ("plain", json!({"name": "note.txt", "contentBase64": "aGVsbG8="})),
        ("hostile name", json!({"name": "../we ird:name?.txt", "contentBase64": "aGk="})),
        ("reserved name", json!({"name": "CON.txt", "contentBase64": "aGk="})),
        ("only dots", json!({"name": "..", "contentBase64": ""})),
        ("backslashes", json!({"name": "C:\\Users\\x\\report.pdf", "contentBase64": "AAEC"})),
        ("unpadded", json!({"name": "x", "contentBase64": "aGk"})),
        ("unused bits set", json!({"name": "x", "contentBase64": "aGl="})),
        ("whitespace in base64", json!({"name": "x", "contentBase64": "aG k="})),
        ("missing content", json!({"name": "x"})),
        ("name not a string", json!({"name": 3, "contentBase64": "aGk="})),
    ];
    for (name, params) in upload_cases {
        let (ours, theirs) = nodes.both("terminal.upload", params);
        let text = |v: &Value| staged.replace_all(&v.to_string(), "/openclaw-terminal-upload-XXXXXX/").into_owned();
        tally.check(&format!("terminal.upload {name}"), &json!(text(&ours)), &json!(text(&theirs)));
        if let (Some(a), Some(b)) = (ours["path"].as_str(), theirs["path"].as_str()) {
            let (ma, mb) = (std::fs::metadata(a).unwrap(), std::fs::metadata(b).unwrap());
            tally.check(
                &format!("terminal.upload {name}: staged bytes and modes"),
                &json!([std::fs::read(a).unwrap(), ma.permissions().mode() & 0o777]),
                &json!([std::fs::read(b).unwrap(), mb.permissions().mode() & 0o777]),
            );
            for p in [a, b] {
                let _ = std::fs::remove_dir_all(Path::new(p).parent().unwrap());
            }
        }
    }
    std::fs::set_permissions(root.join("locked"), std::fs::Permissions::from_mode(0o700)).unwrap();

    // system.notify: each node in turn, so the recorded argv is that node's.
    let log = nodes.state.path().join("notify.log");
    let notify_cases: Vec<(&str, Value)> = vec![
        ("title and body", json!({"title": "Build", "body": "Done", "priority": "timeSensitive"})),
        ("trimmed, empty body", json!({"title": "  T  ", "body": " ", "priority": "passive"})),
        ("body only", json!({"body": "just a body", "sound": "x", "delivery": "overlay"})),
        ("unknown priority", json!({"title": "t", "priority": "loud"})),
        ("empty", json!({"title": " ", "body": ""})),
        ("not strings", json!({"title": 1, "body": false})),
        ("tool fails with text", json!({"title": "fail", "body": "b"})),
        ("tool fails silently", json!({"title": "quiet-fail"})),
        ("null params", Value::Null),
    ];
    for (name, params) in notify_cases {
        let mut answers = Vec::new();
        for node in [&nodes.ours, &nodes.theirs] {
            let _ = std::fs::remove_file(&log);
            let answer = invoke_outcome(&nodes.gw.invoke(node, "system.notify", params.clone()));
            answers.push(json!({"answer": answer, "argv": std::fs::read_to_string(&log).unwrap_or_default()}));
        }
        tally.check(&format!("system.notify {name}"), &answers[0], &answers[1]);
    }
    let _ = std::fs::remove_file(&log);
    let served = nodes.both("system.notify", json!({"title": "probe"}));
    assert_eq!(served, (json!({"ok": true}), json!({"ok": true})), "both nodes serve system.notify");
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "--urgency|normal|--|probe||\n".repeat(2));

    // `openclaw nodes notify`: ours and upstream's CLI, through the real Gateway, to our node.
    let cli_state = nodes.state.path().join("cli");
    let flags = ["--title", " Build ", "--body", "Done", "--priority", "passive", "--delivery", "overlay"];
    let mut ours_args = vec!["nodes", "notify", "--node", nodes.ours.as_str()];
    ours_args.extend(flags);
    let _ = std::fs::remove_file(&log);
    let out = our_cli(&nodes.gw.url(), &nodes.gw.token, &cli_state, &ours_args);
    let recorded = std::fs::read_to_string(&log)
        .unwrap_or_else(|_| panic!("our nodes notify sent nothing: {}", String::from_utf8_lossy(&out.stderr)));
    let ours_cli = (String::from_utf8_lossy(&out.stdout).trim().to_string(), recorded);
    let _ = std::fs::remove_file(&log);
    let theirs_out = nodes.gw.cli(&ours_args);
    let theirs_cli = (
        strip_ansi(&theirs_out).trim().lines().last().unwrap_or_default().to_string(),
        std::fs::read_to_string(&log).unwrap(),
    );
    tally.check("nodes notify (CLI)", &json!([ours_cli.0, ours_cli.1]), &json!([theirs_cli.0, theirs_cli.1]));
    assert_eq!(ours_cli.0, "notify ok");
    let missing = our_cli(
        &nodes.gw.url(),
        &nodes.gw.token,
        &cli_state,
        &["nodes", "notify", "--node", &nodes.ours, "--title", " "],
    );
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("missing --title or --body"));
    tally.finish("fs.listDir, terminal.upload and system.notify");
}
