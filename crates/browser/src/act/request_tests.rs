//! Normalisation cases, generated over every kind and the fields each one requires, plus
//! the route-level codes.

use serde_json::{json, Value};

use super::*;

/// A minimal valid body for each kind.
fn valid(kind: &str) -> Value {
    match kind {
        "click" | "hover" | "scrollIntoView" => json!({"kind": kind, "ref": "e1"}),
        "clickCoords" => json!({"kind": kind, "x": 1, "y": 2}),
        "type" => json!({"kind": kind, "ref": "e1", "text": "hi"}),
        "insertText" => json!({"kind": kind, "text": "hi"}),
        "press" => json!({"kind": kind, "key": "Enter"}),
        "drag" => json!({"kind": kind, "startRef": "e1", "endRef": "e2"}),
        "select" => json!({"kind": kind, "ref": "e1", "values": ["a"]}),
        "fill" => json!({"kind": kind, "fields": [{"ref": "e1", "value": "x"}]}),
        "resize" => json!({"kind": kind, "width": 800, "height": 600}),
        "wait" => json!({"kind": kind, "timeMs": 10}),
        "evaluate" => json!({"kind": kind, "fn": "() => 1"}),
        "close" => json!({"kind": kind}),
        "batch" => json!({"kind": kind, "actions": [{"kind": "press", "key": "a"}]}),
        other => panic!("no sample for {other}"),
    }
}

/// The fields each kind requires and upstream's text when each one is missing.
fn required(kind: &str) -> Vec<(&'static str, &'static str)> {
    match kind {
        "click" => vec![("ref", "click requires ref or selector")],
        "hover" => vec![("ref", "hover requires ref or selector")],
        "scrollIntoView" => vec![("ref", "scrollIntoView requires ref or selector")],
        "clickCoords" => {
            vec![("x", "clickCoords requires non-negative x and y"), ("y", "clickCoords requires non-negative x and y")]
        }
        "type" => vec![("ref", "type requires ref or selector"), ("text", "type requires text")],
        "insertText" => vec![("text", "insertText requires text")],
        "press" => vec![("key", "press requires key")],
        "drag" => vec![
            ("startRef", "drag requires startRef or startSelector"),
            ("endRef", "drag requires endRef or endSelector"),
        ],
        "select" => vec![
            ("ref", "select requires ref/selector and values"),
            ("values", "select requires ref/selector and values"),
        ],
        "fill" => vec![("fields", "fill requires fields")],
        "resize" => vec![
            ("width", "resize requires positive width and height"),
            ("height", "resize requires positive width and height"),
        ],
        "wait" => {
            vec![("timeMs", "wait requires at least one of: timeMs, text, textGone, selector, url, loadState, fn")]
        }
        "evaluate" => vec![("fn", "evaluate requires fn")],
        "batch" => vec![("actions", "actions are required")],
        _ => vec![],
    }
}

fn norm(v: &Value) -> Result<Act, String> {
    normalize(v.as_object().unwrap(), 0, false)
}

fn code(r: Result<Act, RouteError>) -> (u16, Option<&'static str>, String) {
    let e = r.unwrap_err();
    (e.status, e.code, e.message)
}

#[test]
fn every_kind_accepts_its_minimal_body() {
    for kind in ACT_KINDS {
        let act = norm(&valid(kind)).unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert_eq!(act.kind(), *kind);
        assert!(check(&valid(kind), true).is_ok(), "{kind}");
    }
}

#[test]
fn every_required_field_missing_empty_or_mistyped_is_refused_with_upstreams_text() {
    for kind in ACT_KINDS {
        for (field, msg) in required(kind) {
            for bad in [None, Some(json!(null)), Some(json!("")), Some(json!({})), Some(json!([]))] {
                let mut body = valid(kind);
                match &bad {
                    None => {
                        body.as_object_mut().unwrap().remove(field);
                    }
                    Some(v) => body[field] = v.clone(),
                }
                // Strings that are merely empty are fine for free text.
                if matches!((field, &bad), ("text", Some(Value::String(_)))) {
                    assert!(norm(&body).is_ok(), "{kind}.{field}={bad:?}");
                    continue;
                }
                let err = norm(&body).expect_err(&format!("{kind}.{field}={bad:?} must be refused"));
                let finite = format!("{field} must be a finite number.");
                let integer = format!("{field} must be a non-negative integer.");
                assert!(err == msg || err == finite || err == integer, "{kind}.{field}={bad:?}: {err}");
                let (status, c, m) = code(check(&body, true));
                assert_eq!((status, c, m), (400, Some("ACT_INVALID_REQUEST"), err));
            }
        }
    }
}

