//! Reproducible streams of webhook deliveries, as Insider One sends them.
//!
//! A stream is a sequence of *stories*: one of our messages going through its statuses
//! (optionally its template event first, then `accepted`, `sent`, `delivered`, `read`; some fail
//! with error codes, some are rejected outright with a Cloud API error, some stop early as Meta
//! sometimes sends no report), a customer's reply of one of the seventeen reply shapes, or a rarer
//! family (On-Premise errors, shapes no model knows). Several statuses sometimes share one
//! delivery: of one message (with its key), or of several messages (a keyless Meta batch).
//! Everything is drawn from one seeded PRNG, so a seed gives the same bytes every time.
//!
//! Every generated event is distinct by construction (fresh message ids, keys and template ids),
//! so the receiver must store exactly the [`EventInfo::identity`]s of a stream; only the exact
//! duplicate deliveries added on top may repeat.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use serde::Serialize;
use serde_json::{Value, json};

use super::fixtures::{Fixtures, KeyStyle, fixtures};
use super::values::{Business, Customer, Direction, UniqueIds, business, customer, token};
use crate::vocabulary::{EventName, SubProduct};

/// One webhook POST and what it holds.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub body: Bytes,
    pub events: Arc<[EventInfo]>,
    /// An exact copy of an earlier delivery, sent again as a retrying sender would.
    pub duplicate: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventInfo {
    /// `family:id`, unique among the events of a stream: `status:<wamid>:<status>`,
    /// `accepted:<wamid>`, `reply:<wamid>`, `template:<key>`, `error:<key>`,
    /// `on_premise_error:<key>`, `unknown:<id>`.
    pub identity: String,
    /// For the events that report one of our messages' status: its id and that status.
    pub status: Option<(String, StatusName)>,
}

/// The statuses a stream reports; `deleted` stands for the status names Meta adds that no
/// model knows (the `status_unknown_name` fixture).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusName {
    Accepted,
    Sent,
    Delivered,
    Read,
    Failed,
    Deleted,
}

impl StatusName {
    fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Failed => "failed",
            Self::Deleted => "deleted",
        }
    }

    /// The webhook event a subscriber picks this status with; `None`: always sent. Insider
    /// does not say which subscription `accepted` belongs to; the simulator files it under
    /// `sent`, as it is WhatsApp's acknowledgement of the send.
    fn event_name(self) -> Option<EventName> {
        match self {
            Self::Accepted | Self::Sent => Some(EventName::Sent),
            Self::Delivered => Some(EventName::Delivered),
            Self::Read => Some(EventName::Read),
            Self::Failed => Some(EventName::Failed),
            Self::Deleted => None,
        }
    }

    /// Rank on the forward-only line `accepted < sent < delivered < read`.
    pub fn progress_rank(self) -> Option<u8> {
        match self {
            Self::Accepted => Some(0),
            Self::Sent => Some(1),
            Self::Delivered => Some(2),
            Self::Read => Some(3),
            Self::Failed | Self::Deleted => None,
        }
    }
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct StreamSpec<'a> {
    pub sub_product: SubProduct,
    /// The events the webhook subscribed to; `None` for all of them.
    pub events: Option<&'a [EventName]>,
    /// Deliveries in all, duplicates included.
    pub count: usize,
    pub seed: u64,
    /// Share of `count` that are exact duplicates of earlier deliveries, in `[0, 1)`.
    pub duplicates: f64,
    /// Send in random order rather than each message's statuses in order (duplicates still
    /// after their original).
    pub shuffle: bool,
}

/// The stream `spec` describes: each message's statuses in order, or shuffled.
pub fn generate(spec: &StreamSpec) -> Vec<Delivery> {
    generate_with_late_statuses(spec, 0.0)
}

