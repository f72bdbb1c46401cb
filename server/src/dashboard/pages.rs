//! One function per page: read data, return HTML (`None` when the app or item is unknown).

use super::data::{self, Range};
use super::html::{app_nav, esc, fmt_num, fmt_time, page, url};
use super::svg::{line_chart, timeline, Series, Span};
use crate::store::admin::{App, TRIGGER_METRICS};
use crate::store::Store;
use anyhow::Result;
use appsignal_proto::v1::Transaction;
use std::fmt::Write;

pub fn index(store: &Store) -> Result<String> {
    let apps = store.apps()?;
    let mut body = String::from("<table id=\"apps\"><tr><th>App</th><th></th></tr>");
    for a in &apps {
        let base = format!("/apps/{}", a.id);
        let _ = write!(
            body,
            "<tr><td><a class=\"app\" href=\"{base}\">{}</a></td><td><a href=\"{base}\">performance</a> · \
             <a href=\"{base}/hosts\">host metrics</a> · <a href=\"{base}/metrics\">custom metrics</a> · \
             <a href=\"{base}/samples\">samples</a> · <a href=\"{base}/incidents\">incidents</a> · \
             <a href=\"{base}/alerts\">alerts</a></td></tr>",
            esc(&a.name)
        );
    }
    body.push_str("</table>");
    if apps.is_empty() {
        body.push_str("<p>No apps yet. Create one with <code>appsignal-server app create NAME --data DIR</code>.</p>");
    }
    let dead = data::dead_letters(store)?;
    if dead > 0 {
        let _ = write!(
            body,
            "<p id=\"dead-letters\" class=\"warning\">{dead} payloads could not be processed and are kept in \
             the <code>dead_letters</code> table of the store, with the error of their last try.</p>"
        );
    }
    Ok(page("Apps", "", &body))
}

fn range_nav(base: &str, extra: &str, current: Range) -> String {
    let mut nav = String::from("<nav class=\"range\">Range: ");
    for r in [Range::Hour, Range::HalfDay, Range::Week] {
        if r == current {
            let _ = write!(nav, "<strong>{}</strong> ", r.key());
        } else {
            let _ = write!(
                nav,
                "<a href=\"{base}?range={}{extra}\">{}</a> ",
                r.key(),
                r.key()
            );
        }
    }
    nav.push_str("</nav>");
    nav
}

/// Throughput, mean/p95 and error-rate graphs for a series of steps.
fn action_charts(
    series: &std::collections::BTreeMap<i64, data::Agg>,
    range: Range,
    now: i64,
) -> String {
    let (from, to) = range.window(now);
    let mut throughput = Vec::new();
    let mut mean = Vec::new();
    let mut p95 = Vec::new();
    let mut errors = Vec::new();
    let mut ts = from;
    while ts <= to {
        let agg = series.get(&ts);
        let per_minute = agg.map_or(0.0, |a| a.count as f64 * 60.0 / range.step() as f64);
        throughput.push((ts, per_minute));
        errors.push((ts, agg.map_or(0.0, data::Agg::error_rate)));
        if let Some(a) = agg.filter(|a| a.count > 0) {
            mean.push((ts, a.mean()));
            p95.push((ts, a.p95()));
        }
        ts += range.step();
    }
    let s = |label: &str, points| Series {
        label: label.to_string(),
        points,
    };
    format!(
        "<div class=\"charts\">{}{}{}</div>",
        line_chart(
            "Throughput",
            "per minute",
            from,
            to,
            &[s("throughput", throughput)]
        ),
        line_chart(
            "Response time",
            "ms",
            from,
            to,
            &[s("mean", mean), s("p95", p95)]
        ),
        line_chart("Error rate", "%", from, to, &[s("error rate", errors)]),
    )
}

fn app_or_none(store: &Store, app_id: i64) -> Result<Option<App>> {
    store.app_by_id(app_id)
}

