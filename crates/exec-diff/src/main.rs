//! `openclaw-exec-diff [--seed N] [--cases N] [--case I] [--bin PATH] [--shrink RUNS]`: generates cases, runs
//! them on our node host and on the TypeScript one, and prints each class of difference with
//! its minimal example, then a summary table. Exits 1 when any difference is unexplained.

use std::path::PathBuf;
use std::time::Instant;

use openclaw_exec_diff::gen::{self, Profile};
use openclaw_exec_diff::report::Tally;
use openclaw_exec_diff::run::{run_case, Pair};

struct Args {
    seed: u64,
    cases: u64,
    only: Option<u64>,
    bin: PathBuf,
    verbose: bool,
    shrink: usize,
}

fn usage() -> ! {
    eprintln!("usage: openclaw-exec-diff [--seed N] [--cases N] [--case I] [--bin PATH] [--shrink RUNS] [--verbose]");
    std::process::exit(2)
}

fn parse() -> Args {
    let exe = std::env::current_exe().unwrap_or_default();
    let mut a =
        Args { seed: 1, cases: 1000, only: None, bin: exe.with_file_name("openclaw"), verbose: false, shrink: 300 };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut num = || it.next().and_then(|v| v.parse::<u64>().ok()).unwrap_or_else(|| usage());
        match flag.as_str() {
            "--seed" => a.seed = num(),
            "--cases" => a.cases = num(),
            "--case" => a.only = Some(num()),
            "--bin" => a.bin = it.next().map(PathBuf::from).unwrap_or_else(|| usage()),
            "--shrink" => a.shrink = num() as usize,
            "--verbose" | "-v" => a.verbose = true,
            _ => usage(),
        }
    }
    a
}

fn main() {
    let args = parse();
    if !args.bin.exists() {
        eprintln!("exec-diff: our binary is not at {} (build `openclaw` or pass --bin)", args.bin.display());
        std::process::exit(2);
    }
    if !openclaw_testkit::peer_available() {
        std::process::exit(2);
    }
    let indices: Vec<u64> = match args.only {
        Some(i) => vec![i],
        None => (0..args.cases).collect(),
    };
    let cases: Vec<gen::Case> = indices.iter().map(|i| gen::generate(args.seed, *i)).collect();
    let root = std::env::temp_dir().join(format!("exec-diff-{}", std::process::id()));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let mut tally = Tally::default();
    let started = Instant::now();
    let mut case_time = std::time::Duration::ZERO;
    let mut waits = [(std::time::Duration::ZERO, 0u64); 2];
    let code = rt.block_on(async {
        for profile in Profile::ALL {
            let group: Vec<&gen::Case> = cases.iter().filter(|c| c.profile == profile).collect();
            if group.is_empty() {
                continue;
            }
            eprintln!("exec-diff: profile {}: starting both node hosts for {} cases", profile.name(), group.len());
            let pair = match Pair::start(profile, &args.bin, &root).await {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("exec-diff: {e}");
                    return 2;
                }
            };
            let t0 = Instant::now();
            for (n, case) in group.iter().enumerate() {
                match run_case(&pair, case).await {
                    Ok(steps) => {
                        if args.verbose || args.only.is_some() {
                            for s in &steps {
                                let mark = if s.ours == s.theirs { "same" } else { "DIFF" };
                                eprintln!(
                                    "case {} {} [{mark}]\n  ours:     {}\n  upstream: {}",
                                    case.index, s.step, s.ours, s.theirs
                                );
                            }
                        }
                        tally.add(case, &steps);
                    }
                    Err(e) => {
                        eprintln!("exec-diff: case {}: {e}", case.index);
                        pair.close();
                        return 2;
                    }
                }
                if (n + 1) % 250 == 0 {
                    eprintln!("exec-diff: {}/{} cases of profile {}", n + 1, group.len(), profile.name());
                }
            }
            case_time += t0.elapsed();
            // Shrink the examples found with these nodes while they still run.
            let mut budget = args.shrink / Profile::ALL.len();
            for (key, example) in tally.examples_of(profile) {
                match openclaw_exec_diff::shrink::shrink(&pair, &key, example, &mut budget).await {
                    Ok(small) => tally.set_example(&key, small),
                    Err(e) => eprintln!("exec-diff: shrinking: {e}"),
                }
            }
            for (w, side) in waits.iter_mut().zip([&pair.ours, &pair.theirs]) {
                let (d, n) = side.latency();
                w.0 += d;
                w.1 += n;
            }
            pair.close();
        }
        0
    });
    let _ = std::fs::remove_dir_all(&root);
    if args.only.is_some() {
        let c = &cases[0];
        println!("case {} tags: {}", c.index, c.tags.join(" "));
    }
    println!("{}", tally.examples());
    println!("{}", tally.table());
    let per_1000 = case_time.as_secs_f64() * 1000.0 / tally.cases.max(1) as f64;
    println!(
        "seed {}: {} cases in {:.1} s ({:.1} s per 1,000 cases, node start-up excluded)",
        args.seed,
        tally.cases,
        started.elapsed().as_secs_f64(),
        per_1000
    );
    for (name, (d, n)) in ["ours", "typescript"].iter().zip(waits) {
        println!("{name}: {n} invokes, {:.1} ms mean answer time", d.as_secs_f64() * 1000.0 / n.max(1) as f64);
    }
    if code != 0 {
        std::process::exit(code);
    }
    std::process::exit(if tally.unexplained_cases() > 0 { 1 } else { 0 });
}