/// [`generate`], with `late_fraction` (in `[0, 1]`) of the statuses that can arrive late held
/// back: in order otherwise, as a real stream mostly is, but now and then a `delivered` after
/// its `read`. A status can arrive late when a later status of its message follows it; it then
/// lands after that one. A shuffled stream is out of order throughout already, so with
/// `spec.shuffle` the fraction changes nothing. In every order, each duplicate comes after its
/// original.
pub fn generate_with_late_statuses(spec: &StreamSpec, late_fraction: f64) -> Vec<Delivery> {
    let duplicates = duplicate_count(spec.count, spec.duplicates);
    let unique = spec.count - duplicates;
    let mut generator = Generator::new(spec);
    let mut deliveries = Vec::with_capacity(spec.count);
    // Stories of unknown shapes pass every subscription, so this always makes progress.
    while deliveries.len() < unique {
        generator.story(&mut deliveries);
    }
    deliveries.truncate(unique);
    let mut rng = generator.rng;
    if spec.shuffle {
        rng.shuffle(&mut deliveries);
    } else if late_fraction > 0.0 {
        deliveries = with_late_statuses(&mut rng, deliveries, late_fraction);
    }
    // Last, so that every copy goes after its original wherever the order put it.
    with_duplicates(&mut rng, deliveries, duplicates)
}

/// Rounded, and never the whole stream: a duplicate needs an original.
pub fn duplicate_count(count: usize, ratio: f64) -> usize {
    let wanted = (count as f64 * ratio).round() as usize;
    wanted.min(count.saturating_sub(1))
}

/// Deliveries are placed by sorting positions: the delivery at index `i` sits at
/// `i << POSITION_SPACING`, which leaves room to place others between two neighbours.
const POSITION_SPACING: u32 = 20;

/// The most deliveries a late status lands past the status it was overtaken by: held back by a
/// slow path or a retry, it arrives soon after, not at the end of the stream.
const LATE_BY_AT_MOST: u64 = 8;

/// Holds back `fraction` of the deliveries that report a status of one of our messages and are
/// followed by another report of that message: each lands after that next report (up to
/// [`LATE_BY_AT_MOST`] deliveries past it). The others keep their order.
fn with_late_statuses(
    rng: &mut fastrand::Rng,
    deliveries: Vec<Delivery>,
    fraction: f64,
) -> Vec<Delivery> {
    let mut positions: Vec<u64> = (0..deliveries.len() as u64)
        .map(|i| i << POSITION_SPACING)
        .collect();
    // Walking backwards, the next report of every message is known, and already placed for
    // good, so a status held back behind one that is itself late still lands after it.
    let mut next_report: HashMap<&str, usize> = HashMap::new();
    for (index, delivery) in deliveries.iter().enumerate().rev() {
        let messages = || {
            delivery
                .events
                .iter()
                .filter_map(|e| e.status.as_ref().map(|(message, _)| message.as_str()))
        };
        let overtaken_by = messages()
            .filter_map(|message| next_report.get(message).copied())
            .min();
        if let Some(next) = overtaken_by
            && rng.f64() < fraction
        {
            positions[index] = positions[next] + rng.u64(1..LATE_BY_AT_MOST << POSITION_SPACING);
        }
        for message in messages() {
            next_report.insert(message, index);
        }
    }
    let mut placed: Vec<(u64, Delivery)> = positions.into_iter().zip(deliveries).collect();
    placed.sort_by_key(|(position, _)| *position);
    placed.into_iter().map(|(_, d)| d).collect()
}

/// Each duplicate goes somewhere after its original, as a redelivery would.
fn with_duplicates(
    rng: &mut fastrand::Rng,
    originals: Vec<Delivery>,
    duplicates: usize,
) -> Vec<Delivery> {
    let n = originals.len();
    let mut placed: Vec<(u64, Delivery)> = originals
        .into_iter()
        .enumerate()
        .map(|(i, d)| ((i as u64) << POSITION_SPACING, d))
        .collect();
    for _ in 0..duplicates {
        let original = rng.usize(..n);
        let position =
            rng.u64(((original as u64) << POSITION_SPACING) + 1..=(n as u64) << POSITION_SPACING);
        let mut copy = placed[original].1.clone();
        copy.duplicate = true;
        placed.push((position, copy));
    }
    placed.sort_by_key(|(position, _)| *position);
    placed.into_iter().map(|(_, d)| d).collect()
}

