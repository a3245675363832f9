//! How Insider One calls out to a receiver: the HTTP client configuration that the URL probe,
//! the OAuth 2.0 token requests and the deliveries share.

use http::{HeaderMap, StatusCode, header};

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

/// Where a redirect answer points, for error messages: the receiver moved or is misconfigured,
/// and whoever reads the error needs to see where it wanted the request to go. `None` for any
/// status that is not a redirect.
pub fn redirect_target(status: StatusCode, headers: &HeaderMap) -> Option<String> {
    if !status.is_redirection() {
        return None;
    }
    let location = headers
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("no Location given");
    Some(format!("a redirect to {location}, not followed"))
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    #[test]
    fn only_redirects_are_described() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::LOCATION,
            HeaderValue::from_static("https://x.example/"),
        );
        assert_eq!(
            redirect_target(StatusCode::FOUND, &headers).as_deref(),
            Some("a redirect to https://x.example/, not followed")
        );
        assert_eq!(
            redirect_target(StatusCode::SEE_OTHER, &HeaderMap::new()).as_deref(),
            Some("a redirect to no Location given, not followed")
        );
        assert_eq!(redirect_target(StatusCode::OK, &headers), None);
        assert_eq!(redirect_target(StatusCode::BAD_REQUEST, &headers), None);
    }
}
