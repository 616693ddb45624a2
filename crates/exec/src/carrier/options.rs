//! Option tables of the command carriers `sudo`, `doas` and `exec`, as upstream reads them:
//! a carrier with an option not in its table carries nothing (detection stops, the segment
//! stays a carrier). `env` is read by [`crate::wrappers`].

/// One option of a carrier's option word (`-u root`, `-uroot`, `--user=root`, `-nE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CarrierOption {
    name: String,
    inline_value: Option<String>,
}

/// The option tables of one carrier.
pub(super) struct CarrierOptions {
    standalone: &'static [&'static str],
    with_value: &'static [&'static str],
    non_executing: &'static [&'static str],
}

impl CarrierOptions {
    fn known(&self, name: &str) -> bool {
        self.standalone.contains(&name) || self.with_value.contains(&name) || self.non_executing.contains(&name)
    }

    /// The options of one word, or `None` when any of them is unknown.
    pub(super) fn parse(&self, token: &str) -> Option<Vec<CarrierOption>> {
        if token.starts_with("--") {
            let (name, value) = match token.split_once('=') {
                Some((name, value)) => (name, Some(value.to_string())),
                None => (token, None),
            };
            return self.known(name).then(|| vec![CarrierOption { name: name.to_string(), inline_value: value }]);
        }
        let chars = token.char_indices().skip(1);
        if !token.starts_with('-') || !token[1..].starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return None;
        }
        let mut options = Vec::new();
        for (at, c) in chars {
            let name = format!("-{c}");
            if self.with_value.contains(&name.as_str()) {
                let rest = &token[at + c.len_utf8()..];
                options.push(CarrierOption { name, inline_value: (!rest.is_empty()).then(|| rest.to_string()) });
                return Some(options);
            }
            if self.standalone.contains(&name.as_str()) || self.non_executing.contains(&name.as_str()) {
                options.push(CarrierOption { name, inline_value: None });
                continue;
            }
            return None;
        }
        (!options.is_empty()).then_some(options)
    }

    /// Whether the next word is the value of the last option; `None` for an option that
    /// makes the carrier not execute anything (`sudo -l`).
    pub(super) fn consumes_next(&self, options: &[CarrierOption]) -> Option<bool> {
        let mut consumes = false;
        for option in options {
            if self.non_executing.contains(&option.name.as_str()) {
                return None;
            }
            if self.with_value.contains(&option.name.as_str()) {
                consumes = option.inline_value.is_none();
            }
        }
        Some(consumes)
    }
}

pub(super) const SUDO_OPTIONS: CarrierOptions = CarrierOptions {
    standalone: &[
        "-A",
        "-B",
        "-b",
        "-E",
        "-H",
        "-i",
        "-k",
        "-N",
        "-n",
        "-P",
        "-S",
        "-s",
        "--askpass",
        "--background",
        "--bell",
        "--login",
        "--no-update",
        "--non-interactive",
        "--preserve-env",
        "--preserve-groups",
        "--reset-home",
        "--reset-timestamp",
        "--set-home",
        "--shell",
        "--stdin",
    ],
    with_value: &[
        "-C",
        "-D",
        "-g",
        "-h",
        "-p",
        "-R",
        "-T",
        "-U",
        "-u",
        "--chdir",
        "--chroot",
        "--close-from",
        "--command-timeout",
        "--group",
        "--host",
        "--other-user",
        "--prompt",
        "--role",
        "--type",
        "--user",
    ],
    non_executing: &[
        "-K",
        "-l",
        "-V",
        "-v",
        "-e",
        "--edit",
        "--help",
        "--list",
        "--remove-timestamp",
        "--validate",
        "--version",
    ],
};
pub(super) const DOAS_OPTIONS: CarrierOptions =
    CarrierOptions { standalone: &["-L", "-n", "-s"], with_value: &["-a", "-C", "-u"], non_executing: &[] };
pub(super) const EXEC_OPTIONS: CarrierOptions =
    CarrierOptions { standalone: &["-c", "-l"], with_value: &["-a"], non_executing: &[] };
