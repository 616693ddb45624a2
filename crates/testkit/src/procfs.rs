//! Process trees and memory from `/proc` (Linux only): which processes to stop for a tree that
//! was started by pid, and the memory figures the benchmark reports.

/// The process and all its descendants (children of children included), root first.
pub fn tree(root: i32) -> Vec<i32> {
    let mut parents = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for e in entries.flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
            // pid (comm) state ppid …; comm may contain spaces, so split after the last ')'.
            let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else { continue };
            if let Some(ppid) = rest.split_whitespace().nth(1).and_then(|p| p.parse::<i32>().ok()) {
                parents.push((pid, ppid));
            }
        }
    }
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        let p = out[i];
        out.extend(parents.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    out
}

/// One `Vm*:` field of `/proc/<pid>/status`, in KiB (`None` when the process is gone).
pub fn status_kib(pid: i32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Sum of VmRSS over `pids`, in KiB.
pub fn rss_kib(pids: &[i32]) -> u64 {
    pids.iter().filter_map(|p| status_kib(*p, "VmRSS")).sum()
}

/// Sum of VmRSS over the process tree of `root`, in KiB, and how many processes it has
/// (`None` when `root` is gone).
pub fn tree_rss_kib(root: i32) -> Option<(u64, usize)> {
    status_kib(root, "VmRSS")?;
    let pids = tree(root);
    Some((rss_kib(&pids), pids.len()))
}

/// Sum of VmHWM (each process's own peak RSS) over `pids`, in KiB.
pub fn hwm_kib(pids: &[i32]) -> u64 {
    pids.iter().filter_map(|p| status_kib(*p, "VmHWM")).sum()
}

/// MemTotal from `/proc/meminfo`, in KiB.
pub fn meminfo_total_kib() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    text.lines().find(|l| l.starts_with("MemTotal:"))?.split_whitespace().nth(1)?.parse().ok()
}
