//! Differential test of `file.write`: the same raw `node.invoke.request` params sent through two
//! scripted relays (which, unlike the real Gateway, pass `preflightOnly`, `expectedBinding` and
//! `expectedCanonicalPath` through untouched) to the real TypeScript node host and to ours. The
//! `node.invoke.result` (ok, parsed payload, error) and the filesystem afterwards (every
//! entry's kind, permission bits, link count, size, content, symlink target, whether its inode
//! is the one it had, and any leftover `.fs-safe-*.tmp`) must match case by case.
//!
//! One fixture path, the two nodes one after the other: the fixture is built, the TypeScript
//! node runs the case, the state is recorded, the fixture is removed and built again and ours
//! runs the same case. Paths appear verbatim in the results (`path`, `canonicalPath`, every
//! error text, the thrown `Error: …` strings), so running both on the very same path leaves
//! nothing to normalise but inode numbers, which differ by nature between two builds: each is
//! replaced by the fixture entry that bears it before (`pre:<path>`) or after (`post:<path>`)
//! the case, which checks more than the number would (a replaced file is `post:`, a file
//! rewritten in place keeps `pre:`).
//!
//! Both nodes run as root here, so a mode-0000 file is still readable and writable to them:
//! the `PERMISSION_DENIED` paths cannot be reached and are not claimed to be covered.

mod support;

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use openclaw_node_host::commands::file::sha256_hex;
use openclaw_testkit::relay::Relay;
use openclaw_testkit::relay_nodes::{peer_path_env, spawn_our_node_at, start_ts_node_at};
use openclaw_testkit::Peer;
use serde_json::{json, Value};
use support::*;

const TIMEOUT: Duration = Duration::from_secs(90);

