//! Frames in, aggregated payload out, through the real binary.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use appsignal_proto::v1::{ClientBatch, ClientHealth, MetricKind, MetricSample, MetricSource};
use appsignal_testkit::PushReceiver;
use common::*;

#[test]
fn frames_from_several_clients_arrive_aggregated() {
    let receiver = PushReceiver::start();
    let wd = tempfile::tempdir().unwrap();
    let agent = Agent::start(wd.path(), &receiver.endpoint());

    let mut clients: Vec<_> = (0..4).map(|_| agent.connect()).collect();
    for (i, stream) in clients.iter_mut().enumerate() {
        let transactions = (0..25)
            .map(|n| {
                let t = transaction(&format!("c{i}-t{n}"), "UsersController#show", 10 + n);
                if n == 0 {
                    failing(t, "RuntimeError")
                } else {
                    t
                }
            })
            .collect();
        send(
            stream,
            &ClientBatch {
                hello: Some(hello(1000 + i as u32)),
                transactions,
                ..Default::default()
            },
        );
        send(
            stream,
            &ClientBatch {
                transactions: vec![transaction(&format!("c{i}-x"), "HomeController#index", 3)],
                ..Default::default()
            },
        );
    }
    assert!(
        receiver.wait_for(Duration::from_secs(10), |p| count_for(
            p,
            "UsersController#show"
        ) == 100
            && count_for(p, "HomeController#index") == 4),
        "payloads: {:?}",
        receiver
            .payloads()
            .iter()
            .map(|p| &p.actions)
            .collect::<Vec<_>>()
    );
    let payloads = receiver.payloads();
    let errors: u64 = payloads
        .iter()
        .flat_map(|p| &p.actions)
        .map(|a| a.error_count)
        .sum();
    assert_eq!(errors, 4);
    let sql_events: u64 = payloads
        .iter()
        .flat_map(|p| &p.actions)
        .flat_map(|a| &a.events)
        .filter(|e| e.name == "sql.active_record")
        .map(|e| e.count)
        .sum();
    assert_eq!(sql_events, 104);
    let samples: Vec<_> = payloads.iter().flat_map(|p| &p.samples).collect();
    assert!(samples.iter().filter(|t| t.error.is_some()).count() == 4);
    assert!(samples.iter().any(|t| t.events.len() == 2));
    assert!(payloads.iter().any(|p| p.revisions == vec!["rev-abc"]));
    assert!(payloads.iter().all(|p| p.hostname == "test-host"));
    assert!(payloads
        .iter()
        .any(|p| p.library_version == "4.0.0" && p.language == "ruby"));
    // Every payload id is unique.
    let mut ids: Vec<_> = payloads.iter().map(|p| p.payload_id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), payloads.len());
}

#[test]
fn custom_metrics_and_client_health_are_reported() {
    let receiver = PushReceiver::start();
    let wd = tempfile::tempdir().unwrap();
    let agent = Agent::start(wd.path(), &receiver.endpoint());
    let mut stream = agent.connect();
    let sample = |kind: MetricKind, name: &str, value: f64| MetricSample {
        name: name.into(),
        kind: kind as i32,
        value,
        tags: [("region".to_string(), "eu".to_string())].into(),
        time_unix_ms: 0,
    };
    send(
        &mut stream,
        &ClientBatch {
            hello: Some(hello(77)),
            metrics: vec![
                sample(MetricKind::Counter, "signups", 2.0),
                sample(MetricKind::Counter, "signups", 3.0),
                sample(MetricKind::Gauge, "queue_depth", 9.0),
                sample(MetricKind::Distribution, "basket", 10.0),
                sample(MetricKind::Distribution, "basket", 20.0),
            ],
            health: Some(ClientHealth {
                pid: 77,
                transactions_dropped: 12,
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    assert!(
        receiver.wait_for(Duration::from_secs(10), |p| metric_total(p, "signups")
            == 5.0)
    );
    let payloads = receiver.payloads();
    let custom: Vec<_> = payloads
        .iter()
        .flat_map(|p| &p.metrics)
        .filter(|m| m.source == MetricSource::Custom as i32)
        .collect();
    let basket = custom.iter().find(|m| m.name == "basket").unwrap();
    assert_eq!(
        (basket.count, basket.value, basket.min, basket.max),
        (2, 30.0, 10.0, 20.0)
    );
    assert!(basket.histogram.is_some());
    assert_eq!(
        custom
            .iter()
            .find(|m| m.name == "queue_depth")
            .unwrap()
            .value,
        9.0
    );
    let agent_metric = |name: &str| {
        payloads
            .iter()
            .flat_map(|p| &p.metrics)
            .filter(|m| m.source == MetricSource::Agent as i32 && m.name == name)
            .map(|m| m.value)
            .fold(0.0, f64::max)
    };
    assert_eq!(agent_metric("transactions_dropped_by_extension"), 12.0);
    assert!(agent_metric("frames_received") >= 1.0);
}

#[test]
fn a_malformed_frame_closes_only_its_connection_and_is_counted() {
    let receiver = PushReceiver::start();
    let wd = tempfile::tempdir().unwrap();
    let agent = Agent::start(wd.path(), &receiver.endpoint());

    let mut good = agent.connect();
    send(
        &mut good,
        &ClientBatch {
            hello: Some(hello(1)),
            transactions: vec![transaction("g1", "Good#before", 5)],
            ..Default::default()
        },
    );
    let mut bad = agent.connect();
    // A frame announcing 4 GiB, then garbage.
    bad.write_all(&[0xff, 0xff, 0xff, 0xff, 1, 2, 3]).unwrap();
    bad.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 1];
    assert_eq!(
        bad.read(&mut buf).unwrap(),
        0,
        "the agent closes the bad connection"
    );

    let mut undecodable = agent.connect();
    undecodable
        .write_all(&[0, 0, 0, 3, 0xff, 0xff, 0xff])
        .unwrap();
    undecodable
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(undecodable.read(&mut buf).unwrap(), 0);

    send(
        &mut good,
        &ClientBatch {
            transactions: vec![transaction("g2", "Good#after", 5)],
            ..Default::default()
        },
    );
    assert!(
        receiver.wait_for(Duration::from_secs(10), |p| count_for(p, "Good#after") == 1
            && metric_total(p, "frames_malformed") == 2.0)
    );
    assert_eq!(count_for(&receiver.payloads(), "Good#before"), 1);
    assert!(read_log(wd.path()).contains("malformed frame"));
}
