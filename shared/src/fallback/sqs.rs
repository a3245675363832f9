//! The fallback queue in SQS: a parked delivery is one message whose body is the delivery's body
//! exactly as received (base64 only when SQS could not carry it as text) and whose attributes
//! say the rest. [`decode`] reads such a message back, as a Lambda SQS event holds it
//! ([`super::lambda_event`]).

use std::borrow::Cow;

use aws_sdk_sqs::error::{DisplayErrorContext, SdkError};
use aws_sdk_sqs::types::MessageAttributeValue;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures::future::BoxFuture;

use super::{ParkDelivery, ParkError, ParkedDelivery};
use crate::domain::SubProduct;

/// SQS's largest message, body and attributes together (1 MiB since August 2025; the queue's
/// `MaximumMessageSize` must allow it).
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;

/// The attributes of a parked delivery. `FORMAT` marks the message as one, so that anything else
/// sent to the queue is refused, not guessed at.
const FORMAT: &str = "parked_delivery";
const FORMAT_VERSION: &str = "1";
const SUB_PRODUCT: &str = "sub_product";
const RECEIVED_AT: &str = "received_at";
const PRINCIPAL: &str = "principal";
const BODY_ENCODING: &str = "body_encoding";
const BASE64_ENCODING: &str = "base64";

/// The fallback queue at `url`.
#[derive(Clone)]
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl SqsQueue {
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }
}

impl ParkDelivery for SqsQueue {
    fn park<'a>(
        &'a self,
        delivery: &'a ParkedDelivery<'a>,
    ) -> BoxFuture<'a, Result<(), ParkError>> {
        Box::pin(async move {
            let message = Message::of(delivery);
            let size = message.size();
            if size > MAX_MESSAGE_BYTES {
                return Err(ParkError::TooLarge {
                    size,
                    limit: MAX_MESSAGE_BYTES,
                });
            }
            let mut request = self
                .client
                .send_message()
                .queue_url(&self.url)
                .message_body(message.body);
            for (name, data_type, value) in message.attributes {
                let value = MessageAttributeValue::builder()
                    .data_type(data_type)
                    .string_value(value)
                    .build()
                    .map_err(|e| ParkError::Unavailable(e.to_string()))?;
                request = request.message_attributes(name, value);
            }
            request
                .send()
                .await
                .map(|_| ())
                .map_err(|error| match error {
                    SdkError::TimeoutError(_) => ParkError::Timeout,
                    other => ParkError::Unavailable(DisplayErrorContext(&other).to_string()),
                })
        })
    }
}

/// A parked delivery as an SQS message.
struct Message {
    body: String,
    /// Name, data type, value.
    attributes: Vec<(&'static str, &'static str, String)>,
}

impl Message {
    fn of(delivery: &ParkedDelivery<'_>) -> Self {
        let text = std::str::from_utf8(&delivery.body)
            .ok()
            .filter(|text| text.chars().all(sqs_text_char));
        let (body, encoded) = match text {
            Some(text) => (text.to_owned(), false),
            None => (BASE64.encode(&delivery.body), true),
        };
        let mut attributes = vec![
            (FORMAT, "Number", FORMAT_VERSION.to_owned()),
            (
                SUB_PRODUCT,
                "String",
                delivery.sub_product.as_str().to_owned(),
            ),
            (RECEIVED_AT, "Number", delivery.received_at.to_string()),
        ];
        // SQS refuses an empty attribute value.
        if !delivery.principal.is_empty() {
            attributes.push((PRINCIPAL, "String", delivery.principal.to_string()));
        }
        if encoded {
            attributes.push((BODY_ENCODING, "String", BASE64_ENCODING.to_owned()));
        }
        Self { body, attributes }
    }

    /// As SQS counts it: the body, and each attribute's name, type and value.
    fn size(&self) -> usize {
        self.body.len()
            + self
                .attributes
                .iter()
                .map(|(name, data_type, value)| name.len() + data_type.len() + value.len())
                .sum::<usize>()
    }
}

/// The characters SQS accepts in a message body (its documented set): a JSON body has no other
/// control characters, but may hold U+FFFE and U+FFFF, which SQS refuses.
fn sqs_text_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

