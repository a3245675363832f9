//! The funnel as a bar chart drawn on the server: one group of bars per hour (or day), one bar
//! per step (sent, delivered, read, failed), as SVG that needs no script to show.

use maud::{Markup, html};

/// The counts of one bar group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    /// Shown under the group, e.g. `14:00`.
    pub label: String,
    pub sent: u64,
    pub delivered: u64,
    pub read: u64,
    pub failed: u64,
}

impl Bucket {
    fn values(&self) -> [u64; 4] {
        [self.sent, self.delivered, self.read, self.failed]
    }
}

/// The steps in bar order: name, and the class the style sheet colours.
pub const SERIES: [(&str, &str); 4] = [
    ("sent", "series-sent"),
    ("delivered", "series-delivered"),
    ("read", "series-read"),
    ("failed", "series-failed"),
];

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 300.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 40.0;
/// Labels under the groups at most; every n-th group is labelled past that.
const MAX_LABELS: usize = 12;

/// The y axis: the step between grid lines (1, 2 or 5 times a power of ten, so that the lines
/// fall on round numbers) and the top, a whole number of steps at or above `max`.
pub fn scale(max: u64) -> (u64, u64) {
    let rough = max.div_ceil(4).max(1);
    let mut power = 1;
    let step = loop {
        if let Some(step) = [1, 2, 5]
            .map(|m| m * power)
            .into_iter()
            .find(|s| *s >= rough)
        {
            break step;
        }
        power *= 10;
    };
    (step, max.div_ceil(step).max(1) * step)
}

/// The chart, titled `title` for assistive technology; a window without counts says so.
pub fn funnel_chart(title: &str, buckets: &[Bucket]) -> Markup {
    let max = buckets
        .iter()
        .flat_map(Bucket::values)
        .max()
        .unwrap_or_default();
    let (step, top) = scale(max);
    let plot_width = WIDTH - LEFT - RIGHT;
    let plot_height = HEIGHT - TOP - BOTTOM;
    let group = plot_width / buckets.len().max(1) as f64;
    let bar = group * 0.8 / SERIES.len() as f64;
    let y = |value: u64| TOP + plot_height * (1.0 - value as f64 / top as f64);
    let label_every = buckets.len().div_ceil(MAX_LABELS).max(1);
    let ticks: Vec<u64> = (0..=top / step).map(|i| i * step).collect();
    html! {
        svg class="chart" viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) role="img"
            aria-labelledby="chart-title" xmlns="http://www.w3.org/2000/svg" {
            title id="chart-title" { (title) }
            @for tick in &ticks {
                line class="grid" x1=(LEFT) x2=(WIDTH - RIGHT) y1=(fmt(y(*tick))) y2=(fmt(y(*tick))) {}
                text class="axis" x=(LEFT - 6.0) y=(fmt(y(*tick) + 4.0)) text-anchor="end" { (tick) }
            }
            @for (i, bucket) in buckets.iter().enumerate() {
                @let x0 = LEFT + group * i as f64 + group * 0.1;
                @for (s, value) in bucket.values().into_iter().enumerate() {
                    @if value > 0 {
                        rect class=(SERIES[s].1) x=(fmt(x0 + bar * s as f64)) y=(fmt(y(value)))
                            width=(fmt(bar)) height=(fmt(TOP + plot_height - y(value))) {
                            title { (bucket.label) ", " (SERIES[s].0) ": " (value) }
                        }
                    }
                }
                @if i % label_every == 0 {
                    text class="axis" x=(fmt(LEFT + group * (i as f64 + 0.5))) y=(HEIGHT - BOTTOM + 18.0)
                        text-anchor="middle" { (bucket.label) }
                }
            }
            @if max == 0 {
                text class="axis" x=(WIDTH / 2.0) y=(HEIGHT / 2.0) text-anchor="middle" {
                    "No status reports in this window"
                }
            }
        }
    }
}

/// Two decimals at most: enough for a pixel, and short.
fn fmt(value: f64) -> String {
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(label: &str, values: [u64; 4]) -> Bucket {
        let [sent, delivered, read, failed] = values;
        Bucket {
            label: label.into(),
            sent,
            delivered,
            read,
            failed,
        }
    }

    #[test]
    fn the_axis_ends_on_a_round_number_of_round_steps() {
        assert_eq!(scale(0), (1, 1));
        assert_eq!(scale(3), (1, 3));
        assert_eq!(scale(4), (1, 4));
        assert_eq!(scale(17), (5, 20));
        assert_eq!(scale(100), (50, 100));
        assert_eq!(scale(101), (50, 150));
        assert_eq!(scale(12_345), (5_000, 15_000));
    }

    #[test]
    fn bars_are_as_tall_as_their_counts_and_titled_with_them() {
        let svg = funnel_chart(
            "Funnel",
            &[bucket("10:00", [4, 2, 1, 0]), bucket("11:00", [0, 0, 0, 3])],
        )
        .into_string();
        assert!(svg.starts_with("<svg class=\"chart\""), "{svg}");
        assert!(svg.contains("role=\"img\""));
        assert!(svg.contains("<title id=\"chart-title\">Funnel</title>"));
        // Top 4 over a plot of 248 px: 62 px a unit.
        assert!(
            svg.contains("height=\"248\"><title>10:00, sent: 4</title>"),
            "{svg}"
        );
        assert!(svg.contains("height=\"124\"><title>10:00, delivered: 2</title>"));
        assert!(svg.contains("height=\"62\"><title>10:00, read: 1</title>"));
        assert!(svg.contains("<title>11:00, failed: 3</title>"));
        assert_eq!(svg.matches("<rect").count(), 4, "no bar for a zero");
        assert!(!svg.contains("No status reports"));
    }

    #[test]
    fn many_groups_get_every_nth_label_and_an_empty_window_says_so() {
        let buckets: Vec<_> = (0..48).map(|h| bucket(&format!("h{h}"), [0; 4])).collect();
        let svg = funnel_chart("Funnel", &buckets).into_string();
        assert!(svg.contains(">h0</text>") && svg.contains(">h4</text>"));
        assert!(!svg.contains(">h1</text>"));
        assert!(svg.contains("No status reports in this window"));
        assert_eq!(svg.matches("<rect").count(), 0);
    }
}