/// One of our messages, remembered so replies can refer to it.
#[derive(Clone)]
struct Outbound {
    id: String,
    key: String,
    customer: usize,
    business: usize,
}

/// A status held back to go out in a multi-message batch.
struct Parked {
    business: usize,
    status: Value,
    info: EventInfo,
}

struct Generator<'a> {
    rng: fastrand::Rng,
    ids: UniqueIds,
    fixtures: &'static Fixtures,
    sub_product: SubProduct,
    events: Option<&'a [EventName]>,
    /// Epoch seconds of the story being written.
    now: u64,
    businesses: Vec<Business>,
    customers: Vec<Customer>,
    recent: VecDeque<Outbound>,
    parked: Vec<Parked>,
    batch_size: usize,
    reply_turn: usize,
    error_turn: usize,
    misc_turn: usize,
    on_premise_turn: usize,
}

const RECENT: usize = 32;

impl<'a> Generator<'a> {
    fn new(spec: &StreamSpec<'a>) -> Self {
        let mut rng = fastrand::Rng::with_seed(spec.seed);
        let ids = UniqueIds::new(&mut rng);
        let businesses = (0..2).map(|_| business(&mut rng)).collect();
        let customers = (0..(spec.count / 4).clamp(8, 10_000))
            .map(|_| customer(&mut rng))
            .collect();
        Self {
            // June 2024, like the fixtures, plus up to a month.
            now: 1_717_200_000 + rng.u64(..30 * 86_400),
            batch_size: rng.usize(2..=4),
            rng,
            ids,
            fixtures: fixtures(),
            sub_product: spec.sub_product,
            events: spec.events,
            businesses,
            customers,
            recent: VecDeque::with_capacity(RECENT),
            parked: Vec::new(),
            reply_turn: 0,
            error_turn: 0,
            misc_turn: 0,
            on_premise_turn: 0,
        }
    }

    fn allows(&self, event: Option<EventName>) -> bool {
        match (self.events, event) {
            (Some(subscribed), Some(event)) => subscribed.contains(&event),
            _ => true,
        }
    }

    fn replies_allowed(&self) -> bool {
        self.sub_product != SubProduct::Verify && self.allows(Some(EventName::Reply))
    }

    fn story(&mut self, out: &mut Vec<Delivery>) {
        self.now += self.rng.u64(0..3);
        match self.rng.f64() {
            roll if roll < 0.74 => self.outbound_story(out),
            roll if roll < 0.94 && self.replies_allowed() => self.reply_story(out),
            // Where replies are not sent, their share goes to our messages.
            roll if roll < 0.94 => self.outbound_story(out),
            _ => self.misc_story(out),
        }
    }

    fn new_outbound(&mut self) -> Outbound {
        let customer = self.rng.usize(..self.customers.len());
        let message = Outbound {
            id: self
                .ids
                .wamid(&self.customers[customer].wa_id, Direction::Outbound),
            key: self.ids.tracking_key(&mut self.rng),
            customer,
            business: self.rng.usize(..self.businesses.len()),
        };
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(message.clone());
        message
    }

