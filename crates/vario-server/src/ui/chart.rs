//! Inline SVG drawn on the server: the interval bar of a table row and the charts over
//! time. No script and no library: the numbers are already in the results document.

use std::fmt::Write as _;

use vario_results::{Granularity, MetricDoc};

use super::html::{date, date_hour, esc, int, num, pct};

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 280.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;

/// The interval `[low, high]` around `point` on an axis from `-span` to `span`, zero in
/// the middle. `class` colours it (winner, loser, inconclusive).
pub(super) fn interval_bar(low: f64, high: f64, point: f64, span: f64, class: &str, label: &str) -> String {
    let (w, h) = (160.0, 22.0);
    let span = if span.is_finite() && span > 0.0 { span } else { 1.0 };
    let x = |v: f64| 4.0 + (v.clamp(-span, span) + span) / (2.0 * span) * (w - 8.0);
    let (x0, x1) = (x(low), x(high));
    format!(
        "<svg class=\"ibar\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{label}\"><title>{label}</title>\
         <line class=\"zero\" x1=\"{z:.1}\" y1=\"2\" x2=\"{z:.1}\" y2=\"20\"/>\
         <rect class=\"{class}\" x=\"{x0:.1}\" y=\"7\" width=\"{bw:.1}\" height=\"8\" rx=\"2\"/>\
         <circle class=\"point\" cx=\"{px:.1}\" cy=\"11\" r=\"3.5\"/></svg>",
        label = esc(label),
        z = x(0.0),
        bw = (x1 - x0).max(1.0),
        px = x(point),
    )
}

/// One line of a chart: its series colour index and points `(t, y)`; with a band,
/// `(t, low, high)` around it.
struct Line {
    color: usize,
    label: String,
    points: Vec<(i64, f64)>,
    band: Vec<(i64, f64, f64)>,
}

/// Cumulative improvement of each variation over its baseline, with the always-valid
/// interval as a band. `percent` for relative improvements.
pub(super) fn improvement_chart(metric: &MetricDoc, granularity: Granularity, percent: bool) -> String {
    let lines: Vec<Line> = metric
        .series
        .iter()
        .enumerate()
        .filter(|(_, s)| s.points.iter().any(|p| p.improvement.is_some()))
        .map(|(i, s)| Line {
            color: i,
            label: s.variation_key.clone(),
            points: s.points.iter().filter_map(|p| p.improvement.filter(|v| v.is_finite()).map(|v| (p.t, v))).collect(),
            band: s
                .points
                .iter()
                .filter_map(|p| match (p.ci_low, p.ci_high) {
                    (Some(l), Some(h)) if l.is_finite() && h.is_finite() => Some((p.t, l, h)),
                    _ => None,
                })
                .collect(),
        })
        .collect();
    let title = format!("Cumulative improvement of {} over time, with the always-valid interval", metric.name);
    let fmt = move |v: f64| if percent { pct(v) } else { num(v) };
    plot(&title, &lines, granularity, true, &fmt)
}

/// Cumulative visitors of each variation over time.
pub(super) fn visitors_chart(metric: &MetricDoc, granularity: Granularity) -> String {
    let lines: Vec<Line> = metric
        .series
        .iter()
        .enumerate()
        .map(|(i, s)| Line {
            color: i,
            label: s.variation_key.clone(),
            points: s.points.iter().map(|p| (p.t, p.visitors as f64)).collect(),
            band: Vec::new(),
        })
        .collect();
    let fmt = |v: f64| if v >= 0.0 { int(v.round() as u64) } else { num(v) };
    plot("Cumulative visitors per variation over time", &lines, granularity, false, &fmt)
}

