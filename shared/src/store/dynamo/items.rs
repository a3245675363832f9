//! How an event becomes a table item and back, and the keys that place it.

use std::borrow::Cow;
use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use sha2::{Digest, Sha256};

use super::Item;
use super::schema::{CONTACT_INDEX, KEY_INDEX, TIME_INDEX, TIME_SORT};
use crate::domain::query::{DAY, HOUR, MAX_TIME, Position, contact_key, format_time, hour_of};
use crate::domain::{DeliveryStatus, Event, EventFamily, RawRef, SubProduct};
use crate::store::{StoreError, StoredEvent, expiry};

/// Partitions a day of the time index is spread over, besides the one of late entries.
pub(super) const TIME_SHARDS: u32 = 8;
/// An event written this long after its hour ended is "late": its time index entry goes to the
/// day's late partition, so the counts of a settled hour never change under a cached total.
pub(super) const LATE_AFTER_SECS: i64 = 300;
const LATE_SHARD: &str = "L";
pub(super) const EVENT_SK_PREFIX: &str = "EVT#";

/// Which index entries an event item carries; see [`event_item_with`].
#[derive(Debug, Clone, Copy)]
pub(super) struct IndexEntries {
    /// The entry goes to the day's late partition (see [`LATE_AFTER_SECS`]).
    pub late: bool,
    /// Its partition is not yet found by its tracking key.
    pub key: bool,
    /// Its partition is not yet found by its contact.
    pub contact: bool,
}

/// The table item of one event, with every index entry it may carry (as for the first event of
/// a message, written on time).
pub fn event_item(stored: &StoredEvent, retention: Duration) -> Item {
    event_item_with(
        stored,
        retention,
        IndexEntries {
            late: false,
            key: true,
            contact: true,
        },
    )
}

pub(super) fn event_item_with(
    stored: &StoredEvent,
    retention: Duration,
    entries: IndexEntries,
) -> Item {
    let event = &stored.event;
    let (pk, sk) = event_key(event);
    let listed = Position {
        at: stored.listed_at(),
        event_id: event.id.clone(),
    };
    let mut item = HashMap::from([
        ("PK".to_owned(), s(&pk)),
        ("SK".to_owned(), s(&sk)),
        ("event_id".to_owned(), s(&event.id)),
        ("family".to_owned(), s(event.family.as_str())),
        ("sub_product".to_owned(), s(stored.sub_product.as_str())),
        ("received_at".to_owned(), n(stored.received_at)),
        (
            "expires_at".to_owned(),
            n(expiry(stored.received_at, retention)),
        ),
        ("raw".to_owned(), s(event.raw.get())),
        (
            TIME_INDEX.partition.to_owned(),
            s(&time_partition(
                listed.at.div_euclid(DAY),
                &time_shard(&event.id, entries.late),
            )),
        ),
        (TIME_SORT.to_owned(), s(&position_key(&listed))),
    ]);
    if let Some(key) = event.key.as_deref().filter(|_| entries.key) {
        item.insert(KEY_INDEX.partition.to_owned(), s(&key_partition(key)));
    }
    let contact = event.contact.as_deref().and_then(contact_key);
    if let Some(contact) = contact.filter(|_| entries.contact) {
        item.insert(
            CONTACT_INDEX.partition.to_owned(),
            s(&contact_partition(contact)),
        );
    }
    let optional = [
        ("message_id", event.message_id.as_deref()),
        ("tracking_key", event.key.as_deref()),
        (
            "delivery_status",
            event.status.as_ref().map(DeliveryStatus::as_str),
        ),
        ("message_type", event.message_type.as_deref()),
        ("contact", event.contact.as_deref()),
        ("contact_name", event.contact_name.as_deref()),
        ("phone_number_id", event.phone_number_id.as_deref()),
        ("in_reply_to", event.in_reply_to.as_deref()),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            item.insert(name.to_owned(), s(value));
        }
    }
    if let Some(at) = event.occurred_at {
        item.insert("occurred_at".to_owned(), n(at));
    }
    if !event.error_codes.is_empty() {
        item.insert(
            "error_codes".to_owned(),
            AttributeValue::L(event.error_codes.iter().map(n).collect()),
        );
    }
    item
}

/// The table key of an event: the payload alone decides it (never the arrival time), so a
/// redelivery maps to the very same item.
pub(super) fn event_key(event: &Event) -> (String, String) {
    let pk = match &event.message_id {
        Some(id) => message_partition(id),
        None => format!("EVT#{}", event.id),
    };
    let sk = format!(
        "{EVENT_SK_PREFIX}{:011}#{}",
        event.occurred_at.unwrap_or(0).max(0),
        event.id
    );
    (pk, sk)
}

/// Whether an event listed at `listed_at` and written at `now` (epoch seconds) is late.
pub(super) fn is_late(listed_at: i64, now: i64) -> bool {
    now > hour_of(listed_at) + HOUR + LATE_AFTER_SECS
}

