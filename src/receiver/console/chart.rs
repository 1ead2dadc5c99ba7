//! The fleet's charts, drawn as SVG by the console itself: a p50/p95 line chart over the
//! window's buckets and a bar chart of calls per bucket. Pure geometry plus markup.

use maud::{html, Markup};

use super::layout::ms;

/// A chart's drawing size (SVG user units; the SVG scales to its card).
const W: f64 = 320.0;
const H: f64 = 110.0;
/// Room for the y axis' labels and the x axis.
const LEFT: f64 = 44.0;
const BOTTOM: f64 = 16.0;

/// One bucket's p50 and p95.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pair {
    /// The bucket.
    pub bucket: i64,
    /// Median.
    pub p50: Option<i64>,
    /// 95th percentile.
    pub p95: Option<i64>,
}

fn x(bucket: i64, buckets: i64) -> f64 {
    let plot = W - LEFT - 6.0;
    LEFT + (bucket as f64 + 0.5) / buckets.max(1) as f64 * plot
}

fn y(value: f64, max: f64) -> f64 {
    let plot = H - BOTTOM - 6.0;
    6.0 + plot - value / max.max(1.0) * plot
}

/// The `points` of a polyline through the buckets that have a value.
pub fn polyline(values: &[(i64, i64)], buckets: i64, max: f64) -> String {
    values
        .iter()
        .map(|(b, v)| format!("{:.1},{:.1}", x(*b, buckets), y(*v as f64, max)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// p50 (solid) and p95 (dashed) over `buckets`, each point titled with its figures.
pub fn percentiles(
    title: &str,
    pairs: &[Pair],
    buckets: i64,
    bucket_label: &dyn Fn(i64) -> String,
) -> Markup {
    let max = pairs
        .iter()
        .filter_map(|p| p.p95.or(p.p50))
        .max()
        .unwrap_or(1) as f64;
    let p50: Vec<(i64, i64)> = pairs
        .iter()
        .filter_map(|p| Some((p.bucket, p.p50?)))
        .collect();
    let p95: Vec<(i64, i64)> = pairs
        .iter()
        .filter_map(|p| Some((p.bucket, p.p95?)))
        .collect();
    html! {
        svg.chart viewBox={ "0 0 " (W) " " (H) } role="img" aria-label=(title) {
            line.grid x1=(LEFT) x2=(W - 6.0) y1=(y(0.0, max)) y2=(y(0.0, max)) {}
            line.grid x1=(LEFT) x2=(W - 6.0) y1=(y(max, max)) y2=(y(max, max)) {}
            text x="2" y=(format!("{:.1}", y(max, max) + 4.0)) { (ms(Some(max as i64))) }
            text x="2" y=(format!("{:.1}", y(0.0, max))) { "0" }
            polyline.line-p50 points=(polyline(&p50, buckets, max)) {}
            polyline.line-p95 points=(polyline(&p95, buckets, max)) {}
            @for p in pairs {
                circle cx=(format!("{:.1}", x(p.bucket, buckets))) cy=(format!("{:.1}", y(p.p95.or(p.p50).unwrap_or(0) as f64, max))) r="2.5" class="marker" {
                    title { (bucket_label(p.bucket)) ": p50 " (ms(p.p50)) ", p95 " (ms(p.p95)) }
                }
            }
            text x=(LEFT) y=(H - 2.0) { (bucket_label(0)) }
            text x=(W - 6.0) y=(H - 2.0) text-anchor="end" { (bucket_label(buckets - 1)) }
        }
    }
}

/// Calls (and failed calls) per bucket as bars.
pub fn calls(
    counts: &[(i64, u64, u64)],
    buckets: i64,
    bucket_label: &dyn Fn(i64) -> String,
) -> Markup {
    let max = counts.iter().map(|c| c.1).max().unwrap_or(1).max(1) as f64;
    let plot = W - LEFT - 6.0;
    let width = (plot / buckets.max(1) as f64 * 0.8).max(1.0);
    html! {
        svg.chart viewBox={ "0 0 " (W) " " (H) } role="img" aria-label="calls per interval" {
            line.grid x1=(LEFT) x2=(W - 6.0) y1=(y(0.0, max)) y2=(y(0.0, max)) {}
            text x="2" y=(format!("{:.1}", y(max, max) + 4.0)) { (max as u64) }
            @for (bucket, total, failed) in counts {
                @let left = x(*bucket, buckets) - width / 2.0;
                rect.calls-bar x=(format!("{left:.1}")) y=(format!("{:.1}", y(*total as f64, max)))
                     width=(format!("{width:.1}")) height=(format!("{:.1}", y(0.0, max) - y(*total as f64, max))) {
                    title { (bucket_label(*bucket)) ": " (total) " calls, " (failed) " failed" }
                }
                @if *failed > 0 {
                    rect.failed-bar x=(format!("{left:.1}")) y=(format!("{:.1}", y(*failed as f64, max)))
                         width=(format!("{width:.1}")) height=(format!("{:.1}", y(0.0, max) - y(*failed as f64, max))) {}
                }
            }
            text x=(LEFT) y=(H - 2.0) { (bucket_label(0)) }
            text x=(W - 6.0) y=(H - 2.0) text-anchor="end" { (bucket_label(buckets - 1)) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_sit_in_their_buckets_and_scale_to_the_maximum() {
        let line = polyline(&[(0, 0), (3, 100)], 4, 100.0);
        let points: Vec<(f64, f64)> = line
            .split(' ')
            .map(|p| {
                let (x, y) = p.split_once(',').unwrap();
                (x.parse().unwrap(), y.parse().unwrap())
            })
            .collect();
        assert!(points[0].0 < points[1].0);
        assert!(points[0].1 > points[1].1, "larger values are higher up");
        assert_eq!(points[1].1, 6.0, "the maximum touches the top");
    }
}
