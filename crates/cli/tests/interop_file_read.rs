//! Differential test of `file.stat` and `file.fetch` (`../shared/spec/node-commands.md` A3–A8):
//! the TypeScript node host and ours, each behind a scripted relay, get the same raw
//! `node.invoke.request` params (including `preflightOnly`, `expectedCanonicalPath` and
//! `expectedBinding`, which the real Gateway sets itself) on the same files, and their
//! `node.invoke.result`s (ok, parsed payload, error) must be equal field for field. Nothing is
//! normalised: both nodes read the very same fixture, so even `mtimeMs`, the bindings and the
//! base64 content must match.
//!
//! The fixture holds files of many kinds (empty, text, UTF-8, binary, images, archives, large,
//! hard links, a FIFO, a socket, symlinks to files and directories, dangling and looping
//! symlinks, a file named `~`) and the commands run over every entry × path spelling ×
//! option combination, plus upstream's error cases, the preflight → bound call flow, and
//! races (the target swapped for a symlink or another file between preflight and the bound call).
//!
//! Tests run as root: a mode-000 file or directory is still readable, so both nodes serve it
//! (the `PERMISSION_DENIED` texts are covered by the unit tests' classification only).
//!
//! One deliberate difference is checked but not counted as equal: a binary-transport fetch with
//! a valid binding. Upstream's node host offers duplex IO to every `file.fetch` and waits for the
//! gateway's stream `start`, which a plain relay never sends (so it never answers); ours has no
//! duplex transport and answers upstream's no-duplex `INVALID_PARAMS`.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use openclaw_testkit::relay::{Relay, RelayError};
use openclaw_testkit::relay_nodes::{peer_path_env, spawn_our_node_at, start_ts_node_at};
use openclaw_testkit::Peer;
use serde_json::{json, Value};
use support::*;

const WAIT: Duration = Duration::from_secs(30);

/// Both node hosts, each behind its own relay.
struct Pair {
    ours: Relay,
    theirs: Relay,
    _our_node: openclaw_testkit::OurNode,
    _ts_node: TsNode,
    _home: tempfile::TempDir,
}

impl Pair {
    async fn start() -> Pair {
        let peer = Peer::installed();
        let mut ours = Relay::start(vec![]).await.expect("relay");
        let mut theirs = Relay::start(vec![]).await.expect("relay");
        let token = format!("relay-{}", uuid::Uuid::new_v4().simple());
        let path = peer_path_env(peer);
        let home = tempfile::tempdir().unwrap();
        let our_node = spawn_our_node_at(&openclaw_bin(), ours.port(), &token, &home.path().join("ours"), None, &path)
            .expect("our node");
        let name = format!("file-read-{}", std::process::id());
        let (port, tok) = (theirs.port(), token.clone());
        let ts = tokio::task::spawn_blocking(move || start_ts_node_at(peer, port, &tok, &name, None));
        ours.wait_connected(WAIT).await.expect("our node connects");
        let (ts_node, _) = ts.await.unwrap().expect("TS node starts");
        theirs.wait_connected(Duration::from_secs(60)).await.expect("TS node connects");
        Pair { ours, theirs, _our_node: our_node, _ts_node: ts_node, _home: home }
    }

    /// The same invoke on both: (ours, theirs).
    async fn both(&self, command: &str, params: &Value) -> (Value, Value) {
        let (a, b) = tokio::join!(self.ours.invoke(command, params, WAIT), self.theirs.invoke(command, params, WAIT));
        let unwrap = |r: Result<openclaw_testkit::relay::Invoked, RelayError>, who: &str| match r {
            Ok(i) => i.result,
            Err(e) => json!({"relay error": format!("{who}: {e}")}),
        };
        (unwrap(a, "ours"), unwrap(b, "typescript"))
    }
}

/// Counts compared cases and collects differences.
#[derive(Default)]
struct Tally {
    compared: usize,
    failures: Vec<String>,
    /// Successful payloads from the TypeScript node that carried content (the test can fail).
    served_content: usize,
    /// How often each outcome (payload code, or invoke error code) came back, to show the
    /// cases reach every branch.
    outcomes: std::collections::BTreeMap<String, usize>,
}

