//! Upstream's inline-eval tables, flag by flag (`exec.md` §4.8): which interpreters take
//! code through which flags, in which written forms, and which tools take their program or
//! command as the first operand. Data only; [`super`] walks them.

/// A flag that takes a value, recognised by an unambiguous abbreviation (`--ev` for `--eval`).
pub(super) struct Abbreviated {
    pub(super) label: &'static str,
    pub(super) full: &'static str,
    pub(super) min: &'static str,
}

/// `-e` found inside a short-option cluster (`python3 -Ic`, `perl -ne`): the options before
/// it must all be ones that take no value (or a numeric one).
pub(super) struct ShortCluster {
    pub(super) label: &'static str,
    pub(super) flag: char,
    pub(super) prefix_chars: &'static str,
    pub(super) allow_numeric_record_separator: bool,
    pub(super) numeric_value_prefix_chars: &'static str,
}

/// How one interpreter family takes inline code through a flag.
pub(super) struct FlagSpec {
    pub(super) names: &'static [&'static str],
    /// Exact flags, compared lower-cased; the hit is the lower-cased flag.
    pub(super) exact: &'static [&'static str],
    /// Exact flags compared as written, with their label (`make -E`, `php -B`).
    pub(super) raw_exact: &'static [(&'static str, &'static str)],
    /// Prefixes compared as written (`sed -e…`, `make -E…`).
    pub(super) raw_prefix: &'static [(&'static str, &'static str)],
    pub(super) abbreviated: &'static [Abbreviated],
    /// Single-letter flags that may carry their value joined (`-eCODE`); `None` means every
    /// single-letter exact flag.
    pub(super) joined_exact: Option<&'static [&'static str]>,
    pub(super) joined_deny_exact: &'static [&'static str],
    pub(super) joined_deny_prefixes: &'static [&'static str],
    pub(super) short_clusters: &'static [ShortCluster],
    /// Prefixes compared lower-cased (`--eval=`, `-f…` for make).
    pub(super) prefix: &'static [(&'static str, &'static str)],
    /// `find` keeps scanning after `--`.
    pub(super) scan_past_double_dash: bool,
}

pub(super) const NO_FLAGS: FlagSpec = FlagSpec {
    names: &[],
    exact: &[],
    raw_exact: &[],
    raw_prefix: &[],
    abbreviated: &[],
    joined_exact: None,
    joined_deny_exact: &[],
    joined_deny_prefixes: &[],
    short_clusters: &[],
    prefix: &[],
    scan_past_double_dash: false,
};

pub(super) const PERL_CLUSTER_PREFIX: &str = "STWXUVacdflnpstuw";

