//! A few hours of one sender's traffic, delivered to a local stack as Insider One delivers it,
//! for the console's tests and screenshots: messages read, delivered and failed (131026,
//! 131047), a rate-limit error report (130429), a customer's replies, and events of the last
//! minute for the live view.

use crate::payloads::{cloud_error, status_report, text_reply};
use crate::stack::{WEBHOOK_TOKEN, deliver};

/// The customer whose conversation the story tells.
pub const CONTACT: &str = "905551112233";
/// A message that failed as undeliverable.
pub const FAILED: &str = "wamid.story-undeliverable";
/// A message that was read.
pub const READ: &str = "wamid.story-read";
/// The hours before `now`'s hour the story starts at.
pub const HOURS: i64 = 6;
/// What the customer wrote.
pub const REPLY: &str = "Yes, please book the 14:30 slot";

/// Delivers the story; its events lie in the [`HOURS`] whole hours before `now`'s hour and in
/// the minute before `now` (the error report is listed when it arrives, now).
pub async fn deliver_story(base: &str, now: i64) {
    let start = now.div_euclid(3600) * 3600 - HOURS * 3600;
    let at = |hour: i64, minute: i64| start + hour * 3600 + minute * 60;
    let mut bodies = vec![
        status_report(READ, "sent", at(1, 5), CONTACT, "whatsapp-story-read", None),
        status_report(
            READ,
            "delivered",
            at(1, 6),
            CONTACT,
            "whatsapp-story-read",
            None,
        ),
        status_report(
            READ,
            "read",
            at(1, 20),
            CONTACT,
            "whatsapp-story-read",
            None,
        ),
        text_reply("wamid.story-reply", REPLY, at(1, 25)),
        status_report(
            FAILED,
            "sent",
            at(3, 10),
            CONTACT,
            "whatsapp-story-failed",
            None,
        ),
        status_report(
            FAILED,
            "failed",
            at(3, 11),
            CONTACT,
            "whatsapp-story-failed",
            Some(131026),
        ),
        status_report(
            "wamid.story-late",
            "sent",
            at(4, 2),
            "905550000001",
            "whatsapp-story-late",
            None,
        ),
        status_report(
            "wamid.story-late",
            "failed",
            at(4, 3),
            "905550000001",
            "whatsapp-story-late",
            Some(131047),
        ),
        cloud_error(130429, "whatsapp-story-throttled"),
        status_report(
            "wamid.story-now",
            "sent",
            now - 50,
            CONTACT,
            "whatsapp-story-now",
            None,
        ),
        status_report(
            "wamid.story-now",
            "delivered",
            now - 40,
            CONTACT,
            "whatsapp-story-now",
            None,
        ),
    ];
    // A steady flow besides: a few messages an hour, most delivered, some read.
    for hour in 0..HOURS {
        for n in 0..(2 + hour % 3) {
            let id = format!("wamid.story-{hour}-{n}");
            let key = format!("whatsapp-story-{hour}-{n}");
            let recipient = format!("90555000{hour:02}{n:02}");
            bodies.push(status_report(
                &id,
                "sent",
                at(hour, 10 + n),
                &recipient,
                &key,
                None,
            ));
            if n != 1 {
                bodies.push(status_report(
                    &id,
                    "delivered",
                    at(hour, 12 + n),
                    &recipient,
                    &key,
                    None,
                ));
            }
            if n == 0 {
                bodies.push(status_report(
                    &id,
                    "read",
                    at(hour, 30),
                    &recipient,
                    &key,
                    None,
                ));
            }
        }
    }
    for body in bodies {
        let (status, answer) = deliver(base, "conversational", Some(WEBHOOK_TOKEN), &body).await;
        assert!(status.is_success(), "{status} {answer}");
    }
}
