//! Shrinking a class's example: greedily drops parts of the approvals document, request fields
//! and leading wrappers, re-runs the smaller case on both nodes, and keeps it when the same
//! class of difference still shows. What is left is the part of the case the difference needs.

use serde_json::Value;

use crate::gen::command::WRAPPERS;
use crate::gen::{Case, Flow};
use crate::report::{sort_out, ClassKey, Finding};
use crate::run::{run_case, Pair, RunError};

fn without(v: &Value, path: &[&str], key: &str) -> Value {
    let mut out = v.clone();
    let mut at = &mut out;
    for p in path {
        at = &mut at[*p];
    }
    if let Some(o) = at.as_object_mut() {
        o.remove(key);
    }
    out
}

/// Smaller variants of a case, each one part lighter.
pub fn candidates(case: &Case) -> Vec<Case> {
    let mut docs = Vec::new();
    let doc = &case.approvals;
    if let Some(agents) = doc["agents"].as_object() {
        for (name, entry) in agents {
            docs.push(without(doc, &["agents"], name));
            if let Some(fields) = entry.as_object() {
                for f in fields.keys() {
                    docs.push(without(doc, &["agents", name], f));
                }
            }
            for i in 0..entry["allowlist"].as_array().map_or(0, Vec::len) {
                let mut d = doc.clone();
                if let Some(list) = d["agents"][name]["allowlist"].as_array_mut() {
                    list.remove(i);
                }
                docs.push(d);
            }
        }
    }
    if let Some(defaults) = doc["defaults"].as_object() {
        for f in defaults.keys() {
            docs.push(without(doc, &["defaults"], f));
        }
    }
    let mut out: Vec<Case> = docs.into_iter().map(|d| Case { approvals: d, ..case.clone() }).collect();
    if let Some(p) = case.params.as_object() {
        for k in p.keys().filter(|k| *k != "command") {
            out.push(Case { params: without(&case.params, &[], k), ..case.clone() });
        }
    }
    if let Some(argv) = case.params["command"].as_array() {
        let words: Vec<&str> = argv.iter().filter_map(Value::as_str).collect();
        // The longest wrapper form that matches (`command -p`, not `command` leaving `-p`).
        let strip = WRAPPERS
            .iter()
            .map(|(_, prefix)| *prefix)
            .filter(|prefix| words.len() > prefix.len() && words.starts_with(prefix))
            .map(<[&str]>::len)
            .max();
        if let Some(n) = strip {
            let mut p = case.params.clone();
            p["command"] = Value::from(words[n..].to_vec());
            out.push(Case { params: p, ..case.clone() });
        }
    }
    if let Flow::Approved { source, mutate: true } = case.flow {
        out.push(Case { flow: Flow::Approved { source, mutate: false }, ..case.clone() });
    }
    out
}

/// Re-runs each class gets when `total` are shared by `classes` classes: an even share, at
/// least one while any are allowed. A fixed share per class (rather than one budget the
/// classes use up in turn) lets classes shrink in parallel on several pairs of node hosts
/// with the same outcome as on one.
pub fn per_class_budget(total: usize, classes: usize) -> usize {
    total.checked_div(classes).map_or(0, |share| share.max(total.min(1)))
}

/// Shrinks `example` while class `key` still shows, spending at most `budget` re-runs.
pub async fn shrink(pair: &Pair, key: &ClassKey, example: Finding, budget: &mut usize) -> Result<Finding, RunError> {
    let mut best = example;
    'outer: loop {
        for cand in candidates(&best.case) {
            if *budget == 0 {
                break 'outer;
            }
            *budget -= 1;
            let steps = run_case(pair, &cand).await?;
            let (found, _) = sort_out(&cand, &steps);
            if let Some((_, f)) = found.into_iter().find(|(k, _)| k == key) {
                best = Finding { shrunk: true, ..f };
                continue 'outer;
            }
        }
        break;
    }
    Ok(best)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen::{Flow, Profile};
    use serde_json::json;

    #[test]
    fn each_class_gets_an_even_share_of_the_re_runs() {
        assert_eq!(per_class_budget(300, 0), 0);
        assert_eq!(per_class_budget(300, 45), 6);
        assert_eq!(per_class_budget(300, 1), 300);
        assert_eq!(per_class_budget(10, 45), 1, "every class gets a try");
        assert_eq!(per_class_budget(0, 45), 0, "--shrink 0 turns shrinking off");
    }

    #[test]
    fn candidates_drop_one_part_each() {
        let case = Case {
            seed: 1,
            index: 2,
            profile: Profile::Plain,
            approvals: json!({"version":1,"defaults":{"security":"allowlist"},"agents":{"*":{"ask":"off","allowlist":[{"pattern":"a"},{"pattern":"b"}]}}}),
            params: json!({"command":["nice","-n","5","echo","x"],"cwd":"@CASE@"}),
            flow: Flow::Run,
            tags: vec![],
        };
        let c = candidates(&case);
        let docs: Vec<String> = c.iter().map(|c| c.approvals.to_string()).collect();
        assert!(docs.contains(&r#"{"version":1,"defaults":{"security":"allowlist"},"agents":{}}"#.to_string()));
        assert!(docs.contains(&r#"{"version":1,"defaults":{"security":"allowlist"},"agents":{"*":{"ask":"off","allowlist":[{"pattern":"b"}]}}}"#.to_string()));
        assert!(docs.contains(&r#"{"version":1,"defaults":{},"agents":{"*":{"ask":"off","allowlist":[{"pattern":"a"},{"pattern":"b"}]}}}"#.to_string()));
        assert!(c.iter().any(|c| c.params == json!({"command":["nice","-n","5","echo","x"]})));
        assert!(
            c.iter().any(|c| c.params == json!({"command":["echo","x"],"cwd":"@CASE@"})),
            "the nice -n 5 prefix goes"
        );
        assert!(!c.iter().any(|c| c.params["command"][0] == "-n"), "never half a wrapper");
    }
}
