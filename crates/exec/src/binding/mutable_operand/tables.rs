//! The per-runtime option tables the binding rules read: which runners take a script, which
//! shell and runtime options take a value, and which load code or change directory.
//!
//! Data only, apart from the rules, so a table can be checked against upstream's lists at a
//! glance and a rule reads as the decision it makes.

pub(super) const PACKAGE_MANAGERS: &[&str] = &["corepack", "npm", "npx", "pnpm", "yarn"];
pub(super) const GENERIC_SCRIPT_RUNNERS: &[&str] = &["esno", "jiti", "ts-node", "ts-node-esm", "tsx", "vite-node"];
pub(super) const OPAQUE_SCRIPT_RUNNERS: &[&str] = &["busybox", "toybox"];
pub(super) const SHELLS_WITH_PLUS_OPTIONS: &[&str] =
    &["ash", "bash", "dash", "ksh", "mksh", "osh", "sh", "yash", "zsh"];
pub(super) const SHELL_OPTIONS_WITH_VALUE: &[&str] =
    &["--init-file", "--rcfile", "--startup-script", "-O", "-o", "+O", "+o"];
pub(super) const SHELL_CODE_LOADING_OPTIONS: &[&str] = &["--init-file", "--rcfile", "--startup-script"];
pub(super) const BUN_SUBCOMMANDS: &[&str] = &[
    "add",
    "audit",
    "completions",
    "create",
    "exec",
    "help",
    "init",
    "install",
    "link",
    "outdated",
    "patch",
    "pm",
    "publish",
    "remove",
    "repl",
    "run",
    "test",
    "unlink",
    "update",
    "upgrade",
    "x",
];
pub(super) const BUN_OPTIONS_WITH_VALUE: &[&str] = &[
    "--backend",
    "--bunfig",
    "--conditions",
    "--config",
    "--console-depth",
    "--cwd",
    "--define",
    "--elide-lines",
    "--env-file",
    "--extension-order",
    "--filter",
    "--hot",
    "--inspect",
    "--inspect-brk",
    "--inspect-wait",
    "--install",
    "--jsx-factory",
    "--jsx-fragment",
    "--jsx-import-source",
    "--loader",
    "--origin",
    "--port",
    "--preload",
    "--smol",
    "--tsconfig-override",
    "-c",
    "-e",
    "-p",
    "-r",
];
pub(super) const BUN_UNBINDABLE_OPTIONS: &[&str] =
    &["--bunfig", "--config", "--cwd", "--env-file", "--loader", "--preload", "--tsconfig-override", "-r"];
pub(super) const DENO_RUN_OPTIONS_WITH_VALUE: &[&str] = &[
    "--cached-only",
    "--cert",
    "--config",
    "--env-file",
    "--ext",
    "--harmony-import-attributes",
    "--import-map",
    "--inspect",
    "--inspect-brk",
    "--inspect-wait",
    "--location",
    "--log-level",
    "--lock",
    "--node-modules-dir",
    "--no-check",
    "--preload",
    "--reload",
    "--seed",
    "--strace-ops",
    "--unstable-bare-node-builtins",
    "--v8-flags",
    "--watch",
    "--watch-exclude",
    "-L",
];
pub(super) const DENO_UNBINDABLE_OPTIONS: &[&str] =
    &["--config", "--env-file", "--import-map", "--lock", "--node-modules-dir", "--preload"];
pub(super) const NODE_OPTIONS_WITH_FILE_VALUE: &[&str] =
    &["--env-file", "--env-file-if-exists", "-r", "--experimental-loader", "--import", "--loader", "--require"];
