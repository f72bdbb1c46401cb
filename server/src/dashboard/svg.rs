//! Inline SVG graphs: no JavaScript, no build step, readable without a network.

use super::html::{esc, fmt_num, fmt_time};
use std::fmt::Write;

pub struct Series {
    pub label: String,
    /// (timestamp, value); missing timestamps are gaps.
    pub points: Vec<(i64, f64)>,
}

const COLORS: &[&str] = &[
    "#3366cc", "#dc3912", "#ff9900", "#109618", "#990099", "#0099c6",
];
const W: f64 = 560.0;
const H: f64 = 160.0;
const PAD_L: f64 = 50.0;
const PAD_B: f64 = 20.0;

pub fn line_chart(title: &str, unit: &str, from: i64, to: i64, series: &[Series]) -> String {
    let max = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(0.0f64, f64::max);
    let y_max = if max > 0.0 { max * 1.1 } else { 1.0 };
    let span = (to - from).max(1) as f64;
    let x = |ts: i64| PAD_L + (ts - from) as f64 / span * (W - PAD_L - 5.0);
    let y = |v: f64| (H - PAD_B) - v / y_max * (H - PAD_B - 10.0);
    let mut svg = format!(
        "<figure class=\"chart\" data-title=\"{}\"><figcaption>{} <small>({})</small></figcaption>\
         <svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" role=\"img\">\
         <line x1=\"{PAD_L}\" y1=\"{}\" x2=\"{W}\" y2=\"{}\" stroke=\"#999\"/>\
         <line x1=\"{PAD_L}\" y1=\"10\" x2=\"{PAD_L}\" y2=\"{}\" stroke=\"#999\"/>\
         <text x=\"2\" y=\"16\" font-size=\"10\">{}</text><text x=\"2\" y=\"{}\" font-size=\"10\">0</text>\
         <text x=\"{PAD_L}\" y=\"{}\" font-size=\"10\">{}</text><text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"end\">{}</text>",
        esc(title),
        esc(title),
        esc(unit),
        H - PAD_B,
        H - PAD_B,
        H - PAD_B,
        fmt_num(max),
        H - PAD_B,
        H - 4.0,
        esc(&fmt_time(from)),
        W - 5.0,
        H - 4.0,
        esc(&fmt_time(to)),
    );
    for (i, s) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let mut points = String::new();
        for (ts, v) in &s.points {
            let _ = write!(points, "{:.1},{:.1} ", x(*ts), y(*v));
        }
        let _ = write!(
            svg,
            "<polyline class=\"series\" data-label=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\" points=\"{}\"><title>{}</title></polyline>",
            esc(&s.label),
            points.trim_end(),
            esc(&s.label)
        );
        if s.points.len() == 1 {
            let (ts, v) = s.points[0];
            let _ = write!(
                svg,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2\" fill=\"{color}\"/>",
                x(ts),
                y(v)
            );
        }
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{}\" font-size=\"10\" fill=\"{color}\">{}</text>",
            PAD_L + 5.0 + 120.0 * i as f64,
            10,
            esc(&s.label)
        );
    }
    svg.push_str("</svg></figure>");
    svg
}

pub struct Span {
    pub label: String,
    pub start_ns: u64,
    pub duration_ns: u64,
    pub depth: u32,
}

/// A sample's event timeline: one bar per event, offset and width by time, indented by depth.
pub fn timeline(total_ns: u64, spans: &[Span]) -> String {
    let total = total_ns
        .max(
            spans
                .iter()
                .map(|s| s.start_ns + s.duration_ns)
                .max()
                .unwrap_or(1),
        )
        .max(1) as f64;
    let row = 18.0;
    let height = row * (spans.len() as f64 + 1.0);
    let mut svg = format!(
        "<svg class=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{height}\" viewBox=\"0 0 {W} {height}\">"
    );
    for (i, s) in spans.iter().enumerate() {
        let x = s.start_ns as f64 / total * (W - 10.0);
        let w = (s.duration_ns as f64 / total * (W - 10.0)).max(1.0);
        let y = row * i as f64;
        let color = COLORS[s.depth as usize % COLORS.len()];
        let _ = write!(
            svg,
            "<g class=\"event\" data-depth=\"{}\"><rect x=\"{x:.1}\" y=\"{y}\" width=\"{w:.1}\" height=\"{}\" fill=\"{color}\" opacity=\"0.7\"/>\
             <text x=\"{:.1}\" y=\"{}\" font-size=\"11\">{} ({:.2} ms)</text><title>{}</title></g>",
            s.depth,
            row - 3.0,
            x + 2.0 + 8.0 * s.depth as f64,
            y + 12.0,
            esc(&s.label),
            s.duration_ns as f64 / 1e6,
            esc(&s.label)
        );
    }
    svg.push_str("</svg>");
    svg
}
