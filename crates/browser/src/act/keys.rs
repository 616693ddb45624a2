//! The US keyboard layout behind `press` and slow typing: for a key name (`Enter`, `a`,
//! `ArrowUp`, `KeyA`, `Digit1`, `F5`, …) the `key`, `code`, Windows key code and text that
//! Chromium's `Input.dispatchKeyEvent` needs, as Playwright's and Puppeteer's layouts give them.

/// One key of the layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct KeyDef {
    /// `KeyboardEvent.key`.
    pub key: String,
    /// `KeyboardEvent.code`.
    pub code: String,
    /// The Windows virtual key code.
    pub key_code: u32,
    /// The text the key inserts, if any.
    pub text: Option<String>,
    /// 1 for left modifiers, 3 for the keypad, else 0.
    pub location: u32,
    /// The key with Shift held (`a` → `A`, `1` → `!`).
    pub shifted: Option<(String, Option<String>)>,
}

/// Modifier bits of CDP input events.
pub(super) fn modifier_bit(key: &str) -> u32 {
    match key {
        "Alt" => 1,
        "Control" | "ControlOrMeta" => 2,
        "Meta" => 4,
        "Shift" => 8,
        _ => 0,
    }
}

/// Punctuation on the US layout: (unshifted, shifted, code, key code).
const PUNCT: &[(char, char, &str, u32)] = &[
    ('`', '~', "Backquote", 192),
    ('-', '_', "Minus", 189),
    ('=', '+', "Equal", 187),
    ('[', '{', "BracketLeft", 219),
    (']', '}', "BracketRight", 221),
    ('\\', '|', "Backslash", 220),
    (';', ':', "Semicolon", 186),
    ('\'', '"', "Quote", 222),
    (',', '<', "Comma", 188),
    ('.', '>', "Period", 190),
    ('/', '?', "Slash", 191),
];
/// Shifted digits, `0` to `9`.
const SHIFTED_DIGITS: [char; 10] = [')', '!', '@', '#', '$', '%', '^', '&', '*', '('];

/// Named keys without text: (key, code, key code, location).
const NAMED: &[(&str, &str, u32, u32)] = &[
    ("Tab", "Tab", 9, 0),
    ("Backspace", "Backspace", 8, 0),
    ("Delete", "Delete", 46, 0),
    ("Escape", "Escape", 27, 0),
    ("ArrowLeft", "ArrowLeft", 37, 0),
    ("ArrowUp", "ArrowUp", 38, 0),
    ("ArrowRight", "ArrowRight", 39, 0),
    ("ArrowDown", "ArrowDown", 40, 0),
    ("Home", "Home", 36, 0),
    ("End", "End", 35, 0),
    ("PageUp", "PageUp", 33, 0),
    ("PageDown", "PageDown", 34, 0),
    ("Insert", "Insert", 45, 0),
    ("Shift", "ShiftLeft", 16, 1),
    ("Control", "ControlLeft", 17, 1),
    ("Alt", "AltLeft", 18, 1),
    ("Meta", "MetaLeft", 91, 1),
    ("CapsLock", "CapsLock", 20, 0),
    ("ContextMenu", "ContextMenu", 93, 0),
    ("NumLock", "NumLock", 144, 0),
    ("ScrollLock", "ScrollLock", 145, 0),
    ("Pause", "Pause", 19, 0),
    ("PrintScreen", "PrintScreen", 44, 0),
];

fn def(key: &str, code: &str, key_code: u32, text: Option<&str>) -> KeyDef {
    KeyDef { key: key.into(), code: code.into(), key_code, text: text.map(str::to_string), location: 0, shifted: None }
}

fn char_def(c: char) -> Option<KeyDef> {
    let s = c.to_string();
    if c.is_ascii_lowercase() {
        let up = c.to_ascii_uppercase();
        let mut d = def(&s, &format!("Key{up}"), up as u32, Some(&s));
        d.shifted = Some((up.to_string(), Some(up.to_string())));
        return Some(d);
    }
    if c.is_ascii_uppercase() {
        return Some(def(&s, &format!("Key{c}"), c as u32, Some(&s)));
    }
    if let Some(n) = c.to_digit(10) {
        let mut d = def(&s, &format!("Digit{n}"), 48 + n, Some(&s));
        let sh = SHIFTED_DIGITS[n as usize].to_string();
        d.shifted = Some((sh.clone(), Some(sh)));
        return Some(d);
    }
    if let Some(n) = SHIFTED_DIGITS.iter().position(|d| *d == c) {
        return Some(def(&s, &format!("Digit{n}"), 48 + n as u32, Some(&s)));
    }
    for (plain, shift, code, kc) in PUNCT {
        if c == *plain {
            let mut d = def(&s, code, *kc, Some(&s));
            d.shifted = Some((shift.to_string(), Some(shift.to_string())));
            return Some(d);
        }
        if c == *shift {
            return Some(def(&s, code, *kc, Some(&s)));
        }
    }
    match c {
        ' ' => Some(def(" ", "Space", 32, Some(" "))),
        '\n' | '\r' => Some(def("Enter", "Enter", 13, Some("\r"))),
        '\t' => Some(def("Tab", "Tab", 9, None)),
        _ => None,
    }
}

