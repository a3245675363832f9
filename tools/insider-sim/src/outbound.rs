//! How Insider One calls out to a receiver: the HTTP client configuration that the URL probe,
//! the OAuth 2.0 token requests and the deliveries share.

/// A client builder for calls to a receiver (its webhook URL or its token endpoint).
///
/// - No proxy: the simulator targets the receiver directly, usually on loopback.
/// - No redirects. Insider One delivers to the URL that was registered and validated, not to
///   wherever that URL points today. Following redirects would let a webhook URL answering 302
///   to a page answering 200 pass the probe, and would turn a delivery answered 302 or 303 into
///   a bodyless GET whose 200 counts as acknowledged. A 3xx is therefore an answer like any
///   other that is not what was asked: the probe fails with 2020, the delivery is not
///   acknowledged, a token request is refused.
pub fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
}
