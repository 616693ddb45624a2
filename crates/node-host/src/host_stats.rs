//! `node.host.stats`: the load, memory and disk figures the gateway shows for a node.

use serde_json::{json, Map, Value};

/// Collects the stats payload (`protocol.md` §6.2): CPU count, load average (omitted when all
/// zero), total and available memory, and the disk holding `$HOME` (both or neither).
pub fn collect() -> Value {
    let mut out = Map::new();
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).clamp(1, 4096);
    out.insert("cpuCount".into(), json!(cpus));
    if let Some(load) = load_average().filter(|l| l.iter().any(|v| *v > 0.0)) {
        out.insert("loadAverage".into(), json!(load.map(|v| v.clamp(0.0, 1e5))));
    }
    let (total, free) = memory().unwrap_or((0, 0));
    out.insert("memoryTotalBytes".into(), json!(total));
    out.insert("memoryFreeBytes".into(), json!(free.min(total)));
    let home = std::env::var("HOME").unwrap_or_else(|_| "/".into());
    if let Ok(st) = nix::sys::statvfs::statvfs(home.as_str()) {
        // The field types are 32-bit on some targets (ARMv7), so the casts are not no-ops everywhere.
        #[allow(clippy::unnecessary_cast)]
        let (frsize, blocks, available) = (st.fragment_size() as u64, st.blocks() as u64, st.blocks_available() as u64);
        let total = blocks * frsize;
        let avail = (available * frsize).min(total);
        out.insert("diskTotalBytes".into(), json!(total));
        out.insert("diskAvailableBytes".into(), json!(avail));
    }
    Value::Object(out)
}

fn load_average() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut it = text.split_whitespace().map(|s| s.parse::<f64>().ok());
    Some([it.next()??, it.next()??, it.next()??])
}

/// `(MemTotal, MemAvailable)` in bytes, what Node's `os.totalmem()`/`os.freemem()` report.
fn memory() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = text.lines().find(|l| l.starts_with(name))?;
        line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kb| kb * 1024)
    };
    Some((field("MemTotal:")?, field("MemAvailable:").or_else(|| field("MemFree:"))?))
}

#[cfg(test)]
mod tests {
    #[test]
    fn stats_have_the_required_fields() {
        let v = super::collect();
        assert!(v["cpuCount"].as_u64().unwrap() >= 1);
        assert!(v["memoryTotalBytes"].as_u64().unwrap() > 0);
        assert!(v["memoryFreeBytes"].as_u64().unwrap() <= v["memoryTotalBytes"].as_u64().unwrap());
        assert_eq!(v.get("diskTotalBytes").is_some(), v.get("diskAvailableBytes").is_some());
    }
}
