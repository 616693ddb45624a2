//! Runs cases on both node hosts: starts a relay and a node per implementation for each
//! configuration profile, prepares each case's directory on both sides, walks the case's flow
//! step by step with both nodes in parallel, and returns every step's normalised outcomes.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use crate::compare::{approvals_file, outcome, Normaliser};
use crate::gen::{BadApproval, Case, Flow, Profile, Source};
use crate::relay::{Invoked, Relay, RelayError};

/// How long one invoke may take before it counts as a hang.
const INVOKE_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the harness could not run (not a difference between the nodes).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The relay failed.
    #[error(transparent)]
    Relay(#[from] RelayError),
    /// A node could not be started.
    #[error("starting the {which} node host: {source}")]
    Start {
        /// `ours` or `typescript`.
        which: &'static str,
        /// The test kit's reason.
        source: openclaw_testkit::Error,
    },
    /// A case directory could not be prepared.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The operating system's reason.
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RunError + '_ {
    move |source| RunError::Io { path: path.display().to_string(), source }
}

/// One node host behind its relay.
pub struct Side {
    relay: Relay,
    /// Where this side's case directories go (`<root>/A` or `<root>/B`, equal length).
    cases: PathBuf,
    home: PathBuf,
    /// Nanoseconds spent waiting for this node's answers, and the number of invokes.
    busy: AtomicU64,
    calls: AtomicU64,
    /// The approvals hash from this node's last `set` reply: most cases leave the document as
    /// they found it, so the `get` before the next `set` is usually not needed.
    last_hash: std::sync::Mutex<Option<Value>>,
}

impl Side {
    /// Time spent waiting for this node's answers and the number of invokes sent, so a run
    /// can say which implementation its time went to.
    pub fn latency(&self) -> (Duration, u64) {
        (Duration::from_nanos(self.busy.load(Ordering::Relaxed)), self.calls.load(Ordering::Relaxed))
    }
}

/// Both node hosts, started for one profile; stopped on drop.
pub struct Pair {
    /// Ours.
    pub ours: Side,
    /// The TypeScript node host.
    pub theirs: Side,
    our_node: openclaw_testkit::OurNode,
    ts_node: openclaw_testkit::TsNode,
    /// The peer run dirs written for the TypeScript node (its HOME, the relay's port/token).
    ts_run_dirs: Vec<PathBuf>,
}

/// The skill binaries the relay reports (`skills.bins`), for autoAllowSkills.
pub const SKILL_BINS: &[&str] = &["printf", "wc", "python3"];

impl Pair {
    /// Starts relays and both node hosts with the profile's config under `root`.
    pub async fn start(profile: Profile, bin: &Path, root: &Path) -> Result<Pair, RunError> {
        let peer = openclaw_testkit::Peer::installed();
        let bins: Vec<String> = SKILL_BINS.iter().map(|s| s.to_string()).collect();
        let mut ours_relay = Relay::start(bins.clone()).await?;
        let mut ts_relay = Relay::start(bins).await?;
        let config = profile.config().map(|c| c.to_string());
        let token = format!("relay-{}", uuid::Uuid::new_v4().simple());
        let path = openclaw_testkit::relay_nodes::peer_path_env(peer);
        let our_home = root.join(format!("home-ours-{}", profile.name()));
        let our_node = openclaw_testkit::relay_nodes::spawn_our_node_at(
            bin,
            ours_relay.port(),
            &token,
            &our_home,
            config.as_deref(),
            &path,
        )
        .map_err(|source| RunError::Start { which: "ours", source })?;
        let name = format!("exec-diff-{}-{}", std::process::id(), profile.name());
        let (port, tok, cfg, ts_name) = (ts_relay.port(), token.clone(), config.clone(), name.clone());
        let (ts_node, ts_home) = tokio::task::spawn_blocking(move || {
            openclaw_testkit::relay_nodes::start_ts_node_at(peer, port, &tok, &ts_name, cfg.as_deref())
        })
        .await
        .expect("TS node start task")
        .map_err(|source| RunError::Start { which: "typescript", source })?;
        ours_relay.wait_connected(Duration::from_secs(30)).await?;
        ts_relay.wait_connected(Duration::from_secs(60)).await?;
        let a = root.join("A");
        let b = root.join("B");
        std::fs::create_dir_all(&a).map_err(io(&a))?;
        std::fs::create_dir_all(&b).map_err(io(&b))?;
        Ok(Pair {
            ours: Side {
                relay: ours_relay,
                cases: a,
                home: our_home,
                busy: AtomicU64::new(0),
                calls: AtomicU64::new(0),
                last_hash: Default::default(),
            },
            theirs: Side {
                relay: ts_relay,
                cases: b,
                home: ts_home,
                busy: AtomicU64::new(0),
                calls: AtomicU64::new(0),
                last_hash: Default::default(),
            },
            our_node,
            ts_node,
            ts_run_dirs: vec![peer.run_dir(&format!("node-{name}")), peer.run_dir(&format!("relay-{name}"))],
        })
    }
}