/// Upstream's table of interpreters with inline-code flags, in its order (the first family
/// whose names match wins).
pub(super) const FLAG_SPECS: &[FlagSpec] = &[
    FlagSpec {
        names: &["python", "python2", "python3", "pypy", "pypy3"],
        exact: &["-c"],
        short_clusters: &[ShortCluster {
            label: "-c",
            flag: 'c',
            prefix_chars: "BEIOPRSbdiqsuvx",
            allow_numeric_record_separator: false,
            numeric_value_prefix_chars: "",
        }],
        ..NO_FLAGS
    },
    FlagSpec { names: &["node", "nodejs", "bun", "deno"], exact: &["-e", "--eval", "-p", "--print"], ..NO_FLAGS },
    FlagSpec {
        names: &["awk", "gawk", "mawk", "nawk"],
        exact: &["-e", "--source"],
        abbreviated: &[Abbreviated { label: "--source", full: "--source", min: "--s" }],
        prefix: &[("--source", "--source=")],
        ..NO_FLAGS
    },
    FlagSpec {
        names: &["ruby"],
        exact: &["-e"],
        short_clusters: &[ShortCluster {
            label: "-e",
            flag: 'e',
            prefix_chars: "SUWacdlnpsvw",
            allow_numeric_record_separator: true,
            numeric_value_prefix_chars: "W",
        }],
        ..NO_FLAGS
    },
    FlagSpec {
        names: &["perl"],
        exact: &["-e", "-E"],
        short_clusters: &[
            ShortCluster {
                label: "-e",
                flag: 'e',
                prefix_chars: PERL_CLUSTER_PREFIX,
                allow_numeric_record_separator: true,
                numeric_value_prefix_chars: "l",
            },
            ShortCluster {
                label: "-e",
                flag: 'E',
                prefix_chars: PERL_CLUSTER_PREFIX,
                allow_numeric_record_separator: true,
                numeric_value_prefix_chars: "l",
            },
        ],
        ..NO_FLAGS
    },
    FlagSpec { names: &["php"], exact: &["-r"], raw_exact: &[("-B", "-B"), ("-E", "-E"), ("-R", "-R")], ..NO_FLAGS },
    FlagSpec { names: &["r", "rscript"], exact: &["-e"], ..NO_FLAGS },
    FlagSpec { names: &["julia"], exact: &["-e", "--eval", "--print"], raw_exact: &[("-E", "-E")], ..NO_FLAGS },
    FlagSpec { names: &["elixir", "iex"], exact: &["-e", "--eval", "--rpc-eval"], joined_exact: Some(&[]), ..NO_FLAGS },
    FlagSpec { names: &["guile"], exact: &["-c", "-e"], joined_exact: Some(&[]), ..NO_FLAGS },
    FlagSpec {
        names: &["groovy"],
        exact: &["-e"],
        joined_deny_exact: &["-encoding"],
        joined_deny_prefixes: &["-encoding="],
        short_clusters: &[ShortCluster {
            label: "-e",
            flag: 'e',
            prefix_chars: "np",
            allow_numeric_record_separator: false,
            numeric_value_prefix_chars: "",
        }],
        ..NO_FLAGS
    },
    FlagSpec {
        names: &["scala", "scala-cli"],
        exact: &[
            "-e",
            "--script-snippet",
            "--execute-script",
            "--execute-sc",
            "--execute-scala-script",
            "--scala-snippet",
            "--execute-scala",
            "--java-snippet",
            "--execute-java",
            "--markdown-snippet",
            "--md-snippet",
            "--execute-markdown",
            "--execute-md",
        ],
        joined_exact: Some(&[]),
        ..NO_FLAGS
    },
    FlagSpec { names: &["clojure", "clj"], exact: &["-e", "--eval"], joined_exact: Some(&[]), ..NO_FLAGS },
    FlagSpec {
        names: &["raku", "perl6"],
        exact: &["-e"],
        joined_exact: Some(&["-e"]),
        short_clusters: &[ShortCluster {
            label: "-e",
            flag: 'e',
            prefix_chars: "np",
            allow_numeric_record_separator: false,
            numeric_value_prefix_chars: "",
        }],
        ..NO_FLAGS
    },
    FlagSpec { names: &["ghc", "ghci"], exact: &["-e"], joined_exact: Some(&[]), ..NO_FLAGS },
    FlagSpec { names: &["erl", "werl"], exact: &["-eval", "-run", "-s"], joined_exact: Some(&[]), ..NO_FLAGS },
    FlagSpec {
        names: &["gdb"],
        exact: &[
            "-ex",
            "-iex",
            "-eiex",
            "-eval-command",
            "--eval-command",
            "-init-eval-command",
            "--init-eval-command",
            "-early-init-eval-command",
            "--early-init-eval-command",
        ],
        abbreviated: &[
            Abbreviated { label: "-eval-command", full: "-eval-command", min: "-ev" },
            Abbreviated { label: "--eval-command", full: "--eval-command", min: "--ev" },
            Abbreviated { label: "-init-eval-command", full: "-init-eval-command", min: "-init-e" },
            Abbreviated { label: "--init-eval-command", full: "--init-eval-command", min: "--init-e" },
            Abbreviated { label: "-early-init-eval-command", full: "-early-init-eval-command", min: "-early-init-e" },
            Abbreviated {
                label: "--early-init-eval-command",
                full: "--early-init-eval-command",
                min: "--early-init-e",
            },
        ],
        prefix: &[
            ("-ex", "-ex="),
            ("-iex", "-iex="),
            ("-eiex", "-eiex="),
            ("-eval-command", "-eval-command="),
            ("-init-eval-command", "-init-eval-command="),
            ("-early-init-eval-command", "-early-init-eval-command="),
        ],
        ..NO_FLAGS
    },
    FlagSpec { names: &["expect"], exact: &["-c"], ..NO_FLAGS },
    FlagSpec { names: &["lua"], exact: &["-e"], ..NO_FLAGS },
    FlagSpec { names: &["osascript"], exact: &["-e"], ..NO_FLAGS },
    FlagSpec {
        names: &["find"],
        exact: &["-exec", "-execdir", "-ok", "-okdir"],
        scan_past_double_dash: true,
        ..NO_FLAGS
    },
    FlagSpec {
        names: &["make", "gmake"],
        exact: &["-f", "--file", "--makefile", "--eval"],
        raw_exact: &[("-E", "-E")],
        raw_prefix: &[("-E", "-E")],
        abbreviated: &[Abbreviated { label: "--eval", full: "--eval", min: "--ev" }],
        prefix: &[("-f", "-f"), ("--file", "--file="), ("--makefile", "--makefile="), ("--eval", "--eval=")],
        ..NO_FLAGS
    },
    FlagSpec { names: &["sed", "gsed"], raw_exact: &[("-e", "-e")], raw_prefix: &[("-e", "-e")], ..NO_FLAGS },
];