    fn outbound_story(&mut self, out: &mut Vec<Delivery>) {
        use StatusName::{Accepted, Deleted, Delivered, Failed, Read, Sent};
        let message = self.new_outbound();
        if self.rng.f64() < 0.25 && self.allows(Some(EventName::Sent)) {
            out.push(self.template_event(&message));
        }
        let fate = self.rng.f64();
        if fate < 0.04 {
            // Refused by the Cloud API: an error event instead of any status.
            if self.allows(Some(EventName::Failed)) {
                out.push(self.cloud_error_event(&message));
            }
            return;
        }
        if self.allows(Accepted.event_name()) {
            out.push(self.accepted_event(&message));
        }
        let plan: &[StatusName] = match fate {
            f if f < 0.10 => &[Sent, Failed],
            // Several devices: delivered on one, failed on another.
            f if f < 0.13 => &[Sent, Delivered, Failed],
            // Meta never reported past `sent` ("Delivery Report Missing").
            f if f < 0.23 => &[Sent],
            f if f < 0.43 => &[Sent, Delivered],
            f if f < 0.45 => &[Sent, Delivered, Read, Deleted],
            _ => &[Sent, Delivered, Read],
        };
        let mut at = self.now;
        let plan: Vec<StatusName> = plan
            .iter()
            .copied()
            .filter(|s| self.allows(s.event_name()))
            .collect();
        let statuses: Vec<(Value, EventInfo)> = plan
            .into_iter()
            .map(|status| {
                at += match status {
                    Read => self.rng.u64(5..600),
                    Deleted => self.rng.u64(60..3600),
                    _ => self.rng.u64(1..20),
                };
                self.status(&message, status, at)
            })
            .collect();
        self.send_statuses(out, &message, statuses);
    }

    /// Mostly one status per delivery; sometimes consecutive ones together, a delivered and
    /// failed pair always (as Meta reports several devices); sometimes the last one is parked
    /// for a batch with other messages' statuses.
    fn send_statuses(
        &mut self,
        out: &mut Vec<Delivery>,
        message: &Outbound,
        statuses: Vec<(Value, EventInfo)>,
    ) {
        let mut groups: Vec<Vec<(Value, EventInfo)>> = Vec::new();
        for status in statuses {
            let previous = groups
                .last()
                .and_then(|group| group.last())
                .and_then(|(_, info)| info.status.as_ref().map(|(_, s)| *s));
            let current = status.1.status.as_ref().map(|(_, s)| *s);
            let pairs_with_previous = previous.is_some_and(|previous| {
                (previous == StatusName::Delivered && current == Some(StatusName::Failed))
                    || self.rng.f64() < 0.15
            });
            match groups.last_mut() {
                Some(group) if pairs_with_previous => group.push(status),
                _ => groups.push(vec![status]),
            }
        }
        let last = groups.len().saturating_sub(1);
        for (i, group) in groups.into_iter().enumerate() {
            if i == last && group.len() == 1 && self.rng.f64() < 0.1 {
                let (status, info) = group.into_iter().next().expect("a group of one");
                self.park(out, message.business, status, info);
                continue;
            }
            let (values, infos): (Vec<Value>, Vec<EventInfo>) = group.into_iter().unzip();
            let change = self.change(message.business, json!({ "statuses": values }));
            let body = self.envelope(Some(&message.key), vec![(message.business, change)]);
            out.push(delivery(&body, infos));
        }
    }

    fn park(&mut self, out: &mut Vec<Delivery>, business: usize, status: Value, info: EventInfo) {
        self.parked.push(Parked {
            business,
            status,
            info,
        });
        if self.parked.len() < self.batch_size {
            return;
        }
        self.batch_size = self.rng.usize(2..=4);
        let parked = std::mem::take(&mut self.parked);
        let mut changes = Vec::new();
        for business in 0..self.businesses.len() {
            let statuses: Vec<Value> = parked
                .iter()
                .filter(|p| p.business == business)
                .map(|p| p.status.clone())
                .collect();
            if !statuses.is_empty() {
                changes.push((
                    business,
                    self.change(business, json!({ "statuses": statuses })),
                ));
            }
        }
        let infos = parked.into_iter().map(|p| p.info).collect();
        // Meta batches statuses of several messages; such a delivery has no single key.
        let body = self.envelope(None, changes);
        out.push(delivery(&body, infos));
    }