impl Pair {
    /// Stops both nodes and removes what they left under the peer's run dir and `root`.
    pub fn close(self) {
        let Pair { ours, our_node, ts_node, ts_run_dirs, .. } = self;
        drop(ts_node);
        drop(our_node);
        for d in &ts_run_dirs {
            let _ = std::fs::remove_dir_all(d);
        }
        let _ = std::fs::remove_dir_all(&ours.home);
    }
}

/// One compared step: its name and both normalised outcomes.
#[derive(Clone, Debug)]
pub struct StepResult {
    /// `set`, `run`, `prepare`, `approved-run`, `approvals-after`, `rerun`, `rerun-modified`…
    pub step: String,
    /// Ours, normalised.
    pub ours: Value,
    /// The TypeScript node host's, normalised.
    pub theirs: Value,
}

/// The files every case directory starts with.
const FILES: &[(&str, &str)] = &[
    ("data.txt", "hello world\nsecond line\n"),
    ("script.sh", "#!/bin/sh\necho script\n"),
    ("tool.py", "print('tool')\n"),
    ("tool.js", "console.log('tool')\n"),
    ("tool.pl", "print \"tool\\n\";\n"),
    ("lock", ""),
    ("sub/data.txt", "sub\n"),
];

/// What the files become when a case mutates them after approval.
const MUTATED: &[(&str, &str)] = &[
    ("data.txt", "changed\n"),
    ("script.sh", "#!/bin/sh\necho changed\n"),
    ("tool.py", "print('changed')\n"),
    ("tool.js", "console.log('changed')\n"),
    ("tool.pl", "print \"changed\\n\";\n"),
];

fn write_files(dir: &Path, files: &[(&str, &str)]) -> Result<(), RunError> {
    use std::os::unix::fs::PermissionsExt;
    for (name, text) in files {
        let p = dir.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        std::fs::write(&p, text).map_err(io(&p))?;
        if name.ends_with(".sh") {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).map_err(io(&p))?;
        }
    }
    Ok(())
}

/// Replaces `@CASE@` in every string of `v`.
fn subst(v: &Value, dir: &str) -> Value {
    match v {
        Value::String(s) => Value::String(s.replace("@CASE@", dir)),
        Value::Array(a) => Value::Array(a.iter().map(|x| subst(x, dir)).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, x)| (k.clone(), subst(x, dir))).collect()),
        other => other.clone(),
    }
}

/// One side's state while a case runs.
struct Run<'a> {
    side: &'a Side,
    dir: PathBuf,
    norm: Normaliser,
}

impl Run<'_> {
    fn dir_s(&self) -> String {
        self.dir.display().to_string()
    }

    async fn call(&self, command: &str, params: &Value) -> Invoked {
        let t0 = Instant::now();
        let res = self.side.relay.invoke(command, params, INVOKE_TIMEOUT).await;
        self.side.busy.fetch_add(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
        self.side.calls.fetch_add(1, Ordering::Relaxed);
        match res {
            Ok(i) => i,
            Err(e) => Invoked {
                result: json!({"ok": false, "error": {"code": "HARNESS", "message": e.to_string()}}),
                events: Vec::new(),
            },
        }
    }

    /// `set` with the last known hash (a `get` first when the node says it changed); a refused
    /// document is replaced by `{"version":1}` so the node is in a known state. Returns the
    /// set outcome.
    async fn set_approvals(&self, file: &Value) -> Value {
        let file = subst(file, &self.dir_s());
        let res = self.set_once(&file).await;
        if res["ok"] != true {
            self.set_once(&json!({"version": 1})).await;
            return outcome(&self.norm, Some(&res), &[]);
        }
        json!({"ok": true, "file": approvals_file(&self.norm, &res)})
    }

    async fn set_once(&self, file: &Value) -> Value {
        let cached = self.side.last_hash.lock().expect("hash lock").clone();
        let mut tries = 0;
        let mut hash = cached;
        loop {
            let h = match hash.take() {
                Some(h) => h,
                None => self.call("system.execApprovals.get", &json!({})).await.result["payload"]["hash"].clone(),
            };
            let res = self.call("system.execApprovals.set", &json!({"file": file, "baseHash": h})).await.result;
            let stale = res["error"]["message"].as_str().is_some_and(|m| m.contains("reload and retry"));
            tries += 1;
            if stale && tries < 2 {
                continue;
            }
            let next = if res["ok"] == true { Some(res["payload"]["hash"].clone()) } else { None };
            if next.is_some() || !stale {
                *self.side.last_hash.lock().expect("hash lock") = next.or(Some(h));
            }
            return res;
        }
    }

    async fn approvals(&self) -> Value {
        let got = self.call("system.execApprovals.get", &json!({})).await.result;
        approvals_file(&self.norm, &got)
    }
}

