//! What the error codes that come with failed messages mean, in a sentence a support agent can
//! pass on: Meta's common Cloud API codes, and those Insider One's documentation shows
//! (`shared/seeds/`: Cloud API and On-Premise samples).

/// `(code, meaning)`, by code.
const MEANINGS: &[(i64, &str)] = &[
    (
        0,
        "Authentication failed: WhatsApp could not authenticate the app user (Insider One's account setup)",
    ),
    (
        190,
        "Access token expired: the WhatsApp Business account's token must be renewed",
    ),
    (
        368,
        "Temporarily blocked for policy violations: the sending account is restricted by Meta",
    ),
    (
        402,
        "Business eligibility issue: a payment problem prevents delivery (On-Premise)",
    ),
    (
        408,
        "Message not valid: it waited for validation too long (On-Premise)",
    ),
    (
        429,
        "Rate limit exceeded: too many requests in a given time (On-Premise)",
    ),
    (
        500,
        "Internal server error at WhatsApp: temporary, retry later",
    ),
    (
        2000,
        "Template parameter mismatch: the number of parameters differs from the template's",
    ),
    (2060, "Template rejected: the template cannot be used"),
    (
        130429,
        "Rate limit hit: Cloud API message throughput reached; send more slowly",
    ),
    (
        131005,
        "Access denied: the account lacks a permission the call needs",
    ),
    (
        131026,
        "Message undeliverable: the number may not be on WhatsApp, or the app is too old or has not accepted the terms",
    ),
    (
        131047,
        "Re-engagement message: more than 24 hours since the user last replied; only a template may be sent",
    ),
    (
        131048,
        "Spam rate limit hit: too many messages from this number were blocked or reported",
    ),
];

/// The meaning of a known code.
pub fn meaning(code: i64) -> Option<&'static str> {
    MEANINGS
        .binary_search_by_key(&code, |(known, _)| *known)
        .ok()
        .map(|i| MEANINGS[i].1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_so_every_code_is_found() {
        assert!(MEANINGS.windows(2).all(|pair| pair[0].0 < pair[1].0));
        for (code, text) in MEANINGS {
            assert_eq!(meaning(*code), Some(*text));
        }
        assert!(
            meaning(131026)
                .unwrap()
                .starts_with("Message undeliverable")
        );
        assert_eq!(meaning(999_999), None);
    }
}