pub fn overview(store: &Store, app_id: i64, range: Range, now: i64) -> Result<Option<String>> {
    let Some(app) = app_or_none(store, app_id)? else {
        return Ok(None);
    };
    let base = format!("/apps/{app_id}");
    let mut body = range_nav(&base, "", range);
    body.push_str(&action_charts(
        &data::action_series(store, app_id, "", "", range, now)?,
        range,
        now,
    ));
    let minutes = range.seconds() as f64 / 60.0;
    body.push_str(
        "<h2>Actions</h2><table id=\"actions\"><tr><th>Namespace</th><th>Action</th><th>Count</th>\
         <th>Throughput /min</th><th>Mean ms</th><th>p90 ms</th><th>p95 ms</th><th>Errors</th><th>Error rate %</th></tr>",
    );
    for ((ns, action), a) in data::actions(store, app_id, range, now)? {
        let _ = write!(
            body,
            "<tr class=\"action\"><td>{}</td><td><a href=\"{base}/action?ns={}&amp;name={}&amp;range={}\">{}</a></td>\
             <td class=\"n count\">{}</td><td class=\"n\">{}</td><td class=\"n mean\">{:.1}</td><td class=\"n p90\">{:.1}</td><td class=\"n p95\">{:.1}</td>\
             <td class=\"n errors\">{}</td><td class=\"n error-rate\">{:.1}</td></tr>",
            esc(&ns),
            url(&ns),
            url(&action),
            range.key(),
            esc(&action),
            a.count,
            fmt_num(a.count as f64 / minutes),
            a.mean(),
            a.p90(),
            a.p95(),
            a.errors,
            a.error_rate()
        );
    }
    body.push_str("</table><h2>Deploys</h2><ul id=\"deploys\">");
    for (revision, at) in data::deploys(store, app_id)? {
        let _ = write!(
            body,
            "<li><code>{}</code> first seen {}</li>",
            esc(&revision),
            fmt_time(at)
        );
    }
    body.push_str("</ul>");
    Ok(Some(page(
        &format!("{} performance", app.name),
        &app_nav(app_id, &app.name),
        &body,
    )))
}

pub fn action(
    store: &Store,
    app_id: i64,
    ns: &str,
    name: &str,
    range: Range,
    now: i64,
) -> Result<Option<String>> {
    let Some(app) = app_or_none(store, app_id)? else {
        return Ok(None);
    };
    let base = format!("/apps/{app_id}/action");
    let extra = format!("&amp;ns={}&amp;name={}", url(ns), url(name));
    let mut body = range_nav(&base, &extra, range);
    body.push_str(&action_charts(
        &data::action_series(store, app_id, ns, name, range, now)?,
        range,
        now,
    ));
    body.push_str("<h2>Where the time goes</h2><table id=\"events\"><tr><th>Event</th><th>Count</th><th>Total ms</th><th>Exclusive ms</th></tr>");
    for e in data::events(store, app_id, ns, name, range, now)? {
        let _ = write!(
            body,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{:.1}</td><td class=\"n\">{:.1}</td></tr>",
            esc(&e.name),
            e.count,
            e.total_ms,
            e.exclusive_ms
        );
    }
    let _ = write!(
        body,
        "</table><p><a href=\"/apps/{app_id}/samples?ns={}&amp;name={}\">Samples of this action</a></p>",
        url(ns),
        url(name)
    );
    Ok(Some(page(
        &format!("{name} ({ns})"),
        &app_nav(app_id, &app.name),
        &body,
    )))
}

