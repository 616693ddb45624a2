//! Why config text, a SecretInput or a SecretRef was refused, as enums: callers and tests can
//! tell the cases apart, and each message says what to fix.
//!
//! None of these carries a secret. The JSON5 parser's own message quotes the offending source
//! line (which may hold a token), so [`ConfigTextError`] keeps only the position; the
//! resolution failures name files, programs and ids, never a value read from them.

use std::path::PathBuf;
use std::process::ExitStatus;

use super::SecretSource;

/// Why the text of `openclaw.json` is not a config.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigTextError {
    /// Not JSON5, at a known place.
    #[error("JSON5 syntax error at line {line}, column {column}")]
    Syntax {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// Not JSON5, and the parser did not say where.
    #[error("JSON5 syntax error")]
    SyntaxSomewhere,
    /// Valid JSON5 whose top level is not an object.
    #[error("the top level must be an object")]
    NotAnObject,
}

/// Why a config value is not a SecretInput (a string, or `{source, provider, id}`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretInputError {
    /// The object has a key besides `source`, `provider` and `id`.
    #[error("unexpected key {0:?}")]
    UnexpectedKey(String),
    /// `source` is missing or not one of the four.
    #[error("source must be env, file, exec or store")]
    BadSource,
    /// `id` is missing or not a string.
    #[error("id must be a string")]
    IdNotString,
    /// `provider` is not a provider alias.
    #[error("provider must match ^[a-z][a-z0-9_-]{{0,63}}$")]
    BadProvider,
    /// `id` has the wrong form for its source.
    #[error("id {id:?} is not valid for source {}", .kind.as_str())]
    BadId {
        /// The id as written.
        id: String,
        /// The reference's source.
        kind: SecretSource,
    },
    /// Neither a string nor an object.
    #[error("expected a string or a SecretRef object")]
    NotStringOrObject,
}

/// Why a SecretRef did not resolve (the `reason` of a [`super::SecretError`]).
#[derive(Debug, thiserror::Error)]
pub enum SecretFailure {
    /// An env provider with an allowlist does not list the variable.
    #[error("not in the provider's allowlist")]
    NotInAllowlist,
    /// No provider of the reference's source has this alias.
    #[error("no {} provider with this alias is configured", .0.as_str())]
    NoProvider(SecretSource),
    /// The variable is not set.
    #[error("the environment variable is not set")]
    EnvUnset,
    /// `source: "store"` needs OpenClaw's shared store, which the node host does not have.
    #[error("the secret store is not available to the node host")]
    StoreUnavailable,
    /// The value resolved to blanks.
    #[error("the value is empty")]
    Empty,
    /// A secret file or resolver program could not be inspected or read.
    #[error("{what} {}: {error}", .path.display())]
    Io {
        /// `secret file` or `resolver`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        error: std::io::Error,
    },
    /// A secret file or resolver is a symlink (it could be swapped under us).
    #[error("{what} {} must not be a symlink", .path.display())]
    Symlink {
        /// `secret file` or `resolver`.
        what: &'static str,
        /// The file.
        path: PathBuf,
    },
    /// A secret file or resolver is not a regular file.
    #[error("{what} {} must be a regular file", .path.display())]
    NotRegular {
        /// `secret file` or `resolver`.
        what: &'static str,
        /// The file.
        path: PathBuf,
    },
    /// A secret file or resolver belongs to another user.
    #[error("{what} {} must be owned by the current user", .path.display())]
    NotOwned {
        /// `secret file` or `resolver`.
        what: &'static str,
        /// The file.
        path: PathBuf,
    },
    /// The file provider has no `path`.
    #[error("the provider has no path")]
    NoPath,
    /// The secret file has another name elsewhere.
    #[error("secret file {} must not be hardlinked", .0.display())]
    Hardlinked(PathBuf),
    /// The secret file is readable by group or others.
    #[error("secret file {} must not be readable by group or others (chmod 600)", .0.display())]
    NotPrivate(PathBuf),
    /// The secret file is over the provider's `maxBytes`.
    #[error("secret file {} is larger than {max} bytes", .path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The provider's limit.
        max: u64,
    },
    /// A `singleValue` provider was asked for an id other than `value`.
    #[error("singleValue providers take the id \"value\"")]
    SingleValueId,
    /// A `json` provider's file is not JSON.
    #[error("secret file {} is not JSON", .0.display())]
    NotJson(PathBuf),
    /// The JSON pointer finds something that is not a string.
    #[error("the JSON pointer does not point at a string")]
    PointerNotString,
    /// The JSON pointer finds nothing.
    #[error("the JSON pointer matches nothing")]
    PointerMissing,
    /// The file provider's `mode` is neither `json` nor `singleValue`.
    #[error("unknown file provider mode {0:?}")]
    UnknownMode(String),
    /// The exec provider has no `command`.
    #[error("the provider has no command")]
    NoCommand,
    /// The exec provider's command is a relative path (it would be searched for).
    #[error("the provider command must be an absolute path")]
    RelativeCommand,
    /// Someone else could change the resolver program.
    #[error("resolver {0} must not be group- or world-writable")]
    ResolverWritable(String),
    /// The resolver could not be started.
    #[error("cannot run resolver {command}: {error}")]
    Spawn {
        /// The resolver program.
        command: String,
        /// The operating system's reason.
        error: std::io::Error,
    },
    /// The resolver did not finish in the provider's `timeoutMs` (it was killed).
    #[error("resolver {command} timed out after {ms} ms")]
    Timeout {
        /// The resolver program.
        command: String,
        /// The limit.
        ms: u64,
    },
    /// Waiting for the resolver failed.
    #[error("resolver {command}: {error}")]
    Wait {
        /// The resolver program.
        command: String,
        /// The operating system's reason.
        error: std::io::Error,
    },
    /// The resolver printed more than the provider's `maxOutputBytes`.
    #[error("resolver {command} printed more than {max} bytes")]
    OutputTooLarge {
        /// The resolver program.
        command: String,
        /// The limit.
        max: usize,
    },
    /// The resolver exited unsuccessfully.
    #[error("resolver {command} exited with {status}")]
    Exited {
        /// The resolver program.
        command: String,
        /// How it ended.
        status: ExitStatus,
    },
    /// The resolver printed bytes that are not UTF-8.
    #[error("resolver output is not UTF-8")]
    NotUtf8,
    /// The resolver answered with an error code for the id (`NOT_FOUND`, `AMBIGUOUS_DUPLICATE_KEY`).
    #[error("resolver reported {0}")]
    Reported(String),
    /// The resolver's answer has no value for the id.
    #[error("resolver returned no value for the id")]
    NoValue,
    /// A `jsonOnly` resolver printed something that is not a protocol-v1 response.
    #[error("resolver output is not a protocol-v1 JSON response")]
    NotProtocol,
}
