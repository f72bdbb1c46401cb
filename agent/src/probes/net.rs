//! Bytes received and sent per network interface from /proc/net/dev.

use std::collections::HashMap;

/// interface -> (rx bytes, tx bytes) since boot; loopback left out.
pub fn bytes(net_dev: &str) -> HashMap<String, (u64, u64)> {
    let mut out = HashMap::new();
    for line in net_dev.lines().skip(2) {
        let Some((name, counters)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name == "lo" {
            continue;
        }
        let values: Vec<u64> = counters
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        if values.len() >= 9 {
            out.insert(name.to_string(), (values[0], values[8]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interfaces_parse_without_loopback() {
        let text = "Inter-|   Receive |  Transmit\n face |bytes packets|bytes\n    lo: 10 1 0 0 0 0 0 0 10 1 0 0 0 0 0 0\n  eth0: 1000 5 0 0 0 0 0 0 2000 6 0 0 0 0 0 0\n";
        let got = bytes(text);
        assert_eq!(got.get("eth0"), Some(&(1000, 2000)));
        assert!(!got.contains_key("lo"));
    }
}