pub fn metrics(
    store: &Store,
    app_id: i64,
    source: i64,
    range: Range,
    now: i64,
) -> Result<Option<String>> {
    let Some(app) = app_or_none(store, app_id)? else {
        return Ok(None);
    };
    let (title, path) = if source == 1 {
        ("Host metrics", "hosts")
    } else {
        ("Custom metrics", "metrics")
    };
    let (from, to) = range.window(now);
    let mut body = range_nav(&format!("/apps/{app_id}/{path}"), "", range);
    let all = data::metrics(store, app_id, source, range, now)?;
    // group → metric name → series: one section per host (or custom metric), one graph per
    // metric name in it, so cpu and memory never share an axis.
    type Charts = std::collections::BTreeMap<String, Vec<Series>>;
    let mut groups: std::collections::BTreeMap<String, Charts> = Default::default();
    for ((group, name, label), points) in &all {
        groups
            .entry(group.clone())
            .or_default()
            .entry(name.clone())
            .or_default()
            .push(Series {
                label: label.clone(),
                points: points
                    .iter()
                    .map(|(ts, p)| (*ts, data::metric_value(p)))
                    .collect(),
            });
    }
    for (group, charts) in groups {
        let heading = if source == 1 {
            format!("Host {group}")
        } else {
            group.clone()
        };
        let _ = write!(
            body,
            "<section class=\"metric-group\"><h2>{}</h2><div class=\"charts\">",
            esc(&heading)
        );
        for (name, series) in &charts {
            body.push_str(&line_chart(name, "", from, to, series));
        }
        body.push_str("</div>");
        let all_series: Vec<&Series> = charts.values().flatten().collect();
        body.push_str(&latest_values(&all_series));
        body.push_str("</section>");
    }
    if all.is_empty() {
        body.push_str("<p>No data in this range.</p>");
    }
    Ok(Some(page(
        &format!("{} {title}", app.name),
        &app_nav(app_id, &app.name),
        &body,
    )))
}

/// The numbers behind a group's graphs: the newest point and the peak of each series.
fn latest_values(series: &[&Series]) -> String {
    let mut out = String::from(
        "<table class=\"metric-values\"><tr><th>Series</th><th>Latest</th><th>Peak</th></tr>",
    );
    for s in series {
        let latest = s.points.last().map_or(0.0, |p| p.1);
        let peak = s.points.iter().map(|p| p.1).fold(f64::MIN, f64::max);
        let (latest, peak) = (fmt_num(latest), fmt_num(peak.max(latest)));
        let _ = write!(
            out,
            "<tr data-label=\"{}\"><td>{}</td><td class=\"n latest\" data-value=\"{latest}\">{latest}</td>\
             <td class=\"n peak\" data-value=\"{peak}\">{peak}</td></tr>",
            esc(&s.label),
            esc(&s.label)
        );
    }
    out.push_str("</table>");
    out
}

pub fn samples(store: &Store, app_id: i64, ns: &str, name: &str) -> Result<Option<String>> {
    let Some(app) = app_or_none(store, app_id)? else {
        return Ok(None);
    };
    let mut body = String::from(
        "<table id=\"samples\"><tr><th>Time</th><th>Namespace</th><th>Action</th><th>Duration ms</th><th>Error</th></tr>",
    );
    for s in data::samples(store, app_id, ns, name)? {
        let error = if s.is_error {
            format!(
                "<span class=\"error\">{}: {}</span>",
                esc(&s.exception),
                esc(&s.message)
            )
        } else {
            String::new()
        };
        let _ = write!(
            body,
            "<tr class=\"sample\"><td><a href=\"/apps/{app_id}/samples/{}\">{}</a></td><td>{}</td><td>{}</td><td class=\"n\">{:.1}</td><td>{error}</td></tr>",
            s.id,
            fmt_time(s.ts),
            esc(&s.namespace),
            esc(&s.action),
            s.duration_ms
        );
    }
    body.push_str("</table>");
    Ok(Some(page(
        &format!("{} samples", app.name),
        &app_nav(app_id, &app.name),
        &body,
    )))
}

fn kv_table(id: &str, items: &mut dyn Iterator<Item = (&String, &String)>) -> String {
    let mut out = format!("<table id=\"{id}\">");
    for (k, v) in items {
        let _ = write!(out, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(v));
    }
    out.push_str("</table>");
    out
}

