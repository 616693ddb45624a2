//! CPU time of processes and process trees, from `/proc/<pid>/stat`: the "CPU per call" rows.
//!
//! On a machine shared with other work, throughput moves with whatever else runs (±10 % from
//! run to run here, more when other builds are busy); the CPU time a host spends per call moves
//! much less, and it says where a host's time goes, which throughput alone cannot. Each process
//! counts its own time (`utime + stime`) and that of the children it has waited for (`cutime +
//! cstime`), so the commands a node host ran and reaped are in its figure.

use std::sync::OnceLock;
use std::time::Duration;

/// Clock ticks per second of the `/proc` times (`sysconf(_SC_CLK_TCK)`, 100 on Linux).
fn ticks_per_second() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok().flatten().filter(|t| *t > 0).unwrap_or(100) as u64
    })
}

/// CPU time of one process and of the children it has waited for (zero when it is gone).
pub fn process_cpu(pid: i32) -> Duration {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return Duration::ZERO };
    // pid (comm) state … : fields after the last ')' start at field 3 (state).
    let Some((_, rest)) = stat.rsplit_once(')') else { return Duration::ZERO };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime, stime, cutime, cstime are fields 14–17, i.e. 11–14 after `state`.
    let ticks: u64 = fields.get(11..15).unwrap_or_default().iter().filter_map(|f| f.parse::<u64>().ok()).sum();
    Duration::from_millis(ticks * 1000 / ticks_per_second())
}

/// CPU time of a process tree (the root and every descendant alive now, each with the children
/// it has waited for).
pub fn tree_cpu(root: i32) -> Duration {
    crate::procfs::tree(root).into_iter().map(process_cpu).sum()
}

/// CPU time of this process (all its threads).
pub fn own_cpu() -> Duration {
    process_cpu(std::process::id() as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_child_shows_up_in_its_parents_tree_and_after_it_was_reaped() {
        let before = own_cpu();
        let mut child = std::process::Command::new("sh")
            .args(["-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done"])
            .spawn()
            .unwrap();
        child.wait().unwrap();
        // The shell's loop takes well over 10 ms of CPU, now in our cutime.
        assert!(own_cpu() >= before + Duration::from_millis(10), "{before:?} → {:?}", own_cpu());
        assert!(tree_cpu(std::process::id() as i32) >= own_cpu());
        assert_eq!(process_cpu(i32::MAX), Duration::ZERO, "a process that is gone counts nothing");
    }
}
