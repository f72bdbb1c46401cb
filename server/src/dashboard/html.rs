//! HTML building blocks. Every piece of data goes through `esc`; nothing else writes user data.

use appsignal_proto::civil_time::CivilTime;
use std::fmt::Write;

pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Percent-encodes a query-string value.
pub fn url(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;color:#222}header{background:#1d2b4f;color:#fff;padding:.6em 1em}header a{color:#fff;margin-right:1em}main{padding:1em}table{border-collapse:collapse;margin:.5em 0}td,th{border-bottom:1px solid #ddd;padding:.25em .6em;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}.charts{display:flex;flex-wrap:wrap;gap:1em}.chart{border:1px solid #ddd}nav.range a{margin-right:.6em}.error{color:#b00}pre{background:#f6f6f6;padding:.5em;overflow:auto}";

pub fn page(title: &str, nav: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{} · AppSignal server</title><style>{STYLE}</style></head>\
         <body><header><a href=\"/\">Apps</a>{nav}</header><main><h1>{}</h1>{body}</main></body></html>",
        esc(title),
        esc(title)
    )
}

pub fn app_nav(app_id: i64, app_name: &str) -> String {
    let base = format!("/apps/{app_id}");
    format!(
        "<strong>{}</strong> <a href=\"{base}\">Performance</a><a href=\"{base}/hosts\">Host metrics</a>\
         <a href=\"{base}/metrics\">Custom metrics</a><a href=\"{base}/samples\">Samples</a>\
         <a href=\"{base}/incidents\">Incidents</a><a href=\"{base}/alerts\">Alerts</a>",
        esc(app_name)
    )
}

pub fn fmt_time(unix: i64) -> String {
    let t = CivilTime::from_unix(unix);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    )
}

pub fn fmt_num(v: f64) -> String {
    if v.abs() >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_formats() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(url("a b/c"), "a%20b%2Fc");
        assert_eq!(fmt_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(fmt_time(1_700_000_000), "2023-11-14 22:13:20 UTC");
    }
}
