//! The path globs of the file-transfer policy (`allowReadPaths`, `allowWritePaths`,
//! `denyPaths`), matched as upstream matches them: `minimatch(path, pattern, {dot: true})`.
//!
//! What that means, each point observed against minimatch 10.2.6 (the peer's copy):
//! - a leading `#` makes the pattern a comment that matches nothing, and leading `!`s negate;
//! - braces expand first (`{a,b}`, numeric and letter ranges `{1..3}`), then pattern and path
//!   split on runs of `/`;
//! - a segment that is exactly `**` matches any number of segments, but never swallows a `.`
//!   or `..` segment, and a trailing `**` needs at least one more segment (`/a/**` does not
//!   match `/a`, but matches `/a/`);
//! - inside a segment, `*` and `?` match any character (dotfiles included, `dot: true`) except
//!   that a wildcard never matches the whole segment `.` or `..`; `[...]` classes take `!`/`^`
//!   negation, ranges and the POSIX `[:name:]` classes; `\` escapes;
//! - a path with one trailing `/` more than the pattern still matches.
//!
//! minimatch's extglobs (`+(a|b)`, `@(…)`, `!(…)`, `?(…)`, `*(…)`) are not implemented: such
//! a pattern is [`Glob::Unsupported`], and the policy treats it as matching for `denyPaths`
//! and as not matching for the allow lists, so an unsupported pattern can only refuse more.

/// One compiled pattern.
#[derive(Debug, Clone)]
pub enum Glob {
    /// A pattern this matcher implements.
    Compiled {
        /// The brace expansions, each split into segments.
        alternatives: Vec<Vec<Segment>>,
        /// An odd number of leading `!`.
        negated: bool,
    },
    /// A `#` comment: matches nothing.
    Comment,
    /// A pattern using syntax this matcher does not implement (extglobs).
    Unsupported,
}

/// One path segment of a pattern.
#[derive(Debug, Clone, PartialEq)]
pub enum Segment {
    /// `**` alone: any number of segments.
    Globstar,
    /// Anything else, as a sequence of tokens.
    Tokens(Vec<Token>),
}

/// One element of a segment pattern.
#[derive(Debug, Clone, PartialEq)]
pub enum Token {
    /// A literal character.
    Char(char),
    /// `?`.
    AnyOne,
    /// `*` (runs of `*` inside a segment are one).
    AnyRun,
    /// `[...]`: (negated, items).
    Class(bool, Vec<ClassItem>),
}

/// One item of a bracket class.
#[derive(Debug, Clone, PartialEq)]
pub enum ClassItem {
    /// A single character.
    Char(char),
    /// An inclusive range.
    Range(char, char),
    /// A POSIX class name such as `alpha`.
    Posix(String),
}

impl Glob {
    /// Compiles `pattern` (already trimmed and `~`-expanded by the caller).
    pub fn new(pattern: &str) -> Glob {
        if pattern.starts_with('#') {
            return Glob::Comment;
        }
        let bangs = pattern.chars().take_while(|c| *c == '!').count();
        let body = &pattern[bangs..];
        if has_extglob(body) {
            return Glob::Unsupported;
        }
        let mut alternatives = Vec::new();
        for expanded in expand_braces(body) {
            let segments = expanded.split('/').filter(|s| !s.is_empty()).map(compile_segment);
            // A leading or trailing `/` is an empty segment; runs of `/` collapse.
            let mut parts: Vec<Segment> = Vec::new();
            if expanded.starts_with('/') {
                parts.push(Segment::Tokens(Vec::new()));
            }
            parts.extend(segments);
            if expanded.ends_with('/') && expanded.len() > 1 {
                parts.push(Segment::Tokens(Vec::new()));
            }
            // Consecutive globstars mean the same as one.
            parts.dedup_by(|a, b| *a == Segment::Globstar && *b == Segment::Globstar);
            alternatives.push(parts);
        }
        Glob::Compiled { alternatives, negated: bangs % 2 == 1 }
    }

    /// Whether the pattern is one this matcher implements.
    pub fn is_supported(&self) -> bool {
        !matches!(self, Glob::Unsupported)
    }

    /// Whether `path` matches (an unsupported pattern answers `false`; see the module doc).
    pub fn matches(&self, path: &str) -> bool {
        let Glob::Compiled { alternatives, negated } = self else {
            return false;
        };
        let mut file: Vec<&str> = Vec::new();
        if path.starts_with('/') {
            file.push("");
        }
        file.extend(path.split('/').filter(|s| !s.is_empty()));
        if path.ends_with('/') && path.len() > 1 {
            file.push("");
        }
        let hit = alternatives.iter().any(|parts| {
            if parts.is_empty() {
                return path.is_empty();
            }
            match_one(&file, parts)
        });
        hit != *negated
    }
}

fn has_extglob(pattern: &str) -> bool {
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i + 1 < chars.len() {
        if chars[i] == '\\' {
            i += 2;
            continue;
        }
        if matches!(chars[i], '+' | '@' | '!' | '?' | '*') && chars[i + 1] == '(' {
            return true;
        }
        i += 1;
    }
    false
}

