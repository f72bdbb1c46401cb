//! The dashboard in a real browser: headless Chromium renders each page, and the DOM it
//! produces must show the numbers of the payloads sent, escaped.

mod common;

use appsignal_proto::histogram;
use appsignal_proto::v1::MetricSource;
use appsignal_server::processor::rollup::{compact, RetentionConfig};
use common::*;
use std::process::Command;
use std::time::Duration;

fn chromium(args: &[&str], url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-dev-shm-usage",
            &format!("--user-data-dir={}", profile.path().display()),
        ])
        .args(args)
        .arg(url)
        .output()
        .expect("chromium must be installed (apt-get install -y chromium)");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

async fn dom(url: String) -> String {
    tokio::task::spawn_blocking(move || chromium(&["--dump-dom"], &url))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_render_in_chromium_with_the_numbers_sent() {
    let s = TestServer::start().await;
    let m = minute(now());
    let mut p = payload("dash-1");
    let durations: Vec<f64> = (1..=40).map(|i| i as f64 * 5.0).collect();
    p.actions.push(action_minute(
        "web",
        "UsersController#show",
        m,
        &durations,
        4,
    ));
    p.actions.push(action_minute(
        "background_job",
        "<script>alert(1)</script>Job",
        m,
        &[100.0, 300.0],
        0,
    ));
    p.samples.push(transaction(
        "s-err",
        "web",
        "UsersController#show",
        m,
        25.0,
        Some("ActiveRecord::RecordNotFound"),
    ));
    p.metrics.push(gauge(
        "cpu",
        MetricSource::Host,
        &[("hostname", "web-1")],
        m,
        37.0,
    ));
    p.metrics.push(gauge(
        "memory",
        MetricSource::Host,
        &[("hostname", "web-1")],
        m,
        512.0,
    ));
    p.metrics.push(counter("signups", m, 9.0));
    p.revisions.push("deadbeef".into());
    assert_eq!(s.send(&p).await, 200);
    // Two days ago: only the 7-day range shows it, from the hourly buckets after roll-up.
    let mut old = payload("dash-old");
    old.actions.push(action_minute(
        "web",
        "UsersController#show",
        m - 2 * 24 * 3600,
        &[10.0; 10],
        1,
    ));
    assert_eq!(s.send(&old).await, 200);
    let store = s.running.store.clone();
    wait_until("processed", Duration::from_secs(10), || {
        scalar(&store, "SELECT COUNT(*) FROM processed_payloads", &[]) == 2
    })
    .await;
    compact(&store, &RetentionConfig::default(), now()).unwrap();
    assert_eq!(
        scalar(
            &store,
            "SELECT CAST(SUM(count) AS BIGINT) FROM action_hours",
            &[]
        ),
        10
    );
    s.running
        .store
        .create_trigger(
            s.app_id,
            &appsignal_server::store::admin::NewTrigger {
                metric: "error_rate".into(),
                namespace: "web".into(),
                above: 5.0,
                close_after: 3,
                ..Default::default()
            },
            now(),
        )
        .unwrap();

    let index = dom(s.url("/")).await;
    assert!(index.contains("class=\"app\""), "{index}");
    for link in ["/hosts", "/metrics", "/samples", "/incidents", "/alerts"] {
        assert!(
            index.contains(&format!("/apps/{}{link}", s.app_id)),
            "index links to {link}"
        );
    }

    let overview = dom(s.url(&format!("/apps/{}", s.app_id))).await;
    assert!(
        overview.contains("<td class=\"n count\">40</td>"),
        "{overview}"
    );
    assert!(overview.contains("<td class=\"n errors\">4</td>"));
    assert!(overview.contains("<td class=\"n error-rate\">10.0</td>"));
    assert!(overview.contains("<td class=\"n mean\">102.5</td>"));
    assert!(overview.contains("<td class=\"n mean\">200.0</td>"));
    let mut h = appsignal_proto::v1::Histogram::default();
    durations.iter().for_each(|d| histogram::record(&mut h, *d));
    for (q, class, exact) in [(0.90, "p90", 180.0), (0.95, "p95", 190.0)] {
        let shown = histogram::quantile(&h, q).unwrap();
        assert!((shown - exact).abs() < exact * 0.025, "{class} {shown}");
        assert!(
            overview.contains(&format!("<td class=\"n {class}\">{shown:.1}</td>")),
            "{class} {shown:.1}: {overview}"
        );
    }
    // Escaped, not executed: the text shows, no script element was created.
    assert!(overview.contains("&lt;script&gt;alert(1)&lt;/script&gt;Job"));
    assert!(!overview.contains("<script>"));
    assert_eq!(overview.matches("<figure class=\"chart\"").count(), 3);
    assert!(overview.contains("deadbeef"));
    // 1 h and 12 h are minutely and end now; 7 d is hourly and includes the rolled-up hour.
    for (range, count, errors) in [("1h", 40, 4), ("12h", 40, 4), ("7d", 50, 5)] {
        let page = dom(s.url(&format!("/apps/{}?range={range}", s.app_id))).await;
        assert!(
            page.contains(&format!("<td class=\"n count\">{count}</td>"))
                && page.contains(&format!("<td class=\"n errors\">{errors}</td>")),
            "range {range}: {page}"
        );
        assert!(page.contains(&format!("<strong>{range}</strong>")));
    }

    let action = dom(s.url(&format!(
        "/apps/{}/action?ns=web&name=UsersController%23show",
        s.app_id
    )))
    .await;
    assert!(action.contains("sql.active_record"));
    assert_eq!(action.matches("<figure class=\"chart\"").count(), 3);

    let hosts = dom(s.url(&format!("/apps/{}/hosts", s.app_id))).await;
    assert!(hosts.contains("Host web-1"));
    assert!(hosts.contains("data-label=\"cpu\"") && hosts.contains("data-label=\"memory\""));
    assert!(
        hosts.contains("<td class=\"n latest\" data-value=\"37\">37</td>"),
        "{hosts}"
    );
    assert!(hosts.contains("<td class=\"n latest\" data-value=\"512\">512</td>"));
    let metrics = dom(s.url(&format!("/apps/{}/metrics", s.app_id))).await;
    assert!(metrics.contains("data-label=\"signups\""));
    assert!(
        metrics.contains("<td class=\"n latest\" data-value=\"9\">9</td>"),
        "{metrics}"
    );

    let samples = dom(s.url(&format!("/apps/{}/samples", s.app_id))).await;
    assert!(samples.contains("ActiveRecord::RecordNotFound"));
    let sample_id = scalar(&store, "SELECT id FROM samples", &[]);
    let sample = dom(s.url(&format!("/apps/{}/samples/{sample_id}", s.app_id))).await;
    assert_eq!(sample.matches("<g class=\"event\"").count(), 2, "{sample}");
    assert!(sample.contains("25.00 ms"));
    assert!(sample.contains("something &lt;b&gt;broke&lt;/b&gt;"));
    assert!(sample.contains("users_controller.rb:12"));

    let incidents = dom(s.url(&format!("/apps/{}/incidents", s.app_id))).await;
    assert!(incidents.contains("ActiveRecord::RecordNotFound"));
    let incident_id = scalar(&store, "SELECT id FROM incidents", &[]);
    let incident = dom(s.url(&format!("/apps/{}/incidents/{incident_id}", s.app_id))).await;
    assert!(incident.contains("<td class=\"count\">1</td>"));

    // Once the minute is past the 180 s wait, the 10 % error rate of `web` opens an alert.
    appsignal_server::anomaly::evaluate(&store, m + 60 + 180, 180).unwrap();
    let alerts = dom(s.url(&format!("/apps/{}/alerts", s.app_id))).await;
    assert!(alerts.contains("error_rate") && alerts.contains("<form"));
    assert!(alerts.contains("<tr class=\"alert open\">"), "{alerts}");
    assert!(alerts.contains("<td class=\"n\">10</td>"), "{alerts}");

    check_screenshot(&s.url(&format!("/apps/{}", s.app_id))).await;
    s.running.stop().await;
}

/// The overview as pixels: the header bar is painted and the graphs drew their lines (the
/// p95 series is the only orange-red on the page). APPSIGNAL_SCREENSHOT=PATH keeps a copy.
async fn check_screenshot(url: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("overview.png");
    let (arg, url) = (format!("--screenshot={}", path.display()), url.to_string());
    tokio::task::spawn_blocking(move || chromium(&[&arg, "--window-size=1280,1000"], &url))
        .await
        .unwrap();
    let bytes = std::fs::read(&path).expect("chromium wrote no screenshot");
    if let Ok(keep) = std::env::var("APPSIGNAL_SCREENSHOT") {
        std::fs::write(keep, &bytes).unwrap();
    }
    let image = png::decode(&bytes);
    assert_eq!((image.width, image.height), (1280, 1000));
    let header = image.count(|p| p == [0x1d, 0x2b, 0x4f]);
    assert!(header > 1280 * 20, "header bar not painted ({header} px)");
    let p95_line = image.count(|[r, g, b]| r > 180 && g < 110 && b < 80);
    assert!(p95_line > 20, "no p95 line in the graphs ({p95_line} px)");
    let white = image.count(|p| p == [255, 255, 255]);
    assert!(white < 1280 * 1000, "blank screenshot");
}