    fn status(&mut self, message: &Outbound, status: StatusName, at: u64) -> (Value, EventInfo) {
        let mut value = json!({
            "id": message.id,
            "status": status.as_str(),
            "timestamp": at.to_string(),
            "recipient_id": self.customers[message.customer].wa_id,
        });
        match status {
            StatusName::Failed => {
                let errors = &self.fixtures.failure_errors;
                value["errors"] = errors[self.rng.usize(..errors.len())].clone();
            }
            StatusName::Sent | StatusName::Delivered if self.rng.f64() < 0.3 => {
                let pricing = &self.fixtures.pricing;
                let (conversation, pricing) = &pricing[self.rng.usize(..pricing.len())];
                let mut conversation = conversation.clone();
                conversation["id"] = token(&mut self.rng, b"0123456789abcdef", 32).into();
                if conversation.get("expiration_timestamp").is_some() {
                    conversation["expiration_timestamp"] = (at + 86_400).to_string().into();
                }
                value["conversation"] = conversation;
                value["pricing"] = pricing.clone();
            }
            _ => {}
        }
        let info = EventInfo {
            identity: format!("status:{}:{}", message.id, status.as_str()),
            status: Some((message.id.clone(), status)),
        };
        (value, info)
    }

    fn accepted_event(&self, message: &Outbound) -> Delivery {
        let mut body = self.fixtures.accepted.clone();
        let customer = &self.customers[message.customer].wa_id;
        body["contacts"][0]["input"] = customer.as_str().into();
        body["contacts"][0]["wa_id"] = customer.as_str().into();
        body["messages"][0]["id"] = message.id.as_str().into();
        body["key"] = message.key.as_str().into();
        delivery(
            &body,
            vec![EventInfo {
                identity: format!("accepted:{}", message.id),
                status: Some((message.id.clone(), StatusName::Accepted)),
            }],
        )
    }

    /// The template Insider sent to Meta, with `timestamp` and `content`.
    fn template_event(&self, message: &Outbound) -> Delivery {
        let mut body = self.fixtures.template.clone();
        body["to"] = self.customers[message.customer].wa_id.as_str().into();
        body["timestamp"] = self.now.to_string().into();
        body["key"] = message.key.as_str().into();
        keyed_event(&body, "template", &message.key)
    }

    fn cloud_error_event(&mut self, message: &Outbound) -> Delivery {
        let errors = &self.fixtures.errors;
        let mut body = errors[next_turn(&mut self.error_turn) % errors.len()].clone();
        if body["error"].get("fbtrace_id").is_some() {
            body["error"]["fbtrace_id"] = token(
                &mut self.rng,
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                23,
            )
            .into();
        }
        body["key"] = message.key.as_str().into();
        keyed_event(&body, "error", &message.key)
    }

    fn reply_story(&mut self, out: &mut Vec<Delivery>) {
        let replies = &self.fixtures.replies;
        let template = &replies[next_turn(&mut self.reply_turn) % replies.len()];
        let mut message = template.message.clone();
        let refers_to_ours = message.get("context").is_some() || message.get("reaction").is_some();
        // A reply about one of our messages comes from its customer; others from anyone,
        // often someone we wrote to recently.
        let about = if refers_to_ours || self.rng.bool() {
            match self.recent.len() {
                0 => Some(self.new_outbound()),
                n => Some(self.recent[self.rng.usize(..n)].clone()),
            }
        } else {
            None
        };
        let (customer, business) = match &about {
            Some(m) => (m.customer, m.business),
            None => (
                self.rng.usize(..self.customers.len()),
                self.rng.usize(..self.businesses.len()),
            ),
        };
        let wa_id = self.customers[customer].wa_id.clone();
        let id = self.ids.wamid(&wa_id, Direction::Inbound);
        message["id"] = id.as_str().into();
        message["from"] = wa_id.as_str().into();
        message["timestamp"] = self.now.to_string().into();
        if let Some(ours) = &about {
            if let Some(context) = message.get_mut("context") {
                context["from"] = self.businesses[business]
                    .display_phone_number
                    .as_str()
                    .into();
                context["id"] = ours.id.as_str().into();
            }
            if let Some(reaction) = message.get_mut("reaction") {
                reaction["message_id"] = ours.id.as_str().into();
            }
        }
        if message.get("system").is_some() {
            let new_number = self::customer(&mut self.rng).wa_id;
            let name = self.customers[customer].name;
            message["system"]["wa_id"] = new_number.as_str().into();
            message["system"]["body"] =
                format!("{name} changed from {wa_id} to {new_number}").into();
        }
        let mut value = json!({ "messages": [message] });
        if template.has_contacts {
            value["contacts"] = json!([{
                "profile": { "name": self.customers[customer].name },
                "wa_id": wa_id,
            }]);
        }
        let key = match template.key {
            KeyStyle::Absent => None,
            KeyStyle::Empty => Some(String::new()),
            KeyStyle::Present => Some(match &about {
                Some(ours) => ours.key.clone(),
                None => self.ids.tracking_key(&mut self.rng),
            }),
        };
        let change = self.change(business, value);
        let body = self.envelope(key.as_deref(), vec![(business, change)]);
        out.push(delivery(
            &body,
            vec![EventInfo {
                identity: format!("reply:{id}"),
                status: None,
            }],
        ));
    }