/// The stored event in an item image as a DynamoDB stream delivers it (`NEW_IMAGE`); `None` for
/// the table's other items (hour counts, OAuth client, refresh token, and any kind added later),
/// told apart by the event items' sort key prefix.
pub fn event_from_image(
    item: &HashMap<String, AttributeValue>,
) -> Option<Result<StoredEvent, StoreError>> {
    get_s(item, "SK")?
        .starts_with(EVENT_SK_PREFIX)
        .then(|| event_from_item(item))
}

pub(super) fn event_from_item(item: &Item) -> Result<StoredEvent, StoreError> {
    let required = |name: &str| {
        get_s(item, name).ok_or_else(|| StoreError::Corrupt(format!("event item without {name}")))
    };
    let family = required("family")?;
    let sub_product = required("sub_product")?;
    let raw_ref = raw_ref(item);
    let raw = match (get_s(item, "raw"), &raw_ref) {
        (Some(raw), _) => raw,
        // Kept in S3; read from there only where an answer needs it.
        (None, Some(_)) => "null".to_owned(),
        (None, None) => required("raw")?,
    };
    let raw = serde_json::value::RawValue::from_string(raw)
        .map_err(|e| StoreError::Corrupt(format!("raw fragment is not JSON: {e}")))?;
    Ok(StoredEvent {
        raw_omitted: raw_ref.is_some(),
        raw_ref,
        event: Event {
            id: required("event_id")?,
            family: EventFamily::parse(&family)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown family {family}")))?,
            message_id: get_s(item, "message_id"),
            key: get_s(item, "tracking_key"),
            status: get_s(item, "delivery_status").map(|s| DeliveryStatus::parse(&s)),
            message_type: get_s(item, "message_type"),
            contact: get_s(item, "contact"),
            contact_name: get_s(item, "contact_name"),
            phone_number_id: get_s(item, "phone_number_id"),
            in_reply_to: get_s(item, "in_reply_to"),
            occurred_at: item.get("occurred_at").and_then(parse_n),
            error_codes: error_codes(item),
            raw,
        },
        sub_product: SubProduct::parse(&sub_product)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown sub-product {sub_product}")))?,
        received_at: item.get("received_at").and_then(parse_n).unwrap_or(0),
    })
}

/// The largest item DynamoDB takes: 400 KB, attribute names included.
pub(super) const MAX_ITEM_BYTES: usize = 400 * 1024;

/// An item's size as DynamoDB measures it against [`MAX_ITEM_BYTES`]: names and values in
/// UTF-8 bytes, a number about one byte per two digits plus one, a list 3 bytes plus one per
/// element; a little above DynamoDB's own figure, never below.
pub(super) fn item_size(item: &Item) -> usize {
    fn value_size(value: &AttributeValue) -> usize {
        match value {
            AttributeValue::S(text) => text.len(),
            AttributeValue::N(number) => number.len() / 2 + 2,
            AttributeValue::L(list) => 3 + list.iter().map(|v| value_size(v) + 1).sum::<usize>(),
            AttributeValue::M(map) => {
                3 + map
                    .iter()
                    .map(|(name, v)| name.len() + value_size(v) + 1)
                    .sum::<usize>()
            }
            AttributeValue::Ss(texts) => texts.iter().map(String::len).sum(),
            AttributeValue::Ns(numbers) => numbers.iter().map(|n| n.len() / 2 + 2).sum(),
            AttributeValue::B(blob) => blob.as_ref().len(),
            AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
            // A kind DynamoDB adds later: event items are made of the kinds above.
            _ => 0,
        }
    }
    item.iter()
        .map(|(name, value)| name.len() + value_size(value))
        .sum()
}

/// Replaces an item's raw fragment by its reference, once the fragment is kept elsewhere.
pub(super) fn refer_to_raw(item: &mut Item, reference: &RawRef) {
    item.remove("raw");
    item.insert("raw_uri".to_owned(), s(&reference.uri));
    item.insert("raw_sha256".to_owned(), s(&reference.sha256));
    item.insert("raw_bytes".to_owned(), n(reference.bytes));
}

fn raw_ref(item: &Item) -> Option<RawRef> {
    Some(RawRef {
        uri: get_s(item, "raw_uri")?,
        sha256: get_s(item, "raw_sha256")?,
        bytes: item
            .get("raw_bytes")
            .and_then(parse_n)
            .and_then(|b| u64::try_from(b).ok())?,
    })
}

pub(super) fn error_codes(item: &Item) -> Vec<i64> {
    match item.get("error_codes") {
        Some(AttributeValue::L(codes)) => codes.iter().filter_map(parse_n).collect(),
        _ => Vec::new(),
    }
}

/// A time as a bound of a range of sort keys such as [`position_key`]'s: a bare time sorts before
/// every entry of that second. Past [`MAX_TIME`], the last second an entry can hold, it sorts
/// after every entry (`$` after `#`) instead of taking a twelfth digit, which would sort first.
pub(super) fn time_bound(at: i64) -> String {
    if at > MAX_TIME {
        format!("{MAX_TIME:011}$")
    } else {
        format!("{at:011}")
    }
}

