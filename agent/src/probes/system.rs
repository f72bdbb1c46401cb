//! Load averages (/proc/loadavg) and memory (/proc/meminfo).

/// (window, value) for the 1, 5 and 15 minute load averages.
pub fn load_averages(loadavg: &str) -> Vec<(&'static str, f64)> {
    let values: Vec<f64> = loadavg
        .split_whitespace()
        .take(3)
        .filter_map(|v| v.parse().ok())
        .collect();
    ["1m", "5m", "15m"].into_iter().zip(values).collect()
}

/// (state, megabytes) for used, free and swap_used. "Free" is MemAvailable (what
/// applications can still get, cache included) and "used" is the rest of MemTotal.
pub fn memory_mb(meminfo: &str) -> Vec<(&'static str, f64)> {
    let kb = |key: &str| {
        meminfo.lines().find_map(|line| {
            let rest = line.strip_prefix(key)?.strip_prefix(':')?;
            rest.split_whitespace().next()?.parse::<f64>().ok()
        })
    };
    let Some(total) = kb("MemTotal") else {
        return Vec::new();
    };
    let available = kb("MemAvailable").unwrap_or_else(|| {
        kb("MemFree").unwrap_or(0.0) + kb("Buffers").unwrap_or(0.0) + kb("Cached").unwrap_or(0.0)
    });
    let swap_used = kb("SwapTotal").unwrap_or(0.0) - kb("SwapFree").unwrap_or(0.0);
    vec![
        ("used", (total - available) / 1024.0),
        ("free", available / 1024.0),
        ("swap_used", swap_used / 1024.0),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_and_memory_parse() {
        assert_eq!(
            load_averages("0.50 1.25 2.00 1/234 5678\n"),
            vec![("1m", 0.5), ("5m", 1.25), ("15m", 2.0)]
        );
        let meminfo = "MemTotal:  4194304 kB\nMemFree: 1000 kB\nMemAvailable:  1048576 kB\nSwapTotal: 2048 kB\nSwapFree: 1024 kB\n";
        assert_eq!(
            memory_mb(meminfo),
            vec![("used", 3072.0), ("free", 1024.0), ("swap_used", 1.0)]
        );
    }
}
