//! Differential test of `dir.list` and `dir.fetch` (`../shared/spec/node-commands.md` A3–A8):
//! the same raw `node.invoke.request` params go to the real TypeScript node host and to ours,
//! each behind a scripted relay (which, unlike the real Gateway, forwards `preflightOnly`,
//! `expectedCanonicalPath` and `expectedBinding` as sent), and the `node.invoke.result`s
//! (`ok`, the parsed payload, the error) must be equal field for field. Nothing is normalised:
//! both nodes read the same files and run the same `/usr/bin/tar`, so even `tarBase64` and
//! `sha256` agree (GNU tar's gzip writes no timestamp for a pipe).
//!
//! The fixture is generated: a directory of ~1500 names for the sort order and paging, trees
//! with every kind of entry (empty, binary, UTF-8 and large files, symlinks to files and
//! directories, dangling symlinks, hard links, a FIFO, a socket), names the archive
//! inspection refuses (case and Unicode collisions, drive letters, backslashes, non-UTF-8,
//! over-long and over-deep paths), a tree of 5000 and one of 5001 entries, sparse files that
//! pass `du` but break the inspection's size limits, a file too large for small `maxBytes`,
//! and the preflight → bound flow with a directory swapped in between. Tests run as root, so
//! permission failures (an unreadable directory) cannot be produced and are not compared.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use openclaw_testkit::relay::Relay;
use openclaw_testkit::{peer_available, relay_nodes, Peer};
use serde_json::{json, Value};

const INVOKE_TIMEOUT: Duration = Duration::from_secs(180);

/// Both nodes, each behind its own relay.
struct Nodes {
    ours: Relay,
    theirs: Relay,
    compared: usize,
    differences: Vec<String>,
    ts_served_content: bool,
    /// How often upstream answered with each outcome (`ok`, a code, or an invoke error).
    outcomes: std::collections::BTreeMap<String, usize>,
}

/// The comparable part of a `node.invoke.result`. One normalisation: `/proc/self` resolves
/// to each node's own pid (`/proc/<pid>`), which differs by nature.
fn comparable(result: &Value) -> Value {
    let mut payload = result["payload"].clone();
    if let Some(c) = payload.get_mut("canonicalPath") {
        if let Some(rest) = c.as_str().and_then(|s| s.strip_prefix("/proc/")) {
            if rest.split('/').next().is_some_and(|pid| pid.bytes().all(|b| b.is_ascii_digit())) {
                let tail = rest.split_once('/').map(|(_, t)| format!("/{t}")).unwrap_or_default();
                *c = json!(format!("/proc/<pid>{tail}"));
            }
        }
    }
    json!({"ok": result["ok"], "payload": payload, "error": result["error"]})
}

/// A short rendering for the failure report (tarballs cut).
fn short(v: &Value) -> String {
    let mut v = v.clone();
    if let Some(t) = v.pointer_mut("/payload/tarBase64") {
        if let Some(s) = t.as_str() {
            *t = json!(format!("<{} base64 chars>", s.len()));
        }
    }
    let s = v.to_string();
    if s.len() > 1500 {
        format!("{}…", &s[..1500])
    } else {
        s
    }
}

impl Nodes {
    async fn both(&self, command: &str, params: &Value) -> (Value, Value) {
        let (a, b) = tokio::join!(
            self.ours.invoke(command, params, INVOKE_TIMEOUT),
            self.theirs.invoke(command, params, INVOKE_TIMEOUT)
        );
        let a = a.unwrap_or_else(|e| panic!("ours: {command} {params}: {e}"));
        let b = b.unwrap_or_else(|e| panic!("typescript: {command} {params}: {e}"));
        (comparable(&a.result), comparable(&b.result))
    }

    /// Sends one case to both and records any difference; returns the TypeScript answer.
    async fn case(&mut self, command: &str, params: Value) -> Value {
        let (ours, theirs) = self.both(command, &params).await;
        self.compared += 1;
        let outcome = match (&theirs["payload"]["ok"], &theirs["payload"]["code"], &theirs["error"]["code"]) {
            (Value::Bool(true), _, _) => "ok".to_string(),
            (_, Value::String(code), _) => code.clone(),
            (_, _, Value::String(code)) => format!("invoke error {code}"),
            _ => "other".to_string(),
        };
        *self.outcomes.entry(format!("{command} {outcome}")).or_default() += 1;
        if theirs["payload"]["ok"] == true
            && (theirs["payload"]["entries"].as_array().is_some_and(|e| !e.is_empty())
                || theirs["payload"]["tarBytes"].as_u64().is_some_and(|n| n > 0))
        {
            self.ts_served_content = true;
        }
        if ours != theirs {
            self.differences.push(format!(
                "{command} {}\n  ours:       {}\n  typescript: {}",
                short(&params),
                short(&ours),
                short(&theirs)
            ));
        }
        theirs
    }
}