/// minimatch's `matchOne` with `dot: true` and no `partial`.
fn match_one(file: &[&str], pattern: &[Segment]) -> bool {
    let (mut fi, mut pi) = (0, 0);
    while fi < file.len() && pi < pattern.len() {
        match &pattern[pi] {
            Segment::Globstar => {
                let rest = &pattern[pi + 1..];
                if rest.is_empty() {
                    return file[fi..].iter().all(|s| *s != "." && *s != "..");
                }
                let mut fr = fi;
                while fr < file.len() {
                    if match_one(&file[fr..], rest) {
                        return true;
                    }
                    if file[fr] == "." || file[fr] == ".." {
                        break;
                    }
                    fr += 1;
                }
                return false;
            }
            Segment::Tokens(tokens) => {
                if !match_segment(tokens, file[fi]) {
                    return false;
                }
            }
        }
        fi += 1;
        pi += 1;
    }
    if fi == file.len() && pi == pattern.len() {
        true
    } else if fi == file.len() {
        false
    } else {
        // One trailing empty segment (a trailing `/`) on the path is fine.
        fi == file.len() - 1 && file[fi].is_empty()
    }
}

fn match_segment(tokens: &[Token], segment: &str) -> bool {
    let magic = tokens.iter().any(|t| !matches!(t, Token::Char(_)));
    if magic && (segment == "." || segment == "..") && tokens.first() != Some(&Token::Char('.')) {
        return false;
    }
    let chars: Vec<char> = segment.chars().collect();
    match_tokens(tokens, &chars)
}

fn match_tokens(tokens: &[Token], s: &[char]) -> bool {
    match tokens.split_first() {
        None => s.is_empty(),
        Some((Token::AnyRun, rest)) => (0..=s.len()).any(|k| match_tokens(rest, &s[k..])),
        Some((t, rest)) => {
            let Some((c, tail)) = s.split_first() else {
                return false;
            };
            let ok = match t {
                Token::Char(x) => x == c,
                Token::AnyOne => true,
                Token::Class(negated, items) => items.iter().any(|i| class_item_matches(i, *c)) != *negated,
                Token::AnyRun => unreachable!("handled above"),
            };
            ok && match_tokens(rest, tail)
        }
    }
}

fn class_item_matches(item: &ClassItem, c: char) -> bool {
    match item {
        ClassItem::Char(x) => *x == c,
        ClassItem::Range(a, b) => (*a..=*b).contains(&c),
        ClassItem::Posix(name) => match name.as_str() {
            "alnum" => c.is_alphanumeric(),
            "alpha" => c.is_alphabetic(),
            "ascii" => c.is_ascii(),
            "blank" => c == ' ' || c == '\t',
            "cntrl" => c.is_control(),
            "digit" => c.is_ascii_digit(),
            "graph" => !c.is_control() && !c.is_whitespace(),
            "lower" => c.is_lowercase(),
            "print" => !c.is_control(),
            "punct" => c.is_ascii_punctuation(),
            "space" => c.is_whitespace(),
            "upper" => c.is_uppercase(),
            "word" => c.is_alphanumeric() || c == '_',
            "xdigit" => c.is_ascii_hexdigit(),
            _ => false,
        },
    }
}

fn compile_segment(segment: &str) -> Segment {
    if segment == "**" {
        return Segment::Globstar;
    }
    let chars: Vec<char> = segment.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' if i + 1 < chars.len() => {
                tokens.push(Token::Char(chars[i + 1]));
                i += 2;
                continue;
            }
            '*' => {
                if tokens.last() != Some(&Token::AnyRun) {
                    tokens.push(Token::AnyRun);
                }
            }
            '?' => tokens.push(Token::AnyOne),
            '[' => {
                if let Some((class, used)) = parse_class(&chars[i..]) {
                    tokens.push(class);
                    i += used;
                    continue;
                }
                tokens.push(Token::Char('['));
            }
            c => tokens.push(Token::Char(c)),
        }
        i += 1;
    }
    Segment::Tokens(tokens)
}

/// Parses a `[...]` class at the start of `chars`: the token and the characters it used, or
/// `None` when unclosed (then `[` is literal).
fn parse_class(chars: &[char]) -> Option<(Token, usize)> {
    let mut i = 1;
    let negated = matches!(chars.get(i), Some('!' | '^'));
    if negated {
        i += 1;
    }
    let mut items = Vec::new();
    let mut first = true;
    while i < chars.len() {
        let c = chars[i];
        if c == ']' && !first {
            return Some((Token::Class(negated, items), i + 1));
        }
        first = false;
        if c == '[' && chars.get(i + 1) == Some(&':') {
            let rest: String = chars[i + 2..].iter().collect();
            if let Some(end) = rest.find(":]") {
                items.push(ClassItem::Posix(rest[..end].to_string()));
                i += 2 + rest[..end].chars().count() + 2;
                continue;
            }
        }
        let c = if c == '\\' && i + 1 < chars.len() {
            i += 1;
            chars[i]
        } else {
            c
        };
        if chars.get(i + 1) == Some(&'-') && chars.get(i + 2).is_some_and(|e| *e != ']') {
            items.push(ClassItem::Range(c, chars[i + 2]));
            i += 3;
            continue;
        }
        items.push(ClassItem::Char(c));
        i += 1;
    }
    None
}