#[derive(Debug, thiserror::Error)]
#[error("not a parked delivery: {0}")]
pub struct DecodeError(&'static str);

/// Reads a parked delivery from a message's body and its string attributes.
pub fn decode<'m>(
    body: Option<&str>,
    attribute: impl Fn(&str) -> Option<&'m str>,
) -> Result<ParkedDelivery<'static>, DecodeError> {
    if attribute(FORMAT) != Some(FORMAT_VERSION) {
        return Err(DecodeError("no parked_delivery attribute of version 1"));
    }
    let body = body.ok_or(DecodeError("no body"))?;
    let body = match attribute(BODY_ENCODING) {
        None => body.as_bytes().to_vec(),
        Some(BASE64_ENCODING) => BASE64
            .decode(body)
            .map_err(|_| DecodeError("a body_encoding base64 body that is not base64"))?,
        Some(_) => return Err(DecodeError("an unknown body_encoding")),
    };
    let sub_product = attribute(SUB_PRODUCT)
        .and_then(SubProduct::parse)
        .ok_or(DecodeError("no known sub_product"))?;
    let received_at = attribute(RECEIVED_AT)
        .and_then(|v| v.parse().ok())
        .ok_or(DecodeError("no received_at in epoch milliseconds"))?;
    Ok(ParkedDelivery {
        body: Cow::Owned(body),
        sub_product,
        received_at,
        principal: Cow::Owned(attribute(PRINCIPAL).unwrap_or_default().to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn delivery(body: &[u8]) -> ParkedDelivery<'_> {
        ParkedDelivery {
            body: Cow::Borrowed(body),
            sub_product: SubProduct::Conversational,
            received_at: 1_700_000_000_123,
            principal: Cow::Borrowed("test-insider"),
        }
    }

    fn round_trip(delivery: &ParkedDelivery<'_>) -> (Message, ParkedDelivery<'static>) {
        let message = Message::of(delivery);
        let attributes: HashMap<&str, &str> = message
            .attributes
            .iter()
            .map(|(name, _, value)| (*name, value.as_str()))
            .collect();
        let decoded = decode(Some(&message.body), |name| attributes.get(name).copied()).unwrap();
        (message, decoded)
    }

    #[test]
    fn a_json_body_travels_as_it_came() {
        let body = r#"{"key": "k", "text": "Merhaba \u00e7 \ud83d\ude00 ğ"}"#.as_bytes();
        let (message, decoded) = round_trip(&delivery(body));
        assert_eq!(message.body.as_bytes(), body);
        assert_eq!(decoded, delivery(body));
        assert_eq!(
            message.size(),
            body.len()
                + "parked_delivery".len()
                + "Number".len()
                + 1
                + "sub_product".len()
                + "String".len()
                + "conversational".len()
                + "received_at".len()
                + "Number".len()
                + 13
                + "principal".len()
                + "String".len()
                + "test-insider".len()
        );
    }

    #[test]
    fn what_sqs_cannot_carry_as_text_goes_as_base64() {
        // U+FFFF is valid in JSON and in UTF-8, but not in an SQS message; neither is a byte
        // that is not UTF-8.
        for body in [
            "{\"text\": \"\u{FFFF}\"}".as_bytes(),
            b"{\"text\": \"\xff\"}".as_slice(),
        ] {
            let (message, decoded) = round_trip(&delivery(body));
            assert_ne!(message.body.as_bytes(), body);
            assert_eq!(decoded.body.as_ref(), body);
        }
    }

    #[test]
    fn a_message_that_is_not_a_parked_delivery_is_refused() {
        let body = br#"{"key": "k"}"#;
        let (message, _) = round_trip(&delivery(body));
        let attributes: HashMap<&str, &str> = message
            .attributes
            .iter()
            .map(|(name, _, value)| (*name, value.as_str()))
            .collect();
        for missing in [FORMAT, SUB_PRODUCT, RECEIVED_AT] {
            let decoded = decode(Some(&message.body), |name| {
                (name != missing).then(|| attributes.get(name).copied())?
            });
            assert!(decoded.is_err(), "without {missing}");
        }
        assert!(decode(None, |name| attributes.get(name).copied()).is_err());
        let garbled = decode(Some("%%%"), |name| match name {
            BODY_ENCODING => Some(BASE64_ENCODING),
            other => attributes.get(other).copied(),
        });
        assert!(garbled.is_err());
    }
}
