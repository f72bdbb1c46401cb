//! Custom metrics per (name, kind, tags, minute): counters sum, gauges keep the
//! latest value, distributions keep count/sum/min/max and a histogram.

use super::fast_hash::FastMap;
use std::collections::BTreeMap;

use appsignal_proto::histogram;
use appsignal_proto::v1::{MetricKind, MetricMinute, MetricSample, MetricSource};

use crate::clock::minute_of_ms;

#[derive(PartialEq, Eq, Hash)]
struct SeriesKey {
    name: String,
    kind: i32,
    tags: BTreeMap<String, String>,
    minute_unix: i64,
}

struct Series {
    minute: MetricMinute,
    /// Time of the gauge value kept, so a late-arriving older value cannot win.
    latest_ms: i64,
}

#[derive(Default)]
pub struct MetricTable {
    series: FastMap<SeriesKey, Series>,
    /// Ready-made minutes from the host probes and the agent itself.
    prepared: Vec<MetricMinute>,
}

impl MetricTable {
    pub fn record(&mut self, sample: MetricSample, now_ms: i64) {
        let time_ms = if sample.time_unix_ms > 0 {
            sample.time_unix_ms
        } else {
            now_ms
        };
        let kind = match MetricKind::try_from(sample.kind) {
            Ok(MetricKind::Unspecified) | Err(_) => MetricKind::Gauge,
            Ok(kind) => kind,
        };
        let value = sample.value;
        if !value.is_finite() {
            return;
        }
        let key = SeriesKey {
            name: sample.name,
            kind: kind as i32,
            tags: sample.tags,
            minute_unix: minute_of_ms(time_ms),
        };
        let series = self.series.entry(key).or_insert_with_key(|key| Series {
            minute: MetricMinute {
                name: key.name.clone(),
                kind: key.kind,
                tags: key.tags.clone(),
                minute_unix: key.minute_unix,
                min: value,
                max: value,
                source: MetricSource::Custom as i32,
                ..Default::default()
            },
            latest_ms: i64::MIN,
        });
        let minute = &mut series.minute;
        minute.count += 1;
        minute.min = minute.min.min(value);
        minute.max = minute.max.max(value);
        match kind {
            MetricKind::Counter => minute.value += value,
            MetricKind::Distribution => {
                minute.value += value;
                histogram::record(minute.histogram.get_or_insert_with(Default::default), value);
            }
            _ => {
                if time_ms >= series.latest_ms {
                    minute.value = value;
                    series.latest_ms = time_ms;
                }
            }
        }
    }

    pub fn add_prepared(&mut self, minutes: impl IntoIterator<Item = MetricMinute>) {
        self.prepared.extend(minutes);
    }

    pub fn series(&self) -> usize {
        self.series.len() + self.prepared.len()
    }

    pub fn take(&mut self) -> Vec<MetricMinute> {
        let mut out: Vec<MetricMinute> = std::mem::take(&mut self.series)
            .into_values()
            .map(|s| s.minute)
            .collect();
        out.sort_by(|a, b| (a.minute_unix, &a.name).cmp(&(b.minute_unix, &b.name)));
        out.append(&mut self.prepared);
        out
    }
}
