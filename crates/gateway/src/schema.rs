//! Strict validation of request params, with the error text the real Gateway produces.
//!
//! Upstream validates every method's params against closed TypeBox objects: unknown fields are
//! refused, `null` is not an "optional string", and the first failure becomes
//! `invalid <method> params: at <path>: <message>` (`protocol.md` §2). Clients branch on those
//! messages in logs and tests, so we reproduce them from a small declarative schema instead of
//! serde's own wording.

use serde_json::{Map, Value};

/// The first violation found in a value: where (a JSON pointer, empty for the value itself)
/// and what. Its text is upstream's: `at <path>: <message>` inside the value; at the value
/// itself the message alone, except an unexpected property, which is `at root: …` (checked
/// side by side with the real Gateway).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SchemaError {
    /// Where, as a JSON pointer (`/client/id`, `/1`), or empty for the value itself.
    pub path: String,
    /// What is wrong there.
    pub reason: Violation,
}

impl std::fmt::Display for SchemaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.path.as_str(), &self.reason) {
            ("", Violation::UnexpectedProperty(_)) => write!(f, "at root: {}", self.reason),
            ("", reason) => write!(f, "{reason}"),
            (path, reason) => write!(f, "at {path}: {reason}"),
        }
    }
}

/// What is wrong at a [`SchemaError`]'s path, in upstream's (Ajv's) words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    /// Not a string.
    #[error("must be string")]
    NotString,
    /// A string shorter than the minimum, in characters.
    #[error("must NOT have fewer than {0} characters")]
    TooShort(usize),
    /// A string longer than the maximum, in characters.
    #[error("must NOT have more than {0} characters")]
    TooLong(usize),
    /// An integer below the minimum.
    #[error("must be >= {0}")]
    BelowMinimum(i64),
    /// Not an integer.
    #[error("must be integer")]
    NotInteger,
    /// Not `true` or `false`.
    #[error("must be boolean")]
    NotBoolean,
    /// Not one of an enum's strings.
    #[error("must be equal to one of the allowed values")]
    NotAllowed,
    /// Not an array.
    #[error("must be array")]
    NotArray,
    /// Not an object.
    #[error("must be object")]
    NotObject,
    /// A required field is absent.
    #[error("must have required property '{0}'")]
    MissingProperty(&'static str),
    /// A field a closed object does not list.
    #[error("unexpected property '{0}'")]
    UnexpectedProperty(String),
}

/// A JSON shape. Objects are closed: only the listed fields are allowed.
#[derive(Debug, Clone)]
pub enum Shape {
    /// Any JSON value (including null).
    Any,
    /// A string of at least `min` characters (and at most `max` when set).
    Str {
        /// Minimum length in characters.
        min: usize,
        /// Maximum length, if any.
        max: Option<usize>,
    },
    /// An integer `>= min`.
    Int {
        /// The smallest accepted value.
        min: i64,
    },
    /// `true` or `false`.
    Bool,
    /// One of a fixed set of strings.
    Enum(&'static [&'static str]),
    /// An array whose items all have one shape.
    Array(Box<Shape>),
    /// An object with string keys and values of one shape.
    Record(Box<Shape>),
    /// A closed object.
    Object(Vec<Field>),
}

/// One field of a closed object.
#[derive(Debug, Clone)]
pub struct Field {
    /// JSON name.
    pub name: &'static str,
    /// Whether it must be present.
    pub required: bool,
    /// Its shape.
    pub shape: Shape,
}

/// A required field.
pub fn req(name: &'static str, shape: Shape) -> Field {
    Field { name, required: true, shape }
}

/// An optional field (absent is fine; `null` is not, unless the shape is [`Shape::Any`]).
pub fn opt(name: &'static str, shape: Shape) -> Field {
    Field { name, required: false, shape }
}

/// Any string, possibly empty.
pub fn string() -> Shape {
    Shape::Str { min: 0, max: None }
}

/// A non-empty string.
pub fn non_empty() -> Shape {
    Shape::Str { min: 1, max: None }
}

/// An array of `item`.
pub fn array(item: Shape) -> Shape {
    Shape::Array(Box::new(item))
}

impl Shape {
    /// Checks `value`, stopping at the first violation (upstream reports one).
    pub fn check(&self, value: &Value) -> Result<(), SchemaError> {
        let mut path = String::new();
        self.check_at(value, &mut path).map_err(|reason| SchemaError { path: path.clone(), reason })
    }

