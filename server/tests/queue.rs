//! The embedded queue keeps what the Push API acknowledged: a payload taken by a processor
//! that died comes back after the lease (on the injected clock), and payloads accepted while
//! no processor ran are processed after a restart on the same data directory.

mod common;

use appsignal_server::clock::{ManualClock, SystemClock};
use appsignal_server::queue::sqlite::LEASE_SECS;
use appsignal_server::queue::Queue;
use appsignal_server::server::{self, Role};
use common::*;
use std::sync::Arc;
use std::time::Duration;

#[tokio::test]
async fn a_delivery_that_was_never_acked_comes_back_after_the_lease() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(1_800_000_000);
    let queue = Queue::open("sqlite", dir.path(), "", clock.clone())
        .await
        .unwrap();
    queue.enqueue(7, b"payload-bytes".to_vec()).await.unwrap();

    let taken = queue.next_batch(10).await.unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].attempt, 1);
    drop(taken); // the processor died before acknowledging
    assert!(queue.next_batch(10).await.unwrap().is_empty(), "leased");

    clock.advance(LEASE_SECS - 1);
    assert!(
        queue.next_batch(10).await.unwrap().is_empty(),
        "still leased"
    );
    clock.advance(2);
    let mut again = queue.next_batch(10).await.unwrap();
    assert_eq!(again.len(), 1);
    let delivery = again.pop().unwrap();
    assert_eq!(
        (delivery.app_id, delivery.body.as_slice(), delivery.attempt),
        (7, &b"payload-bytes"[..], 2),
        "the second delivery, counted"
    );
    queue.ack(delivery).await.unwrap();
    assert_eq!(queue.depth().await.unwrap(), 0);
}

#[tokio::test]
async fn payloads_accepted_without_a_processor_are_processed_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut api_only = config(dir.path(), Arc::new(SystemClock));
    api_only.role = Role::Api;
    let running = server::start(api_only).await.unwrap();
    let app = running.store.create_app("shop", now()).unwrap();
    let url = format!(
        "http://{}/1/transmit?api_key={}",
        running.addr.unwrap(),
        app.api_key
    );
    let mut p = payload("restart-1");
    p.actions.push(action_minute(
        "web",
        "A#b",
        minute(now()),
        &[1.0, 2.0, 3.0],
        1,
    ));
    assert_eq!(post_payload(&url, encode(&p)).await, 200);
    running.stop().await;

    let running = server::start(config(dir.path(), Arc::new(SystemClock)))
        .await
        .unwrap();
    let store = running.store.clone();
    wait_until("processed after restart", Duration::from_secs(10), || {
        scalar(&store, "SELECT COUNT(*) FROM processed_payloads", &[]) == 1
    })
    .await;
    assert_eq!(scalar(&store, "SELECT count FROM action_minutes", &[]), 3);
    running.stop().await;
}

#[tokio::test]
async fn a_queue_file_from_before_delivery_counting_is_upgraded_in_place() {
    let dir = tempfile::tempdir().unwrap();
    {
        let old = rusqlite::Connection::open(dir.path().join("queue.sqlite3")).unwrap();
        old.execute_batch(
            "CREATE TABLE queue (id INTEGER PRIMARY KEY AUTOINCREMENT, app_id INTEGER NOT NULL,
               body BLOB NOT NULL, enqueued_at INTEGER NOT NULL, leased_until INTEGER NOT NULL DEFAULT 0);
             INSERT INTO queue (app_id, body, enqueued_at) VALUES (3, x'0102', 1);",
        )
        .unwrap();
    }
    let clock = ManualClock::new(1_800_000_000);
    let queue = Queue::open("sqlite", dir.path(), "", clock).await.unwrap();
    let taken = queue.next_batch(10).await.unwrap();
    assert_eq!(
        (taken[0].app_id, taken[0].body.as_slice(), taken[0].attempt),
        (3, &[1u8, 2][..], 1)
    );
}
