//! Plausible, seed-derived values for generated events: customers and business numbers in E.164
//! form (without `+`, as WhatsApp writes `wa_id`s), `wamid.` ids built like Meta's, Insider's
//! `whatsapp-<hex>` tracking keys.

use base64::Engine;

/// Values that must never repeat within one stream (message ids, keys, template ids), drawn
/// from a bijection of a counter so they look random yet are distinct by construction.
pub struct UniqueIds {
    offset: u64,
    next: u64,
}

impl UniqueIds {
    pub fn new(rng: &mut fastrand::Rng) -> Self {
        Self {
            offset: rng.u64(..),
            next: 0,
        }
    }

    pub fn next(&mut self) -> u64 {
        // Both steps are bijections of u64 (an odd multiplier, then splitmix64's finalizer).
        let n = self.next;
        self.next += 1;
        let mut z = self
            .offset
            .wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// `whatsapp-` and 32 lowercase hex digits.
    pub fn tracking_key(&mut self, rng: &mut fastrand::Rng) -> String {
        format!("whatsapp-{:016x}{:016x}", self.next(), rng.u64(..))
    }

    /// A WhatsApp message id: `wamid.` and the base64 of Meta's framing around the customer's
    /// number, a direction byte and a 20-character hex tail (`3EB0...` for business messages).
    pub fn wamid(&mut self, customer: &str, direction: Direction) -> String {
        let tail = format!("{}{:016X}", direction.tail_prefix(), self.next());
        let mut raw = vec![0x1c, 0x18, u8::try_from(customer.len()).unwrap_or(u8::MAX)];
        raw.extend_from_slice(customer.as_bytes());
        raw.extend_from_slice(&[0x15, 0x02, 0x00, direction.byte(), 0x18, 0x14]);
        raw.extend_from_slice(tail.as_bytes());
        raw.push(0x00);
        format!(
            "wamid.{}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Sent by the business (our messages, whose statuses come back).
    Outbound,
    /// Sent by the customer (replies).
    Inbound,
}

impl Direction {
    fn byte(self) -> u8 {
        match self {
            Self::Outbound => 0x11,
            Self::Inbound => 0x12,
        }
    }

    fn tail_prefix(self) -> &'static str {
        match self {
            Self::Outbound => "3EB0",
            Self::Inbound => "ACF1",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Customer {
    pub wa_id: String,
    pub name: &'static str,
}

/// A business number of the account: what `metadata` and `entry[].id` carry.
#[derive(Debug, Clone)]
pub struct Business {
    pub display_phone_number: String,
    pub phone_number_id: String,
    pub account_id: String,
}

/// Mobile number shapes (`#` is a random digit) and names that go with them.
const COUNTRIES: [(&str, [&str; 4]); 6] = [
    (
        "905#########",
        ["Ayşe Yılmaz", "Mehmet Demir", "Zeynep Kaya", "Emre Çelik"],
    ),
    (
        "4917########",
        ["Jonas Weber", "Lena Fischer", "Lukas Schmidt", "Mia Wagner"],
    ),
    (
        "393#########",
        [
            "Marco Rossi",
            "Giulia Bianchi",
            "Luca Romano",
            "Sofia Ricci",
        ],
    ),
    (
        "447#########",
        ["Oliver Smith", "Amelia Jones", "Harry Taylor", "Isla Brown"],
    ),
    (
        "346########",
        [
            "María García",
            "Javier López",
            "Lucía Martín",
            "Pablo Sánchez",
        ],
    ),
    (
        "1212#######",
        [
            "Emily Johnson",
            "Michael Davis",
            "Priya Sharma",
            "Daniel Kim",
        ],
    ),
];

fn digits(rng: &mut fastrand::Rng, pattern: &str) -> String {
    pattern
        .chars()
        .map(|c| match c {
            '#' => rng.digit(10),
            other => other,
        })
        .collect()
}

pub fn customer(rng: &mut fastrand::Rng) -> Customer {
    let (pattern, names) = &COUNTRIES[rng.usize(..COUNTRIES.len())];
    Customer {
        wa_id: digits(rng, pattern),
        name: names[rng.usize(..names.len())],
    }
}

pub fn business(rng: &mut fastrand::Rng) -> Business {
    Business {
        display_phone_number: digits(rng, "90850555####"),
        phone_number_id: digits(rng, "1#############"),
        account_id: digits(rng, "10##############"),
    }
}

/// Random characters from `alphabet`, for trace ids and the like.
pub fn token(rng: &mut fastrand::Rng, alphabet: &[u8], len: usize) -> String {
    (0..len)
        .map(|_| char::from(alphabet[rng.usize(..alphabet.len())]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wamids_have_meta_framing() {
        let mut rng = fastrand::Rng::with_seed(7);
        let mut ids = UniqueIds::new(&mut rng);
        let id = ids.wamid("905551112233", Direction::Outbound);
        assert!(id.starts_with("wamid.HBgM"), "{id}");
        let raw = base64::engine::general_purpose::STANDARD
            .decode(&id["wamid.".len()..])
            .unwrap();
        assert_eq!(&raw[3..15], b"905551112233");
        assert_eq!(&raw[19..25], &[0x18, 0x14, b'3', b'E', b'B', b'0']);
        assert_eq!(raw.len(), 15 + 6 + 20 + 1);
    }

    #[test]
    fn unique_ids_do_not_repeat_and_keys_look_like_insiders() {
        let mut rng = fastrand::Rng::with_seed(1);
        let mut ids = UniqueIds::new(&mut rng);
        let mut seen = std::collections::HashSet::new();
        assert!((0..10_000).all(|_| seen.insert(ids.next())));
        let key = ids.tracking_key(&mut rng);
        assert_eq!(key.len(), "whatsapp-".len() + 32);
        assert!(
            key["whatsapp-".len()..]
                .chars()
                .all(|c| c.is_ascii_hexdigit())
        );
    }

    #[test]
    fn numbers_are_e164_digits() {
        let mut rng = fastrand::Rng::with_seed(3);
        for _ in 0..100 {
            let c = customer(&mut rng);
            assert!(c.wa_id.chars().all(|d| d.is_ascii_digit()));
            assert!((11..=15).contains(&c.wa_id.len()), "{}", c.wa_id);
        }
    }
}
