//! The console in a real browser (headless Chromium through chromedriver), on a local stack that
//! received a few hours of deliveries: the login form, the search, a failed message's page, the
//! funnel against `/stats`, a failure code's events, a conversation, the live view.

use e2e_tests::browser::Browser;
use e2e_tests::console_story::{self, CONTACT, FAILED, HOURS, REPLY};
use e2e_tests::stack::{self, ADMIN_TOKEN, read};
use fantoccini::Locator;
use reqwest::StatusCode;
use shared::domain::query::format_time;

#[tokio::test]
async fn an_agent_signs_in_finds_a_failed_message_and_follows_the_funnel_to_its_failures() {
    let (stack, _dir) = stack::embedded().await;
    let base = stack.url();
    let now = shared::clock::now_millis() / 1000;
    console_story::deliver_story(&base, now).await;
    let browser = Browser::start().await;

    // Any page leads to the login form first; a wrong token is refused there.
    browser
        .goto(&format!("{base}/console/messages/{FAILED}"))
        .await;
    assert_eq!(browser.path().await, "/console/login");
    assert_eq!(browser.text("label[for=token]").await, "Admin token");
    browser.submit_field("token", "not-the-token").await;
    assert!(browser.text("[role=alert]").await.contains("not valid"));
    browser.submit_field("token", ADMIN_TOKEN).await;
    assert_eq!(browser.path().await, "/console");

    // The search finds the message; its page says it failed, and why.
    browser.submit_field("q", FAILED).await;
    assert_eq!(browser.path().await, format!("/console/messages/{FAILED}"));
    assert_eq!(browser.text("main h1").await, format!("Message {FAILED}"));
    assert_eq!(browser.text(".facts .status").await, "failed");
    assert!(
        browser
            .text(".facts .meaning")
            .await
            .starts_with("Message undeliverable"),
    );
    let raw = browser
        .client
        .find(Locator::Css("details pre"))
        .await
        .unwrap();
    assert!(!raw.is_displayed().await.unwrap(), "raw JSON folded");
    browser
        .client
        .find(Locator::Css("details summary"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert!(raw.is_displayed().await.unwrap(), "and unfolded on a click");

    // Publishing it again goes to the stack's replay route; this stack has no downstream target,
    // so the page says so, and leads back.
    browser
        .click(Locator::Css("form[action$='/replay'] button"))
        .await;
    assert!(
        browser
            .text("[role=alert]")
            .await
            .contains("no downstream target"),
    );
    browser
        .click(Locator::LinkText("Back to the message"))
        .await;
    assert_eq!(browser.path().await, format!("/console/messages/{FAILED}"));

    // The funnel of the story's hours shows what /stats answers for them.
    let hour = now.div_euclid(3600) * 3600;
    let (since, until) = (format_time(hour - HOURS * 3600), format_time(hour));
    let (status, stats) = read(&base, &format!("/stats?since={since}&until={until}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(stats["failed"].as_u64().unwrap() >= 2, "{stats}");
    browser
        .goto(&format!(
            "{base}/console/funnel?since={since}&until={until}"
        ))
        .await;
    for step in ["sent", "delivered", "read", "failed"] {
        assert_eq!(
            browser.text(&format!("#count-{step}")).await,
            stats[step].to_string(),
            "{step}"
        );
    }
    let bars = browser
        .client
        .find_all(Locator::Css("svg.chart rect"))
        .await
        .unwrap();
    assert!(!bars.is_empty(), "the chart has bars");
    assert!(browser.source().await.contains("Re-engagement message"));

    // A failure code lists the messages behind it.
    browser.click(Locator::LinkText("131026")).await;
    assert!(browser.path().await.contains("error_code=131026"));
    assert_eq!(
        browser.text("main h1").await,
        "Events with error code 131026"
    );
    let listed = browser.text("main table").await;
    assert!(listed.contains(FAILED), "{listed}");
    assert!(
        !listed.contains("wamid.story-late"),
        "131047 is another code"
    );

    // The conversation holds our statuses and the customer's reply, in order.
    browser.click(Locator::LinkText(CONTACT)).await;
    assert_eq!(browser.path().await, format!("/console/contacts/{CONTACT}"));
    let conversation = browser.text("ol.conversation").await;
    let reply = conversation.find(REPLY).expect("the reply is shown");
    assert!(conversation.find(FAILED).unwrap() > reply, "in time order");

    // The live view shows the last minutes and reloads itself.
    browser.goto(&format!("{base}/console/live")).await;
    assert!(browser.text("main table").await.contains("wamid.story-now"));
    let refresh = browser
        .client
        .find(Locator::Css("meta[http-equiv=refresh]"))
        .await
        .unwrap();
    assert_eq!(refresh.attr("content").await.unwrap().as_deref(), Some("5"));

    // Signing out ends the session.
    browser.click(Locator::Css("header button")).await;
    assert_eq!(browser.path().await, "/console/login");
    browser.goto(&format!("{base}/console")).await;
    assert_eq!(browser.path().await, "/console/login");
    browser.close().await;
}
