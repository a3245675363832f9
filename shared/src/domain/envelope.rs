//! Meta's `object/entry[]/changes[]/value` envelope of the common shape, read in one pass.
//!
//! The lenient reader in `events.rs` takes every level as a raw fragment and parses it again, so
//! the bytes of a status were read some ten times. This reader walks the same levels in one pass
//! down to the statuses and messages, kept raw. It only answers for deliveries where the lenient
//! reader is sure to find the same: each level an object of the expected type, no known field
//! given twice, no key with escapes, every change holding a status or a message. Anything else
//! is `None`, and the lenient reader, which keeps every odd shape, takes over.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

/// What `events.rs` needs of an envelope: the delivery's key and each change's leaves.
pub struct Envelope<'a> {
    pub key: Option<&'a RawValue>,
    pub changes: Vec<Leaves<'a>>,
}

/// One change's `value`: its business number and the fragments that become events.
pub struct Leaves<'a> {
    pub phone_number_id: Option<&'a RawValue>,
    pub statuses: Vec<&'a RawValue>,
    pub messages: Vec<&'a RawValue>,
    pub contacts: Vec<&'a RawValue>,
}

/// The envelope in `body`, when it has the common shape (see the module's notes).
pub fn read_envelope(body: &[u8]) -> Option<Envelope<'_>> {
    // Checked first, as the lenient reader does, so that an ignored string cannot hide bad UTF-8.
    let text = std::str::from_utf8(body).ok()?;
    let Object(top) = serde_json::from_str::<Object<Top>>(text).ok()?;
    let entries = top.entry?;
    let mut changes = Vec::new();
    for Object(entry) in entries {
        for Object(change) in entry.changes? {
            let Object(value) = change.value?;
            if value.statuses.as_ref().is_none_or(Vec::is_empty)
                && value.messages.as_ref().is_none_or(Vec::is_empty)
            {
                // Kept whole as an unknown event, which needs the change's raw fragment.
                return None;
            }
            changes.push(Leaves {
                phone_number_id: value.metadata.and_then(|Object(m)| m.phone_number_id),
                statuses: value.statuses.unwrap_or_default(),
                messages: value.messages.unwrap_or_default(),
                contacts: value.contacts.unwrap_or_default(),
            });
        }
    }
    // No entry at all: the delivery is one unknown event, which the lenient reader builds.
    (!changes.is_empty()).then_some(Envelope {
        key: top.key,
        changes,
    })
}

/// The fields of one level: their names (a known name given twice ends the read, as it makes the
/// lenient reader's view of that level empty) and how to read the value of the `index`th.
trait Fields<'de>: Default {
    const NAMES: &'static [&'static str];

    fn read<A: MapAccess<'de>>(&mut self, index: usize, map: &mut A) -> Result<(), A::Error>;
}

/// A JSON object read through `T`; any other JSON value is an error.
struct Object<T>(T);

impl<'de, T: Fields<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ObjectVisitor(PhantomData))
    }
}

struct ObjectVisitor<T>(PhantomData<T>);

impl<'de, T: Fields<'de>> Visitor<'de> for ObjectVisitor<T> {
    type Value = Object<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Object<T>, A::Error> {
        let mut fields = T::default();
        let mut seen = 0u32;
        // Borrowed, so a key with escapes is an error: the lenient reader decodes it.
        while let Some(key) = map.next_key::<&'de str>()? {
            match T::NAMES.iter().position(|name| *name == key) {
                Some(index) => {
                    if seen & (1 << index) != 0 {
                        return Err(de::Error::duplicate_field(T::NAMES[index]));
                    }
                    seen |= 1 << index;
                    fields.read(index, &mut map)?;
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Object(fields))
    }
}

#[derive(Default)]
struct Top<'a> {
    key: Option<&'a RawValue>,
    entry: Option<Vec<Object<Entry<'a>>>>,
}

impl<'de> Fields<'de> for Top<'de> {
    /// Every field the lenient reader's top level knows, so that a repeated one ends this read.
    const NAMES: &'static [&'static str] = &[
        "key",
        "entry",
        "error",
        "errors",
        "messages",
        "contacts",
        "messaging_product",
        "type",
        "template",
        "to",
        "timestamp",
    ];

    fn read<A: MapAccess<'de>>(&mut self, index: usize, map: &mut A) -> Result<(), A::Error> {
        match index {
            0 => self.key = map.next_value()?,
            1 => self.entry = map.next_value()?,
            _ => {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

#[derive(Default)]
struct Entry<'a> {
    changes: Option<Vec<Object<Change<'a>>>>,
}

impl<'de> Fields<'de> for Entry<'de> {
    const NAMES: &'static [&'static str] = &["changes"];

    fn read<A: MapAccess<'de>>(&mut self, _: usize, map: &mut A) -> Result<(), A::Error> {
        self.changes = map.next_value()?;
        Ok(())
    }
}

#[derive(Default)]
struct Change<'a> {
    value: Option<Object<Value<'a>>>,
}

impl<'de> Fields<'de> for Change<'de> {
    const NAMES: &'static [&'static str] = &["value"];

    fn read<A: MapAccess<'de>>(&mut self, _: usize, map: &mut A) -> Result<(), A::Error> {
        self.value = map.next_value()?;
        Ok(())
    }
}

#[derive(Default)]
struct Value<'a> {
    metadata: Option<Object<Metadata<'a>>>,
    statuses: Option<Vec<&'a RawValue>>,
    messages: Option<Vec<&'a RawValue>>,
    contacts: Option<Vec<&'a RawValue>>,
}

impl<'de> Fields<'de> for Value<'de> {
    const NAMES: &'static [&'static str] = &["metadata", "statuses", "messages", "contacts"];

    fn read<A: MapAccess<'de>>(&mut self, index: usize, map: &mut A) -> Result<(), A::Error> {
        match index {
            0 => self.metadata = map.next_value()?,
            1 => self.statuses = map.next_value()?,
            2 => self.messages = map.next_value()?,
            _ => self.contacts = map.next_value()?,
        }
        Ok(())
    }
}

#[derive(Default)]
struct Metadata<'a> {
    phone_number_id: Option<&'a RawValue>,
}

impl<'de> Fields<'de> for Metadata<'de> {
    const NAMES: &'static [&'static str] = &["phone_number_id"];

    fn read<A: MapAccess<'de>>(&mut self, _: usize, map: &mut A) -> Result<(), A::Error> {
        self.phone_number_id = map.next_value()?;
        Ok(())
    }
}