fn write(path: &Path, bytes: &[u8]) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    std::fs::write(path, bytes).unwrap();
}

fn touch_bytes(dir: &Path, name: &[u8]) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(std::ffi::OsStr::from_bytes(name)), b"").unwrap();
}

fn mkfifo(path: &Path) {
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
}

fn sparse(path: &Path, size: u64) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::File::create(path).unwrap().set_len(size).unwrap();
}

/// A deterministic generator for names and bytes.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn pick<'a>(&mut self, items: &'a [&'a str]) -> &'a str {
        items[(self.next() as usize) % items.len()]
    }
}

/// Names for the sort order: random ASCII (no `/`), accented and special Latin letters (NFC
/// and NFD), case variants, digits, punctuation, controls.
fn sort_names(count: usize) -> Vec<String> {
    let mut rng = Lcg(0x5eed);
    let pieces = [
        "a", "A", "b", "B", "z", "Z", "é", "É", "e\u{301}", "è", "ê", "ë", "à", "â", "ä", "å", "Å", "ç", "Ç", "ñ", "ö",
        "Ö", "ø", "Ø", "ß", "æ", "Æ", "œ", "ð", "þ", "ł", "đ", "ı", "ĳ", "ſ", "0", "1", "9", "10", "_", "-", ".", " ",
        ",", ";", ":", "!", "?", "'", "\"", "(", ")", "[", "]", "{", "}", "@", "*", "\\", "&", "#", "%", "`", "^", "+",
        "<", "=", ">", "|", "~", "$", "\t", "\u{1}", "\u{7f}", "–", "—", "…", "‘", "’", "“", "€", "£", "\u{a0}", "α",
        "Ω", "ж", "Й", "й", "file", "File", "FILE", "readme", "README", "résumé", "naïve", "x", "X", "y",
    ];
    let mut seen = std::collections::HashSet::new();
    let mut names = Vec::new();
    while names.len() < count {
        let len = 1 + rng.next() % 4;
        let name: String = (0..len).map(|_| rng.pick(&pieces)).collect();
        if name == "." || name == ".." || name.len() > 255 || !seen.insert(name.clone()) {
            continue;
        }
        names.push(name);
    }
    names
}

