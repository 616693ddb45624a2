//! Link-time layout of the release `openclaw` binary.
//!
//! An idle node host runs about 1.3 MB of the binary's 7.5 MB of code, spread over the
//! whole text section. The kernel maps file pages in 64 KiB windows around each page a process
//! faults on, so scattered code makes most of the text resident: 9.8 MB RSS for a process that
//! allocates 1 MB. `link/symbol-order.txt` lists the functions a restarted node host runs from
//! start to idle (then those of a first start, then those of `system.which`, `system.run` and
//! the browser proxy's status), and LLD lays them out first and together, which brings the
//! idle node to about 6 MB.
//! `scripts/symbol-order` regenerates the list from the binary itself; a stale list only costs
//! memory, never correctness (LLD skips names it does not find).
//!
//! The ordering applies where rustc links with its bundled LLD by default
//! (`x86_64-unknown-linux-gnu`, Rust 1.90 and later) and nobody chose another linker. GNU ld
//! does not know the flag, so other targets, older toolchains and chosen linkers get the
//! default layout.
//!
//! `OPENCLAW_LINK_MAP=<path>` also writes LLD's link map there: `scripts/symbol-order` needs
//! it to name the functions of a stripped binary.

use std::env;
use std::path::Path;
use std::process::Command;

fn main() {
    let order_file = Path::new(&env::var("CARGO_MANIFEST_DIR").expect("set by cargo")).join("link/symbol-order.txt");
    println!("cargo:rerun-if-changed={}", order_file.display());
    println!("cargo:rerun-if-env-changed=OPENCLAW_LINK_MAP");
    if !links_with_bundled_lld() {
        return;
    }
    if env::var("PROFILE").as_deref() == Ok("release") && order_file.is_file() {
        println!("cargo:rustc-link-arg-bin=openclaw=-Wl,--symbol-ordering-file={}", order_file.display());
        println!("cargo:rustc-link-arg-bin=openclaw=-Wl,--no-warn-symbol-ordering");
    }
    if let Some(map) = env::var_os("OPENCLAW_LINK_MAP") {
        println!("cargo:rustc-link-arg-bin=openclaw=-Wl,-Map={}", Path::new(&map).display());
    }
}

/// Whether this link uses rustc's default linker for the target and that default is LLD:
/// rustc 1.90 or later on `x86_64-unknown-linux-gnu`, no linker named by a cargo config or
/// the environment (`RUSTC_LINKER`), and no linker flag in the rustflags.
fn links_with_bundled_lld() -> bool {
    let target = env::var("TARGET").unwrap_or_default();
    let rustflags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    target == "x86_64-unknown-linux-gnu"
        && env::var_os("RUSTC_LINKER").is_none()
        && !rustflags.contains("linker")
        && rustc_minor_version().is_some_and(|minor| minor >= 90)
}

/// The minor version of the rustc cargo builds with (`rustc 1.95.0 (…)` gives 95).
fn rustc_minor_version() -> Option<u32> {
    let rustc = env::var_os("RUSTC")?;
    let output = Command::new(rustc).arg("--version").output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    let version = text.split_whitespace().nth(1)?;
    let mut parts = version.split('.');
    (parts.next()? == "1").then_some(())?;
    parts.next()?.parse().ok()
}
