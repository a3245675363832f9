//! `cargo run -p e2e-tests --bin console-screenshots`: the README's pictures of the console,
//! taken by headless Chromium from a local stack given the console story's deliveries, into
//! `docs/console/`.

use std::path::Path;

use e2e_tests::browser::Browser;
use e2e_tests::console_story::{self, CONTACT, FAILED, HOURS};
use e2e_tests::stack::{self, ADMIN_TOKEN};
use shared::domain::query::format_time;

#[tokio::main]
async fn main() {
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/console");
    std::fs::create_dir_all(&out).expect("docs/console can be created");
    let (stack, _dir) = stack::embedded().await;
    let base = stack.url();
    let now = shared::clock::now_millis() / 1000;
    console_story::deliver_story(&base, now).await;
    // The funnel of the story's hours and the one under way.
    let since = format_time(now.div_euclid(3600) * 3600 - HOURS * 3600);
    let browser = Browser::start().await;
    browser.goto(&format!("{base}/console/login")).await;
    browser.submit_field("token", ADMIN_TOKEN).await;
    browser.screenshot(&out.join("search.png")).await;
    browser
        .goto(&format!("{base}/console/messages/{FAILED}"))
        .await;
    // The failure's own event, unfolded.
    let summaries = browser
        .client
        .find_all(fantoccini::Locator::Css("details summary"))
        .await
        .expect("the timeline's events");
    if let Some(failed) = summaries.last() {
        failed.click().await.expect("the raw JSON unfolds");
    }
    browser.screenshot(&out.join("message.png")).await;
    for (page, file) in [
        (format!("contacts/{CONTACT}"), "conversation.png"),
        (format!("funnel?since={since}"), "funnel.png"),
        ("live".to_owned(), "live.png"),
    ] {
        browser.goto(&format!("{base}/console/{page}")).await;
        browser.screenshot(&out.join(file)).await;
    }
    browser.close().await;
    println!("screenshots written to {}", out.display());
}
