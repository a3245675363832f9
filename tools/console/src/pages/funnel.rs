//! The funnel of a window: its counts, a chart by hour (by day past two days), and the
//! failures by error code, each leading to the events behind it.

use futures::{StreamExt, TryStreamExt, stream};
use http::StatusCode;
use maud::{Markup, html};
use shared::domain::query::{format_time, parse_time};

use super::Page;
use crate::api::{FetchError, QueryApi, fetch};
use crate::chart::{Bucket, SERIES, funnel_chart};
use crate::model::Stats;
use crate::{MOUNT, web};
use shared::domain::error_codes::meaning;

const HOUR: i64 = 3600;
const DAY: i64 = 24 * HOUR;
/// Windows up to this long are drawn by the hour; longer ones by the day.
const HOURLY_UP_TO: i64 = 2 * DAY;
/// `/stats` calls one chart makes at once (one per bar group).
const PARALLEL_CALLS: usize = 8;

pub async fn page(
    api: &dyn QueryApi,
    pairs: &[(String, String)],
    now: i64,
) -> Result<Page, FetchError> {
    // By default the last 24 hours: this hour and the 23 before it.
    let default_since = format_time(now.div_euclid(HOUR) * HOUR - 23 * HOUR);
    let since = web::param(pairs, "since").unwrap_or(&default_since);
    let until = web::param(pairs, "until");
    let mut window = vec![("since", since)];
    window.extend(until.map(|u| ("until", u)));
    let form = window_form(since, until.unwrap_or_default());
    let totals: Stats = match fetch(api, &web::with_query("/stats", window)).await {
        Ok(totals) => totals,
        // A window the API refuses (a misspelt time, more than 31 days): the form again, to fix.
        Err(FetchError::Refused {
            status, message, ..
        }) if status == StatusCode::BAD_REQUEST => {
            let body = html! { (form) p class="alert" role="alert" { (message) } };
            return Ok(Page {
                status,
                ..Page::ok("Funnel", body)
            });
        }
        Err(error) => return Err(error),
    };
    let buckets = buckets(api, &totals).await?;
    let by = if buckets.span == HOUR { "hour" } else { "day" };
    let body = html! {
        (form)
        p class="hint" {
            "Counted by whole hours: " (web::time(parse_time(&totals.since).unwrap_or_default())) " to "
            (web::time(parse_time(&totals.until).unwrap_or_default())) "."
        }
        (counts(&totals))
        h2 { "By " (by) }
        ul class="legend" aria-hidden="true" {
            @for (name, class) in SERIES {
                li { svg viewBox="0 0 10 10" { rect class=(class) width="10" height="10" {} } (name) }
            }
        }
        (funnel_chart(&format!("Sent, delivered, read and failed by {by}"), &buckets.buckets))
        details {
            summary { "The chart's numbers" }
            (numbers(&buckets.buckets))
        }
        h2 { "Failures by error code" }
        (failures(&totals))
    };
    Ok(Page::ok("Funnel", body))
}

fn window_form(since: &str, until: &str) -> Markup {
    html! {
        form class="inline" method="get" action=(format!("{MOUNT}/funnel")) {
            div {
                label for="since" { "Since" }
                input id="since" name="since" value=(since) aria-describedby="window-hint";
            }
            div {
                label for="until" { "Until" }
                input id="until" name="until" value=(until) aria-describedby="window-hint";
            }
            button type="submit" { "Show" }
        }
        p id="window-hint" class="hint" {
            "RFC 3339 times (" code { "2024-05-01T12:00:00Z" } ") or epoch seconds; until defaults to now."
        }
    }
}

fn counts(totals: &Stats) -> Markup {
    let rate = |part: u64| {
        (totals.sent > 0)
            .then(|| format!("{:.1} % of sent", part as f64 * 100.0 / totals.sent as f64))
    };
    let items = [
        ("sent", totals.sent, None),
        ("delivered", totals.delivered, rate(totals.delivered)),
        ("read", totals.read, rate(totals.read)),
        ("failed", totals.failed, rate(totals.failed)),
    ];
    html! {
        dl class="counts" {
            @for (name, count, rate) in items {
                div {
                    dt { (name) }
                    dd id=(format!("count-{name}")) { (count) }
                    @if let Some(rate) = rate { dd class="hint" { (rate) } }
                }
            }
        }
    }
}

