//! Tallies compared steps into classes, applies the known-differences list, and prints the
//! minimal example of each class and the summary table.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde_json::Value;

use crate::classify::{classify, Severity};
use crate::gen::Case;
use crate::known::{explain, Known};
use crate::run::StepResult;

/// One step where the nodes differ.
#[derive(Clone, Debug)]
pub struct Finding {
    /// The case.
    pub case: Case,
    /// The step name.
    pub step: String,
    /// Ours, normalised.
    pub ours: Value,
    /// Theirs, normalised.
    pub theirs: Value,
    /// Whether the case was shrunk after generation (then seed and index only say where it
    /// came from; the request and document printed are the reproduction).
    pub shrunk: bool,
}

impl Finding {
    /// How big the reproduction is; the smallest finding of a class is its example.
    pub fn size(&self) -> usize {
        self.case.params.to_string().len() + self.case.approvals.to_string().len()
    }
}

/// A class: its severity and its name.
pub type ClassKey = (Severity, String);

/// What [`sort_out`] returns: unexplained findings by class, and known ones by name.
pub type SortedOut = (Vec<(ClassKey, Finding)>, Vec<(&'static str, Finding)>);

/// The unexplained differences of one case by class, and the known differences it showed.
pub fn sort_out(case: &Case, steps: &[StepResult]) -> SortedOut {
    let mut found = Vec::new();
    let mut known = Vec::new();
    let mut poisoned: Option<&'static Known> = None;
    for s in steps {
        // A step only one side reached is the consequence of the earlier step that differed
        // (e.g. one side's prepare refused), which is already counted.
        if s.ours == s.theirs || s.ours.is_null() || s.theirs.is_null() {
            continue;
        }
        let finding = || Finding {
            case: case.clone(),
            step: s.step.clone(),
            ours: s.ours.clone(),
            theirs: s.theirs.clone(),
            shrunk: false,
        };
        if let Some(k) = poisoned.or_else(|| explain(case, &s.step, &s.ours, &s.theirs)) {
            known.push((k.name, finding()));
            if k.poisons {
                poisoned = Some(k);
            }
            continue;
        }
        let key = classify(&s.step, &s.ours, &s.theirs);
        found.push((key, finding()));
    }
    (found, known)
}

#[derive(Default)]
struct Class {
    cases: BTreeSet<u64>,
    example: Option<Finding>,
}

impl Class {
    /// Adds a finding; the example is the smallest, the lowest case index among equal sizes,
    /// the first step within a case: the same example whatever order the cases come in, so
    /// jobs can add their cases as they finish.
    fn add(&mut self, f: Finding) {
        self.cases.insert(f.case.index);
        if self.example.as_ref().is_none_or(|e| (f.size(), f.case.index) < (e.size(), e.case.index)) {
            self.example = Some(f);
        }
    }
}

fn write_example(out: &mut String, title: &str, f: &Finding) {
    let _ = writeln!(out, "── {title}");
    let shrunk = if f.shrunk { " (then shrunk to the request and document below)" } else { "" };
    let _ = writeln!(out, "   repro: scripts/exec-diff --seed {} --case {}{shrunk}", f.case.seed, f.case.index);
    let _ = writeln!(out, "   profile: {}  flow: {:?}  step: {}", f.case.profile.name(), f.case.flow, f.step);
    let _ = writeln!(out, "   approvals: {}", f.case.approvals);
    let _ = writeln!(out, "   params:    {}", f.case.params);
    let _ = writeln!(out, "   ours:      {}", f.ours);
    let _ = writeln!(out, "   upstream:  {}", f.theirs);
}

/// How many times a case that showed an unexplained difference is run again before the
/// difference counts: a difference that does not repeat came from scheduling (a process that
/// outlives the command writing after the output window closed on one node, a time bound
/// hit on a loaded machine), not from what the nodes decide.
pub const RERUNS: usize = 2;

/// All findings of a run.
#[derive(Default)]
pub struct Tally {
    classes: BTreeMap<(Severity, String), Class>,
    known: BTreeMap<&'static str, Class>,
    /// Cases whose difference did not repeat when run again: their first difference.
    settled: Class,
    /// Cases compared.
    pub cases: u64,
    /// Steps compared.
    pub steps: u64,
}

impl Tally {
    /// Adds one case's steps.
    pub fn add(&mut self, case: &Case, steps: &[StepResult]) {
        self.cases += 1;
        self.steps += steps.len() as u64;
        let (found, known) = sort_out(case, steps);
        for (k, f) in known {
            self.known.entry(k).or_default().add(f);
        }
        for (key, f) in found {
            self.classes.entry(key).or_default().add(f);
        }
    }

    /// Adds a case whose first run differed (`first`) and whose re-run compared equal
    /// (`rerun`): counted and shown apart, never as an unexplained difference.
    pub fn add_settled(&mut self, case: &Case, first: &[StepResult], rerun: &[StepResult]) {
        self.add(case, rerun);
        if let Some((_, f)) = sort_out(case, first).0.into_iter().next() {
            self.settled.add(f);
        }
    }

    /// Cases whose difference did not repeat when run again.
    pub fn settled_cases(&self) -> usize {
        self.settled.cases.len()
    }

    /// The class examples that came from cases of `profile` (the ones a shrinker can re-run
    /// with the nodes of that profile).
    pub fn examples_of(&self, profile: crate::gen::Profile) -> Vec<(ClassKey, Finding)> {
        self.classes
            .iter()
            .filter_map(|(k, c)| c.example.clone().filter(|f| f.case.profile == profile).map(|f| (k.clone(), f)))
            .collect()
    }

    /// Replaces a class's example with a smaller reproduction.
    pub fn set_example(&mut self, key: &ClassKey, f: Finding) {
        if let Some(c) = self.classes.get_mut(key) {
            c.example = Some(f);
        }
    }

    /// Classes of unexplained differences.
    pub fn class_count(&self) -> usize {
        self.classes.len()
    }

    /// Cases that showed a known, deliberate difference (and no other counted one on that step).
    pub fn known_cases(&self) -> usize {
        self.known.values().flat_map(|c| c.cases.iter()).collect::<BTreeSet<_>>().len()
    }

    /// Cases with at least one unexplained difference.
    pub fn unexplained_cases(&self) -> usize {
        self.classes.values().flat_map(|c| c.cases.iter()).collect::<BTreeSet<_>>().len()
    }

    /// Every class's minimal example, most severe first, then one example of each known
    /// difference (so the exclusions can be checked by eye).
    pub fn examples(&self) -> String {
        let mut out = String::new();
        for ((sev, name), class) in &self.classes {
            if let Some(f) = &class.example {
                write_example(&mut out, &format!("[{}] {name}  ({} cases)", sev.label(), class.cases.len()), f);
            }
        }
        for (name, class) in &self.known {
            if let Some(f) = &class.example {
                write_example(&mut out, &format!("[known, excluded] {name}  ({} cases)", class.cases.len()), f);
            }
        }
        if let Some(f) = &self.settled.example {
            let title = format!("[equal when run again] its first run differed  ({} cases)", self.settled.cases.len());
            write_example(&mut out, &title, f);
        }
        out
    }

    /// The summary table: unexplained classes by severity, then the known differences.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{:<18} {:>6}  class", "severity", "cases");
        for ((sev, name), class) in &self.classes {
            let _ = writeln!(out, "{:<18} {:>6}  {}", sev.label(), class.cases.len(), name);
        }
        let _ = writeln!(out, "\nknown deliberate differences (excluded):");
        for k in crate::known::KNOWN {
            let n = self.known.get(k.name).map_or(0, |c| c.cases.len());
            let _ = writeln!(out, "{:<18} {:>6}  {} — {}", "known", n, k.name, k.reason);
        }
        let settled: Vec<String> = self.settled.cases.iter().map(u64::to_string).collect();
        let _ = writeln!(
            out,
            "{:<18} {:>6}  differed once, then compared equal in a re-run (scheduling, not policy){}{}",
            "equal when re-run",
            settled.len(),
            if settled.is_empty() { "" } else { ": cases " },
            settled.join(", ")
        );
        let _ = writeln!(
            out,
            "\n{} cases, {} steps compared; {} classes; {} cases with unexplained differences",
            self.cases,
            self.steps,
            self.classes.len(),
            self.unexplained_cases()
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen::{Flow, Profile};
    use serde_json::json;

    fn case(index: u64, command: &str) -> Case {
        Case {
            seed: 1,
            index,
            profile: Profile::Plain,
            approvals: json!({"version": 1}),
            params: json!({"command": [command]}),
            flow: Flow::Run,
            tags: vec![],
        }
    }

    fn differing(step: &str, stdout: &str) -> StepResult {
        StepResult {
            step: step.into(),
            ours: json!({"ok": true, "payload": {"stdout": stdout}}),
            theirs: json!({"ok": true, "payload": {"stdout": "upstream"}}),
        }
    }

    #[test]
    fn the_report_does_not_depend_on_the_order_cases_finish_in() {
        let cases = [
            (case(7, "long-command"), vec![differing("run", "a")]),
            (case(3, "short"), vec![differing("run", "b"), differing("rerun", "c")]),
            (case(5, "short"), vec![differing("run", "d")]),
            (case(9, "same"), vec![]),
        ];
        let report = |order: &[usize]| {
            let mut t = Tally::default();
            for i in order {
                t.add(&cases[*i].0, &cases[*i].1);
            }
            (t.examples(), t.table())
        };
        let forward = report(&[0, 1, 2, 3]);
        assert_eq!(forward, report(&[3, 2, 1, 0]));
        assert_eq!(forward, report(&[2, 0, 3, 1]));
        assert!(forward.0.contains("--case 3"), "the smallest, lowest-numbered case is the example: {}", forward.0);
    }

    #[test]
    fn a_difference_that_does_not_repeat_is_listed_apart() {
        let mut t = Tally::default();
        let same = StepResult { step: "run".into(), ours: json!({"ok": true}), theirs: json!({"ok": true}) };
        t.add_settled(&case(4, "setsid"), &[differing("run", "a")], &[same]);
        assert_eq!((t.unexplained_cases(), t.settled_cases(), t.cases), (0, 1, 1));
        assert!(t.table().contains("cases 4"), "{}", t.table());
        assert!(t.examples().contains("[equal when run again]"));
    }
}