/// Base64 of `bytes` in the standard or URL alphabet, padded or not.
fn b64(bytes: &[u8], url: bool, pad: bool) -> String {
    let alphabet: &[u8; 64] = if url {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    } else {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    };
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, &b)| acc | (u32::from(b) << (16 - 8 * i)));
        let chars = chunk.len() + 1;
        for i in 0..4 {
            if i < chars {
                out.push(alphabet[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

/// A small deterministic generator (xorshift64*), so a failing case can be reproduced.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// The fixture: `<base>/fx` with files of every kind, and `<base>/out` outside it.
fn build(base: &Path) {
    for d in ["fx", "out"] {
        let _ = std::fs::remove_dir_all(base.join(d));
    }
    let fx = base.join("fx");
    let out = base.join("out");
    std::fs::create_dir_all(fx.join("dir/sub")).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("kept"), "outside\n").unwrap();
    let file = |name: &str, content: &[u8], mode: u32| {
        std::fs::write(fx.join(name), content).unwrap();
        std::fs::set_permissions(fx.join(name), std::fs::Permissions::from_mode(mode)).unwrap();
    };
    file("file", b"hello world\n", 0o644);
    file("empty", b"", 0o640);
    file("bin", &(0..=255u8).cycle().take(1024).collect::<Vec<_>>(), 0o600);
    file("exec", b"#!/bin/sh\necho hi\n", 0o4755);
    file("locked", b"secret\n", 0o000);
    file("dir/inner", b"inner\n", 0o644);
    file("hard1", b"two names\n", 0o644);
    std::fs::hard_link(fx.join("hard1"), fx.join("hard2")).unwrap();
    let link = |target: &str, name: &str| std::os::unix::fs::symlink(target, fx.join(name)).unwrap();
    link("file", "link-file");
    link("dir", "link-dir");
    link(out.to_str().unwrap(), "link-out");
    link("nowhere", "dangling");
    link("loop", "loop");
    nix::unistd::mkfifo(&fx.join("fifo"), nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    drop(std::os::unix::net::UnixListener::bind(fx.join("sock")).unwrap());
}

/// One entry of the recorded filesystem state.
#[derive(Clone, Debug)]
struct Entry {
    kind: &'static str,
    mode: u32,
    nlink: u64,
    size: u64,
    content: String,
    link: String,
    ino: u64,
}

/// Every entry under `base` (symlinks not followed), by path relative to `base`.
fn snapshot(base: &Path) -> BTreeMap<String, Entry> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Entry>) {
        let Ok(read) = std::fs::read_dir(dir) else { return };
        for e in read.flatten() {
            let path = e.path();
            let Ok(m) = std::fs::symlink_metadata(&path) else { continue };
            let ft = m.file_type();
            let kind = if ft.is_symlink() {
                "symlink"
            } else if ft.is_dir() {
                "dir"
            } else if ft.is_file() {
                "file"
            } else {
                "special"
            };
            let content = if ft.is_file() {
                std::fs::read(&path).map(|b| sha256_hex(&b)).unwrap_or_default()
            } else {
                String::new()
            };
            let link = std::fs::read_link(&path).map(|l| l.display().to_string()).unwrap_or_default();
            let rel = path.strip_prefix(base).unwrap().display().to_string();
            // Directory sizes depend on the directory's history, not on what is in it.
            let size = if ft.is_dir() { 0 } else { m.size() };
            out.insert(
                rel,
                Entry { kind, mode: m.mode() & 0o7777, nlink: m.nlink(), size, content, link, ino: m.ino() },
            );
            if ft.is_dir() {
                walk(base, &path, out);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(base, base, &mut out);
    out
}

/// A staging file's random name, made comparable.
fn stable_name(rel: &str) -> String {
    let re = regex::Regex::new(r"\.fs-safe-[0-9a-f-]{36}\.tmp").unwrap();
    re.replace_all(rel, ".fs-safe-<uuid>.tmp").into_owned()
}

/// The state after a case, with each inode told as kept, moved or new.
fn state(pre: &BTreeMap<String, Entry>, post: &BTreeMap<String, Entry>) -> Value {
    let before: BTreeMap<u64, &String> = pre.iter().map(|(p, e)| (e.ino, p)).collect();
    post.iter()
        .map(|(p, e)| {
            let inode = match before.get(&e.ino) {
                _ if pre.get(p).is_some_and(|old| old.ino == e.ino) => "kept".to_string(),
                Some(q) => format!("was {q}"),
                None => "new".to_string(),
            };
            json!({"path": stable_name(p), "kind": e.kind, "mode": format!("{:o}", e.mode), "nlink": e.nlink,
                   "size": e.size, "sha256": e.content, "link": e.link, "inode": inode})
        })
        .collect()
}

/// Inode numbers in a result, replaced by the fixture entry bearing them.
fn normalize(v: &mut Value, pre: &BTreeMap<String, Entry>, post: &BTreeMap<String, Entry>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                if matches!(k.as_str(), "inode" | "anchorInode" | "targetInode") {
                    if let Some(n) = x.as_str().and_then(|s| s.parse::<u64>().ok()) {
                        let find = |snap: &BTreeMap<String, Entry>| {
                            snap.iter().find(|(_, e)| e.ino == n).map(|(p, _)| p.clone())
                        };
                        *x = json!(match (find(pre), find(post)) {
                            (Some(p), _) => format!("pre:{p}"),
                            (None, Some(p)) => format!("post:{p}"),
                            _ => "unknown".to_string(),
                        });
                    }
                } else {
                    normalize(x, pre, post);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| normalize(x, pre, post)),
        _ => {}
    }
}

/// A change to the fixture between two calls.
type Race = fn(&Path);

/// One step of a case.
enum Step {
    /// Invoke with these params.
    Call(Value),
    /// Invoke with these params plus the previous result's binding (and, if `canonical`, its
    /// path as `expectedCanonicalPath`): the gateway's real call after a preflight.
    Bound(Value, bool),
    /// Change the fixture (`<base>/fx`) between two calls: a race.
    Race(Race),
}

struct Case {
    name: String,
    steps: Vec<Step>,
}

fn call(name: impl Into<String>, params: Value) -> Case {
    Case { name: name.into(), steps: vec![Step::Call(params)] }
}

/// Runs `case` on one node from a fresh fixture; the normalised results and state.
async fn run(relay: &Relay, base: &Path, case: &Case) -> Value {
    build(base);
    let pre = snapshot(base);
    let mut results = Vec::new();
    let mut last = Value::Null;
    for step in &case.steps {
        let params = match step {
            Step::Race(change) => {
                change(&base.join("fx"));
                continue;
            }
            Step::Call(p) => p.clone(),
            Step::Bound(p, canonical) => {
                let mut p = p.clone();
                p["expectedBinding"] = last["payload"]["binding"].clone();
                if *canonical {
                    p["expectedCanonicalPath"] = last["payload"]["path"].clone();
                }
                p
            }
        };
        let result = match relay.invoke("file.write", &params, TIMEOUT).await {
            Ok(r) => r.result,
            Err(e) => json!({"relayError": e.to_string()}),
        };
        last = result.clone();
        results.push(result);
    }
    let post = snapshot(base);
    let mut results = Value::Array(results);
    normalize(&mut results, &pre, &post);
    json!({"results": results, "state": state(&pre, &post)})
}

/// Every case: generated target × option combinations, then the content, integrity, params,
/// binding and race cases.
fn cases(base: &Path) -> Vec<Case> {
    let fx = base.join("fx").display().to_string();
    let at = |rel: &str| format!("{fx}/{rel}");
    let hi = b64(b"hi there\n", false, true);
    let mut out = Vec::new();

    let long = "x".repeat(256);
    let targets = [
        "file",
        "empty",
        "bin",
        "exec",
        "locked",
        "dir",
        "dir/",
        "dir/inner",
        "dir/new",
        "new",
        "new/",
        "missing/new",
        "missing/deeper/new",
        "file/",
        "file/x",
        "link-file",
        "link-file/",
        "link-dir",
        "link-dir/",
        "link-dir/inner",
        "link-dir/new",
        "link-dir/newdir/new",
        "link-out/new",
        "link-out/kept",
        "dangling",
        "dangling/x",
        "dangling/y/x",
        "loop",
        "loop/x",
        "hard1",
        "fifo",
        "sock",
        "dir/../new",
        "dir//./inner",
        "~",
        "dir/sub/",
        "dir/sub/new/",
        &long,
        &format!("dir/{long}/z"),
        ".fs-safe-x.tmp",
    ];
    for target in targets {
        for bits in 0..32u32 {
            let [overwrite, create_parents, follow, reject_hardlinks, preflight] =
                [0, 1, 2, 3, 4].map(|b| bits & (1 << b) != 0);
            out.push(call(
                format!(
                    "{target} ow={overwrite} cp={create_parents} follow={follow} rh={reject_hardlinks} pre={preflight}"
                ),
                json!({"path": at(target), "contentBase64": hi, "overwrite": overwrite, "createParents": create_parents,
                       "followSymlinks": follow, "rejectHardlinks": reject_hardlinks, "preflightOnly": preflight}),
            ));
        }
    }
    for path in ["/", "//", &format!("{fx}/./new"), &format!("{fx}//new"), &format!("{fx}/dir/sub/../../link-dir/x")] {
        for follow in [false, true] {
            out.push(call(
                format!("{path} follow={follow}"),
                json!({"path": path, "contentBase64": hi, "followSymlinks": follow}),
            ));
        }
    }

    // Content: generated valid encodings in every variant, and broken ones.
    let mut rng = Rng(0x5eed_f11e_0001);
    for len in 0..12 {
        let bytes = rng.bytes(len);
        for (url, pad) in [(false, true), (false, false), (true, true), (true, false)] {
            let text = b64(&bytes, url, pad);
            out.push(call(
                format!("base64 len={len} url={url} pad={pad}"),
                json!({"path": at("new"), "contentBase64": text}),
            ));
            let mixed: String = text
                .chars()
                .map(|c| match c {
                    '+' => '-',
                    '_' => '/',
                    c => c,
                })
                .collect();
            out.push(call(format!("base64 mixed len={len}"), json!({"path": at("new"), "contentBase64": mixed})));
            for (what, broken) in [
                ("trailing newline", format!("{text}\n")),
                ("inner space", format!("{} {}", &text[..text.len() / 2], &text[text.len() / 2..])),
                ("extra pad", format!("{text}=")),
                ("pad pad", format!("{text}==")),
                ("missing pad", text.trim_end_matches('=').to_string() + if text.ends_with("==") { "=" } else { "" }),
                ("leading pad", format!("={text}")),
                ("truncated", text.chars().take(text.trim_end_matches('=').len().saturating_sub(1)).collect()),
            ] {
                out.push(call(
                    format!("base64 {what} len={len} url={url} pad={pad}"),
                    json!({"path": at("new"), "contentBase64": broken}),
                ));
            }
        }
        // Non-zero unused bits: every other value of the last data character.
        let text = b64(&bytes, false, false);
        if !text.len().is_multiple_of(4) {
            for flip in 1..4u8 {
                let mut chars: Vec<u8> = text.clone().into_bytes();
                let last = chars.len() - 1;
                let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
                let index = alphabet.iter().position(|&c| c == chars[last]).unwrap();
                chars[last] = alphabet[(index ^ flip as usize) & 63];
                let broken = String::from_utf8(chars).unwrap();
                out.push(call(
                    format!("base64 unused bits {flip} len={len}"),
                    json!({"path": at("new"), "contentBase64": broken}),
                ));
            }
        }
    }
    for i in 0..60 {
        let alphabet = b"ABCab019+/-_= \n\t.*\x7f";
        let len = rng.below(14);
        let mut text: String = (0..len).map(|_| alphabet[rng.below(alphabet.len())] as char).collect();
        if i % 10 == 0 {
            text.push('é');
        }
        out.push(call(format!("base64 random {i} {text:?}"), json!({"path": at("new"), "contentBase64": text})));
    }
    let big_ok = vec![b'z'; 16 * 1024 * 1024];
    out.push(call("content exactly 16 MiB", json!({"path": at("new"), "contentBase64": b64(&big_ok, false, true)})));
    let big = vec![b'z'; 16 * 1024 * 1024 + 1];
    out.push(call("content 16 MiB + 1", json!({"path": at("new"), "contentBase64": b64(&big, false, true)})));
    out.push(call(
        "content 16 MiB + 1, invalid path first",
        json!({"path": "rel", "contentBase64": b64(&big, false, true)}),
    ));
    for (name, content) in [("empty content", ""), ("empty content over file", "")] {
        out.push(call(name, json!({"path": at(if name.contains("over") { "file" } else { "new" }), "contentBase64": content, "overwrite": true})));
    }

    // Integrity: right, wrong, upper case, empty, not hex; also after creating parents.
    let right = sha256_hex(b"hi there\n");
    for (what, sha) in [
        ("right", right.clone()),
        ("wrong", "0".repeat(64)),
        ("upper", right.to_uppercase()),
        ("empty", String::new()),
        ("garbage", "XYZ".into()),
    ] {
        for (target, extra) in [
            ("new", json!({})),
            ("file", json!({"overwrite": true})),
            ("missing/deep/new", json!({"createParents": true})),
        ] {
            for preflight in [false, true] {
                let mut p =
                    json!({"path": at(target), "contentBase64": hi, "expectedSha256": sha, "preflightOnly": preflight});
                p.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
                out.push(call(format!("sha256 {what} {target} pre={preflight}"), p));
            }
        }
    }
    out.push(call("sha256 not a string", json!({"path": at("new"), "contentBase64": hi, "expectedSha256": 5})));

    // Params.
    for (name, p) in [
        ("null params", Value::Null),
        ("array params", json!([1])),
        ("string params", json!("x")),
        ("no path", json!({"contentBase64": hi})),
        ("path not a string", json!({"path": 5, "contentBase64": hi})),
        ("empty path", json!({"path": "", "contentBase64": hi})),
        ("relative path", json!({"path": "fx/new", "contentBase64": hi})),
        ("dot path", json!({"path": "./x", "contentBase64": hi})),
        ("NUL in path", json!({"path": at("ne\u{0}w"), "contentBase64": hi})),
        ("NUL in relative path", json!({"path": "a\u{0}", "contentBase64": "!"})),
        ("no content", json!({"path": at("new")})),
        ("content null", json!({"path": at("new"), "contentBase64": null})),
        ("content a number", json!({"path": at("new"), "contentBase64": 5})),
        ("bad content on relative path", json!({"path": "x", "contentBase64": "!"})),
        ("flags as strings", json!({"path": at("file"), "contentBase64": hi, "overwrite": "true"})),
        ("flags as numbers", json!({"path": at("missing/new"), "contentBase64": hi, "createParents": 1})),
        ("control char in path", json!({"path": at("file\n/x"), "contentBase64": hi})),
        (
            "expectedCanonicalPath differs",
            json!({"path": at("file"), "contentBase64": hi, "overwrite": true, "expectedCanonicalPath": at("other")}),
        ),
        (
            "expectedCanonicalPath same",
            json!({"path": at("file"), "contentBase64": hi, "overwrite": true, "expectedCanonicalPath": at("file")}),
        ),
        (
            "expectedCanonicalPath not a string",
            json!({"path": at("file"), "contentBase64": hi, "overwrite": true, "expectedCanonicalPath": 5}),
        ),
        (
            "expectedBinding null",
            json!({"path": at("file"), "contentBase64": hi, "overwrite": true, "expectedBinding": null}),
        ),
        (
            "expectedBinding existing",
            json!({"path": at("file"), "contentBase64": hi, "overwrite": true, "expectedBinding": {"kind": "existing", "device": "1", "inode": "2"}}),
        ),
        (
            "expectedBinding half target",
            json!({"path": at("file"), "contentBase64": hi, "overwrite": true, "expectedBinding": {"kind": "write", "anchorPath": fx, "anchorDevice": "1", "anchorInode": "2", "targetDevice": "1"}}),
        ),
        (
            "expectedBinding wrong anchor",
            json!({"path": at("new"), "contentBase64": hi, "expectedBinding": {"kind": "write", "anchorPath": fx, "anchorDevice": "1", "anchorInode": "2"}}),
        ),
        (
            "expectedBinding wrong target",
            json!({"path": at("file"), "contentBase64": hi, "overwrite": true, "expectedBinding": {"kind": "write", "anchorPath": fx, "anchorDevice": "1", "anchorInode": "2", "targetDevice": "1", "targetInode": "2"}}),
        ),
        (
            "expectedBinding missing anchor dir",
            json!({"path": at("new"), "contentBase64": hi, "expectedBinding": {"kind": "write", "anchorPath": at("gone"), "anchorDevice": "1", "anchorInode": "2"}}),
        ),
        (
            "expectedBinding with missing parent",
            json!({"path": at("missing/new"), "contentBase64": hi, "createParents": true, "expectedBinding": {"kind": "write", "anchorPath": fx, "anchorDevice": "1", "anchorInode": "2"}}),
        ),
        (
            "expectedBinding preflight",
            json!({"path": at("file"), "contentBase64": hi, "overwrite": true, "preflightOnly": true, "expectedBinding": {"kind": "write", "anchorPath": fx, "anchorDevice": "1", "anchorInode": "2"}}),
        ),
    ] {
        out.push(call(name, p));
    }

    // Preflight, then the bound call, as the gateway does it.
    let bound = |name: &str, pre: Value, race: Option<Race>, real: Value, canonical: bool| {
        let mut steps = vec![Step::Call(pre)];
        if let Some(r) = race {
            steps.push(Step::Race(r));
        }
        steps.push(Step::Bound(real, canonical));
        Case { name: name.to_string(), steps }
    };
    let longer = b64(b"a much longer replacement text than before\n", false, true);
    let shorter = b64(b"x", false, true);
    for (content, what) in [(&hi, "same"), (&longer, "longer"), (&shorter, "shorter"), (&String::new(), "empty")] {
        for canonical in [false, true] {
            for target in ["file", "exec", "locked", "empty", "hard1"] {
                let p = json!({"path": at(target), "contentBase64": content, "overwrite": true});
                let mut pre = p.clone();
                pre["preflightOnly"] = json!(true);
                out.push(bound(
                    &format!("bound overwrite {target} {what} canonical={canonical}"),
                    pre.clone(),
                    None,
                    p.clone(),
                    canonical,
                ));
                let mut rh = p.clone();
                rh["rejectHardlinks"] = json!(true);
                out.push(bound(&format!("bound overwrite {target} {what} rejectHardlinks"), pre, None, rh, canonical));
            }
        }
    }
    for target in ["new", "dir/new", "missing/new", "missing/deeper/new", "link-dir/new", "~"] {
        for follow in [false, true] {
            for canonical in [false, true] {
                let p =
                    json!({"path": at(target), "contentBase64": hi, "createParents": true, "followSymlinks": follow});
                let mut pre = p.clone();
                pre["preflightOnly"] = json!(true);
                out.push(bound(
                    &format!("bound create {target} follow={follow} canonical={canonical}"),
                    pre,
                    None,
                    p,
                    canonical,
                ));
            }
        }
    }
    let pre_of = |p: &Value| {
        let mut pre = p.clone();
        pre["preflightOnly"] = json!(true);
        pre
    };
    let over = json!({"path": at("file"), "contentBase64": hi, "overwrite": true});
    let over_follow = json!({"path": at("file"), "contentBase64": hi, "overwrite": true, "followSymlinks": true});
    let create = json!({"path": at("dir/new"), "contentBase64": hi, "overwrite": true, "createParents": true});
    let deep = json!({"path": at("dir/a/b/new"), "contentBase64": hi, "createParents": true});
    let races: Vec<(&str, &Value, Race)> = vec![
        ("target replaced by a symlink to another file", &over, |fx| {
            std::fs::rename(fx.join("file"), fx.join("file.old")).unwrap();
            std::os::unix::fs::symlink("bin", fx.join("file")).unwrap();
        }),
        ("target replaced by a symlink to another file (follow)", &over_follow, |fx| {
            std::fs::rename(fx.join("file"), fx.join("file.old")).unwrap();
            std::os::unix::fs::symlink("bin", fx.join("file")).unwrap();
        }),
        ("target replaced by a symlink to itself moved (follow)", &over_follow, |fx| {
            std::fs::rename(fx.join("file"), fx.join("file.old")).unwrap();
            std::os::unix::fs::symlink("file.old", fx.join("file")).unwrap();
        }),
        ("target replaced by another file", &over, |fx| {
            std::fs::rename(fx.join("file"), fx.join("file.old")).unwrap();
            std::fs::write(fx.join("file"), "impostor\n").unwrap();
        }),
        ("target replaced by a directory", &over, |fx| {
            std::fs::rename(fx.join("file"), fx.join("file.old")).unwrap();
            std::fs::create_dir(fx.join("file")).unwrap();
        }),
        ("target removed", &over, |fx| std::fs::remove_file(fx.join("file")).unwrap()),
        ("target got a hard link", &over, |fx| std::fs::hard_link(fx.join("file"), fx.join("file.link")).unwrap()),
        ("new target appeared", &create, |fx| std::fs::write(fx.join("dir/new"), "early\n").unwrap()),
        ("new target appeared as a symlink", &create, |fx| {
            std::os::unix::fs::symlink("inner", fx.join("dir/new")).unwrap()
        }),
        ("anchor directory swapped", &create, |fx| {
            std::fs::rename(fx.join("dir"), fx.join("dir.old")).unwrap();
            std::fs::create_dir(fx.join("dir")).unwrap();
        }),
        ("anchor directory swapped for a symlink", &create, |fx| {
            std::fs::rename(fx.join("dir"), fx.join("dir.old")).unwrap();
            std::os::unix::fs::symlink("dir.old", fx.join("dir")).unwrap();
        }),
        ("anchor swapped with parents missing", &deep, |fx| {
            std::fs::rename(fx.join("dir"), fx.join("dir.old")).unwrap();
            std::fs::create_dir(fx.join("dir")).unwrap();
        }),
        ("missing parent appeared as a symlink", &deep, |fx| {
            std::os::unix::fs::symlink("sub", fx.join("dir/a")).unwrap()
        }),
        ("missing parent appeared as a file", &deep, |fx| std::fs::write(fx.join("dir/a"), "f").unwrap()),
        ("missing parent appeared as a directory", &deep, |fx| std::fs::create_dir(fx.join("dir/a")).unwrap()),
    ];
    for (name, p, race) in races {
        for canonical in [false, true] {
            out.push(bound(
                &format!("race: {name} canonical={canonical}"),
                pre_of(p),
                Some(race),
                p.clone(),
                canonical,
            ));
        }
    }
    // A binding used for another path: outside its anchor, or the anchor given by a symlink.
    out.push(bound(
        "binding of dir used for a target outside it",
        json!({"path": at("dir/x"), "contentBase64": hi, "preflightOnly": true}),
        None,
        json!({"path": at("new"), "contentBase64": hi}),
        false,
    ));
    out.push(bound(
        "binding of dir used for its parent",
        json!({"path": at("dir/x"), "contentBase64": hi, "preflightOnly": true}),
        None,
        json!({"path": at("dir"), "contentBase64": hi, "overwrite": true}),
        false,
    ));
    out.push(bound(
        "binding of a file used for another file",
        json!({"path": at("file"), "contentBase64": hi, "overwrite": true, "preflightOnly": true}),
        None,
        json!({"path": at("bin"), "contentBase64": hi, "overwrite": true}),
        false,
    ));
    out.push(bound(
        "binding through a symlinked parent",
        json!({"path": at("link-dir/x"), "contentBase64": hi, "followSymlinks": true, "preflightOnly": true}),
        None,
        json!({"path": at("link-dir/x"), "contentBase64": hi, "followSymlinks": true}),
        true,
    ));
    out.push(bound(
        "binding through a symlink to outside",
        json!({"path": at("link-out/x"), "contentBase64": hi, "followSymlinks": true, "preflightOnly": true}),
        None,
        json!({"path": at("link-out/x"), "contentBase64": hi, "followSymlinks": true}),
        false,
    ));
    out.push(Case {
        name: "binding with empty target strings".into(),
        steps: vec![Step::Call(json!({"path": at("file"), "contentBase64": hi, "overwrite": true, "expectedBinding": {"kind": "write", "anchorPath": fx, "anchorDevice": "0", "anchorInode": "0", "targetDevice": "", "targetInode": ""}}))],
    });
    out.push(Case {
        name: "preflight then a second unbound write".into(),
        steps: vec![
            Step::Call(json!({"path": at("new"), "contentBase64": hi, "preflightOnly": true})),
            Step::Call(json!({"path": at("new"), "contentBase64": hi})),
            Step::Call(json!({"path": at("new"), "contentBase64": longer})),
            Step::Call(json!({"path": at("new"), "contentBase64": shorter, "overwrite": true})),
        ],
    });
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_write_matches_the_typescript_node() {
    if !peer_available() {
        return;
    }
    let peer = Peer::installed();
    let t0 = Instant::now();
    let mut ours_relay = Relay::start(Vec::new()).await.unwrap();
    let mut ts_relay = Relay::start(Vec::new()).await.unwrap();
    let token = format!("relay-{}", uuid::Uuid::new_v4().simple());
    let path = peer_path_env(peer);
    let work = tempfile::tempdir().unwrap();
    let base: PathBuf = work.path().canonicalize().unwrap().join("case");
    std::fs::create_dir_all(&base).unwrap();
    // A private copy: the binary in a shared target directory may be relinked by another build
    // while this long test runs.
    let bin = work.path().join("openclaw");
    std::fs::copy(openclaw_bin(), &bin).unwrap();
    let our_node = spawn_our_node_at(&bin, ours_relay.port(), &token, &work.path().join("home-ours"), None, &path)
        .expect("our node starts");
    let name = format!("file-write-{}", std::process::id());
    let (port, tok, ts_name) = (ts_relay.port(), token.clone(), name.clone());
    let (ts_node, _ts_home) = tokio::task::spawn_blocking(move || start_ts_node_at(peer, port, &tok, &ts_name, None))
        .await
        .unwrap()
        .expect("TS node starts");
    ours_relay.wait_connected(Duration::from_secs(30)).await.expect("our node connects");
    ts_relay.wait_connected(Duration::from_secs(60)).await.expect("TS node connects");
    println!("both nodes up after {:?}", t0.elapsed());

    let mut cases = cases(&base);
    // `FILE_WRITE_ONLY=<text>`: only the cases whose name contains it (when chasing one).
    if let Ok(only) = std::env::var("FILE_WRITE_ONLY") {
        cases.retain(|c| c.name.contains(&only));
    }
    let (mut diffs, mut ts_writes, mut ts_ok) = (Vec::new(), 0, 0);
    // `FILE_WRITE_DUMP=<file>`: every case's outcome on the TypeScript node, one JSON line each.
    let mut dump = std::env::var_os("FILE_WRITE_DUMP").map(|p| std::fs::File::create(p).unwrap());
    for case in &cases {
        let theirs = run(&ts_relay, &base, case).await;
        let ours = run(&ours_relay, &base, case).await;
        if let Some(f) = dump.as_mut() {
            use std::io::Write;
            let _ = writeln!(f, "{}", json!({"case": case.name, "typescript": theirs}));
        }
        for r in theirs["results"].as_array().unwrap() {
            if r["payload"]["ok"] == true {
                ts_ok += 1;
                if r["payload"]["binding"]["kind"] == "existing" {
                    ts_writes += 1;
                }
            }
        }
        if theirs != ours {
            diffs.push(describe(&case.name, &theirs, &ours));
        }
    }
    println!("{} cases compared in {:?}", cases.len(), t0.elapsed());
    drop(ts_node);
    drop(our_node);
    let _ = std::fs::remove_dir_all(peer.run_dir(&format!("node-{name}")));
    let _ = std::fs::remove_dir_all(peer.run_dir(&format!("relay-{name}")));
    let filtered = std::env::var_os("FILE_WRITE_ONLY").is_some();
    assert!(
        filtered || (ts_ok > 100 && ts_writes > 50),
        "the TypeScript node served too few writes ({ts_ok} ok, {ts_writes} written)"
    );
    assert!(diffs.is_empty(), "{} of {} cases differ:\n{}", diffs.len(), cases.len(), diffs.join("\n"));
}

/// A difference for the failure report: both results in full, and the state entries that
/// are not the same on both sides.
fn describe(name: &str, theirs: &Value, ours: &Value) -> String {
    let entries = |v: &Value| v["state"].as_array().cloned().unwrap_or_default();
    let (t, o) = (entries(theirs), entries(ours));
    let only = |a: &[Value], b: &[Value]| Value::from(a.iter().filter(|e| !b.contains(e)).cloned().collect::<Vec<_>>());
    let cut = |mut s: String| {
        if s.len() > 3000 {
            let mut end = 3000;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            s.truncate(end);
            s.push('…');
        }
        s
    };
    format!(
        "{name}\n  typescript: {}\n  ours:       {}\n  state only typescript: {}\n  state only ours:       {}",
        cut(theirs["results"].to_string()),
        cut(ours["results"].to_string()),
        cut(only(&t, &o).to_string()),
        cut(only(&o, &t).to_string()),
    )
}
