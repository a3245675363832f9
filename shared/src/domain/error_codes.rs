//! What the error codes of failed statuses and error reports mean, in a sentence a support agent
//! can pass on (the console shows it): Meta's WhatsApp Cloud API codes (developers.facebook.com,
//! "Error codes") and the On-Premise and vendor codes of Insider One's samples
//! (`../shared/seeds/000_*`). The set also bounds the `Code` dimension of the
//! `FailuresByErrorCode` metric: a code outside it counts as `other`, so an unexpected code
//! cannot create metrics without limit.

/// A known code, what it means, and what to do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCode {
    pub code: i64,
    pub meaning: &'static str,
    pub action: &'static str,
}

const fn known(code: i64, meaning: &'static str, action: &'static str) -> ErrorCode {
    ErrorCode {
        code,
        meaning,
        action,
    }
}

/// In ascending order of code.
pub const KNOWN: &[ErrorCode] = &[
    known(
        0,
        "Authentication failed (AuthException)",
        "Check the access token Insider One uses with Meta.",
    ),
    known(
        190,
        "Access token expired",
        "Renew the WhatsApp Business access token.",
    ),
    known(
        368,
        "Temporarily blocked for policy violations",
        "Review the account's quality and policy notices in WhatsApp Manager.",
    ),
    known(
        402,
        "Business eligibility issue (payment)",
        "Fix the payment method of the WhatsApp Business account.",
    ),
    known(
        408,
        "Message not valid: pending too long",
        "Send it again; check the recipient can receive messages.",
    ),
    known(
        429,
        "Rate limit hit (On-Premise)",
        "Slow the campaign down.",
    ),
    known(
        470,
        "Re-engagement message: more than 24 hours since the customer last replied (On-Premise)",
        "Send an approved template instead of a free-form message.",
    ),
    known(
        500,
        "Internal server error at WhatsApp (On-Premise)",
        "Temporary: send it again later.",
    ),
    known(
        2000,
        "Template parameter count mismatch",
        "Send as many parameters as the template has placeholders.",
    ),
    known(2060, "Template rejected", "Use an approved template."),
    known(
        130429,
        "Rate limit hit: too many messages a second",
        "Slow the campaign down, or raise the number's throughput.",
    ),
    known(
        130472,
        "The user's number is part of an experiment",
        "Nothing: Meta withholds some marketing messages for experiments.",
    ),
    known(
        131000,
        "Something went wrong at Meta",
        "Send it again later.",
    ),
    known(
        131005,
        "Access denied",
        "Check the app's permissions on the WhatsApp Business account.",
    ),
    known(
        131008,
        "Required parameter missing",
        "Fix the message's request.",
    ),
    known(
        131009,
        "Parameter value not valid",
        "Fix the message's request.",
    ),
    known(
        131016,
        "Service unavailable at Meta",
        "Send it again later.",
    ),
    known(
        131021,
        "Recipient cannot be the sender",
        "Send to another number.",
    ),
    known(
        131026,
        "Message undeliverable: the number is not on WhatsApp, has not accepted the terms, or runs an old app",
        "Check the number; reach the customer another way.",
    ),
    known(
        131031,
        "Business account locked",
        "Appeal in WhatsApp Manager.",
    ),
    known(
        131042,
        "Business eligibility payment issue",
        "Fix the payment method of the WhatsApp Business account.",
    ),
    known(
        131045,
        "Phone number not registered (certificate)",
        "Register the sender's phone number.",
    ),
    known(
        131047,
        "Re-engagement message: more than 24 hours since the customer last replied",
        "Send an approved template instead of a free-form message.",
    ),
    known(
        131048,
        "Spam rate limit hit: too many messages blocked or reported",
        "Lower the volume and improve the messages' quality before sending more.",
    ),
    known(
        131049,
        "Meta chose not to deliver this marketing message (healthy ecosystem)",
        "Send fewer marketing messages to this user; try again later.",
    ),
    known(131051, "Unsupported message type", "Send a supported type."),
    known(
        131052,
        "Media download error",
        "Ask the user to send the media again.",
    ),
    known(
        131053,
        "Media upload error",
        "Check the media's type and size.",
    ),
    known(
        131056,
        "Pair rate limit hit: too many messages to the same user",
        "Wait before messaging this user again.",
    ),
    known(
        132000,
        "Template parameter count mismatch",
        "Send as many parameters as the template has placeholders.",
    ),
    known(
        132001,
        "Template does not exist (name or language)",
        "Check the template's name and language.",
    ),
    known(
        132005,
        "Template text too long after the parameters",
        "Shorten the parameters.",
    ),
    known(
        132007,
        "Template format character policy violated",
        "Fix the template's content.",
    ),
    known(
        132012,
        "Template parameter format mismatch",
        "Send parameters of the types the template expects.",
    ),
    known(
        132015,
        "Template paused for low quality",
        "Edit the template or use another.",
    ),
    known(
        132016,
        "Template disabled for low quality",
        "Use another template.",
    ),
    known(
        133010,
        "Phone number not registered on the Cloud API",
        "Register the sender's phone number.",
    ),
];

/// The code's entry, if it is a known one.
pub fn lookup(code: i64) -> Option<&'static ErrorCode> {
    KNOWN
        .binary_search_by_key(&code, |known| known.code)
        .ok()
        .map(|index| &KNOWN[index])
}

/// What a known code means.
pub fn meaning(code: i64) -> Option<&'static str> {
    lookup(code).map(|known| known.meaning)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_without_repeats_so_lookups_find_every_code() {
        assert!(KNOWN.windows(2).all(|pair| pair[0].code < pair[1].code));
        for known in KNOWN {
            assert_eq!(lookup(known.code), Some(known));
        }
        assert_eq!(lookup(131027), None);
        for alarmed in [131026, 131047, 131048, 130429, 368, 190] {
            assert!(lookup(alarmed).is_some(), "{alarmed}");
        }
    }
}