/// Builds the fixture under `root` (which must be canonical).
fn build_fixture(root: &Path) {
    let mut rng = Lcg(42);
    // A directory of many names (sorting and paging).
    let list = root.join("list");
    std::fs::create_dir_all(&list).unwrap();
    for (i, name) in sort_names(1500).iter().enumerate() {
        let p = list.join(name);
        if i % 7 == 0 {
            std::fs::create_dir(&p).unwrap();
        } else {
            std::fs::write(&p, vec![b'x'; i % 50]).unwrap();
        }
    }
    // A clean nested tree with files of several kinds.
    let tree = root.join("tree");
    write(&tree.join("empty"), b"");
    write(&tree.join("text.txt"), "héllo wörld\n".as_bytes());
    write(&tree.join("data.bin"), &(0..4096).map(|_| rng.next() as u8).collect::<Vec<_>>());
    write(&tree.join("README.md"), b"# readme\n");
    write(&tree.join("assets/activity.svg"), b"<svg/>");
    write(&tree.join("assets/activity/dir_fetch.svg"), b"<svg/>");
    write(&tree.join("a/b/c/deep.json"), b"{}");
    std::fs::create_dir_all(tree.join("emptydir")).unwrap();
    write(&tree.join(".hidden"), b"h");
    write(&tree.join("Zeta"), b"z");
    write(&tree.join("zeta2"), b"z");
    // Every kind of entry.
    let kinds = root.join("kinds");
    write(&kinds.join("file.txt"), b"file");
    std::os::unix::fs::symlink("file.txt", kinds.join("link_to_file")).unwrap();
    std::os::unix::fs::symlink("sub", kinds.join("link_to_dir.d")).unwrap();
    std::os::unix::fs::symlink("nowhere", kinds.join("dangling.png")).unwrap();
    write(&kinds.join("sub/inner"), b"i");
    write(&kinds.join("hard1"), b"hard");
    std::fs::hard_link(kinds.join("hard1"), kinds.join("hard2")).unwrap();
    mkfifo(&kinds.join("fifo"));
    let _socket = std::os::unix::net::UnixListener::bind(kinds.join("sock")).unwrap();
    // Trees the archive inspection refuses, or that stress its limits.
    write(&root.join("f_symlink/plain"), b"p");
    std::os::unix::fs::symlink("../tree", root.join("f_symlink/up")).unwrap();
    std::fs::create_dir_all(root.join("f_fifo")).unwrap();
    mkfifo(&root.join("f_fifo/pipe"));
    write(&root.join("f_hardlink/a"), b"a");
    std::fs::hard_link(root.join("f_hardlink/a"), root.join("f_hardlink/b")).unwrap();
    write(&root.join("f_case/README"), b"1");
    write(&root.join("f_case/readme"), b"2");
    write(&root.join("f_casedir/Dir/x"), b"1");
    write(&root.join("f_casedir/dir"), b"2");
    touch_bytes(&root.join("f_nfd"), "caf\u{e9}".as_bytes());
    touch_bytes(&root.join("f_nfd"), "cafe\u{301}".as_bytes());
    touch_bytes(&root.join("f_drive"), b"C:x");
    touch_bytes(&root.join("f_drive_ok"), b"ab:c");
    touch_bytes(&root.join("f_drive_ok"), b"1:x");
    touch_bytes(&root.join("f_backslash"), b"a\\b");
    touch_bytes(&root.join("f_backslash"), b"\\");
    touch_bytes(&root.join("f_backslash_up"), b"x\\..\\y");
    touch_bytes(&root.join("f_nonutf"), b"ok");
    touch_bytes(&root.join("f_nonutf"), b"bad\xff\xfe");
    let mut long_bad = vec![b'a'; 120];
    long_bad.push(0xff);
    touch_bytes(&root.join("f_longnonutf"), &long_bad);
    touch_bytes(&root.join("f_ctrl"), b"line\nbreak");
    touch_bytes(&root.join("f_ctrl"), b"bell\x07");
    touch_bytes(&root.join("f_ctrl"), b"del\x7f");
    touch_bytes(&root.join("f_hangul29"), "\u{d55c}".repeat(29).as_bytes());
    touch_bytes(&root.join("f_hangul33"), "\u{d55c}".repeat(33).as_bytes());
    touch_bytes(&root.join("f_longname"), "b".repeat(200).as_bytes());
    touch_bytes(&root.join("f_longname"), "é".repeat(120).as_bytes());
    write(&root.join("f_longpath").join("d".repeat(110)).join("C:x"), b"");
    write(&root.join("f_longpath_ok").join("d".repeat(110)).join("e".repeat(120)), b"ok");
    let deep: PathBuf = std::iter::repeat_n("a", 257).collect();
    std::fs::create_dir_all(root.join("f_deep").join(&deep)).unwrap();
    let deep_ok: PathBuf = std::iter::repeat_n("a", 255).collect();
    std::fs::create_dir_all(root.join("f_deep_ok").join(&deep_ok)).unwrap();
    for (dir, n) in [("f_5000", 5000), ("f_5001", 5001)] {
        let d = root.join(dir);
        std::fs::create_dir_all(&d).unwrap();
        for i in 0..n {
            std::fs::write(d.join(format!("n{i}")), b"").unwrap();
        }
    }
    sparse(&root.join("f_sparse_100m/big"), 100 * 1024 * 1024);
    sparse(&root.join("f_sparse_20m/big"), 20 * 1024 * 1024);
    for i in 0..5 {
        sparse(&root.join(format!("f_sparse_sum/f{i}")), 15 * 1024 * 1024);
    }
    sparse(&root.join("f_sparse_16m/exact"), 16 * 1024 * 1024);
    write(&root.join("f_big/noise"), &(0..3 * 1024 * 1024).map(|_| rng.next() as u8).collect::<Vec<_>>());
    write(&root.join("f_tilde/~/x"), b"t");
    write(&root.join("f_tilde_file/~"), b"t");
    write(&root.join("f_socket/f"), b"f");
    let _socket2 = std::os::unix::net::UnixListener::bind(root.join("f_socket/s")).unwrap();
    std::fs::create_dir_all(root.join("f_empty")).unwrap();
    write(&root.join("plain.txt"), b"not a directory");
    std::os::unix::fs::symlink("tree", root.join("link_to_tree")).unwrap();
    std::os::unix::fs::symlink("plain.txt", root.join("link_to_file")).unwrap();
    std::os::unix::fs::symlink("missing", root.join("dangling")).unwrap();
    // Sockets stay bound files after the listener is dropped.
    std::mem::forget(_socket);
    std::mem::forget(_socket2);
}

/// The directories to run every option over.
fn directories(root: &Path) -> Vec<String> {
    let mut dirs: Vec<String> = std::fs::read_dir(root)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    dirs.insert(0, root.to_string_lossy().into_owned());
    dirs
}

