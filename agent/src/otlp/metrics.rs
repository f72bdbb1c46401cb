//! Per-minute metric series as OTLP metrics: counters as delta sums, gauges as
//! gauges, distributions as delta histograms. Each series' minute is the data
//! point's time window, its tags the point's attributes.

use std::collections::BTreeMap;

use appsignal_proto::histogram::{GAMMA, MIN_TRACKED};
use appsignal_proto::v1::{Histogram as AppsignalHistogram, MetricKind, MetricMinute};

use super::proto::{
    metric, number_data_point, AggregationTemporality, ExportMetricsServiceRequest, Gauge,
    Histogram, HistogramDataPoint, InstrumentationScope, KeyValue, Metric, NumberDataPoint,
    Resource, ResourceMetrics, ScopeMetrics, Sum,
};

const NS_PER_S: i64 = 1_000_000_000;

/// One request with every series; `now_ms` ends a minute that is still running.
pub fn request(
    resource: &Resource,
    scope: &InstrumentationScope,
    minutes: &[MetricMinute],
    now_ms: i64,
) -> ExportMetricsServiceRequest {
    // One OTLP metric per (name, kind), its series as data points, in name order.
    let mut grouped: BTreeMap<(&str, i32), Vec<&MetricMinute>> = BTreeMap::new();
    for minute in minutes {
        if minute.value.is_finite() {
            grouped
                .entry((minute.name.as_str(), minute.kind))
                .or_default()
                .push(minute);
        }
    }
    let now_ns = now_ms.saturating_mul(1_000_000);
    let metrics = grouped
        .into_iter()
        .map(|((name, kind), series)| Metric {
            name: name.to_string(),
            description: String::new(),
            unit: String::new(),
            data: Some(data(kind, &series, now_ns)),
        })
        .collect();
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(resource.clone()),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(scope.clone()),
                metrics,
            }],
        }],
    }
}

/// The number of data points in a request, for the log.
pub fn data_points(request: &ExportMetricsServiceRequest) -> usize {
    request
        .resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .map(|m| match &m.data {
            Some(metric::Data::Gauge(g)) => g.data_points.len(),
            Some(metric::Data::Sum(s)) => s.data_points.len(),
            Some(metric::Data::Histogram(h)) => h.data_points.len(),
            None => 0,
        })
        .sum()
}

fn window(minute: &MetricMinute, now_ns: i64) -> (u64, u64) {
    let start = minute.minute_unix.saturating_mul(NS_PER_S);
    let end = start.saturating_add(60 * NS_PER_S).min(now_ns).max(start);
    (start.max(0) as u64, end.max(0) as u64)
}

fn attributes(minute: &MetricMinute) -> Vec<KeyValue> {
    // A BTreeMap: attributes come out sorted, the same for every point of a series.
    minute
        .tags
        .iter()
        .map(|(key, value)| KeyValue::string(key, value.as_str()))
        .collect()
}

fn number_point(minute: &MetricMinute, now_ns: i64) -> NumberDataPoint {
    let (start, end) = window(minute, now_ns);
    NumberDataPoint {
        attributes: attributes(minute),
        start_time_unix_nano: start,
        time_unix_nano: end,
        value: Some(number_data_point::Value::AsDouble(minute.value)),
    }
}

fn data(kind: i32, series: &[&MetricMinute], now_ns: i64) -> metric::Data {
    match MetricKind::try_from(kind) {
        Ok(MetricKind::Counter) => metric::Data::Sum(Sum {
            data_points: series.iter().map(|m| number_point(m, now_ns)).collect(),
            aggregation_temporality: AggregationTemporality::Delta as i32,
            // `increment_counter` takes any number; only all-positive sums are monotonic.
            is_monotonic: series.iter().all(|m| m.min >= 0.0),
        }),
        Ok(MetricKind::Distribution) => metric::Data::Histogram(Histogram {
            data_points: series.iter().map(|m| histogram_point(m, now_ns)).collect(),
            aggregation_temporality: AggregationTemporality::Delta as i32,
        }),
        _ => metric::Data::Gauge(Gauge {
            data_points: series.iter().map(|m| number_point(m, now_ns)).collect(),
        }),
    }
}

fn histogram_point(minute: &MetricMinute, now_ns: i64) -> HistogramDataPoint {
    let (start, end) = window(minute, now_ns);
    let (explicit_bounds, bucket_counts) = match &minute.histogram {
        Some(histogram) => explicit_buckets(histogram),
        None => (Vec::new(), vec![minute.count]),
    };
    HistogramDataPoint {
        attributes: attributes(minute),
        start_time_unix_nano: start,
        time_unix_nano: end,
        count: minute.count,
        sum: Some(minute.value),
        bucket_counts,
        explicit_bounds,
        min: Some(minute.min),
        max: Some(minute.max),
    }
}

