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
}

impl Finding {
    /// How big the reproduction is; the smallest finding of a class is its example.
    fn size(&self) -> usize {
        self.case.params.to_string().len() + self.case.approvals.to_string().len()
    }
}

#[derive(Default)]
struct Class {
    cases: BTreeSet<u64>,
    example: Option<Finding>,
}

/// All findings of a run.
#[derive(Default)]
pub struct Tally {
    classes: BTreeMap<(Severity, String), Class>,
    known: BTreeMap<&'static str, BTreeSet<u64>>,
    /// Cases compared.
    pub cases: u64,
    /// Steps compared.
    pub steps: u64,
}

impl Tally {
    /// Adds one case's steps.
    pub fn add(&mut self, case: &Case, steps: &[StepResult]) {
        self.cases += 1;
        let mut poisoned: Option<&'static Known> = None;
        for s in steps {
            self.steps += 1;
            // A step only one side reached is the consequence of the earlier step that differed
            // (e.g. one side's prepare refused), which is already counted.
            if s.ours == s.theirs || s.ours.is_null() || s.theirs.is_null() {
                continue;
            }
            let known = poisoned.or_else(|| explain(case, &s.step, &s.ours, &s.theirs));
            if let Some(k) = known {
                self.known.entry(k.name).or_default().insert(case.index);
                if k.poisons {
                    poisoned = Some(k);
                }
                continue;
            }
            let (sev, name) = classify(&s.step, &s.ours, &s.theirs);
            let class = self.classes.entry((sev, name)).or_default();
            class.cases.insert(case.index);
            let f =
                Finding { case: case.clone(), step: s.step.clone(), ours: s.ours.clone(), theirs: s.theirs.clone() };
            if class.example.as_ref().is_none_or(|e| f.size() < e.size()) {
                class.example = Some(f);
            }
        }
    }

    /// Cases with at least one unexplained difference.
    pub fn unexplained_cases(&self) -> usize {
        self.classes.values().flat_map(|c| c.cases.iter()).collect::<BTreeSet<_>>().len()
    }

    /// Every class's minimal example, most severe first.
    pub fn examples(&self) -> String {
        let mut out = String::new();
        for ((sev, name), class) in &self.classes {
            let Some(f) = &class.example else { continue };
            let _ = writeln!(out, "── [{}] {name}  ({} cases)", sev.label(), class.cases.len());
            let _ = writeln!(out, "   repro: scripts/exec-diff --seed {} --case {}", f.case.seed, f.case.index);
            let _ = writeln!(out, "   profile: {}  flow: {:?}  step: {}", f.case.profile.name(), f.case.flow, f.step);
            let _ = writeln!(out, "   approvals: {}", f.case.approvals);
            let _ = writeln!(out, "   params:    {}", f.case.params);
            let _ = writeln!(out, "   ours:      {}", f.ours);
            let _ = writeln!(out, "   upstream:  {}", f.theirs);
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
            let n = self.known.get(k.name).map_or(0, BTreeSet::len);
            let _ = writeln!(out, "{:<18} {:>6}  {} — {}", "known", n, k.name, k.reason);
        }
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