#[test]
fn selectors_stand_in_for_refs_only_where_upstream_allows_them() {
    for kind in ACT_KINDS {
        let mut body = valid(kind);
        body["selector"] = json!("#x");
        let allowed = ["batch", "click", "drag", "hover", "scrollIntoView", "select", "type", "wait"].contains(kind);
        match check(&body, true) {
            Ok(_) => assert!(allowed, "{kind} must refuse selector"),
            Err(e) => {
                assert!(!allowed, "{kind}: {e}");
                assert_eq!(
                    (e.status, e.code, e.message.as_str()),
                    (400, Some("ACT_SELECTOR_UNSUPPORTED"), SELECTOR_UNSUPPORTED)
                );
            }
        }
    }
    for kind in ["click", "hover", "scrollIntoView", "type", "select"] {
        let mut body = valid(kind);
        body.as_object_mut().unwrap().remove("ref");
        body["selector"] = json!("#go");
        let act = norm(&body).unwrap();
        let el = match act.action {
            Action::Click { el, .. }
            | Action::Hover { el, .. }
            | Action::ScrollIntoView { el, .. }
            | Action::Type { el, .. }
            | Action::Select { el, .. } => el,
            other => panic!("{other:?}"),
        };
        assert_eq!(el, Elem::Selector("#go".into()));
    }
    let both = norm(&json!({"kind": "click", "ref": "e3", "selector": "#x"})).unwrap();
    assert!(matches!(both.action, Action::Click { el: Elem::Ref(ref r), .. } if r == "e3"), "a ref wins");
}

#[test]
fn unknown_or_missing_kinds() {
    for body in [json!({}), json!({"kind": "tap"}), json!({"kind": 3}), json!({"kind": "Click"}), json!([])] {
        assert_eq!(code(check(&body, true)), (400, Some("ACT_KIND_REQUIRED"), "kind is required".to_string()));
    }
    let nested = json!({"kind": "batch", "actions": [{"kind": "tap"}]});
    assert_eq!(code(check(&nested, true)), (400, Some("ACT_INVALID_REQUEST"), "kind is required".to_string()));
}

#[test]
fn timeouts_and_delays_on_every_kind_that_reads_them() {
    for kind in
        ["click", "clickCoords", "type", "hover", "scrollIntoView", "drag", "select", "fill", "wait", "evaluate"]
    {
        for bad in [json!(0), json!(-5), json!("soon"), json!(1.5), json!(true)] {
            let mut body = valid(kind);
            body["timeoutMs"] = bad.clone();
            assert_eq!(norm(&body).unwrap_err(), "timeoutMs must be a positive integer.", "{kind} {bad}");
        }
        let mut body = valid(kind);
        body["timeoutMs"] = json!("2500");
        assert!(norm(&body).is_ok(), "{kind}");
    }
    for (kind, label) in [("click", "click delayMs"), ("clickCoords", "clickCoords delayMs")] {
        let mut body = valid(kind);
        body["delayMs"] = json!(5001);
        assert_eq!(norm(&body).unwrap_err(), format!("{label} exceeds maximum of 5000ms"));
        body["delayMs"] = json!(-1);
        assert_eq!(norm(&body).unwrap_err(), "delayMs must be a non-negative integer.");
        body["delayMs"] = json!(5000);
        assert!(norm(&body).is_ok());
    }
    let mut press = valid("press");
    press["delayMs"] = json!(99_999);
    assert!(norm(&press).is_ok(), "press delay is unbounded upstream");
    let mut wait = valid("wait");
    wait["timeMs"] = json!(30_001);
    assert_eq!(norm(&wait).unwrap_err(), "wait timeMs exceeds maximum of 30000ms");
}

#[test]
fn field_specific_refusals() {
    let cases = [
        (json!({"kind": "click", "ref": "e1", "button": "back"}), "click button must be left|right|middle"),
        (json!({"kind": "clickCoords", "x": 1, "y": 1, "button": "x"}), "clickCoords button must be left|right|middle"),
        (
            json!({"kind": "click", "ref": "e1", "modifiers": ["Hyper"]}),
            "modifiers must be Alt|Control|ControlOrMeta|Meta|Shift",
        ),
        (json!({"kind": "clickCoords", "x": "a", "y": 1}), "x must be a finite number."),
        (json!({"kind": "clickCoords", "x": -1, "y": 1}), "clickCoords requires non-negative x and y"),
        (json!({"kind": "resize", "width": 0, "height": 5}), "resize requires positive width and height"),
        (json!({"kind": "resize", "width": "wide", "height": 5}), "resize requires positive width and height"),
        (json!({"kind": "resize", "width": 8193, "height": 5}), "resize width and height must not exceed 8192"),
        (json!({"kind": "select", "ref": "e1", "values": [1, 2]}), "select requires ref/selector and values"),
        (json!({"kind": "fill", "fields": ["x"]}), "fields[0] must be an object"),
        (json!({"kind": "fill", "fields": [{"value": 1}]}), "fields[0] must include ref"),
        (
            json!({"kind": "fill", "fields": [{"ref": "e1"}, {"ref": "e2", "name": "n"}]}),
            "fields[1] unsupported field key \"name\"; supported keys are ref, type, value",
        ),
        (
            json!({"kind": "fill", "fields": [{"ref": "e1", "value": [1]}]}),
            "fields[0] value must be a string, number, boolean, or null",
        ),
        (json!({"kind": "fill", "fields": "e1"}), "fill requires fields"),
        (
            json!({"kind": "wait", "loadState": "idle"}),
            "wait requires at least one of: timeMs, text, textGone, selector, url, loadState, fn",
        ),
        (json!({"kind": "batch", "actions": [1]}), "batch actions must be objects"),
        (json!({"kind": "batch", "actions": [{"kind": "batch", "actions": []}]}), "batch requires actions"),
        (json!({"kind": "insertText", "text": 5}), "insertText requires text"),
    ];
    for (body, msg) in cases {
        assert_eq!(norm(&body).unwrap_err(), msg, "{body}");
    }
}

