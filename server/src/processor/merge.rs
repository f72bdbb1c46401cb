//! Adds up the action minutes of a batch of payloads before they are written, so a batch
//! updates each (app, namespace, action, minute) row once instead of once per payload. Many
//! agents report the same actions in the same minute: those rows are the hot ones, and
//! concurrent processors queue up on their locks.

use crate::clock::floor_minute;
use appsignal_proto::v1::{ActionMinute, Payload};
use std::collections::BTreeMap;

type Key = (i64, String, String, i64);

#[derive(Default)]
pub struct ActionMerge(BTreeMap<Key, ActionMinute>);

impl ActionMerge {
    pub fn add(&mut self, app_id: i64, payload: &Payload) {
        for a in &payload.actions {
            let minute = floor_minute(a.minute_unix);
            let key = (app_id, a.namespace.clone(), a.action.clone(), minute);
            match self.0.get_mut(&key) {
                Some(into) => merge_into(into, a),
                None => {
                    let mut first = a.clone();
                    first.minute_unix = minute;
                    self.0.insert(key, first);
                }
            }
        }
    }

    /// In key order, events by name: concurrent processors lock shared rows in the same
    /// order, so they cannot deadlock.
    pub fn into_actions(self) -> impl Iterator<Item = (i64, ActionMinute)> {
        self.0.into_iter().map(|((app_id, ..), mut a)| {
            a.events.sort_by(|x, y| x.name.cmp(&y.name));
            (app_id, a)
        })
    }
}

fn merge_into(into: &mut ActionMinute, a: &ActionMinute) {
    into.count += a.count;
    into.error_count += a.error_count;
    into.total_duration_ms += a.total_duration_ms;
    into.total_queue_ms += a.total_queue_ms;
    into.min_duration_ms = into.min_duration_ms.min(a.min_duration_ms);
    into.max_duration_ms = into.max_duration_ms.max(a.max_duration_ms);
    if let Some(other) = &a.duration_ms {
        let h = into.duration_ms.get_or_insert_with(Default::default);
        for (bucket, count) in &other.buckets {
            *h.buckets.entry(*bucket).or_insert(0) += count;
        }
        h.zero_count += other.zero_count;
    }
    for e in &a.events {
        match into.events.iter_mut().find(|x| x.name == e.name) {
            Some(x) => {
                x.count += e.count;
                x.total_duration_ms += e.total_duration_ms;
                x.total_exclusive_ms += e.total_exclusive_ms;
            }
            None => into.events.push(e.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use appsignal_proto::v1::{EventMinute, Histogram};

    fn action(minute: i64, count: u64, ms: f64, bucket: i32) -> ActionMinute {
        ActionMinute {
            namespace: "web".into(),
            action: "A#b".into(),
            minute_unix: minute,
            count,
            error_count: 1,
            total_duration_ms: ms * count as f64,
            min_duration_ms: ms,
            max_duration_ms: ms,
            duration_ms: Some(Histogram {
                buckets: [(bucket, count)].into(),
                zero_count: 1,
            }),
            events: vec![EventMinute {
                name: "sql".into(),
                count,
                total_duration_ms: 1.0,
                total_exclusive_ms: 1.0,
            }],
            total_queue_ms: 2.0,
        }
    }

    #[test]
    fn same_key_adds_up_and_other_keys_stay_apart() {
        let mut merge = ActionMerge::default();
        let p = |actions| Payload {
            actions,
            ..Default::default()
        };
        merge.add(1, &p(vec![action(600, 2, 10.0, 5), action(660, 1, 1.0, 5)]));
        merge.add(1, &p(vec![action(630, 3, 20.0, 7)])); // same minute as 600
        merge.add(2, &p(vec![action(600, 4, 5.0, 5)])); // another app
        let out: Vec<(i64, ActionMinute)> = merge.into_actions().collect();
        assert_eq!(out.len(), 3);
        let (app, a) = &out[0];
        assert_eq!(
            (*app, a.minute_unix, a.count, a.error_count),
            (1, 600, 5, 2)
        );
        assert_eq!(a.total_duration_ms, 80.0);
        assert_eq!((a.min_duration_ms, a.max_duration_ms), (10.0, 20.0));
        assert_eq!(a.total_queue_ms, 4.0);
        let h = a.duration_ms.as_ref().unwrap();
        assert_eq!((h.buckets[&5], h.buckets[&7], h.zero_count), (2, 3, 2));
        assert_eq!(a.events.len(), 1);
        assert_eq!((a.events[0].count, a.events[0].total_duration_ms), (5, 2.0));
        assert_eq!((out[1].0, out[1].1.minute_unix), (1, 660));
        assert_eq!((out[2].0, out[2].1.count), (2, 4));
    }
}