fn with(params: &Value, extra: &[(&str, Value)]) -> Value {
    let mut p = params.as_object().cloned().unwrap_or_default();
    for (k, v) in extra {
        p.insert(k.to_string(), v.clone());
    }
    Value::Object(p)
}

fn approval_fields(source: Source) -> Vec<(&'static str, Value)> {
    match source {
        Source::AllowOnce => vec![("approved", json!(true)), ("approvalDecision", json!("allow-once"))],
        Source::AllowAlways => vec![("approved", json!(true)), ("approvalDecision", json!("allow-always"))],
        Source::ApprovedOnly => vec![("approved", json!(true))],
        Source::DecisionOnly => vec![("approvalDecision", json!("allow-once"))],
        Source::AskFallback => vec![("approvalSource", json!("ask-fallback"))],
        Source::AutoReview => vec![("approvalSource", json!("auto-review"))],
    }
}

/// The `system.run` params the real Gateway builds from a prepared plan: the plan's argv,
/// cwd, agent and session, its commandText as rawCommand, and the plan itself.
fn from_plan(params: &Value, plan: &Value, extra: &[(&str, Value)]) -> Value {
    let mut p: Map<String, Value> = params.as_object().cloned().unwrap_or_default();
    p.insert("command".into(), plan["argv"].clone());
    p.insert("rawCommand".into(), plan["commandText"].clone());
    for (key, field) in [("cwd", "cwd"), ("agentId", "agentId"), ("sessionKey", "sessionKey")] {
        match plan.get(field) {
            Some(v) if !v.is_null() => {
                p.insert(key.into(), v.clone());
            }
            _ => {
                p.remove(key);
            }
        }
    }
    p.insert("systemRunPlan".into(), plan.clone());
    for (k, v) in extra {
        p.insert(k.to_string(), v.clone());
    }
    Value::Object(p)
}

/// Sends `params` (with `@CASE@` substituted for this side) and returns the raw result and
/// the normalised outcome.
async fn invoke(r: &Run<'_>, command: &str, params: &Value) -> (Value, Value) {
    let params = subst(params, &r.dir_s());
    let i = r.call(command, &params).await;
    let o = outcome(&r.norm, Some(&i.result), &i.events);
    (i.result, o)
}

/// `system.run` with approval fields and this side's own plan (already in its own paths), the
/// way the real Gateway forwards an approved run; `null` when this side's prepare failed.
async fn approved_run(r: &Run<'_>, params: &Value, prep: &Value, fields: &[(&str, Value)]) -> Value {
    if prep["ok"] != true {
        return Value::Null;
    }
    let p = from_plan(&subst(params, &r.dir_s()), &prep["payload"]["plan"], fields);
    let i = r.call("system.run", &p).await;
    outcome(&r.norm, Some(&i.result), &i.events)
}

/// `system.run` with approval fields that must not bind and, when this side prepared one, a
/// plan (for another command, or combined with `approvalSource`).
async fn bad_run(r: &Run<'_>, params: &Value, prep: &Value, fields: &[(&str, Value)]) -> Value {
    let mut p = with(&subst(params, &r.dir_s()), fields);
    if prep["ok"] == true {
        p["systemRunPlan"] = prep["payload"]["plan"].clone();
    }
    let i = r.call("system.run", &p).await;
    outcome(&r.norm, Some(&i.result), &i.events)
}

fn side_run(side: &Side, dir: PathBuf) -> Run<'_> {
    let state = side.home.join(".openclaw").display().to_string();
    let norm = Normaliser::new(&dir.display().to_string(), &side.home.display().to_string(), &state);
    Run { side, dir, norm }
}