#[test]
fn batches_are_bounded_in_size_and_depth() {
    let press = json!({"kind": "press", "key": "a"});
    let hundred: Vec<Value> = (0..100).map(|_| press.clone()).collect();
    assert!(norm(&json!({"kind": "batch", "actions": hundred})).is_ok());
    let many: Vec<Value> = (0..101).map(|_| press.clone()).collect();
    assert_eq!(norm(&json!({"kind": "batch", "actions": many})).unwrap_err(), "batch exceeds maximum of 100 actions");
    // 50 inner + 1 nested batch + 50 outer = 101.
    let fifty: Vec<Value> = (0..50).map(|_| press.clone()).collect();
    let mut outer = fifty.clone();
    outer.push(json!({"kind": "batch", "actions": fifty}));
    assert_eq!(norm(&json!({"kind": "batch", "actions": outer})).unwrap_err(), "batch exceeds maximum of 100 actions");
    let nest = |levels: usize| {
        let mut v = press.clone();
        for _ in 0..levels {
            v = json!({"kind": "batch", "actions": [v]});
        }
        v
    };
    assert!(norm(&nest(6)).is_ok(), "the top batch plus five nested ones");
    assert_eq!(norm(&nest(7)).unwrap_err(), "batch nesting exceeds maximum depth of 5");
}

#[test]
fn press_aliases_and_values() {
    for (raw, want) in [
        (json!(" "), "Space"),
        (json!("esc"), "Escape"),
        (json!("ctrl+Shift+t"), "Control+Shift+t"),
        (json!("CMD+return"), "Meta+Enter"),
        (json!(" Del "), "Delete"),
        (json!("+"), "+"),
        (json!(7), "7"),
    ] {
        let a = norm(&json!({"kind": "press", "key": raw})).unwrap();
        assert_eq!(a.action, Action::Press { key: want.into(), delay_ms: None }, "{raw}");
    }
    let t = norm(&json!({"kind": "type", "ref": "e1", "text": "  keep  ", "submit": "yes"})).unwrap();
    assert!(matches!(t.action, Action::Type { ref text, submit: true, .. } if text == "  keep  "));
    let f = norm(&json!({"kind": "fill", "fields": [{"ref": " e1 ", "type": "checkbox", "value": true}, {"ref": "e2", "value": null}]}))
        .unwrap();
    let Action::Fill { fields, .. } = f.action else { panic!() };
    assert_eq!(fields[0], Field { r#ref: "e1".into(), kind: "checkbox".into(), value: Some(json!(true)) });
    assert_eq!(fields[1], Field { r#ref: "e2".into(), kind: "text".into(), value: None });
    let w = norm(&json!({"kind": "wait", "text": "Done", "loadState": "networkidle", "targetId": "t1"})).unwrap();
    assert_eq!(w.target_id.as_deref(), Some("t1"));
    assert!(
        matches!(w.action, Action::Wait(WaitFor { ref text, ref load_state, .. }) if text.as_deref() == Some("Done") && load_state.as_deref() == Some("networkidle"))
    );
}

#[test]
fn evaluation_can_be_disabled() {
    let msg = "act:evaluate is disabled by config (browser.evaluateEnabled=false).\nDocs: /tools/browser/configuration#configuration";
    assert_eq!(code(check(&valid("evaluate"), false)), (403, Some("ACT_EVALUATE_DISABLED"), msg.to_string()));
    let wait = json!({"kind": "wait", "fn": "() => true"});
    let (s, c, m) = code(check(&wait, false));
    assert_eq!((s, c), (403, Some("ACT_EVALUATE_DISABLED")));
    assert!(m.starts_with("wait --fn is disabled by config"));
    assert!(check(&valid("wait"), false).is_ok(), "a wait without fn needs no evaluation");
    // A bad body is reported before evaluation is considered.
    assert_eq!(code(check(&json!({"kind": "evaluate"}), false)).1, Some("ACT_INVALID_REQUEST"));
}