impl Tally {
    fn check(&mut self, name: &str, ours: &Value, theirs: &Value) {
        self.compared += 1;
        if theirs["payload"]["ok"] == true && theirs["payload"]["base64"].as_str().is_some_and(|b| !b.is_empty()) {
            self.served_content += 1;
        }
        let outcome = match (&theirs["payload"]["ok"], &theirs["payload"]["code"], &theirs["error"]["code"]) {
            (Value::Bool(true), _, _) => "ok".to_string(),
            (_, Value::String(code), _) => code.clone(),
            (_, _, Value::String(code)) => format!("invoke error {code}"),
            _ => format!("other {theirs}"),
        };
        *self.outcomes.entry(outcome).or_default() += 1;
        if ours != theirs {
            self.failures.push(format!("{name}:\n  ours:   {ours}\n  theirs: {theirs}"));
        }
    }
}

/// A stored ZIP entry's local header and data, for the archive fixtures.
fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, data) in entries {
        out.extend(b"PK\x03\x04");
        out.extend([20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        out.extend((data.len() as u32).to_le_bytes());
        out.extend((data.len() as u32).to_le_bytes());
        out.extend((name.len() as u16).to_le_bytes());
        out.extend([0, 0]);
        out.extend(name.as_bytes());
        out.extend(*data);
    }
    out.extend(b"PK\x01\x02");
    out.extend([0; 42]);
    out
}

/// The fixture: every kind of entry the commands must tell apart. Returns the entry names.
fn fixture(root: &Path) -> Vec<String> {
    let w = |name: &str, data: &[u8]| std::fs::write(root.join(name), data).unwrap();
    w("empty", b"");
    w("hello.txt", b"hello world\n");
    w("notes.md", "# Über\n\nnaïve café ✓\n".as_bytes());
    w("data.json", b"{\"a\": 1}\n");
    w("noext", b"plain words\n");
    w(".bashrc", b"export A=1\n");
    w("script.sh", b"#!/bin/sh\necho hi\n");
    w("binary.bin", &(0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect::<Vec<_>>());
    let png: Vec<u8> =
        [&b"\x89PNG\r\n\x1a\n"[..], &[0, 0, 0, 13], b"IHDR", &[0; 13], &[0; 4], &[0, 0, 0, 1], b"IDAT", &[0], &[0; 4]]
            .concat();
    w("image.png", &png);
    w("png-named.txt", &png);
    w("text-named.png", b"not an image\n");
    w("photo.JPG", &[0xFF, 0xD8, 0xFF, 0xE0, 0, 16, b'J', b'F', b'I', b'F', 0]);
    w("doc.pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n");
    w("archive.zip", &zip(&[("a.txt", b"hello")]));
    let content_types = br#"<?xml version="1.0"?><Types><Override ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#;
    w("report.docx", &zip(&[("[Content_Types].xml", content_types), ("word/document.xml", b"<w/>")]));
    w("plain-zip.docx", &zip(&[("a.txt", b"x")]));
    w("book.epub", &zip(&[("mimetype", b"application/epub+zip")]));
    w("song.m4a", &[&[0, 0, 0, 24][..], b"ftypM4A ", &[0; 4], b"isom", &[0; 12]].concat());
    w("clip.mp4", &[&[0, 0, 0, 24][..], b"ftypisom", &[0; 4], b"isom", &[0; 12]].concat());
    w("tune.mp3", &[&b"ID3\x04\0\0\0\0\0\x0a"[..], &[0; 10], &[0xFF, 0xFB, 0x90, 0x64], &[0; 64]].concat());
    w("page.xml", b"<?xml version=\"1.0\"?><a/>");
    w("bmw.txt", b"BMW is a car\n");
    w("data.gz", &[0x1F, 0x8B, 0x08, 0, 0, 0, 0, 0, 0, 3]);
    w("utf8-cut.txt", &[vec![b'a'; 8191], "é tail".as_bytes().to_vec()].concat());
    w("with space.txt", b"spaced\n");
    w("ünï.txt", b"unicode name\n");
    w("~", b"a file named tilde\n");
    w("large.bin", &vec![7u8; 9 * 1024 * 1024]);
    w("hard-a", b"hard linked\n");
    std::fs::hard_link(root.join("hard-a"), root.join("hard-b")).unwrap();
    w("locked", b"mode 000\n");
    std::fs::set_permissions(root.join("locked"), std::fs::Permissions::from_mode(0o000)).unwrap();
    std::fs::create_dir(root.join("dir")).unwrap();
    std::fs::write(root.join("dir/inner.txt"), b"inner\n").unwrap();
    std::fs::create_dir(root.join("dir/sub")).unwrap();
    std::fs::write(root.join("dir/sub/deep.txt"), b"deep\n").unwrap();
    std::fs::create_dir(root.join("locked-dir")).unwrap();
    std::fs::set_permissions(root.join("locked-dir"), std::fs::Permissions::from_mode(0o000)).unwrap();
    nix::unistd::mkfifo(&root.join("fifo"), nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    drop(std::os::unix::net::UnixListener::bind(root.join("sock")).unwrap());
    let link = |target: &str, name: &str| std::os::unix::fs::symlink(target, root.join(name)).unwrap();
    link(&root.join("hello.txt").to_string_lossy(), "link-file");
    link("hello.txt", "link-rel");
    link(&root.join("dir").to_string_lossy(), "link-dir");
    link("dir/sub", "link-sub");
    link(&root.join("gone").to_string_lossy(), "dangling");
    link("loop-b", "loop-a");
    link("loop-a", "loop-b");
    link("/etc", "link-out");
    link("link-file", "link-chain");
    let mut names: Vec<String> =
        std::fs::read_dir(root).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    names.extend(
        ["dir/inner.txt", "dir/sub", "dir/sub/deep.txt", "link-dir/inner.txt", "link-sub/deep.txt", "gone"]
            .map(String::from),
    );
    names
}

#[test]
fn file_read_commands_match_the_typescript_node_host() {
    if !peer_available() {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(run());
}

async fn run() {
    let pair = Pair::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let root_path = tmp.path().canonicalize().unwrap();
    let root = root_path.to_string_lossy().into_owned();
    let names = fixture(&root_path);
    let mut tally = Tally::default();

    // Fixed cases: params, shapes, system paths, bindings, transports and roots.
    let mut fixed: Vec<(&str, Value)> = Vec::new();
    for command in ["file.stat", "file.fetch"] {
        for params in [
            Value::Null,
            json!([]),
            json!(7),
            json!("str"),
            json!({}),
            json!({"path": null}),
            json!({"path": 5}),
            json!({"path": ""}),
            json!({"path": "relative/x"}),
            json!({"path": "/a\u{0}b"}),
            json!({"path": "/"}),
            json!({"path": "/etc"}),
            json!({"path": "/etc/"}),
            json!({"path": "/etc/hostname"}),
            json!({"path": "/etc/hostname/x"}),
            json!({"path": "/nonexistent/x"}),
            json!({"path": "/dev/null"}),
            json!({"path": "/dev/zero"}),
            json!({"path": "/dev/urandom"}),
            json!({"path": "/proc/version"}),
            json!({"path": "/proc/sys/kernel/ostype"}),
            json!({"path": "//etc//./hostname"}),
            json!({"path": "/etc/../etc/hostname"}),
            json!({"path": "/etc/hostname", "followSymlinks": "true"}),
            json!({"path": "/etc/hostname", "preflightOnly": 1}),
            json!({"path": "/etc/hostname", "unknown": true}),
            json!({"path": "/etc/hostname", "expectedCanonicalPath": 5}),
            json!({"path": "/etc/hostname", "expectedCanonicalPath": "/etc/other"}),
            json!({"path": "/etc", "expectedCanonicalPath": "/etc/other"}),
            json!({"path": "/etc/hostname", "expectedBinding": null}),
            json!({"path": "/etc/hostname", "expectedBinding": {"kind": "existing", "device": "0", "inode": "0"}}),
            json!({"path": "/etc/hostname", "expectedBinding": {"kind": "existing", "device": 0, "inode": 0}}),
            json!({"path": "/etc/hostname", "expectedBinding": {"kind": "write", "anchorPath": "/", "anchorDevice": "1", "anchorInode": "2"}}),
            json!({"path": "/etc/hostname", "expectedBinding": "x"}),
        ] {
            fixed.push((command, params));
        }
    }
    for params in [
        json!({"path": "/etc/hostname", "transport": "x"}),
        json!({"path": "/etc/hostname", "transport": null}),
        json!({"path": "/etc/hostname", "transport": "binary"}),
        json!({"path": "/etc/hostname", "transport": "binary", "maxBytes": 0}),
        json!({"path": "/etc/hostname", "transport": "binary", "maxBytes": 1.5}),
        json!({"path": "/etc/hostname", "transport": "binary", "maxBytes": 1e300}),
        json!({"path": "/etc/hostname", "transport": "binary", "maxBytes": "10"}),
        json!({"path": "/etc/hostname", "transport": "binary", "maxBytes": 100}),
        json!({"path": "/etc/hostname", "transport": "binary", "maxBytes": 1}),
        json!({"path": "/etc/hostname", "transport": "binary", "maxBytes": 100, "preflightOnly": true}),
        json!({"path": "/etc/hostname", "transport": "binary", "maxBytes": 100, "expectedBinding": {"kind": "write", "anchorPath": "/", "anchorDevice": "1", "anchorInode": "2"}}),
        json!({"path": "/etc/hostname", "transport": "binary", "maxBytes": 100, "expectedBinding": {"kind": "existing", "device": "0", "inode": "0"}}),
        json!({"path": "rel", "transport": "x"}),
        json!({"path": "/etc/hostname", "transport": "x", "rootPath": "rel"}),
        json!({"path": "/etc/hostname", "rootPath": null}),
        json!({"path": "/etc/hostname", "rootPath": "rel"}),
        json!({"path": "/etc/hostname", "rootPath": "/etc"}),
        json!({"path": "/etc/hostname", "rootPath": "/etc/"}),
        json!({"path": "/etc/hostname", "rootPath": "/missing-root"}),
        json!({"path": "/etc/hostname", "rootPath": "/etc/hostname"}),
        json!({"path": "/etc", "rootPath": "/etc"}),
        json!({"path": "/etc/passwd", "rootPath": "/usr"}),
        json!({"path": "/dev/zero", "rootPath": "/dev"}),
        json!({"path": "/dev/zero", "rootPath": "/usr"}),
        json!({"path": "/dev/null", "rootPath": "/dev"}),
        json!({"path": "/etc/hostname", "maxBytes": 1}),
        json!({"path": "/etc/hostname", "maxBytes": 0.5}),
        json!({"path": "/etc/hostname", "maxBytes": -5}),
        json!({"path": "/etc/hostname", "maxBytes": "1"}),
        json!({"path": "/etc/hostname", "maxBytes": 1e30}),
    ] {
        fixed.push(("file.fetch", params));
    }
    for (command, params) in &fixed {
        let (ours, theirs) = pair.both(command, params).await;
        tally.check(&format!("{command} {params}"), &ours, &theirs);
    }

    // Generated: every fixture entry × spelling × options.
    let stat_options = [json!({}), json!({"followSymlinks": true}), json!({"preflightOnly": true})];
    let fetch_options = [
        json!({}),
        json!({"followSymlinks": true}),
        json!({"preflightOnly": true}),
        json!({"maxBytes": 4}),
        json!({"maxBytes": 0.5}),
        json!({"maxBytes": 16 * 1024 * 1024}),
        json!({"rootPath": root}),
        json!({"rootPath": root, "followSymlinks": true}),
        json!({"rootPath": format!("{root}/dir"), "followSymlinks": true}),
        json!({"transport": "binary", "maxBytes": 1024}),
    ];
    for name in &names {
        for spelling in [format!("{root}/{name}"), format!("{root}/{name}/"), format!("{root}/./{name}")] {
            for (command, options) in
                stat_options.iter().map(|o| ("file.stat", o)).chain(fetch_options.iter().map(|o| ("file.fetch", o)))
            {
                let mut params = options.clone();
                params["path"] = json!(spelling);
                let (ours, theirs) = pair.both(command, &params).await;
                tally.check(&format!("{command} {params}"), &ours, &theirs);
            }
        }
    }

    // Preflight, then the real call bound to what preflight reported.
    for name in ["hello.txt", "image.png", "dir", "link-file", "empty", "hard-a"] {
        for (command, follow) in
            [("file.stat", false), ("file.stat", true), ("file.fetch", false), ("file.fetch", true)]
        {
            let path = format!("{root}/{name}");
            let pre = json!({"path": path, "followSymlinks": follow, "preflightOnly": true});
            let (ours, theirs) = pair.both(command, &pre).await;
            tally.check(&format!("preflight {command} {pre}"), &ours, &theirs);
            let payload = &theirs["payload"];
            if payload["ok"] != true {
                continue;
            }
            for bound in [
                json!({"path": payload["path"], "followSymlinks": follow, "expectedCanonicalPath": payload["path"], "expectedBinding": payload["binding"]}),
                json!({"path": path, "followSymlinks": follow, "expectedCanonicalPath": payload["path"], "expectedBinding": payload["binding"]}),
                json!({"path": payload["path"], "expectedCanonicalPath": format!("{}x", payload["path"].as_str().unwrap()), "expectedBinding": payload["binding"]}),
                json!({"path": payload["path"], "expectedBinding": {"kind": "existing", "device": payload["binding"]["device"], "inode": "1"}}),
            ] {
                let (ours, theirs) = pair.both(command, &bound).await;
                tally.check(&format!("bound {command} {bound}"), &ours, &theirs);
            }
        }
    }

    // Races: the authorised file is swapped between preflight and the bound call.
    std::fs::create_dir(root_path.join("race")).unwrap();
    for (swap, follow) in [("symlink", false), ("symlink", true), ("file", false), ("dir", false), ("missing", false)] {
        for command in ["file.stat", "file.fetch"] {
            let target = root_path.join("race/target");
            let other = root_path.join("race/other");
            let _ = std::fs::remove_file(&target);
            let _ = std::fs::remove_dir(&target);
            let _ = std::fs::remove_file(root_path.join("race/fresh"));
            std::fs::write(&target, b"authorised\n").unwrap();
            std::fs::write(&other, b"something else\n").unwrap();
            let path = target.to_string_lossy().into_owned();
            let pre = json!({"path": path, "followSymlinks": follow, "preflightOnly": true});
            let (ours, theirs) = pair.both(command, &pre).await;
            tally.check(&format!("race preflight {command} {pre}"), &ours, &theirs);
            // The replacement is made while the old file still exists, so it cannot reuse its inode.
            let fresh = root_path.join("race/fresh");
            match swap {
                "symlink" => std::os::unix::fs::symlink(&other, &fresh).unwrap(),
                "file" => std::fs::write(&fresh, b"authorised\n").unwrap(),
                "dir" => std::fs::create_dir(&fresh).unwrap(),
                _ => {}
            }
            std::fs::remove_file(&target).unwrap();
            if swap != "missing" {
                std::fs::rename(&fresh, &target).unwrap();
            }
            let payload = &theirs["payload"];
            let bound = json!({"path": path, "followSymlinks": follow, "expectedCanonicalPath": payload["path"], "expectedBinding": payload["binding"]});
            let (ours, theirs) = pair.both(command, &bound).await;
            assert_ne!(theirs["payload"]["ok"], true, "the swapped target must be refused: {theirs}");
            tally.check(&format!("race {swap} {command} {bound}"), &ours, &theirs);
        }
    }

    // The one deliberate difference: binary transport with a valid binding (module doc).
    let hostname = json!({"path": "/etc/hostname", "preflightOnly": true});
    let (_, theirs) = pair.both("file.fetch", &hostname).await;
    let binary = json!({"path": "/etc/hostname", "transport": "binary", "maxBytes": 100, "expectedBinding": theirs["payload"]["binding"]});
    let (ours, theirs) = tokio::join!(
        pair.ours.invoke("file.fetch", &binary, WAIT),
        pair.theirs.invoke("file.fetch", &binary, Duration::from_secs(5))
    );
    let ours = ours.expect("ours answers").result;
    assert_eq!(
        ours["payload"],
        json!({"ok": false, "code": "INVALID_PARAMS", "message": "binary file.fetch requires duplex IO and an authorized filesystem binding"})
    );
    let theirs_waits = matches!(theirs, Err(RelayError::Timeout { .. }));
    assert!(theirs_waits, "upstream answered a duplex binary fetch without the stream start: {theirs:?}");
    eprintln!("binary fetch with a binding: ours INVALID_PARAMS; typescript waits for the stream start");

    eprintln!("{} cases compared ({} typescript payloads with content)", tally.compared, tally.served_content);
    eprintln!("outcomes: {:?}", tally.outcomes);
    assert!(tally.served_content >= 20, "the TypeScript node served too little content: {}", tally.served_content);
    assert!(
        tally.failures.is_empty(),
        "{} of {} differ:\n{}",
        tally.failures.len(),
        tally.compared,
        tally.failures.join("\n")
    );
}