/// The layout entry for a key name, a code name or a single character.
pub(super) fn lookup(name: &str) -> Option<KeyDef> {
    let mut chars = name.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        return char_def(c);
    }
    match name {
        "Enter" | "NumpadEnter" => return Some(def("Enter", name, 13, Some("\r"))),
        "Space" => return Some(def(" ", "Space", 32, Some(" "))),
        _ => {}
    }
    if let Some((key, code, kc, loc)) = NAMED.iter().find(|(k, c, ..)| *k == name || *c == name) {
        return Some(KeyDef { location: *loc, ..def(key, code, *kc, None) });
    }
    for (code, key, kc) in [
        ("ShiftRight", "Shift", 16),
        ("ControlRight", "Control", 17),
        ("AltRight", "Alt", 18),
        ("MetaRight", "Meta", 92),
    ] {
        if name == code {
            return Some(KeyDef { location: 2, ..def(key, code, kc, None) });
        }
    }
    if let Some(n) = name.strip_prefix('F').and_then(|n| n.parse::<u32>().ok()).filter(|n| (1..=24).contains(n)) {
        return Some(def(name, name, 111 + n, None));
    }
    if let Some(c) = name.strip_prefix("Key").filter(|r| r.len() == 1) {
        return c.chars().next().filter(char::is_ascii_uppercase).and_then(|c| char_def(c.to_ascii_lowercase()));
    }
    if let Some(d) = name.strip_prefix("Digit").filter(|r| r.len() == 1) {
        return d.chars().next().filter(char::is_ascii_digit).and_then(char_def);
    }
    if let Some(d) = name.strip_prefix("Numpad").filter(|r| r.len() == 1) {
        let c = d.chars().next().filter(char::is_ascii_digit)?;
        let n = c.to_digit(10)?;
        return Some(KeyDef { location: 3, ..def(d, name, 96 + n, Some(d)) });
    }
    PUNCT.iter().find(|p| p.2 == name).and_then(|p| char_def(p.0))
}

/// Playwright's chord split: `+` separates keys, but a `+` right after a separator (or
/// alone) is the Plus key itself (`Control++`, `+`).
pub(super) fn split_chord(chord: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut building = String::new();
    for c in chord.chars() {
        if c == '+' && !building.is_empty() {
            keys.push(std::mem::take(&mut building));
        } else {
            building.push(c);
        }
    }
    keys.push(building);
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_lookups() {
        let a = lookup("a").unwrap();
        assert_eq!((a.code.as_str(), a.key_code, a.text.as_deref()), ("KeyA", 65, Some("a")));
        assert_eq!(a.shifted, Some(("A".into(), Some("A".into()))));
        assert_eq!(lookup("KeyA").unwrap().key, "a");
        assert_eq!(lookup("!").unwrap().code, "Digit1");
        assert_eq!(lookup("Digit7").unwrap().key, "7");
        let enter = lookup("Enter").unwrap();
        assert_eq!((enter.key_code, enter.text.as_deref()), (13, Some("\r")));
        assert_eq!(lookup("Space").unwrap().key, " ");
        assert_eq!(lookup("ArrowUp").unwrap().key_code, 38);
        assert_eq!(lookup("F5").unwrap().key_code, 116);
        assert_eq!(lookup("Control").unwrap().location, 1);
        assert_eq!(lookup("?").unwrap().code, "Slash");
        assert_eq!(lookup("Slash").unwrap().key, "/");
        assert_eq!(lookup("Numpad5").unwrap().key_code, 101);
        assert!(lookup("Hyper").is_none());
        assert!(lookup("é").is_none());
        assert!(lookup("").is_none());
    }

    #[test]
    fn chords_split_like_playwright() {
        assert_eq!(split_chord("Control+Shift+T"), ["Control", "Shift", "T"]);
        assert_eq!(split_chord("Control++"), ["Control", "+"]);
        assert_eq!(split_chord("+"), ["+"]);
        assert_eq!(split_chord("Enter"), ["Enter"]);
        assert_eq!(modifier_bit("Shift") | modifier_bit("Control"), 10);
    }
}