/// The hit label of a positional program or command.
pub(super) const PROGRAM: &str = "<program>";
pub(super) const COMMAND: &str = "<command>";

/// How one tool takes its program or command as its first operand.
pub(super) struct PositionalSpec {
    pub(super) names: &'static [&'static str],
    pub(super) file_flags: &'static [&'static str],
    pub(super) file_flag_prefixes: &'static [&'static str],
    pub(super) value_flags: &'static [&'static str],
    pub(super) optional_value_flags: &'static [&'static str],
    pub(super) value_flag_prefixes: &'static [&'static str],
    pub(super) flag: &'static str,
}

pub(super) const POSITIONAL_SPECS: &[PositionalSpec] = &[
    PositionalSpec {
        names: &["awk", "gawk", "mawk", "nawk"],
        file_flags: &["-f", "--file"],
        file_flag_prefixes: &["-f", "--file="],
        value_flags: &[
            "-f",
            "--file",
            "-F",
            "--field-separator",
            "-v",
            "--assign",
            "-i",
            "--include",
            "-l",
            "--load",
            "-W",
        ],
        optional_value_flags: &[],
        value_flag_prefixes: &["-F", "--field-separator=", "-v", "--assign=", "--include=", "--load="],
        flag: PROGRAM,
    },
    PositionalSpec {
        names: &["xargs"],
        file_flags: &[],
        file_flag_prefixes: &[],
        value_flags: &[
            "-a",
            "--arg-file",
            "-d",
            "--delimiter",
            "-E",
            "-I",
            "-L",
            "--max-lines",
            "-n",
            "--max-args",
            "-P",
            "--max-procs",
            "-s",
            "--max-chars",
        ],
        optional_value_flags: &["--eof", "--replace"],
        value_flag_prefixes: &[
            "-a",
            "--arg-file=",
            "-d",
            "--delimiter=",
            "-E",
            "--eof=",
            "-I",
            "--replace=",
            "-i",
            "-L",
            "--max-lines=",
            "-l",
            "-n",
            "--max-args=",
            "-P",
            "--max-procs=",
            "-s",
            "--max-chars=",
        ],
        flag: COMMAND,
    },
    PositionalSpec {
        names: &["sed", "gsed"],
        file_flags: &["-f", "--file"],
        file_flag_prefixes: &["-f", "--file="],
        value_flags: &["-f", "--file", "-l", "--line-length"],
        optional_value_flags: &["-i", "--in-place"],
        value_flag_prefixes: &["-f", "--file=", "--in-place=", "--line-length="],
        flag: PROGRAM,
    },
];
