//! Trust plans: what an argv runs once every wrapper executable resolution looks through is
//! removed (dispatch wrappers, the shell argv carriers `command`/`builtin`/`exec`, shell
//! multiplexers), with the chain of wrappers passed and the one that blocked.
//!
//! Executable resolution, allow-always persistence and the identity binding all need the same
//! answer to "what really runs", so it is computed once here, on top of the dispatch layer
//! ([`super::unwrap_dispatch_wrapper`]), with upstream's limit of four wrappers in all.

use super::dispatch::is_semantic_usage;
use super::options::{consumes_next_value, parse_carrier_option, split_inline_option};
use super::{unwrap_dispatch_wrapper, unwrap_shell_multiplexer, Unwrap, MAX_WRAPPER_DEPTH};

/// A wrapper that was looked through, with the argv it was invoked with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrapperInvocation {
    /// Its normalised name (`nice`, `env`, `command`, `busybox`, …).
    pub wrapper: String,
    /// The argv starting at the wrapper.
    pub source_argv: Vec<String>,
}

/// What an argv runs once its wrappers are looked through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustPlan {
    /// The argv left after the wrappers (at a blocked wrapper: the argv starting there).
    pub argv: Vec<String>,
    /// The argv policy matches on (differs from `argv` only behind a shell multiplexer).
    pub policy_argv: Vec<String>,
    /// The wrappers looked through, outermost first.
    pub wrapper_chain: Vec<String>,
    /// The same wrappers with their argv.
    pub invocations: Vec<WrapperInvocation>,
    /// A wrapper could not be looked through, or the chain was deeper than four.
    pub policy_blocked: bool,
    /// The wrapper that blocked.
    pub blocked_wrapper: Option<String>,
}

/// Dispatch wrappers only (`resolveDispatchWrapperTrustPlan`).
pub(super) fn dispatch_trust_plan(argv: &[String], max_depth: usize) -> TrustPlan {
    let mut plan = TrustPlan {
        argv: argv.to_vec(),
        policy_argv: argv.to_vec(),
        wrapper_chain: Vec::new(),
        invocations: Vec::new(),
        policy_blocked: false,
        blocked_wrapper: None,
    };
    let block = |mut plan: TrustPlan, wrapper: String| {
        plan.policy_blocked = true;
        plan.blocked_wrapper = Some(wrapper);
        plan
    };
    for _ in 0..max_depth {
        match unwrap_dispatch_wrapper(&plan.argv) {
            Unwrap::Blocked(w) => return block(plan, w),
            Unwrap::Unwrapped { wrapper, argv } if !argv.is_empty() => {
                plan.wrapper_chain.push(wrapper.clone());
                plan.invocations.push(WrapperInvocation { wrapper: wrapper.clone(), source_argv: plan.argv.clone() });
                if is_semantic_usage(&wrapper, &plan.argv) {
                    return block(plan, wrapper);
                }
                plan.argv = argv;
            }
            _ => break,
        }
    }
    if plan.wrapper_chain.len() >= max_depth {
        if let Unwrap::Blocked(w) | Unwrap::Unwrapped { wrapper: w, .. } = unwrap_dispatch_wrapper(&plan.argv) {
            return block(plan, w);
        }
    }
    plan
}

/// The argv behind `command`/`builtin` (no query options; `-p` is handled by the caller).
fn command_builtin_carried(argv: &[String]) -> Option<Vec<String>> {
    for (index, token) in argv.iter().enumerate().skip(1) {
        if token == "--" {
            return Some(argv[index + 1..].to_vec());
        }
        if !token.starts_with('-') {
            return Some(argv[index..].to_vec());
        }
        if split_inline_option(token).0 != "-p" {
            return None;
        }
    }
    None
}

/// The argv behind the shell's `exec` (options `-c`, `-l`, `-a NAME`).
fn exec_carried(argv: &[String]) -> Option<Vec<String>> {
    let mut index = 1;
    while index < argv.len() {
        let token = argv[index].as_str();
        if token == "--" {
            return Some(argv[index + 1..].to_vec());
        }
        if !token.starts_with('-') {
            return Some(argv[index..].to_vec());
        }
        let options = parse_carrier_option(token, &["-c", "-l"], &["-a"])?;
        if consumes_next_value(&options, &["-a"]) {
            index += 1;
        }
        index += 1;
    }
    None
}

/// `command -p …` (or a cluster with `p`): the default PATH, not the node's: blocked.
fn command_uses_default_path(argv: &[String]) -> bool {
    if argv.first().map(|a| a.trim()) != Some("command") {
        return false;
    }
    for token in argv.iter().skip(1).map(|t| t.trim()) {
        if token == "--" || !token.starts_with('-') {
            return false;
        }
        if token.len() > 1 && !token[1..].starts_with('-') && token[1..].split('-').next().unwrap_or("").contains('p') {
            return true;
        }
    }
    false
}

/// `command`, `builtin` and `exec` as argv[0] (exact names: these are shell builtins).
fn unwrap_shell_argv_carrier(argv: &[String]) -> Unwrap {
    let Some(token0) = argv.first().map(|a| a.trim()) else { return Unwrap::NotWrapper };
    if !["builtin", "command", "exec"].contains(&token0) {
        return Unwrap::NotWrapper;
    }
    if command_uses_default_path(argv) {
        return Unwrap::Blocked(token0.to_string());
    }
    let carried = if token0 == "exec" { exec_carried(argv) } else { command_builtin_carried(argv) };
    match carried.filter(|c| !c.is_empty()) {
        Some(argv) => Unwrap::Unwrapped { wrapper: token0.to_string(), argv },
        None => Unwrap::Blocked(token0.to_string()),
    }
}

