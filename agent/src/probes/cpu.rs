//! CPU time split from the first line of /proc/stat, as percentages of the time
//! between two readings.

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CpuTimes {
    user: u64,
    system: u64,
    iowait: u64,
    steal: u64,
    total: u64,
}

pub fn parse(proc_stat: &str) -> Option<CpuTimes> {
    let line = proc_stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let field = |i: usize| v.get(i).copied().unwrap_or(0);
    // user nice system idle iowait irq softirq steal (guest time is inside user).
    let times = CpuTimes {
        user: field(0) + field(1),
        system: field(2) + field(5) + field(6),
        iowait: field(4),
        steal: field(7),
        total: (0..8).map(field).sum(),
    };
    (v.len() >= 4).then_some(times)
}

/// (state, percent) for user, system, iowait and steal.
pub fn percentages(before: &CpuTimes, after: &CpuTimes) -> Vec<(&'static str, f64)> {
    let total = after.total.saturating_sub(before.total);
    if total == 0 {
        return Vec::new();
    }
    let pct = |a: u64, b: u64| a.saturating_sub(b) as f64 * 100.0 / total as f64;
    vec![
        ("user", pct(after.user, before.user)),
        ("system", pct(after.system, before.system)),
        ("iowait", pct(after.iowait, before.iowait)),
        ("steal", pct(after.steal, before.steal)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_become_percentages() {
        let before = parse("cpu  100 0 50 800 10 0 0 0 0 0\ncpu0 1 2 3\n").unwrap();
        let after = parse("cpu  150 10 70 900 20 0 10 0 0 0\n").unwrap();
        let got = percentages(&before, &after);
        // total delta: 60 user+nice, 30 system+softirq, 100 idle, 10 iowait = 200
        assert_eq!(
            got,
            vec![
                ("user", 30.0),
                ("system", 15.0),
                ("iowait", 5.0),
                ("steal", 0.0)
            ]
        );
    }
}