fn case_dir(side: &Side, index: u64) -> Result<PathBuf, RunError> {
    let dir = side.cases.join(format!("c{index:07}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    write_files(&dir, FILES)?;
    std::os::unix::fs::symlink(dir.join("sub"), dir.join("link")).map_err(io(&dir))?;
    Ok(dir)
}

/// Runs one case on both sides; returns every compared step.
pub async fn run_case(pair: &Pair, case: &Case) -> Result<Vec<StepResult>, RunError> {
    let (da, db) = (case_dir(&pair.ours, case.index)?, case_dir(&pair.theirs, case.index)?);
    let (a, b) = (side_run(&pair.ours, da.clone()), side_run(&pair.theirs, db.clone()));
    let result = steps(&a, &b, case).await;
    let _ = std::fs::remove_dir_all(&da);
    let _ = std::fs::remove_dir_all(&db);
    result
}

async fn steps(a: &Run<'_>, b: &Run<'_>, case: &Case) -> Result<Vec<StepResult>, RunError> {
    let mut steps = Vec::new();
    let push = |steps: &mut Vec<StepResult>, step: &str, (ours, theirs): (Value, Value)| {
        steps.push(StepResult { step: step.into(), ours, theirs })
    };
    push(&mut steps, "set", tokio::join!(a.set_approvals(&case.approvals), b.set_approvals(&case.approvals)));
    let run_id = |step: &str| json!(format!("run-{}-{step}", case.index));
    let mutate = || -> Result<(), RunError> {
        write_files(&a.dir, MUTATED)?;
        write_files(&b.dir, MUTATED)
    };
    let run_both = |command: &'static str, p: Value| async move {
        let ((_, o), (_, t)) = tokio::join!(invoke(a, command, &p), invoke(b, command, &p));
        (o, t)
    };

    match &case.flow {
        Flow::Run => {
            let p = with(&case.params, &[("runId", run_id("run"))]);
            push(&mut steps, "run", run_both("system.run", p).await);
        }
        Flow::Prepare(extra) => {
            let extra: Vec<(&str, Value)> = extra.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
            push(&mut steps, "prepare", run_both("system.run.prepare", with(&case.params, &extra)).await);
        }
        Flow::Approved { source, mutate: change } => {
            let ((ra, o), (rb, t)) = tokio::join!(
                invoke(a, "system.run.prepare", &case.params),
                invoke(b, "system.run.prepare", &case.params)
            );
            push(&mut steps, "prepare", (o, t));
            if *change {
                mutate()?;
            }
            let mut fields = approval_fields(*source);
            fields.push(("runId", run_id("approved")));
            let (o, t) =
                tokio::join!(approved_run(a, &case.params, &ra, &fields), approved_run(b, &case.params, &rb, &fields));
            if !(o.is_null() && t.is_null()) {
                push(&mut steps, "approved-run", (o, t));
            }
            if *source == Source::AllowAlways {
                push(&mut steps, "approvals-after", tokio::join!(a.approvals(), b.approvals()));
                let p = with(&case.params, &[("runId", run_id("rerun"))]);
                push(&mut steps, "rerun", run_both("system.run", p).await);
                mutate()?;
                let p = with(&case.params, &[("runId", run_id("rerun-modified"))]);
                push(&mut steps, "rerun-modified", run_both("system.run", p).await);
            }
        }
        Flow::Bad(kind) => {
            let approve =
                vec![("approved", json!(true)), ("approvalDecision", json!("allow-once")), ("runId", run_id("bad"))];
            if *kind == BadApproval::NoPlan {
                push(&mut steps, "bad-run", run_both("system.run", with(&case.params, &approve)).await);
                return Ok(steps);
            }
            let mut prep_params = case.params.clone();
            if *kind == BadApproval::OtherPlan {
                if let Some(o) = prep_params.as_object_mut() {
                    o.insert("command".into(), json!(["echo", "other"]));
                    o.remove("rawCommand");
                }
            }
            let ((ra, _), (rb, _)) = tokio::join!(
                invoke(a, "system.run.prepare", &prep_params),
                invoke(b, "system.run.prepare", &prep_params)
            );
            let fields = if *kind == BadApproval::Combined {
                vec![("approved", json!(true)), ("approvalSource", json!("ask-fallback")), ("runId", run_id("bad"))]
            } else {
                approve
            };
            let (o, t) = tokio::join!(bad_run(a, &case.params, &ra, &fields), bad_run(b, &case.params, &rb, &fields));
            push(&mut steps, "bad-run", (o, t));
        }
    }
    Ok(steps)
}