    /// The rarer families, in turn.
    fn misc_story(&mut self, out: &mut Vec<Delivery>) {
        match next_turn(&mut self.misc_turn) % 4 {
            0 if self.allows(Some(EventName::Failed)) => out.push(self.on_premise_error()),
            0 => {}
            1 => out.push(self.unknown_shape()),
            2 => out.push(self.unknown_shape_with_key()),
            _ => out.push(self.unknown_change()),
        }
    }

    /// On-Premise errors as the seed shows them, plus the tracking key Insider adds to every
    /// event of a message.
    fn on_premise_error(&mut self) -> Delivery {
        let errors = &self.fixtures.on_premise_errors;
        let mut body = errors[next_turn(&mut self.on_premise_turn) % errors.len()].clone();
        let key = self.ids.tracking_key(&mut self.rng);
        body["key"] = key.as_str().into();
        keyed_event(&body, "on_premise_error", &key)
    }

    fn unknown_shape(&mut self) -> Delivery {
        let mut body = self.fixtures.unknown_shape.clone();
        let id = format!("c-{:012}", self.ids.next() % 1_000_000_000_000);
        body["conversation"]["id"] = id.as_str().into();
        body["phone"] = self.customers[self.rng.usize(..self.customers.len())]
            .wa_id
            .as_str()
            .into();
        body["closed_at"] = crate::clock::rfc3339(self.now * 1000).into();
        delivery(
            &body,
            vec![EventInfo {
                identity: format!("unknown:{id}"),
                status: None,
            }],
        )
    }

    fn unknown_shape_with_key(&mut self) -> Delivery {
        let mut body = self.fixtures.unknown_shape_with_key.clone();
        let customer = self.rng.usize(..self.customers.len());
        body["message_id"] = self
            .ids
            .wamid(&self.customers[customer].wa_id, Direction::Outbound)
            .into();
        body["timestamp"] = self.now.to_string().into();
        let key = self.ids.tracking_key(&mut self.rng);
        body["key"] = key.as_str().into();
        keyed_event(&body, "unknown", &key)
    }

    /// A Meta change of a field other than `messages` (a template status update).
    fn unknown_change(&mut self) -> Delivery {
        let mut body = self.fixtures.unknown_change.clone();
        let business = &self.businesses[self.rng.usize(..self.businesses.len())];
        let template_id = self.ids.next() % 10_000_000_000_000_000;
        body["entry"][0]["id"] = business.account_id.as_str().into();
        body["entry"][0]["time"] = self.now.into();
        body["entry"][0]["changes"][0]["value"]["message_template_id"] = template_id.into();
        delivery(
            &body,
            vec![EventInfo {
                identity: format!("unknown:template-status-{template_id}"),
                status: None,
            }],
        )
    }