/// Bash-style brace expansion as minimatch's `brace-expansion` does it: `{a,b}` alternatives
/// (nested), `{1..3}` / `{a..c}` sequences; a brace without a comma or range is literal.
pub fn expand_braces(pattern: &str) -> Vec<String> {
    let chars: Vec<char> = pattern.chars().collect();
    // Find the first top-level `{` that has a matching `}` with a comma or `..` inside.
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '\\' {
            i += 2;
            continue;
        }
        if chars[i] == '{' {
            if let Some(close) = matching_brace(&chars, i) {
                let inner: String = chars[i + 1..close].iter().collect();
                let prefix: String = chars[..i].iter().collect();
                let suffix: String = chars[close + 1..].iter().collect();
                let options = split_top_level(&inner).or_else(|| sequence(&inner));
                if let Some(options) = options {
                    let mut out = Vec::new();
                    for option in options {
                        for tail in expand_braces(&format!("{option}{suffix}")) {
                            out.push(format!("{prefix}{tail}"));
                        }
                    }
                    return out;
                }
            }
        }
        i += 1;
    }
    vec![pattern.to_string()]
}

fn matching_brace(chars: &[char], open: usize) -> Option<usize> {
    let mut depth = 0;
    let mut i = open;
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 1,
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

fn split_top_level(inner: &str) -> Option<Vec<String>> {
    let mut parts = vec![String::new()];
    let mut depth = 0;
    let mut escaped = false;
    for c in inner.chars() {
        if escaped {
            parts.last_mut().expect("one part").push(c);
            escaped = false;
            continue;
        }
        match c {
            '\\' => {
                escaped = true;
                parts.last_mut().expect("one part").push(c);
                continue;
            }
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(String::new());
                continue;
            }
            _ => {}
        }
        parts.last_mut().expect("one part").push(c);
    }
    (parts.len() > 1).then_some(parts)
}

fn sequence(inner: &str) -> Option<Vec<String>> {
    let (a, b) = inner.split_once("..")?;
    if let (Ok(x), Ok(y)) = (a.parse::<i64>(), b.parse::<i64>()) {
        let range: Vec<i64> = if x <= y { (x..=y).collect() } else { (y..=x).rev().collect() };
        return Some(range.into_iter().map(|n| n.to_string()).collect());
    }
    let (mut ca, mut cb) = (a.chars(), b.chars());
    match (ca.next(), ca.next(), cb.next(), cb.next()) {
        (Some(x), None, Some(y), None) if x.is_ascii_alphabetic() && y.is_ascii_alphabetic() => {
            let range: Vec<char> = if x <= y { (x..=y).collect() } else { (y..=x).rev().collect() };
            Some(range.into_iter().map(String::from).collect())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each case was run through minimatch 10.2.6 with `{dot: true}` (the peer's copy); the
    /// expected value is what it answered.
    #[test]
    fn agrees_with_minimatch_dot_true() {
        let cases = [
            ("/a/**", "/a", false),
            ("/a/**", "/a/", true),
            ("/a/**", "/a/b/c", true),
            ("/a/*", "/a/.x", true),
            ("/a/*", "/a/.", false),
            ("/a/**", "/a/./b", false),
            ("/a/**/c", "/a/c", true),
            ("/a/**/c", "/a/b/c", true),
            ("/a/{b,c}/*", "/a/c/d", true),
            ("!/a/**", "/b", true),
            ("#x", "#x", false),
            ("/a/b*", "/a/bcd", true),
            ("/a/?", "/a/b", true),
            ("/a/[bc]", "/a/c", true),
            ("/a/[!bc]", "/a/c", false),
            ("/a//b", "/a/b", true),
            ("/a/b", "/a//b", true),
            ("/a/**", "/a/b/", true),
            ("/a/b", "/a/b/", true),
            ("/a/**/", "/a/b", false),
            ("**", "/a", true),
            ("/a/{1..3}", "/a/2", true),
            ("/a/b**", "/a/bc", true),
            ("/a/**b", "/a/xb", true),
            ("/a/\\*", "/a/*", true),
            ("/a/[[:alpha:]]", "/a/x", true),
            ("", "", true),
            ("/a/**/**/b", "/a/b", true),
            ("/a/*/", "/a/b/", true),
            ("/a/*/", "/a/b", false),
        ];
        for (pattern, path, expected) in cases {
            assert_eq!(Glob::new(pattern).matches(path), expected, "{pattern:?} vs {path:?}");
        }
    }

    #[test]
    fn extglobs_are_reported_unsupported() {
        assert!(!Glob::new("/a/+(b)").is_supported());
        assert!(Glob::new("/a/\\+(b)").is_supported());
    }
}
