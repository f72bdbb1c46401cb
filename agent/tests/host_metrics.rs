//! Host metrics reach the Push API from the real binary.

mod common;

use std::time::Duration;

use appsignal_proto::v1::{MetricKind, MetricSource};
use appsignal_testkit::PushReceiver;
use common::*;

#[test]
fn host_metrics_are_sent_as_gauges_tagged_with_the_hostname() {
    let receiver = PushReceiver::start();
    let wd = tempfile::tempdir().unwrap();
    let env: Vec<_> = base_env(wd.path(), &receiver.endpoint())
        .into_iter()
        .filter(|(k, _)| k != "APPSIGNAL_ENABLE_HOST_METRICS")
        .collect();
    let _agent = Agent::start_with(wd.path(), &env);
    let host = |p: &[appsignal_proto::v1::Payload]| {
        p.iter()
            .flat_map(|p| &p.metrics)
            .filter(|m| m.source == MetricSource::Host as i32)
            .cloned()
            .collect::<Vec<_>>()
    };
    assert!(receiver.wait_for(Duration::from_secs(10), |p| host(p)
        .iter()
        .any(|m| m.name == "load_average")));
    let metrics = host(&receiver.payloads());
    for name in ["cpu", "load_average", "memory", "disk_usage"] {
        assert!(metrics.iter().any(|m| m.name == name), "{name} missing");
    }
    assert!(metrics
        .iter()
        .all(|m| m.kind == MetricKind::Gauge as i32 && m.tags["hostname"] == "test-host"));
    let states: Vec<_> = metrics
        .iter()
        .filter(|m| m.name == "memory")
        .map(|m| m.tags["state"].as_str())
        .collect();
    assert_eq!(states, vec!["used", "free", "swap_used"]);
}

#[test]
fn host_metrics_can_be_turned_off() {
    let receiver = PushReceiver::start();
    let wd = tempfile::tempdir().unwrap();
    let agent = Agent::start(wd.path(), &receiver.endpoint()); // base env disables them
    let mut stream = agent.connect();
    send(
        &mut stream,
        &appsignal_proto::v1::ClientBatch {
            transactions: vec![transaction("h1", "Host#off", 5)],
            ..Default::default()
        },
    );
    assert!(receiver.wait_for(Duration::from_secs(10), |p| count_for(p, "Host#off") == 1));
    std::thread::sleep(Duration::from_secs(1));
    assert!(receiver
        .payloads()
        .iter()
        .flat_map(|p| &p.metrics)
        .all(|m| m.source != MetricSource::Host as i32));
}
