//! Host metrics, read from /proc and statvfs about once a minute and sent as
//! METRIC_SOURCE_HOST gauges tagged with the hostname.

mod cpu;
mod disk;
mod net;
mod system;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use appsignal_proto::v1::{MetricKind, MetricMinute, MetricSource};
use tokio::time::Instant;

use crate::clock::{minute_of_ms, SharedClock};
use crate::pipeline::SharedPipeline;
use crate::shutdown::Shutdown;

pub const PROBE_PERIOD: Duration = Duration::from_secs(60);

/// Readings kept between probes: CPU and I/O are reported as differences.
pub struct HostProbe {
    proc_root: PathBuf,
    hostname: String,
    cpu: Option<cpu::CpuTimes>,
    disk_io: HashMap<String, (u64, u64)>,
    net: HashMap<String, (u64, u64)>,
}

impl HostProbe {
    /// Takes the baseline reading.
    pub fn new(hostname: &str) -> HostProbe {
        let mut probe = HostProbe {
            proc_root: PathBuf::from("/proc"),
            hostname: hostname.to_string(),
            cpu: None,
            disk_io: HashMap::new(),
            net: HashMap::new(),
        };
        probe.cpu = cpu::parse(&probe.read("stat"));
        probe.disk_io = disk::io_bytes(&probe.read("diskstats"));
        probe.net = net::bytes(&probe.read("net/dev"));
        probe
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.proc_root.join(name)).unwrap_or_default()
    }

    fn gauge(
        &self,
        name: &str,
        tag: Option<(&str, &str)>,
        value: f64,
        minute_unix: i64,
    ) -> MetricMinute {
        let mut tags = BTreeMap::from([("hostname".to_string(), self.hostname.clone())]);
        if let Some((key, tag_value)) = tag {
            tags.insert(key.to_string(), tag_value.to_string());
        }
        MetricMinute {
            name: name.to_string(),
            kind: MetricKind::Gauge as i32,
            tags,
            minute_unix,
            value,
            count: 1,
            min: value,
            max: value,
            histogram: None,
            source: MetricSource::Host as i32,
        }
    }

    /// One reading of everything; differences are against the previous reading.
    pub fn sample(&mut self, minute_unix: i64) -> Vec<MetricMinute> {
        let mut out = Vec::new();
        let cpu_now = cpu::parse(&self.read("stat"));
        if let (Some(before), Some(after)) = (&self.cpu, &cpu_now) {
            for (state, pct) in cpu::percentages(before, after) {
                out.push(self.gauge("cpu", Some(("state", state)), pct, minute_unix));
            }
        }
        self.cpu = cpu_now;
        for (window, value) in system::load_averages(&self.read("loadavg")) {
            out.push(self.gauge("load_average", Some(("window", window)), value, minute_unix));
        }
        for (state, mb) in system::memory_mb(&self.read("meminfo")) {
            out.push(self.gauge("memory", Some(("state", state)), mb, minute_unix));
        }
        for mountpoint in disk::mountpoints(&self.read("mounts")) {
            if let Some(pct) = disk::usage_percent(&mountpoint) {
                out.push(self.gauge(
                    "disk_usage",
                    Some(("mountpoint", &mountpoint)),
                    pct,
                    minute_unix,
                ));
            }
        }
        let disk_now = disk::io_bytes(&self.read("diskstats"));
        for (device, (read, written)) in &disk_now {
            if let Some((read_before, written_before)) = self.disk_io.get(device) {
                let tag = Some(("device", device.as_str()));
                out.push(self.gauge(
                    "disk_io_read",
                    tag,
                    read.saturating_sub(*read_before) as f64,
                    minute_unix,
                ));
                out.push(self.gauge(
                    "disk_io_written",
                    tag,
                    written.saturating_sub(*written_before) as f64,
                    minute_unix,
                ));
            }
        }
        self.disk_io = disk_now;
        let net_now = net::bytes(&self.read("net/dev"));
        for (interface, (rx, tx)) in &net_now {
            if let Some((rx_before, tx_before)) = self.net.get(interface) {
                let tag = Some(("interface", interface.as_str()));
                out.push(self.gauge(
                    "net_rx",
                    tag,
                    rx.saturating_sub(*rx_before) as f64,
                    minute_unix,
                ));
                out.push(self.gauge(
                    "net_tx",
                    tag,
                    tx.saturating_sub(*tx_before) as f64,
                    minute_unix,
                ));
            }
        }
        self.net = net_now;
        out
    }
}

/// Probes once `first_after` has passed (so short test intervals see host metrics
/// in their first payload) and then every minute.
pub async fn run(
    mut probe: HostProbe,
    pipeline: SharedPipeline,
    clock: SharedClock,
    first_after: Duration,
    shutdown: Shutdown,
) {
    let mut ticker = tokio::time::interval_at(Instant::now() + first_after, PROBE_PERIOD);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = ticker.tick() => {}
        }
        let minutes = probe.sample(minute_of_ms(clock.now_unix_ms()));
        pipeline.lock().aggregator.add_prepared_metrics(minutes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_of_this_host_has_every_family_tagged_with_the_hostname() {
        let mut probe = HostProbe::new("web-1");
        // Burn a little CPU so the tick counters move.
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_add(i * i);
        }
        std::hint::black_box(x);
        std::thread::sleep(Duration::from_millis(50));
        let metrics = probe.sample(60);
        for name in ["cpu", "load_average", "memory", "disk_usage"] {
            assert!(metrics.iter().any(|m| m.name == name), "{name} missing");
        }
        assert!(metrics.iter().all(|m| m.tags["hostname"] == "web-1"
            && m.source == MetricSource::Host as i32
            && m.kind == MetricKind::Gauge as i32));
        let windows: Vec<_> = metrics
            .iter()
            .filter(|m| m.name == "load_average")
            .map(|m| m.tags["window"].clone())
            .collect();
        assert_eq!(windows, vec!["1m", "5m", "15m"]);
    }
}