/// Error and edge cases common to both commands (params reading, then upstream's
/// `readAbsolutePath` and `resolveBoundReadDirectory`).
fn path_cases(root: &str) -> Vec<Value> {
    vec![
        json!({}),
        json!([]),
        json!(42),
        json!("x"),
        json!({"path": 5}),
        json!({"path": ""}),
        json!({"path": "relative/dir"}),
        json!({"path": "/a\u{0}b"}),
        json!({"path": format!("{root}/missing")}),
        json!({"path": format!("{root}/plain.txt")}),
        json!({"path": format!("{root}/plain.txt/x")}),
        json!({"path": format!("{root}/")}),
        json!({"path": format!("{root}//tree/./a/..")}),
        json!({"path": format!("{root}/link_to_tree")}),
        json!({"path": format!("{root}/link_to_tree"), "followSymlinks": true}),
        json!({"path": format!("{root}/link_to_tree"), "followSymlinks": "true"}),
        json!({"path": format!("{root}/link_to_file"), "followSymlinks": true}),
        json!({"path": format!("{root}/dangling"), "followSymlinks": true}),
        json!({"path": format!("{root}/dangling")}),
        json!({"path": format!("{root}/tree"), "expectedCanonicalPath": format!("{root}/other")}),
        json!({"path": format!("{root}/tree"), "expectedCanonicalPath": 5}),
        json!({"path": format!("{root}/tree"), "expectedBinding": null}),
        json!({"path": format!("{root}/tree"), "expectedBinding": {"kind": "existing", "device": "1", "inode": "2"}}),
        json!({"path": format!("{root}/tree"), "expectedBinding": {"kind": "existing", "device": 1, "inode": 2}}),
        json!({"path": format!("{root}/tree"), "expectedBinding": "x"}),
        json!({"path": "/proc/self"}),
        json!({"path": "/"}),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dir_list_and_dir_fetch_answer_as_upstream() {
    if !peer_available() {
        return;
    }
    let peer = Peer::installed();
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_openclaw"));
    let work = tempfile::Builder::new().prefix("interop-file-dir-").tempdir_in("/tmp").unwrap();
    let base = work.path().canonicalize().unwrap();
    let root = base.join("fx");
    std::fs::create_dir_all(&root).unwrap();
    build_fixture(&root);

    let mut ours = Relay::start(Vec::new()).await.unwrap();
    let mut theirs = Relay::start(Vec::new()).await.unwrap();
    let token = format!("relay-{}", uuid::Uuid::new_v4().simple());
    let path = relay_nodes::peer_path_env(peer);
    let our_node =
        relay_nodes::spawn_our_node_at(&bin, ours.port(), &token, &base.join("home-ours"), None, &path).unwrap();
    let name = format!("file-dir-{}", std::process::id());
    let (port, tok, ts_name) = (theirs.port(), token.clone(), name.clone());
    let ts = tokio::task::spawn_blocking(move || relay_nodes::start_ts_node_at(peer, port, &tok, &ts_name, None));
    ours.wait_connected(Duration::from_secs(30)).await.unwrap();
    let (ts_node, _ts_home) = ts.await.unwrap().unwrap();
    theirs.wait_connected(Duration::from_secs(90)).await.unwrap();

    let mut nodes = Nodes {
        ours,
        theirs,
        compared: 0,
        differences: Vec::new(),
        ts_served_content: false,
        outcomes: Default::default(),
    };
    let r = root.to_string_lossy().into_owned();

    // dir.list: the path and binding cases, then every directory × options.
    for params in path_cases(&r) {
        nodes.case("dir.list", params).await;
    }
    nodes.case("dir.list", Value::Null).await;
    for dir in directories(&root) {
        for extra in [
            json!({}),
            json!({"followSymlinks": true}),
            json!({"preflightOnly": true}),
            json!({"maxEntries": 3}),
            json!({"maxEntries": 0.5}),
            json!({"maxEntries": 2, "pageToken": "1"}),
            json!({"pageToken": "99999"}),
        ] {
            let mut params = extra.clone();
            params["path"] = json!(dir);
            nodes.case("dir.list", params).await;
        }
    }
    // Paging over the big directory: many page sizes, walked to the end.
    let list = format!("{r}/list");
    for max in [json!(1), json!(7), json!(97), json!(200), json!(499), json!(5000), json!(99999), json!(null)] {
        let mut token: Option<String> = None;
        for _ in 0..40 {
            let mut params = json!({"path": list, "maxEntries": max});
            if let Some(t) = &token {
                params["pageToken"] = json!(t);
            }
            let answer = nodes.case("dir.list", params).await;
            match answer["payload"]["nextPageToken"].as_str() {
                Some(next) => token = Some(next.into()),
                None => break,
            }
        }
    }
    for page_token in [
        json!("0"),
        json!("3"),
        json!(" 3 "),
        json!("+3"),
        json!("003"),
        json!("-0"),
        json!("-1"),
        json!("abc"),
        json!("1e2"),
        json!("1.5"),
        json!(3),
        json!(null),
        json!(""),
        json!("99999999999999999999"),
        json!("9007199254740991"),
        json!("1499"),
        json!("1500"),
        json!("1501"),
    ] {
        nodes.case("dir.list", json!({"path": list, "maxEntries": 5, "pageToken": page_token})).await;
    }
    for max in [json!(0), json!(-1), json!(0.5), json!(0.99), json!(1.5), json!("10"), json!(true), json!(1e300)] {
        nodes.case("dir.list", json!({"path": list, "maxEntries": max, "pageToken": "1490"})).await;
    }

    // dir.fetch: the path and binding cases, then every directory × options.
    for params in path_cases(&r) {
        nodes.case("dir.fetch", params).await;
    }
    nodes.case("dir.fetch", Value::Null).await;
    for dir in directories(&root) {
        if dir == r {
            // The fixture root holds the sparse trees: `du` stops it (covered below).
            nodes.case("dir.fetch", json!({"path": dir, "preflightOnly": true})).await;
            continue;
        }
        for extra in [json!({}), json!({"preflightOnly": true}), json!({"maxBytes": 16777216})] {
            let mut params = extra.clone();
            params["path"] = json!(dir);
            nodes.case("dir.fetch", params).await;
        }
    }
    for max in [json!(0), json!(-5), json!(0.5), json!(100), json!(1000), json!(2048), json!(1e12), json!("1000")] {
        nodes.case("dir.fetch", json!({"path": format!("{r}/f_big"), "maxBytes": max})).await;
        nodes.case("dir.fetch", json!({"path": format!("{r}/f_big"), "maxBytes": max, "preflightOnly": true})).await;
        nodes.case("dir.fetch", json!({"path": format!("{r}/tree"), "maxBytes": max})).await;
    }

    // Sparse trees pass `du` (no blocks) but pack to more than a small limit: mid-stream.
    for dir in ["f_sparse_100m", "f_sparse_16m", "f_sparse_sum"] {
        for max in [json!(1000), json!(50000), json!(200000)] {
            nodes.case("dir.fetch", json!({"path": format!("{r}/{dir}"), "maxBytes": max})).await;
            nodes
                .case("dir.fetch", json!({"path": format!("{r}/{dir}"), "maxBytes": max, "preflightOnly": true}))
                .await;
        }
    }

    // Preflight → bound call, then the same bound call after the directory is swapped.
    for command in ["dir.list", "dir.fetch"] {
        let swap = base.join(format!("swap-{command}"));
        write(&swap.join("one"), b"1");
        let s = swap.to_string_lossy().into_owned();
        let pre = nodes.case(command, json!({"path": s, "preflightOnly": true})).await;
        let binding = pre["payload"]["binding"].clone();
        assert!(binding.is_object(), "no preflight binding: {pre}");
        let bound = json!({"path": s, "expectedCanonicalPath": s, "expectedBinding": binding});
        nodes.case(command, bound.clone()).await;
        std::fs::rename(&swap, base.join(format!("swap-{command}.old"))).unwrap();
        write(&swap.join("two"), b"2");
        nodes.case(command, bound.clone()).await;
        // Swapped for a symlink to the original directory: the canonical path moved.
        std::fs::remove_dir_all(&swap).unwrap();
        std::os::unix::fs::symlink(base.join(format!("swap-{command}.old")), &swap).unwrap();
        nodes.case(command, bound.clone()).await;
        let mut followed = bound.clone();
        followed["followSymlinks"] = json!(true);
        nodes.case(command, followed).await;
    }

    let Nodes { compared, differences, ts_served_content, outcomes, .. } = nodes;
    drop(our_node);
    drop(ts_node);
    for d in [peer.run_dir(&format!("node-{name}")), peer.run_dir(&format!("relay-{name}"))] {
        let _ = std::fs::remove_dir_all(d);
    }
    println!("upstream's outcomes: {outcomes:?}");
    println!("{compared} cases compared");
    assert!(ts_served_content, "the TypeScript node never served a listing or a tarball");
    assert!(differences.is_empty(), "{} of {compared} cases differ:\n{}", differences.len(), differences.join("\n"));
}