    fn check_at(&self, value: &Value, path: &mut String) -> Result<(), Violation> {
        match self {
            Shape::Any => Ok(()),
            Shape::Str { min, max } => {
                let s = value.as_str().ok_or(Violation::NotString)?;
                let n = s.chars().count();
                if n < *min {
                    return Err(Violation::TooShort(*min));
                }
                match max {
                    Some(max) if n > *max => Err(Violation::TooLong(*max)),
                    _ => Ok(()),
                }
            }
            Shape::Int { min } => match value.as_i64().or_else(|| value.as_u64().map(|_| i64::MAX)) {
                Some(v) if v >= *min => Ok(()),
                Some(_) => Err(Violation::BelowMinimum(*min)),
                None => Err(Violation::NotInteger),
            },
            Shape::Bool => value.as_bool().map(|_| ()).ok_or(Violation::NotBoolean),
            Shape::Enum(allowed) => match value.as_str() {
                Some(s) if allowed.contains(&s) => Ok(()),
                _ => Err(Violation::NotAllowed),
            },
            Shape::Array(item) => {
                let items = value.as_array().ok_or(Violation::NotArray)?;
                for (i, v) in items.iter().enumerate() {
                    let len = path.len();
                    path.push_str(&format!("/{i}"));
                    item.check_at(v, path)?;
                    path.truncate(len);
                }
                Ok(())
            }
            Shape::Record(item) => {
                let map = value.as_object().ok_or(Violation::NotObject)?;
                for (k, v) in map {
                    let len = path.len();
                    path.push('/');
                    path.push_str(k);
                    item.check_at(v, path)?;
                    path.truncate(len);
                }
                Ok(())
            }
            Shape::Object(fields) => check_object(fields, value, path),
        }
    }
}

fn check_object(fields: &[Field], value: &Value, path: &mut String) -> Result<(), Violation> {
    let map: &Map<String, Value> = value.as_object().ok_or(Violation::NotObject)?;
    if let Some(f) = fields.iter().find(|f| f.required && !map.contains_key(f.name)) {
        return Err(Violation::MissingProperty(f.name));
    }
    if let Some(k) = map.keys().find(|k| !fields.iter().any(|f| f.name == k.as_str())) {
        return Err(Violation::UnexpectedProperty(k.clone()));
    }
    for f in fields {
        if let Some(v) = map.get(f.name) {
            let len = path.len();
            path.push('/');
            path.push_str(f.name);
            f.shape.check_at(v, path)?;
            path.truncate(len);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn client() -> Shape {
        Shape::Object(vec![req("id", non_empty()), opt("displayName", non_empty())])
    }

    #[test]
    fn messages_match_the_gateway() {
        let s = Shape::Object(vec![req("client", client()), opt("payloadJSON", string())]);
        assert_eq!(
            s.check(&json!({"client":{"id":"x","bogus":1}})).unwrap_err().to_string(),
            "at /client: unexpected property 'bogus'"
        );
        assert_eq!(
            s.check(&json!({"client":{"id":"x"},"payloadJSON":null})).unwrap_err().to_string(),
            "at /payloadJSON: must be string"
        );
        assert_eq!(s.check(&json!({})).unwrap_err().to_string(), "must have required property 'client'");
        assert_eq!(
            s.check(&json!({"client":{"id":""}})).unwrap_err().to_string(),
            "at /client/id: must NOT have fewer than 1 characters"
        );
        assert!(s.check(&json!({"client":{"id":"x"}})).is_ok());
        let a = array(non_empty());
        assert_eq!(a.check(&json!(["a", ""])).unwrap_err().to_string(), "at /1: must NOT have fewer than 1 characters");
        assert_eq!(Shape::Int { min: 1 }.check(&json!(0)).unwrap_err().to_string(), "must be >= 1");
        assert_eq!(Shape::Int { min: 1 }.check(&json!(1.5)).unwrap_err().to_string(), "must be integer");
        let long = Shape::Str { min: 0, max: Some(2) };
        assert_eq!(long.check(&json!("abc")).unwrap_err().to_string(), "must NOT have more than 2 characters");
        assert_eq!(Shape::Bool.check(&json!(1)).unwrap_err().to_string(), "must be boolean");
        let one_of = Shape::Enum(&["a"]);
        assert_eq!(one_of.check(&json!("b")).unwrap_err().to_string(), "must be equal to one of the allowed values");
        assert_eq!(a.check(&json!({})).unwrap_err().to_string(), "must be array");
        let record = Shape::Record(Box::new(Shape::Bool));
        assert_eq!(record.check(&json!([])).unwrap_err().to_string(), "must be object");
        assert_eq!(record.check(&json!({"k": "x"})).unwrap_err().to_string(), "at /k: must be boolean");
    }

    #[test]
    fn the_error_carries_the_path_and_the_reason() {
        let s = Shape::Object(vec![req("client", client())]);
        assert_eq!(
            s.check(&json!({"client": {"id": "x", "bogus": 1}})),
            Err(SchemaError { path: "/client".into(), reason: Violation::UnexpectedProperty("bogus".into()) })
        );
        assert_eq!(
            s.check(&json!({})),
            Err(SchemaError { path: String::new(), reason: Violation::MissingProperty("client") })
        );
    }
}