pub fn sample(store: &Store, app_id: i64, id: i64) -> Result<Option<String>> {
    let Some(app) = app_or_none(store, app_id)? else {
        return Ok(None);
    };
    let Some(json) = data::sample_body(store, app_id, id)? else {
        return Ok(None);
    };
    let t: Transaction = serde_json::from_str(&json)?;
    let mut body = format!(
        "<table id=\"overview\"><tr><th>Action</th><td>{}</td></tr><tr><th>Namespace</th><td>{}</td></tr>\
         <tr><th>Started</th><td>{}</td></tr><tr><th>Duration</th><td class=\"duration\">{:.2} ms</td></tr>\
         <tr><th>Queue time</th><td>{:.2} ms</td></tr></table>",
        esc(&t.action),
        esc(&t.namespace),
        fmt_time(t.start_time_unix_ns.div_euclid(1_000_000_000)),
        t.duration_ns as f64 / 1e6,
        t.queue_duration_ns as f64 / 1e6
    );
    if let Some(e) = &t.error {
        let _ = write!(
            body,
            "<h2>Error</h2><p class=\"error\" id=\"error\"><strong>{}</strong>: {}</p><pre id=\"backtrace\">{}</pre>",
            esc(&e.name),
            esc(&e.message),
            esc(&e.backtrace.join("\n"))
        );
        for cause in &e.causes {
            let _ = write!(
                body,
                "<p>Caused by <strong>{}</strong>: {}</p>",
                esc(&cause.name),
                esc(&cause.message)
            );
        }
    }
    let spans: Vec<Span> = t
        .events
        .iter()
        .map(|e| Span {
            label: if e.title.is_empty() {
                e.name.clone()
            } else {
                format!("{} {}", e.name, e.title)
            },
            start_ns: e.start_offset_ns,
            duration_ns: e.duration_ns,
            depth: e.depth,
        })
        .collect();
    let mut ordered = spans;
    ordered.sort_by_key(|s| s.start_ns);
    let _ = write!(
        body,
        "<h2>Event timeline</h2>{}",
        timeline(t.duration_ns, &ordered)
    );
    body.push_str("<table id=\"events\"><tr><th>Event</th><th>Body</th><th>Start ms</th><th>Duration ms</th></tr>");
    for e in &t.events {
        let _ = write!(
            body,
            "<tr class=\"event\"><td>{}{}</td><td><code>{}</code></td><td class=\"n\">{:.2}</td><td class=\"n\">{:.2}</td></tr>",
            "&nbsp;&nbsp;".repeat(e.depth as usize),
            esc(&e.name),
            esc(&e.body),
            e.start_offset_ns as f64 / 1e6,
            e.duration_ns as f64 / 1e6
        );
    }
    body.push_str("</table><h2>Tags</h2>");
    body.push_str(&kv_table("tags", &mut t.tags.iter()));
    body.push_str("<h2>Metadata</h2>");
    body.push_str(&kv_table("metadata", &mut t.metadata.iter()));
    let _ = write!(
        body,
        "<h2>Parameters</h2><pre id=\"params\">{}</pre>",
        esc(&t.params_json)
    );
    if !t.session_data_json.is_empty() {
        let _ = write!(
            body,
            "<h2>Session data</h2><pre>{}</pre>",
            esc(&t.session_data_json)
        );
    }
    if !t.custom_data_json.is_empty() {
        let _ = write!(
            body,
            "<h2>Custom data</h2><pre>{}</pre>",
            esc(&t.custom_data_json)
        );
    }
    Ok(Some(page(
        &format!("Sample {}", t.action),
        &app_nav(app_id, &app.name),
        &body,
    )))
}

pub fn incidents(store: &Store, app_id: i64) -> Result<Option<String>> {
    let Some(app) = app_or_none(store, app_id)? else {
        return Ok(None);
    };
    let mut body = String::from(
        "<table id=\"incidents\"><tr><th>Kind</th><th>Incident</th><th>Namespace</th><th>Action</th><th>Count</th><th>Last seen</th><th>State</th></tr>",
    );
    for i in data::incidents(store, app_id, None)? {
        let title = if i.kind == "error" {
            i.exception.clone()
        } else {
            format!("Slow {}", i.action)
        };
        let _ = write!(
            body,
            "<tr class=\"incident {}\"><td>{}</td><td><a href=\"/apps/{app_id}/incidents/{}\">{}</a></td><td>{}</td><td>{}</td>\
             <td class=\"n count\">{}</td><td>{}</td><td>{}</td></tr>",
            esc(&i.kind),
            esc(&i.kind),
            i.id,
            esc(&title),
            esc(&i.namespace),
            esc(&i.action),
            i.count,
            fmt_time(i.last_seen),
            esc(&i.state)
        );
    }
    body.push_str("</table>");
    Ok(Some(page(
        &format!("{} incidents", app.name),
        &app_nav(app_id, &app.name),
        &body,
    )))
}