fn plot(title: &str, lines: &[Line], granularity: Granularity, zero: bool, fmt: &dyn Fn(f64) -> String) -> String {
    let ts = lines.iter().flat_map(|l| l.points.iter().map(|p| p.0).chain(l.band.iter().map(|b| b.0)));
    let (Some(t0), Some(t1)) = (ts.clone().min(), ts.max()) else {
        return format!("<p class=\"muted\">{}: no data yet.</p>", esc(title));
    };
    let (lo, hi) = y_range(lines, zero);
    let t_span = (t1 - t0).max(1) as f64;
    let x = |t: i64| LEFT + (t - t0) as f64 / t_span * (WIDTH - LEFT - RIGHT);
    let y = |v: f64| TOP + (hi - v.clamp(lo, hi)) / (hi - lo) * (HEIGHT - TOP - BOTTOM);
    let mut svg = format!(
        "<figure class=\"chart\"><svg viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"{t}\"><title>{t}</title>",
        t = esc(title)
    );
    for v in ticks(lo, hi) {
        let _ = write!(
            svg,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\"/>\
             <text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            WIDTH - RIGHT,
            LEFT - 6.0,
            y(v) + 4.0,
            esc(&fmt(v)),
            yy = y(v)
        );
    }
    if zero && lo < 0.0 && hi > 0.0 {
        let _ = write!(
            svg,
            "<line class=\"zero\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{z:.1}\" y2=\"{z:.1}\"/>",
            WIDTH - RIGHT,
            z = y(0.0)
        );
    }
    let label = |t: i64| match granularity {
        Granularity::Hour => date_hour(t),
        _ => date(t),
    };
    for (t, anchor) in [(t0, "start"), (t1, "end")] {
        let _ = write!(
            svg,
            "<text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\">{}</text>",
            x(t),
            HEIGHT - 8.0,
            esc(&label(t))
        );
    }
    for line in lines {
        if !line.band.is_empty() {
            let upper = line.band.iter().map(|(t, _, h)| format!("{:.1},{:.1}", x(*t), y(*h)));
            let lower = line.band.iter().rev().map(|(t, l, _)| format!("{:.1},{:.1}", x(*t), y(*l)));
            let points: Vec<String> = upper.chain(lower).collect();
            let _ = write!(svg, "<polygon class=\"band s{}\" points=\"{}\"/>", line.color % 6, points.join(" "));
        }
        let points: Vec<String> = line.points.iter().map(|(t, v)| format!("{:.1},{:.1}", x(*t), y(*v))).collect();
        let _ = write!(svg, "<polyline class=\"line s{}\" points=\"{}\"/>", line.color % 6, points.join(" "));
        if let [(t, v)] = line.points.as_slice() {
            let _ = write!(
                svg,
                "<circle class=\"dot s{}\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\"/>",
                line.color % 6,
                x(*t),
                y(*v)
            );
        }
    }
    svg.push_str("</svg><figcaption>");
    for line in lines {
        let _ = write!(svg, "<span class=\"key s{}\">{}</span>", line.color % 6, esc(&line.label));
    }
    let _ = write!(svg, "<span class=\"muted\">{}</span></figcaption></figure>", esc(title));
    svg
}

/// Round values between `lo` and `hi`, about five: steps of 1, 2, 2.5 or 5 times a
/// power of ten.
fn ticks(lo: f64, hi: f64) -> Vec<f64> {
    let rough = (hi - lo) / 4.0;
    let power = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0].into_iter().map(|m| m * power).find(|s| *s >= rough).unwrap_or(rough);
    if !step.is_finite() || step <= 0.0 {
        return vec![lo, hi];
    }
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    // Exact multiples of the step, so that zero is drawn as 0 and not as -0.0000001.
    (first..=last).take(12).map(|i| i as f64 * step).collect()
}

/// The y axis: every value and band, with zero when asked; the always-valid intervals
/// of the first looks can be very wide, so bands may reach at most three times as far
/// as the lines and the last intervals do (beyond that they are clipped at the edge).
fn y_range(lines: &[Line], zero: bool) -> (f64, f64) {
    let core = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1).chain(l.band.last().into_iter().flat_map(|b| [b.1, b.2])));
    let (mut lo, mut hi) = core.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if zero {
        lo = lo.min(0.0);
        hi = hi.max(0.0);
    }
    if !lo.is_finite() || !hi.is_finite() {
        return (0.0, 1.0);
    }
    let reach = (hi - lo).max(f64::EPSILON) * 3.0;
    let bands = lines.iter().flat_map(|l| l.band.iter().flat_map(|b| [b.1, b.2]));
    let (blo, bhi) = bands.fold((lo, hi), |(a, b), v| (a.min(v), b.max(v)));
    lo = blo.max(lo - reach);
    hi = bhi.min(hi + reach);
    if hi - lo < 1e-12 {
        return (lo - 1.0, hi + 1.0);
    }
    let pad = (hi - lo) * 0.05;
    (lo - pad, hi + pad)
}