/// The agent's sparse log-scale buckets as OTLP explicit bounds, exactly: bucket
/// `i` holds values in `(MIN_TRACKED·GAMMA^(i-1), MIN_TRACKED·GAMMA^i]`, the zero
/// bucket those up to `MIN_TRACKED`. Gaps between used buckets become empty
/// buckets, and the last OTLP bucket (above the last bound) is empty.
pub fn explicit_buckets(histogram: &AppsignalHistogram) -> (Vec<f64>, Vec<u64>) {
    let mut bounds = vec![MIN_TRACKED];
    let mut counts = vec![histogram.zero_count];
    for (&index, &count) in &histogram.buckets {
        let upper = MIN_TRACKED * GAMMA.powi(index);
        let lower = MIN_TRACKED * GAMMA.powi(index - 1);
        let last = *bounds.last().unwrap_or(&MIN_TRACKED);
        if upper <= last {
            // Buckets at or below the zero bucket (not produced by `record`): fold in.
            if let Some(first) = counts.first_mut() {
                *first += count;
            }
            continue;
        }
        if lower > last * (1.0 + 1e-9) {
            bounds.push(lower);
            counts.push(0);
        }
        bounds.push(upper);
        counts.push(count);
    }
    counts.push(0);
    (bounds, counts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use appsignal_proto::histogram;
    use appsignal_proto::v1::MetricSource;

    fn minute(name: &str, kind: MetricKind, value: f64) -> MetricMinute {
        MetricMinute {
            name: name.into(),
            kind: kind as i32,
            minute_unix: 1_800_000_000,
            value,
            min: value,
            max: value,
            count: 1,
            tags: [("region".to_string(), "eu".to_string())].into(),
            source: MetricSource::Custom as i32,
            ..Default::default()
        }
    }

    #[test]
    fn buckets_keep_every_count_and_order() {
        let mut h = AppsignalHistogram::default();
        for v in [0.0005, 10.0, 10.1, 30.0, 30.0, 500.0] {
            histogram::record(&mut h, v);
        }
        let (bounds, counts) = explicit_buckets(&h);
        assert_eq!(counts.len(), bounds.len() + 1);
        assert_eq!(counts.iter().sum::<u64>(), 6);
        assert!(bounds.windows(2).all(|w| w[0] < w[1]), "{bounds:?}");
        // Each value lies in its OTLP bucket (bounds[i-1], bounds[i]].
        for v in [10.0, 30.0, 500.0] {
            let i = bounds.iter().position(|b| v <= *b).unwrap();
            assert!(
                counts[i] > 0 && v > bounds[i - 1],
                "{v} {bounds:?} {counts:?}"
            );
        }
        assert_eq!(counts[0], 1, "the zero bucket");
    }

    #[test]
    fn kinds_map_to_sum_gauge_and_histogram() {
        let mut dist = minute("latency", MetricKind::Distribution, 40.0);
        dist.count = 2;
        let mut h = AppsignalHistogram::default();
        histogram::record(&mut h, 10.0);
        histogram::record(&mut h, 30.0);
        dist.histogram = Some(h);
        let mut negative = minute("balance", MetricKind::Counter, -3.0);
        negative.min = -3.0;
        let minutes = vec![
            minute("signups", MetricKind::Counter, 4.0),
            minute("queue", MetricKind::Gauge, 7.0),
            dist,
            negative,
            minute("nan", MetricKind::Gauge, f64::NAN),
        ];
        let now_ms = 1_800_000_030_000; // half way through the minute
        let request = request(&Resource::default(), &Default::default(), &minutes, now_ms);
        assert_eq!(data_points(&request), 4);
        let metrics = &request.resource_metrics[0].scope_metrics[0].metrics;
        let names: Vec<_> = metrics.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["balance", "latency", "queue", "signups"]);
        let Some(metric::Data::Sum(sum)) = &metrics[3].data else {
            panic!("{:?}", metrics[3])
        };
        assert!(sum.is_monotonic);
        assert_eq!(
            sum.aggregation_temporality,
            AggregationTemporality::Delta as i32
        );
        let point = &sum.data_points[0];
        assert_eq!(point.start_time_unix_nano, 1_800_000_000 * 1_000_000_000);
        assert_eq!(point.time_unix_nano, 1_800_000_030 * 1_000_000_000);
        assert_eq!(point.attributes, vec![KeyValue::string("region", "eu")]);
        assert!(matches!(&metrics[0].data, Some(metric::Data::Sum(s)) if !s.is_monotonic));
        assert!(matches!(&metrics[2].data, Some(metric::Data::Gauge(_))));
        let Some(metric::Data::Histogram(histogram)) = &metrics[1].data else {
            panic!("{:?}", metrics[1])
        };
        let point = &histogram.data_points[0];
        assert_eq!(
            (point.count, point.sum, point.min, point.max),
            (2, Some(40.0), Some(40.0), Some(40.0))
        );
        assert_eq!(point.bucket_counts.iter().sum::<u64>(), 2);
    }
}