/// `<at, 11 digits>#<event id>`: the sort key of a place in a listing.
pub(super) fn position_key(position: &Position) -> String {
    format!("{:011}#{}", position.at, position.event_id)
}

pub(super) fn parse_position(sort_key: &str) -> Result<Position, StoreError> {
    sort_key
        .split_once('#')
        .and_then(|(at, id)| {
            Some(Position {
                at: at.parse().ok()?,
                event_id: id.to_owned(),
            })
        })
        .ok_or_else(|| StoreError::Corrupt(format!("index sort key {sort_key:?}")))
}

/// The time index partitions of `day` (days since 1970): its shards, then its late entries.
pub(super) fn day_partitions(day: i64) -> impl Iterator<Item = String> {
    shard_partitions(day).chain([late_partition(day)])
}

pub(super) fn late_partition(day: i64) -> String {
    time_partition(day, LATE_SHARD)
}

pub(super) fn shard_partitions(day: i64) -> impl Iterator<Item = String> {
    (0..TIME_SHARDS).map(move |shard| time_partition(day, &shard.to_string()))
}

fn time_partition(day: i64, shard: &str) -> String {
    format!("TIME#{}#{shard}", day_label(day))
}

/// `YYYY-MM-DD` of a day since 1970.
pub(super) fn day_label(day: i64) -> String {
    let date = format_time(day * DAY);
    date.get(..10).unwrap_or(&date).to_owned()
}

/// Events spread over the shards of a day by their id (a content hash).
fn time_shard(event_id: &str, late: bool) -> String {
    if late {
        return LATE_SHARD.to_owned();
    }
    let hash = event_id.bytes().fold(0u32, |hash, byte| {
        hash.wrapping_mul(31).wrapping_add(u32::from(byte))
    });
    (hash % TIME_SHARDS).to_string()
}

/// The longest payload value a partition key holds as it is. DynamoDB refuses a partition key
/// over 2,048 bytes at every retry, so a longer message id or tracking key would never be
/// stored; past this length the key keeps the value's start and the SHA-256 of all of it
/// (the full value stays in its own attribute). A shortened value is always longer than this
/// bound, so it never equals a value kept as it is.
const MAX_VERBATIM_KEY_BYTES: usize = 1024;
const SHORTENED_PREFIX_BYTES: usize = 960;

pub(super) fn message_partition(message_id: &str) -> String {
    format!("MSG#{}", bounded_key_value(message_id))
}

pub(super) fn key_partition(tracking_key: &str) -> String {
    format!("KEY#{}", bounded_key_value(tracking_key))
}

/// `contact` as [`contact_key`] returns it (at most 256 bytes, so never too long for a key).
pub(super) fn contact_partition(contact: &str) -> String {
    format!("CONTACT#{contact}")
}

fn bounded_key_value(value: &str) -> Cow<'_, str> {
    if value.len() <= MAX_VERBATIM_KEY_BYTES {
        return Cow::Borrowed(value);
    }
    let mut end = SHORTENED_PREFIX_BYTES;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    let digest = hex::encode(Sha256::digest(value.as_bytes()));
    Cow::Owned(format!("{}#~sha256:{digest}", &value[..end]))
}

pub(super) fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

pub(super) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(super) fn get_s(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

pub(super) fn parse_n(value: &AttributeValue) -> Option<i64> {
    value.as_n().ok().and_then(|n| n.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_values_up_to_the_bound_are_kept_as_they_are() {
        let at_bound = "x".repeat(MAX_VERBATIM_KEY_BYTES);
        assert_eq!(bounded_key_value(&at_bound), at_bound.as_str());
        assert_eq!(message_partition("wamid.1"), "MSG#wamid.1");
        assert_eq!(key_partition("whatsapp-1"), "KEY#whatsapp-1");
    }

    #[test]
    fn longer_values_keep_their_start_and_a_digest_of_all_of_it() {
        // Two-byte characters put the cut inside one: it moves back to a character boundary.
        let long = format!(
            "{}{}",
            "x".repeat(SHORTENED_PREFIX_BYTES - 1),
            "ğ".repeat(2_000)
        );
        let shortened = bounded_key_value(&long);
        assert!(shortened.starts_with(&long[..SHORTENED_PREFIX_BYTES - 1]));
        assert!(
            shortened.len() > MAX_VERBATIM_KEY_BYTES,
            "never equal to a kept value"
        );
        assert!(message_partition(&long).len() < 2_048);
        let other = format!("{long}!");
        assert_ne!(bounded_key_value(&other), shortened);
    }

    #[test]
    fn an_event_is_late_once_its_hour_has_settled() {
        let hour = 1_700_000_000 - 1_700_000_000 % HOUR;
        assert!(!is_late(hour + 10, hour + HOUR + LATE_AFTER_SECS));
        assert!(is_late(hour + 10, hour + HOUR + LATE_AFTER_SECS + 1));
        assert!(
            !is_late(hour + 2 * HOUR, hour),
            "an event of the future is on time"
        );
    }
}
