//! Generated streams, read by the project's own parser: every event the sender claims to send
//! is one event the receiver extracts, and the receiver's deduplication counts exactly the
//! distinct identities the summary reports.

use std::collections::HashSet;

use insider_sim::deliver::{StreamSpec, generate};
use insider_sim::vocabulary::SubProduct;
use shared::domain::{Event, EventFamily, parse_delivery};

/// An event as the sender names it, rebuilt from what the parser found; shapes nobody models
/// have no id to rebuild from, so they compare by family only.
fn identity(event: &Event) -> String {
    let family = event.family.as_str();
    let message = event.message_id.as_deref().unwrap_or_default();
    match event.family {
        EventFamily::Status => {
            let status = event
                .status
                .as_ref()
                .map(|s| s.as_str())
                .unwrap_or_default();
            format!("{family}:{message}:{status}")
        }
        EventFamily::Accepted | EventFamily::Reply => format!("{family}:{message}"),
        EventFamily::Unknown => family.to_owned(),
        _ => format!("{family}:{}", event.key.as_deref().unwrap_or_default()),
    }
}

fn sorted(mut items: Vec<String>) -> Vec<String> {
    items.sort();
    items
}

#[test]
fn every_generated_event_is_one_the_receiver_parses() {
    for (sub_product, seed) in [
        (SubProduct::Conversational, 1),
        (SubProduct::Transactional, 2),
        (SubProduct::Verify, 3),
    ] {
        let stream = generate(&StreamSpec {
            sub_product,
            events: None,
            count: 3000,
            seed,
            duplicates: 0.05,
            shuffle: true,
        });
        let mut identities = HashSet::new();
        let mut event_ids = HashSet::new();
        let mut families = HashSet::new();
        for delivery in &stream {
            let events = parse_delivery(&delivery.body).expect("a JSON object");
            let claimed: Vec<String> = delivery
                .events
                .iter()
                .map(|e| match e.identity.split_once(':') {
                    Some(("unknown", _)) => "unknown".to_owned(),
                    _ => e.identity.clone(),
                })
                .collect();
            assert_eq!(
                sorted(events.iter().map(identity).collect()),
                sorted(claimed),
                "{}",
                String::from_utf8_lossy(&delivery.body)
            );
            identities.extend(delivery.events.iter().map(|e| e.identity.clone()));
            event_ids.extend(events.iter().map(|e| e.id.clone()));
            families.extend(events.iter().map(|e| e.family));
        }
        assert_eq!(event_ids.len(), identities.len(), "{sub_product:?}");
        let expected = EventFamily::ALL
            .into_iter()
            .filter(|f| sub_product != SubProduct::Verify || *f != EventFamily::Reply);
        for family in expected {
            assert!(families.contains(&family), "{sub_product:?}: {family:?}");
        }
        if sub_product == SubProduct::Verify {
            assert!(
                !families.contains(&EventFamily::Reply),
                "verify has no replies"
            );
        }
    }
}