fn numbers(buckets: &[Bucket]) -> Markup {
    html! {
        table {
            thead {
                tr {
                    th scope="col" { "From" }
                    @for (name, _) in SERIES { th scope="col" class="num" { (name) } }
                }
            }
            tbody {
                @for bucket in buckets {
                    tr {
                        th scope="row" { (bucket.label) }
                        td class="num" { (bucket.sent) }
                        td class="num" { (bucket.delivered) }
                        td class="num" { (bucket.read) }
                        td class="num" { (bucket.failed) }
                    }
                }
            }
        }
    }
}

/// Each code links to the window's events that carry it: failed statuses and error reports.
fn failures(totals: &Stats) -> Markup {
    let mut codes: Vec<(&String, &u64)> = totals.failures_by_error_code.iter().collect();
    codes.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    html! {
        @if codes.is_empty() {
            p { "No failures in this window." }
        } @else {
            table {
                thead {
                    tr {
                        th scope="col" { "Error code" }
                        th scope="col" { "Meaning" }
                        th scope="col" class="num" { "Count" }
                    }
                }
                tbody {
                    @for (code, count) in codes {
                        tr {
                            td {
                                a href=(web::with_query(&format!("{MOUNT}/events"), [
                                    ("since", totals.since.as_str()),
                                    ("until", totals.until.as_str()),
                                    ("error_code", code.as_str()),
                                ])) { (code) }
                            }
                            td { (code.parse().ok().and_then(meaning).unwrap_or("—")) }
                            td class="num" { (count) }
                        }
                    }
                }
            }
        }
    }
}

struct Buckets {
    span: i64,
    buckets: Vec<Bucket>,
}

/// `/stats` of each hour (or day) of the window the totals covered: the API counts whole
/// hours, and a group of bars is one call.
async fn buckets(api: &dyn QueryApi, totals: &Stats) -> Result<Buckets, FetchError> {
    let shape = |field: &str| FetchError::Shape(format!("/stats answered an unreadable {field}"));
    let since = parse_time(&totals.since).map_err(|_| shape("since"))?;
    let until = parse_time(&totals.until).map_err(|_| shape("until"))?;
    let span = if until - since <= HOURLY_UP_TO {
        HOUR
    } else {
        DAY
    };
    let one_day = until - since <= DAY;
    let starts: Vec<i64> = (since..until).step_by(span as usize).collect();
    let buckets = stream::iter(starts)
        .map(|start| async move {
            let (from, to) = (format_time(start), format_time((start + span).min(until)));
            let stats: Stats = fetch(
                api,
                &web::with_query("/stats", [("since", from.as_str()), ("until", to.as_str())]),
            )
            .await?;
            Ok::<_, FetchError>(Bucket {
                label: label(&from, span, one_day),
                sent: stats.sent,
                delivered: stats.delivered,
                read: stats.read,
                failed: stats.failed,
            })
        })
        .buffered(PARALLEL_CALLS)
        .try_collect()
        .await?;
    Ok(Buckets { span, buckets })
}

/// `14:00` within a day, `05-01 14:00` across days, `2024-05-01` by day.
fn label(start: &str, span: i64, one_day: bool) -> String {
    match (span, one_day) {
        (HOUR, true) => start[11..16].to_owned(),
        (HOUR, false) => start[5..16].replace('T', " "),
        _ => start[..10].to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_say_as_much_as_the_window_needs() {
        assert_eq!(label("2024-05-01T14:00:00Z", HOUR, true), "14:00");
        assert_eq!(label("2024-05-01T14:00:00Z", HOUR, false), "05-01 14:00");
        assert_eq!(label("2024-05-01T00:00:00Z", DAY, false), "2024-05-01");
    }
}