/// Everything executable resolution looks through (`resolveExecWrapperTrustPlan`): dispatch
/// wrappers, then the shell carriers `command`/`builtin`/`exec`, then shell multiplexers, at
/// most four in all; a fifth wrapper of any kind is blocked.
pub fn exec_wrapper_trust_plan(argv: &[String]) -> TrustPlan {
    let max = MAX_WRAPPER_DEPTH;
    let mut current = argv.to_vec();
    let mut policy_argv = argv.to_vec();
    let mut saw_multiplexer = false;
    let mut chain: Vec<String> = Vec::new();
    let mut invocations: Vec<WrapperInvocation> = Vec::new();
    let blocked = |argv: Vec<String>, policy_argv: Vec<String>, chain, invocations, wrapper: String| TrustPlan {
        argv,
        policy_argv,
        wrapper_chain: chain,
        invocations,
        policy_blocked: true,
        blocked_wrapper: Some(wrapper),
    };
    for _ in 0..max {
        let dispatch = dispatch_trust_plan(&current, max - chain.len());
        invocations.extend(dispatch.invocations);
        if dispatch.policy_blocked {
            let at = dispatch.argv.clone();
            let wrapper = dispatch.blocked_wrapper.unwrap_or_else(|| current.first().cloned().unwrap_or_default());
            return blocked(at.clone(), at, chain, invocations, wrapper);
        }
        if !dispatch.wrapper_chain.is_empty() {
            chain.extend(dispatch.wrapper_chain);
            current = dispatch.argv;
            if !saw_multiplexer {
                policy_argv = current.clone();
            }
            if chain.len() >= max {
                break;
            }
            continue;
        }
        match unwrap_shell_argv_carrier(&current) {
            Unwrap::Blocked(w) => return blocked(current, policy_argv, chain, invocations, w),
            Unwrap::Unwrapped { wrapper, argv } => {
                chain.push(wrapper.clone());
                invocations.push(WrapperInvocation { wrapper, source_argv: current.clone() });
                current = argv;
                if !saw_multiplexer {
                    policy_argv = current.clone();
                }
                if chain.len() >= max {
                    break;
                }
                continue;
            }
            Unwrap::NotWrapper => {}
        }
        match unwrap_shell_multiplexer(&current) {
            Unwrap::Blocked(w) => return blocked(current, policy_argv, chain, invocations, w),
            Unwrap::Unwrapped { wrapper, argv } => {
                chain.push(wrapper.clone());
                invocations.push(WrapperInvocation { wrapper, source_argv: current.clone() });
                if !saw_multiplexer {
                    policy_argv = current.clone();
                    saw_multiplexer = true;
                }
                current = argv;
                if chain.len() >= max {
                    break;
                }
                continue;
            }
            Unwrap::NotWrapper => {}
        }
        break;
    }
    if chain.len() >= max {
        for overflow in
            [unwrap_dispatch_wrapper(&current), unwrap_shell_argv_carrier(&current), unwrap_shell_multiplexer(&current)]
        {
            if let Unwrap::Blocked(w) | Unwrap::Unwrapped { wrapper: w, .. } = overflow {
                return blocked(current, policy_argv, chain, invocations, w);
            }
        }
    }
    TrustPlan {
        argv: current,
        policy_argv,
        wrapper_chain: chain,
        invocations,
        policy_blocked: false,
        blocked_wrapper: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    /// Rule (§3.3, §4.1): the trust plan looks through dispatch wrappers, `command`/`builtin`/
    /// `exec` and shell multiplexers; blocked wrappers, semantic uses and a fifth level block.
    #[test]
    fn exec_trust_plan_blocks_as_upstream() {
        let plan = exec_wrapper_trust_plan(&v(&["nice", "command", "exec", "-a", "x", "ls", "-l"]));
        assert_eq!(plan.argv, ["ls", "-l"]);
        assert_eq!(plan.wrapper_chain, ["nice", "command", "exec"]);
        assert!(!plan.policy_blocked);
        for blocked in [
            &["sudo", "ls"][..],
            &["setsid", "ls"],
            &["env", "-i", "ls"],
            &["env", "FOO=1", "ls"],
            &["time", "-o", "f", "ls"],
            &["command", "-p", "ls"],
            &["command", "-v", "ls"],
            &["busybox", "ls"],
            &["nice", "nice", "nice", "nice", "nice", "ls"],
            &["nice", "nice", "nice", "nice", "command", "ls"],
            &["timeout", "-sTERM", "5", "ls"],
            &["arch", "ls"],
        ] {
            assert!(exec_wrapper_trust_plan(&v(blocked)).policy_blocked, "{blocked:?}");
        }
        let four = exec_wrapper_trust_plan(&v(&["nice", "nice", "nice", "nice", "ls"]));
        assert!(!four.policy_blocked && four.argv == ["ls"]);
        let busybox = exec_wrapper_trust_plan(&v(&["busybox", "sh", "-c", "ls"]));
        assert_eq!((busybox.argv[0].as_str(), busybox.policy_argv[0].as_str()), ("sh", "busybox"));
    }
}