pub fn incident(store: &Store, app_id: i64, id: i64) -> Result<Option<String>> {
    let Some(app) = app_or_none(store, app_id)? else {
        return Ok(None);
    };
    let Some(i) = data::incidents(store, app_id, Some(id))?.into_iter().next() else {
        return Ok(None);
    };
    let next_state = if i.state == "open" { "closed" } else { "open" };
    let body = format!(
        "<table id=\"incident\"><tr><th>Kind</th><td>{}</td></tr><tr><th>Exception</th><td>{}</td></tr>\
         <tr><th>Message</th><td>{}</td></tr><tr><th>Namespace</th><td>{}</td></tr><tr><th>Action</th><td>{}</td></tr>\
         <tr><th>Count</th><td class=\"count\">{}</td></tr><tr><th>First seen</th><td>{}</td></tr>\
         <tr><th>Last seen</th><td>{}</td></tr><tr><th>State</th><td class=\"state\">{}</td></tr></table>\
         <p><a href=\"/apps/{app_id}/samples/{}\">Last sample</a></p>\
         <form method=\"post\" action=\"/apps/{app_id}/incidents/{}/state\"><input type=\"hidden\" name=\"state\" value=\"{next_state}\">\
         <button type=\"submit\">Mark {next_state}</button></form>",
        esc(&i.kind),
        esc(&i.exception),
        esc(&i.message),
        esc(&i.namespace),
        esc(&i.action),
        i.count,
        fmt_time(i.first_seen),
        fmt_time(i.last_seen),
        esc(&i.state),
        i.last_sample_id,
        i.id
    );
    Ok(Some(page(
        &format!("Incident #{}", i.id),
        &app_nav(app_id, &app.name),
        &body,
    )))
}

pub fn alerts(store: &Store, app_id: i64, message: &str) -> Result<Option<String>> {
    let Some(app) = app_or_none(store, app_id)? else {
        return Ok(None);
    };
    let mut body = String::new();
    if !message.is_empty() {
        let _ = write!(body, "<p class=\"flash\">{}</p>", esc(message));
    }
    body.push_str("<h2>Alerts</h2><table id=\"alerts\"><tr><th>#</th><th>Trigger</th><th>State</th><th>Opened</th><th>Closed</th><th>Last value</th><th>Peak</th></tr>");
    for a in data::alerts(store, app_id)? {
        let closed = if a.closed_at > 0 {
            fmt_time(a.closed_at)
        } else {
            String::new()
        };
        let _ = write!(
            body,
            "<tr class=\"alert {}\"><td>{}</td><td>{}</td><td class=\"state\">{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            esc(&a.state),
            a.id,
            a.trigger_id,
            esc(&a.state),
            fmt_time(a.opened_at),
            closed,
            fmt_num(a.last_value),
            fmt_num(a.peak_value)
        );
    }
    body.push_str("</table><h2>Triggers</h2><table id=\"triggers\"><tr><th>#</th><th>Metric</th><th>Scope</th><th>Above</th><th>Close after (min)</th></tr>");
    for t in data::triggers(store, app_id)? {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            t.id,
            esc(&t.metric),
            esc(&t.scope),
            fmt_num(t.above),
            t.close_after
        );
    }
    let _ = write!(body, "</table><h2>New trigger</h2><form method=\"post\" action=\"/apps/{app_id}/triggers\"><select name=\"metric\">");
    for m in TRIGGER_METRICS {
        let _ = write!(body, "<option>{m}</option>");
    }
    body.push_str(
        "</select> namespace <input name=\"namespace\" size=\"8\"> action <input name=\"action\" size=\"14\"> \
         metric name <input name=\"name\" size=\"8\"> hostname <input name=\"hostname\" size=\"8\"> tag <input name=\"tag\" size=\"10\" placeholder=\"state=used\"> \
         above <input name=\"above\" size=\"5\"> close after <input name=\"close_after\" value=\"3\" size=\"2\"> \
         <button type=\"submit\">Create</button></form>",
    );
    Ok(Some(page(
        &format!("{} alerts", app.name),
        &app_nav(app_id, &app.name),
        &body,
    )))
}
