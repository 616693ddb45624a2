//! Runs cases on both node hosts: starts a relay and a node per implementation for each
//! configuration profile, prepares each case's directory on both sides, walks the case's flow
//! step by step with both nodes in parallel, and returns every step's normalised outcomes.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use crate::compare::{approvals_file, outcome, output_is_concurrent, sort_output_chars, Normaliser};
use crate::gen::{BadApproval, Case, Flow, Profile, Source};
use crate::relay::{Invoked, Relay, RelayError};
use crate::timing::Timings;

/// How long one invoke may take before it counts as a hang.
/// How long an invoke may take before the harness stops waiting for its answer.
pub const INVOKE_TIMEOUT: Duration = Duration::from_secs(30);

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
    /// `ours` or `typescript`, for timings.
    name: &'static str,
    relay: Relay,
    /// Where this side's case directories go (`<root>/A` or `<root>/B`, equal length).
    cases: PathBuf,
    home: PathBuf,
    /// Nanoseconds spent waiting for this node's answers, and the number of invokes.
    busy: AtomicU64,
    calls: AtomicU64,
    /// Invokes the relay could not complete (no answer in time, node gone): a harness failure,
    /// not a difference, even when both sides fail alike.
    failures: AtomicU64,
    timings: Arc<Timings>,
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

    /// Invokes that got no answer at all (see [`RunError`] for failures that stop the run).
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    fn new(name: &'static str, relay: Relay, cases: PathBuf, home: PathBuf, timings: Arc<Timings>) -> Side {
        Side {
            name,
            relay,
            cases,
            home,
            busy: AtomicU64::new(0),
            calls: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            timings,
            last_hash: Default::default(),
        }
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
    /// Case directories being removed in the background: on this file system removing one
    /// takes longer than a step of a case, and nothing reads it again.
    clean_ups: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

/// The skill binaries the relay reports (`skills.bins`), for autoAllowSkills.
pub const SKILL_BINS: &[&str] = &["printf", "wc", "python3"];

impl Pair {
    /// Starts relays and both node hosts with the profile's config under `root`, as pair
    /// `slot` of the run: each pair has its own relays, HOMEs, state and case directories, so
    /// pairs never see each other's approvals documents or files. Every path a node sees has
    /// the same length in every pair (`slot`, the pair's number in the run, has three digits), so output cut at a
    /// byte cap does not depend on which job ran a case.
    pub async fn start(
        profile: Profile,
        bin: &Path,
        root: &Path,
        slot: usize,
        timings: Arc<Timings>,
    ) -> Result<Pair, RunError> {
        let t0 = Instant::now();
        let peer = openclaw_testkit::Peer::installed();
        let bins: Vec<String> = SKILL_BINS.iter().map(|s| s.to_string()).collect();
        let mut ours_relay = Relay::start(bins.clone()).await?;
        let mut ts_relay = Relay::start(bins).await?;
        let config = profile.config().map(|c| c.to_string());
        let token = format!("relay-{}", uuid::Uuid::new_v4().simple());
        let path = openclaw_testkit::relay_nodes::peer_path_env(peer);
        let root = root.join(format!("p{slot:03}"));
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
        let name = format!("exec-diff-{}-{}-p{slot:03}", std::process::id(), profile.name());
        let (port, tok, cfg, ts_name) = (ts_relay.port(), token.clone(), config.clone(), name.clone());
        let ts_started = tokio::task::spawn_blocking(move || {
            openclaw_testkit::relay_nodes::start_ts_node_at(peer, port, &tok, &ts_name, cfg.as_deref())
        });
        let ours_ready = ours_relay.wait_connected(Duration::from_secs(30)).await;
        timings.record(format!("start-up: ours ({})", profile.name()), t0.elapsed());
        let (ts_node, ts_home) = ts_started
            .await
            .expect("TS node start task")
            .map_err(|source| RunError::Start { which: "typescript", source })?;
        ours_ready?;
        ts_relay.wait_connected(Duration::from_secs(60)).await?;
        timings.record(format!("start-up: typescript ({})", profile.name()), t0.elapsed());
        let a = root.join("A");
        let b = root.join("B");
        std::fs::create_dir_all(&a).map_err(io(&a))?;
        std::fs::create_dir_all(&b).map_err(io(&b))?;
        Ok(Pair {
            ours: Side::new("ours", ours_relay, a, our_home, timings.clone()),
            theirs: Side::new("typescript", ts_relay, b, ts_home, timings),
            our_node,
            ts_node,
            ts_run_dirs: vec![peer.run_dir(&format!("node-{name}")), peer.run_dir(&format!("relay-{name}"))],
            clean_ups: Default::default(),
        })
    }
}

impl Pair {
    /// Waits for the case directories still being removed, stops both nodes and removes what
    /// they left under the peer's run dir and `root`.
    pub async fn close(self) {
        let t0 = Instant::now();
        let clean_ups = std::mem::take(&mut *self.clean_ups.lock().expect("clean-up lock"));
        for handle in clean_ups {
            let _ = handle.await;
        }
        let timings = self.ours.timings.clone();
        for (side, pid) in [("ours", Some(self.our_node.pid() as i32)), ("typescript", self.ts_node.pid())] {
            if let Some(cpu) = pid.and_then(tree_cpu_time) {
                timings.record(format!("cpu: {side} node host and its commands, per pair"), cpu);
            }
        }
        let Pair { ours, our_node, ts_node, ts_run_dirs, .. } = self;
        let _ = tokio::task::spawn_blocking(move || {
            drop(ts_node);
            drop(our_node);
            for d in &ts_run_dirs {
                let _ = std::fs::remove_dir_all(d);
            }
            let _ = std::fs::remove_dir_all(&ours.home);
        })
        .await;
        timings.record("phase: closing one pair", t0.elapsed());
    }

    /// Removes a finished case's directories in the background. They are first renamed out
    /// of the way, so a re-run of the same case (shrinking) gets a fresh directory under the
    /// same name while the old one is still being removed.
    fn clean_up(&self, dirs: [PathBuf; 2]) {
        static TRASH: AtomicU64 = AtomicU64::new(0);
        let doomed: Vec<PathBuf> = dirs
            .into_iter()
            .map(|d| {
                let n = TRASH.fetch_add(1, Ordering::Relaxed);
                let trash = d.with_file_name(format!("trash-{n}"));
                if std::fs::rename(&d, &trash).is_ok() {
                    trash
                } else {
                    let _ = std::fs::remove_dir_all(&d);
                    d
                }
            })
            .collect();
        let handle = tokio::task::spawn_blocking(move || {
            for d in doomed {
                let _ = std::fs::remove_dir_all(d);
            }
        });
        let mut pending = self.clean_ups.lock().expect("clean-up lock");
        pending.retain(|h| !h.is_finished());
        pending.push(handle);
    }
}

/// The CPU time a process and its waited-for children used so far (`/proc/<pid>/stat`,
/// assuming the usual 100 ticks per second), for the timings.
fn cpu_time(pid: i32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<u64> =
        stat.rsplit_once(')')?.1.split_whitespace().skip(11).take(4).filter_map(|f| f.parse().ok()).collect();
    (fields.len() == 4).then(|| Duration::from_millis(fields.iter().sum::<u64>() * 10))
}

/// [`cpu_time`] of a process and its running descendants (the TypeScript CLI runs the node
/// host in a child process).
fn tree_cpu_time(pid: i32) -> Option<Duration> {
    let total = openclaw_testkit::procfs::tree(pid).into_iter().filter_map(cpu_time).sum::<Duration>();
    (!total.is_zero()).then_some(total)
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

    /// One invoke, timed under `<side> <step> <command>`.
    async fn call(&self, step: &str, command: &str, params: &Value) -> Invoked {
        let t0 = Instant::now();
        let res = self.side.relay.invoke(command, params, INVOKE_TIMEOUT).await;
        let took = t0.elapsed();
        self.side.busy.fetch_add(took.as_nanos() as u64, Ordering::Relaxed);
        self.side.calls.fetch_add(1, Ordering::Relaxed);
        self.side.timings.record(format!("{} {step} {command}", self.side.name), took);
        match res {
            Ok(i) => i,
            Err(e) => {
                self.side.failures.fetch_add(1, Ordering::Relaxed);
                eprintln!("exec-diff: {}: {step} {command}: {e}", self.side.name);
                Invoked {
                    result: json!({"ok": false, "error": {"code": "HARNESS", "message": e.to_string()}}),
                    events: Vec::new(),
                }
            }
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
                None => {
                    self.call("set", "system.execApprovals.get", &json!({})).await.result["payload"]["hash"].clone()
                }
            };
            let res = self.call("set", "system.execApprovals.set", &json!({"file": file, "baseHash": h})).await.result;
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
        let got = self.call("approvals-after", "system.execApprovals.get", &json!({})).await.result;
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
async fn invoke(r: &Run<'_>, step: &str, command: &str, params: &Value) -> (Value, Value) {
    let params = subst(params, &r.dir_s());
    let i = r.call(step, command, &params).await;
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
    let i = r.call("approved-run", "system.run", &p).await;
    outcome(&r.norm, Some(&i.result), &i.events)
}

/// `system.run` with approval fields that must not bind and, when this side prepared one, a
/// plan (for another command, or combined with `approvalSource`).
async fn bad_run(r: &Run<'_>, params: &Value, prep: &Value, fields: &[(&str, Value)]) -> Value {
    let mut p = with(&subst(params, &r.dir_s()), fields);
    if prep["ok"] == true {
        p["systemRunPlan"] = prep["payload"]["plan"].clone();
    }
    let i = r.call("bad-run", "system.run", &p).await;
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

/// A flow's name without its data, for timings (`approved:AllowAlways`).
fn flow_kind(flow: &Flow) -> String {
    match flow {
        Flow::Run => "run".into(),
        Flow::Prepare(_) => "prepare".into(),
        Flow::Approved { source, .. } => format!("approved:{source:?}"),
        Flow::Bad(kind) => format!("bad:{kind:?}"),
    }
}

/// How many more times a case whose parts write concurrently is run when its first run
/// differs (see [`run_case`]).
pub const CONCURRENT_RETRIES: usize = 2;

/// Runs one case on both sides; returns every compared step.
///
/// A command with a background job or a pipe ([`output_is_concurrent`]) races the node's end
/// of capture: under load a background job's message may land just before one node stops
/// reading and just after the other does (seed 1 case 53). Such a case is run again, up to
/// [`CONCURRENT_RETRIES`] times, while it shows a difference the known list does not explain:
/// a real difference shows on every run, a race does not, so the report does not depend on
/// the machine's load.
pub async fn run_case(pair: &Pair, case: &Case) -> Result<Vec<StepResult>, RunError> {
    let mut steps = run_case_once(pair, case).await?;
    if output_is_concurrent(&case.tags) {
        for _ in 0..CONCURRENT_RETRIES {
            if crate::report::sort_out(case, &steps).0.is_empty() {
                break;
            }
            let t0 = Instant::now();
            steps = run_case_once(pair, case).await?;
            pair.ours.timings.record("case: re-run of a differing concurrent-output case", t0.elapsed());
        }
    }
    Ok(steps)
}

async fn run_case_once(pair: &Pair, case: &Case) -> Result<Vec<StepResult>, RunError> {
    let timings = &pair.ours.timings;
    let t0 = Instant::now();
    let (da, db) = (case_dir(&pair.ours, case.index)?, case_dir(&pair.theirs, case.index)?);
    let (a, b) = (side_run(&pair.ours, da.clone()), side_run(&pair.theirs, db.clone()));
    timings.record("case: set-up (both directories)", t0.elapsed());
    let t1 = Instant::now();
    let mut result = steps(&a, &b, case).await;
    if output_is_concurrent(&case.tags) {
        for step in result.iter_mut().flatten() {
            sort_output_chars(&mut step.ours);
            sort_output_chars(&mut step.theirs);
        }
    }
    timings.record(format!("case: steps of flow {} (both sides at once)", flow_kind(&case.flow)), t1.elapsed());
    pair.clean_up([da, db]);
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
    let run_both = |step: &'static str, command: &'static str, p: Value| async move {
        let ((_, o), (_, t)) = tokio::join!(invoke(a, step, command, &p), invoke(b, step, command, &p));
        (o, t)
    };

    match &case.flow {
        Flow::Run => {
            let p = with(&case.params, &[("runId", run_id("run"))]);
            push(&mut steps, "run", run_both("run", "system.run", p).await);
        }
        Flow::Prepare(extra) => {
            let extra: Vec<(&str, Value)> = extra.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
            push(&mut steps, "prepare", run_both("prepare", "system.run.prepare", with(&case.params, &extra)).await);
        }
        Flow::Approved { source, mutate: change } => {
            let ((ra, o), (rb, t)) = tokio::join!(
                invoke(a, "prepare", "system.run.prepare", &case.params),
                invoke(b, "prepare", "system.run.prepare", &case.params)
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
                push(&mut steps, "rerun", run_both("rerun", "system.run", p).await);
                mutate()?;
                let p = with(&case.params, &[("runId", run_id("rerun-modified"))]);
                push(&mut steps, "rerun-modified", run_both("rerun-modified", "system.run", p).await);
            }
        }
        Flow::Bad(kind) => {
            let approve =
                vec![("approved", json!(true)), ("approvalDecision", json!("allow-once")), ("runId", run_id("bad"))];
            if *kind == BadApproval::NoPlan {
                push(&mut steps, "bad-run", run_both("bad-run", "system.run", with(&case.params, &approve)).await);
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
                invoke(a, "bad-prepare", "system.run.prepare", &prep_params),
                invoke(b, "bad-prepare", "system.run.prepare", &prep_params)
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