    /// `{"field": "messages", "value": {messaging_product, metadata, ..fields}}`.
    fn change(&self, business: usize, fields: Value) -> Value {
        let business = &self.businesses[business];
        let mut value = json!({
            "messaging_product": "whatsapp",
            "metadata": {
                "display_phone_number": business.display_phone_number,
                "phone_number_id": business.phone_number_id,
            },
        });
        if let (Some(value), Value::Object(fields)) = (value.as_object_mut(), fields) {
            value.extend(fields);
        }
        json!({ "field": "messages", "value": value })
    }

    /// A Meta envelope with one entry per business, holding its changes.
    fn envelope(&self, key: Option<&str>, changes: Vec<(usize, Value)>) -> Value {
        let entries: Vec<Value> = changes
            .into_iter()
            .map(|(business, change)| {
                json!({
                    "id": self.businesses[business].account_id,
                    "changes": [change],
                })
            })
            .collect();
        let mut body = json!({ "object": "whatsapp_business_account", "entry": entries });
        if let Some(key) = key {
            body["key"] = key.into();
        }
        body
    }
}

fn next_turn(turn: &mut usize) -> usize {
    *turn += 1;
    *turn - 1
}

/// A delivery holding one event identified by its tracking key.
fn keyed_event(body: &Value, family: &str, key: &str) -> Delivery {
    delivery(
        body,
        vec![EventInfo {
            identity: format!("{family}:{key}"),
            status: None,
        }],
    )
}

fn delivery(body: &Value, events: Vec<EventInfo>) -> Delivery {
    Delivery {
        body: Bytes::from(serde_json::to_vec(body).expect("generated bodies are plain JSON")),
        events: events.into(),
        duplicate: false,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn spec(count: usize, seed: u64) -> StreamSpec<'static> {
        StreamSpec {
            sub_product: SubProduct::Conversational,
            events: None,
            count,
            seed,
            duplicates: 0.0,
            shuffle: false,
        }
    }

    #[test]
    fn same_seed_same_bytes() {
        let a = generate(&spec(300, 42));
        let b = generate(&spec(300, 42));
        let c = generate(&spec(300, 43));
        let bodies = |d: &[Delivery]| d.iter().map(|d| d.body.clone()).collect::<Vec<_>>();
        assert_eq!(bodies(&a), bodies(&b));
        assert_ne!(bodies(&a), bodies(&c));
    }

    #[test]
    fn identities_are_unique_without_duplicates() {
        let stream = generate(&spec(2000, 7));
        assert_eq!(stream.len(), 2000);
        let mut seen = HashSet::new();
        for event in stream.iter().flat_map(|d| d.events.iter()) {
            assert!(seen.insert(event.identity.clone()), "{}", event.identity);
        }
    }

    #[test]
    fn duplicates_copy_earlier_deliveries() {
        let stream = generate(&StreamSpec {
            duplicates: 0.1,
            ..spec(500, 9)
        });
        assert_eq!(stream.len(), 500);
        assert_eq!(stream.iter().filter(|d| d.duplicate).count(), 50);
        for (i, copy) in stream.iter().enumerate().filter(|(_, d)| d.duplicate) {
            assert!(
                stream[..i]
                    .iter()
                    .any(|d| !d.duplicate && d.body == copy.body)
            );
        }
    }

    #[test]
    fn subscriptions_filter_what_is_sent() {
        let events = [EventName::Read];
        let stream = generate(&StreamSpec {
            sub_product: SubProduct::Verify,
            events: Some(&events),
            ..spec(300, 5)
        });
        for event in stream.iter().flat_map(|d| d.events.iter()) {
            let id = &event.identity;
            assert!(
                id.ends_with(":read") || id.ends_with(":deleted") || id.starts_with("unknown:"),
                "{id}"
            );
        }
    }

    #[test]
    fn duplicate_count_rounds_and_keeps_an_original() {
        assert_eq!(duplicate_count(100, 0.05), 5);
        assert_eq!(duplicate_count(10, 0.99), 9);
        assert_eq!(duplicate_count(0, 0.5), 0);
    }
}
