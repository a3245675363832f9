//! The catalogue of hostile and broken requests: every route family, each request with the status
//! and the stable error code README documents for it (OAuth's `error` on the token endpoint, RFC
//! 6749 5.2). `tests/tests/hostile_input.rs` sends [`http_cases`] byte for byte to the local stack
//! and [`lambda_cases`] through the Lambdas' event conversion, and checks that none of them
//! changes the store, calls Insider One or echoes a credential.

use std::path::Path;

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

use crate::issuer::{IssuerKey, TestIssuer, hs256};
use crate::manage::SENDER;
use crate::payloads::status;
use crate::stack::{
    ADMIN_TOKEN, OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET, SIGNING_KEY_ID, SIGNING_KEY_SECRET,
    WEBHOOK_TOKEN,
};

/// The route families of README's route table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Family {
    /// `/webhooks/{sub_product}`
    Receiver,
    /// `/oauth/token`, `/oauth/revoke`
    OAuth,
    /// `/messages/{id}`, `/events`
    Query,
    /// `/manage/...`
    Manage,
}

/// What a case must get back.
#[derive(Debug, Clone)]
pub struct Expect {
    pub status: u16,
    /// The error code of the JSON body (`error.code`, or `error` on the token endpoint); `None`
    /// for an answer without a body: a probe's 200, or the HTTP layer's own refusal of what is
    /// not HTTP at all.
    pub code: Option<&'static str>,
    /// A header the answer must carry, beside those every answer of its kind carries.
    pub header: Option<(&'static str, &'static str)>,
}

fn fails(status: u16, code: &'static str) -> Expect {
    Expect {
        status,
        code: Some(code),
        header: None,
    }
}

fn bare(status: u16) -> Expect {
    Expect {
        status,
        code: None,
        header: None,
    }
}

impl Expect {
    fn with_header(mut self, name: &'static str, value: &'static str) -> Self {
        self.header = Some((name, value));
        self
    }
}

/// One request to the local stack, as bytes on the wire.
#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    pub family: Family,
    pub request: Vec<u8>,
    /// End the sending side after the request, as a client that gives up mid-body does.
    pub half_close: bool,
    pub expect: Expect,
    /// Credentials the request presents, which the answer must never repeat.
    pub secrets: Vec<Vec<u8>>,
}

/// One API Gateway event for a Lambda.
#[derive(Debug, Clone)]
pub struct EventCase {
    pub name: String,
    pub family: Family,
    pub event: Value,
    pub expect: Expect,
    pub secrets: Vec<Vec<u8>>,
}

/// Credentials shorter than this are not looked for in answers: they would match by chance.
const SECRET_MIN_LEN: usize = 12;

/// A request being written: request line, header lines, body.
struct Req {
    family: Family,
    head: Vec<u8>,
    body: Vec<u8>,
    /// Whether `Content-Length` is added from the body (else the case frames the body itself).
    framed: bool,
    half_close: bool,
    secrets: Vec<Vec<u8>>,
}

fn req(family: Family, method: &str, target: impl AsRef<[u8]>) -> Req {
    let mut head = format!("{method} ").into_bytes();
    head.extend_from_slice(target.as_ref());
    head.extend_from_slice(b" HTTP/1.1\r\n");
    Req {
        family,
        head,
        body: Vec::new(),
        framed: true,
        half_close: false,
        secrets: Vec::new(),
    }
}

impl Req {
    fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        self.head.extend_from_slice(name.as_bytes());
        self.head.extend_from_slice(b": ");
        self.head.extend_from_slice(value.as_ref());
        self.head.extend_from_slice(b"\r\n");
        self
    }

    /// A credential presented in `Authorization`, remembered as a secret.
    fn authorization(mut self, value: impl AsRef<[u8]>, secret: impl AsRef<[u8]>) -> Self {
        if secret.as_ref().len() >= SECRET_MIN_LEN {
            self.secrets.push(secret.as_ref().to_vec());
        }
        self.header("Authorization", value)
    }

    fn bearer(self, token: &str) -> Self {
        self.authorization(format!("Bearer {token}"), token)
    }

    fn admin(self) -> Self {
        self.bearer(ADMIN_TOKEN)
    }

    fn basic(self, id: &str, secret: &str) -> Self {
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
        self.authorization(format!("Basic {encoded}"), secret)
    }

    fn secret(mut self, secret: &str) -> Self {
        self.secrets.push(secret.as_bytes().to_vec());
        self
    }

    fn body(mut self, body: impl AsRef<[u8]>) -> Self {
        self.body = body.as_ref().to_vec();
        self
    }

    fn json(self, body: &Value) -> Self {
        self.header("Content-Type", "application/json")
            .body(body.to_string())
    }

    fn form(self, body: &str) -> Self {
        self.header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
    }

    /// The case writes its own framing headers (`Content-Length`, `Transfer-Encoding`).
    fn unframed(mut self) -> Self {
        self.framed = false;
        self
    }

    fn half_close(mut self) -> Self {
        self.half_close = true;
        self
    }

    fn expect(self, name: impl Into<String>, expect: Expect) -> Case {
        let mut request = self.head;
        request.extend_from_slice(b"Host: 127.0.0.1\r\nConnection: close\r\n");
        if self.framed {
            request
                .extend_from_slice(format!("Content-Length: {}\r\n", self.body.len()).as_bytes());
        }
        request.extend_from_slice(b"\r\n");
        request.extend_from_slice(&self.body);
        Case {
            name: name.into(),
            family: self.family,
            request,
            half_close: self.half_close,
            expect,
            secrets: self.secrets,
        }
    }
}

/// Bytes written as they are: not HTTP, or HTTP no client would send.
fn raw(family: Family, name: &str, bytes: impl AsRef<[u8]>, expect: Expect) -> Case {
    Case {
        name: name.into(),
        family,
        request: bytes.as_ref().to_vec(),
        half_close: false,
        expect,
        secrets: Vec::new(),
    }
}

/// Access tokens signed with the test stack's key (or deliberately not), for the receiver.
pub struct Tokens {
    issuer: String,
    audience: String,
    now: i64,
}

/// Issuer, audience and time as the test stack sees them.
impl Default for Tokens {
    fn default() -> Self {
        let (issuer, audience) = shared::config::token_names();
        let now = i64::try_from(jsonwebtoken::get_current_timestamp()).unwrap_or(i64::MAX);
        Self {
            issuer,
            audience,
            now,
        }
    }
}

impl Tokens {
    /// Claims the receiver accepts.
    fn claims(&self) -> Value {
        json!({
            "iss": self.issuer, "aud": self.audience, "sub": "hostile", "client_id": "hostile",
            "scope": "webhook.write", "iat": self.now, "exp": self.now + 3600,
            "jti": "hostile-jti-0123456789",
        })
    }

    /// Valid claims with `changes` merged in (`null` removes a claim).
    fn claims_with(&self, changes: Value) -> Value {
        crate::oauth::merged(self.claims(), changes)
    }

    fn header() -> Value {
        json!({"alg": "HS256", "typ": "JWT", "kid": SIGNING_KEY_ID})
    }

    /// `header.claims.signature`, the signature HS256 over the first two parts with `key`.
    fn sign(header: &Value, claims: &Value, key: &[u8]) -> String {
        let encode = |value: &Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
        };
        let message = format!("{}.{}", encode(header), encode(claims));
        let signature = jsonwebtoken::crypto::sign(
            message.as_bytes(),
            &EncodingKey::from_secret(key),
            Algorithm::HS256,
        )
        .expect("HS256 signs with any key");
        format!("{message}.{signature}")
    }

    /// A token the receiver accepts.
    pub fn valid(&self) -> String {
        Self::sign(&Self::header(), &self.claims(), SIGNING_KEY_SECRET)
    }

    fn signed(&self, claims: Value) -> String {
        Self::sign(&Self::header(), &claims, SIGNING_KEY_SECRET)
    }
}

/// A Meta envelope the receiver would store, used where a case is about anything but the body.
fn good_delivery() -> String {
    status(
        "wamid.hostile",
        "delivered",
        1_700_000_000,
        "whatsapp-hostile",
    )
}

/// `n` nested arrays around `inner`, closed or not.
fn nested(n: usize, inner: &str, closed: bool) -> String {
    let mut text = "[".repeat(n);
    text.push_str(inner);
    if closed {
        text.push_str(&"]".repeat(n));
    }
    text
}

fn receiver_cases(tokens: &Tokens) -> Vec<Case> {
    use Family::Receiver as R;
    let post = || req(R, "POST", "/webhooks/conversational").bearer(WEBHOOK_TOKEN);
    let with_body = |name: &str, body: &[u8], code: &'static str| {
        post()
            .header("Content-Type", "application/json")
            .body(body)
            .expect(format!("receiver: {name}"), fails(400, code))
    };
    let delivery = good_delivery();
    let mut cases = vec![
        // Broken JSON.
        with_body("truncated object", b"{\"entry\": [", "invalid_json"),
        with_body("truncated string", b"{\"key\": \"whatsapp-", "invalid_json"),
        with_body("lone opening brace", b"{", "invalid_json"),
        with_body("trailing garbage", b"{\"key\": \"a\"} x", "invalid_json"),
        with_body("two objects", b"{\"a\":1}{\"b\":2}", "invalid_json"),
        with_body("single quotes", b"{'key': 'a'}", "invalid_json"),
        with_body("comment", b"{\"key\": \"a\" /* x */}", "invalid_json"),
        with_body("trailing comma", b"{\"key\": \"a\",}", "invalid_json"),
        with_body("unquoted key", b"{key: \"a\"}", "invalid_json"),
        with_body("NaN", b"{\"n\": NaN}", "invalid_json"),
        with_body("Infinity", b"{\"n\": -Infinity}", "invalid_json"),
        with_body("leading zero", b"{\"n\": 01}", "invalid_json"),
        with_body("bare fraction", b"{\"n\": .5}", "invalid_json"),
        with_body("dangling exponent", b"{\"n\": 1e}", "invalid_json"),
        with_body("raw newline in string", b"{\"key\": \"a\nb\"}", "invalid_json"),
        with_body("raw NUL in string", b"{\"key\": \"a\0b\"}", "invalid_json"),
        with_body("bad escape", b"{\"key\": \"\\x41\"}", "invalid_json"),
        with_body("short unicode escape", b"{\"key\": \"\\u12\"}", "invalid_json"),
        // Bytes that are not UTF-8.
        with_body("invalid UTF-8 in a string", b"{\"key\": \"\xff\xfe\"}", "invalid_json"),
        with_body("overlong UTF-8", b"{\"key\": \"\xc0\xaf\"}", "invalid_json"),
        with_body("UTF-8 surrogate", b"{\"key\": \"\xed\xa0\x80\"}", "invalid_json"),
        with_body("invalid UTF-8 outside strings", b"{\xff: 1}", "invalid_json"),
        with_body("UTF-16 body", b"\xff\xfe{\0}\0", "invalid_json"),
        with_body("byte order mark", b"\xef\xbb\xbf{\"key\": \"a\"}", "invalid_json"),
        // JSON, but not an object.
        with_body("array", b"[{\"key\": \"whatsapp-x\"}]", "not_a_json_object"),
        with_body("string", b"\"text\"", "not_a_json_object"),
        with_body("null", b"null", "not_a_json_object"),
        with_body("huge number", b"1e999999999", "not_a_json_object"),
        with_body(
            "huge integer",
            "9".repeat(10_000).as_bytes(),
            "not_a_json_object",
        ),
        with_body(
            "arrays nested 100000 deep",
            nested(100_000, "", true).as_bytes(),
            "not_a_json_object",
        ),
        with_body(
            "arrays nested 100000 deep, never closed",
            nested(100_000, "", false).as_bytes(),
            "invalid_json",
        ),
        with_body(
            "objects nested 50000 deep, never closed",
            "{\"a\":".repeat(50_000).as_bytes(),
            "invalid_json",
        ),
        // Not JSON at all, whatever the content type says.
        post()
            .form("key=whatsapp-x&entry=1")
            .expect("receiver: form body", fails(400, "invalid_json")),
        post()
            .header("Content-Type", "application/xml")
            .body("<key>whatsapp-x</key>")
            .expect("receiver: XML body", fails(400, "invalid_json")),
        post()
            .header("Content-Type", "multipart/form-data; boundary=b")
            .body("--b\r\nContent-Disposition: form-data; name=\"k\"\r\n\r\n{}\r\n--b--\r\n")
            .expect("receiver: multipart body", fails(400, "invalid_json")),
        post()
            .header("Content-Type", "application/json")
            .header("Content-Encoding", "gzip")
            .body(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xab\xae\x05\x00\x43\xbf\xa6\xa3\x02\x00\x00\x00")
            .expect("receiver: gzip body", fails(400, "invalid_json")),
        // Too large.
        post()
            .body(format!(
                "{{\"key\":\"whatsapp-big\",\"pad\":\"{}\"}}",
                "x".repeat(1024 * 1024)
            ))
            .expect("receiver: body over 1 MiB", fails(413, "payload_too_large")),
        post()
            .header("Content-Length", (11 * 1024 * 1024).to_string())
            .unframed()
            .expect(
                "receiver: declared body over the gateway's 10 MB",
                fails(413, "payload_too_large"),
            ),
        // An event over DynamoDB's item size is a delivery like any other: stored (the raw
        // fragment kept in S3), see tests/tests/e2e/raw_claim_check.rs.
        // Broken framing.
        post()
            .header("Transfer-Encoding", "chunked")
            .unframed()
            .body("zz\r\n{}\r\n0\r\n\r\n")
            .expect("receiver: bad chunk size", fails(400, "invalid_body")),
        post()
            .header("Content-Length", "100")
            .unframed()
            .body("{\"key\": \"whatsapp-")
            .half_close()
            .expect("receiver: body cut short", fails(400, "invalid_body")),
        post()
            .header("Transfer-Encoding", "chunked")
            .unframed()
            .body("5\r\n{\"key\r\n")
            .half_close()
            .expect("receiver: chunked body cut short", fails(400, "invalid_body")),
        // Paths.
        req(R, "POST", "/webhooks/marketing")
            .bearer(WEBHOOK_TOKEN)
            .body(&delivery)
            .expect("receiver: unknown sub-product", fails(404, "not_found")),
        req(R, "POST", "/webhooks/Conversational")
            .bearer(WEBHOOK_TOKEN)
            .body(&delivery)
            .expect("receiver: sub-product in another case", fails(404, "not_found")),
        req(R, "POST", "/webhooks/conversational/extra")
            .bearer(WEBHOOK_TOKEN)
            .body(&delivery)
            .expect("receiver: extra segment", fails(404, "not_found")),
        req(R, "POST", "/webhooks")
            .bearer(WEBHOOK_TOKEN)
            .body(&delivery)
            .expect("receiver: no sub-product", fails(404, "not_found")),
        req(R, "POST", "/webhooks/conversational%2F..%2Fverify")
            .bearer(WEBHOOK_TOKEN)
            .body(&delivery)
            .expect("receiver: encoded slashes", fails(404, "not_found")),
        req(R, "POST", "/webhooks/../manage/webhooks")
            .bearer(WEBHOOK_TOKEN)
            .body(&delivery)
            .expect("receiver: dot segments", fails(404, "not_found")),
        req(R, "POST", "/webhooks/verify%00")
            .bearer(WEBHOOK_TOKEN)
            .body(&delivery)
            .expect("receiver: encoded NUL", fails(404, "not_found")),
        req(R, "POST", "/webhooks/verify;type=x")
            .bearer(WEBHOOK_TOKEN)
            .body(&delivery)
            .expect("receiver: path parameter", fails(404, "not_found")),
        req(
            R,
            "POST",
            "/webhooks/verify%0D%0AX-Injected:%201%0D%0ASet-Cookie:%20a=b",
        )
        .bearer(WEBHOOK_TOKEN)
        .body(&delivery)
        .expect("receiver: CRLF in the path", fails(404, "not_found")),
        req(R, "POST", format!("/webhooks/{}", "v".repeat(8000)))
            .bearer(WEBHOOK_TOKEN)
            .body(&delivery)
            .expect("receiver: 8000-byte sub-product", fails(404, "not_found")),
        // Methods.
        req(R, "PUT", "/webhooks/verify")
            .bearer(WEBHOOK_TOKEN)
            .body(&delivery)
            .expect("receiver: PUT", fails(405, "method_not_allowed")),
        req(R, "DELETE", "/webhooks/verify")
            .bearer(WEBHOOK_TOKEN)
            .expect("receiver: DELETE", fails(405, "method_not_allowed")),
        req(R, "OPTIONS", "/webhooks/verify")
            .expect("receiver: OPTIONS", fails(405, "method_not_allowed")),
        req(R, "TRACE", "/webhooks/verify")
            .bearer(WEBHOOK_TOKEN)
            .expect("receiver: TRACE", fails(405, "method_not_allowed")),
        req(R, "FETCH", "/webhooks/verify")
            .bearer(WEBHOOK_TOKEN)
            .body(&delivery)
            .expect("receiver: unknown method", fails(405, "method_not_allowed")),
        // Probes stay probes, whatever comes with them.
        req(R, "POST", "/webhooks/verify")
            .bearer("not-the-webhook-token")
            .body(" \r\n\t ")
            .expect("receiver: whitespace body is a probe", bare(200)),
        req(R, "GET", "/webhooks/verify")
            .bearer("not-the-webhook-token")
            .body(&delivery)
            .expect("receiver: GET with a delivery is a probe", bare(200)),
    ];
    // Credentials: every way a delivery can fail to be authenticated, with a good body.
    let unauthorized: Vec<(&str, Req, &'static str)> = vec![
        (
            "no Authorization",
            req(R, "POST", "/webhooks/transactional"),
            "missing_credentials",
        ),
        (
            "Basic scheme",
            req(R, "POST", "/webhooks/transactional").basic("user", WEBHOOK_TOKEN),
            "missing_credentials",
        ),
        (
            "Bearer without a token",
            req(R, "POST", "/webhooks/transactional").header("Authorization", "Bearer"),
            "missing_credentials",
        ),
        (
            "token without a scheme",
            req(R, "POST", "/webhooks/transactional").authorization(WEBHOOK_TOKEN, WEBHOOK_TOKEN),
            "missing_credentials",
        ),
        (
            "wrong static token",
            req(R, "POST", "/webhooks/transactional").bearer("not-the-webhook-token-at-all"),
            "invalid_token",
        ),
        (
            "token differing in case",
            req(R, "POST", "/webhooks/transactional").bearer(&WEBHOOK_TOKEN.to_uppercase()),
            "invalid_token",
        ),
        (
            "admin token",
            req(R, "POST", "/webhooks/transactional").bearer(ADMIN_TOKEN),
            "invalid_token",
        ),
        (
            "OAuth client secret as a token",
            req(R, "POST", "/webhooks/transactional").bearer(OAUTH_CLIENT_SECRET),
            "invalid_token",
        ),
        (
            "16 KB token",
            req(R, "POST", "/webhooks/transactional").bearer(&"t".repeat(16 * 1024)),
            "invalid_token",
        ),
        (
            "token with bytes that are not ASCII",
            req(R, "POST", "/webhooks/transactional").authorization(
                [b"Bearer ".as_slice(), WEBHOOK_TOKEN.as_bytes(), b"\xff"].concat(),
                WEBHOOK_TOKEN,
            ),
            "invalid_token",
        ),
        (
            "wrong token, then the right one",
            req(R, "POST", "/webhooks/transactional")
                .bearer("not-the-webhook-token-at-all")
                .bearer(WEBHOOK_TOKEN),
            "invalid_token",
        ),
        (
            "right token, then a wrong one",
            req(R, "POST", "/webhooks/transactional")
                .bearer(WEBHOOK_TOKEN)
                .bearer("not-the-webhook-token-at-all"),
            "invalid_token",
        ),
        (
            "encoded CRLF in the token",
            req(R, "POST", "/webhooks/transactional").bearer("x%0D%0AX-Injected:%201-0123456789"),
            "invalid_token",
        ),
        (
            "expired access token",
            req(R, "POST", "/webhooks/transactional").bearer(&tokens.signed(
                tokens.claims_with(json!({"iat": tokens.now - 7200, "exp": tokens.now - 3600})),
            )),
            "invalid_token",
        ),
        (
            "access token for another audience",
            req(R, "POST", "/webhooks/transactional")
                .bearer(&tokens.signed(tokens.claims_with(json!({"aud": "someone-else"})))),
            "invalid_token",
        ),
        (
            "access token from another issuer",
            req(R, "POST", "/webhooks/transactional")
                .bearer(&tokens.signed(tokens.claims_with(json!({"iss": "someone-else"})))),
            "invalid_token",
        ),
        (
            "access token without the delivery scope",
            req(R, "POST", "/webhooks/transactional")
                .bearer(&tokens.signed(tokens.claims_with(json!({"scope": "whatsapp.read"})))),
            "invalid_token",
        ),
        (
            "access token with the scope as a list",
            req(R, "POST", "/webhooks/transactional")
                .bearer(&tokens.signed(tokens.claims_with(json!({"scope": ["webhook.write"]})))),
            "invalid_token",
        ),
        (
            "access token without exp",
            req(R, "POST", "/webhooks/transactional")
                .bearer(&tokens.signed(tokens.claims_with(json!({"exp": null})))),
            "invalid_token",
        ),
        (
            "access token with exp as text",
            req(R, "POST", "/webhooks/transactional").bearer(
                &tokens.signed(tokens.claims_with(json!({"exp": (tokens.now + 3600).to_string()}))),
            ),
            "invalid_token",
        ),
        (
            "access token with a huge exp",
            req(R, "POST", "/webhooks/transactional")
                .bearer(&tokens.signed(tokens.claims_with(json!({"exp": 1e300})))),
            "invalid_token",
        ),
        (
            "access token signed with another key",
            req(R, "POST", "/webhooks/transactional").bearer(&Tokens::sign(
                &Tokens::header(),
                &tokens.claims(),
                b"another-signing-key-0123456789abcdef",
            )),
            "invalid_token",
        ),
        (
            "access token naming an unknown key",
            req(R, "POST", "/webhooks/transactional").bearer(&Tokens::sign(
                &json!({"alg": "HS256", "kid": "../../other"}),
                &tokens.claims(),
                SIGNING_KEY_SECRET,
            )),
            "invalid_token",
        ),
        (
            "access token naming no key",
            req(R, "POST", "/webhooks/transactional").bearer(&Tokens::sign(
                &json!({"alg": "HS256"}),
                &tokens.claims(),
                SIGNING_KEY_SECRET,
            )),
            "invalid_token",
        ),
        (
            "access token with alg none",
            req(R, "POST", "/webhooks/transactional").bearer(&{
                let signed = Tokens::sign(
                    &json!({"alg": "none", "kid": SIGNING_KEY_ID}),
                    &tokens.claims(),
                    SIGNING_KEY_SECRET,
                );
                let unsigned = signed.rsplit_once('.').map_or("", |(m, _)| m);
                format!("{unsigned}.")
            }),
            "invalid_token",
        ),
        (
            "access token claiming HS512",
            req(R, "POST", "/webhooks/transactional").bearer(&Tokens::sign(
                &json!({"alg": "HS512", "kid": SIGNING_KEY_ID}),
                &tokens.claims(),
                SIGNING_KEY_SECRET,
            )),
            "invalid_token",
        ),
        (
            "access token claiming RS256",
            req(R, "POST", "/webhooks/transactional").bearer(&Tokens::sign(
                &json!({"alg": "RS256", "kid": SIGNING_KEY_ID}),
                &tokens.claims(),
                SIGNING_KEY_SECRET,
            )),
            "invalid_token",
        ),
        (
            "access token with tampered claims",
            req(R, "POST", "/webhooks/transactional").bearer(&{
                let good = tokens.valid();
                let forged = Tokens::sign(
                    &Tokens::header(),
                    &tokens.claims_with(json!({"sub": "evil", "client_id": "evil"})),
                    SIGNING_KEY_SECRET,
                );
                let signature = good.rsplit('.').next().unwrap_or_default();
                let unsigned = forged.rsplit_once('.').map_or("", |(m, _)| m);
                format!("{unsigned}.{signature}")
            }),
            "invalid_token",
        ),
        (
            "access token without its signature",
            req(R, "POST", "/webhooks/transactional").bearer(&{
                let good = tokens.valid();
                let unsigned = good.rsplit_once('.').map_or("", |(m, _)| m).to_owned();
                format!("{unsigned}.")
            }),
            "invalid_token",
        ),
        (
            "access token with a fourth part",
            req(R, "POST", "/webhooks/transactional").bearer(&format!("{}.AAAA", tokens.valid())),
            "invalid_token",
        ),
        (
            "three parts that are not base64",
            req(R, "POST", "/webhooks/transactional").bearer("not.a-jwt!.at-all-0123"),
            "invalid_token",
        ),
        (
            "header part that is not JSON",
            req(R, "POST", "/webhooks/transactional").bearer(&format!(
                "{}.{}",
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("{\"alg\":"),
                tokens.valid().split_once('.').map_or("", |(_, rest)| rest)
            )),
            "invalid_token",
        ),
    ];
    cases.extend(unauthorized.into_iter().map(|(name, request, code)| {
        let challenge = if code == "invalid_token" {
            "Bearer error=\"invalid_token\""
        } else {
            "Bearer"
        };
        request.body(&delivery).expect(
            format!("receiver: {name}"),
            fails(401, code).with_header("www-authenticate", challenge),
        )
    }));
    cases.push(
        req(R, "POST", "/webhooks/verify")
            .bearer(&tokens.valid())
            .body("{\"entry\": [")
            .expect(
                "receiver: valid access token, broken body",
                fails(400, "invalid_json"),
            ),
    );
    cases.push(
        req(R, "POST", "/webhooks/verify")
            .bearer("not-the-webhook-token-at-all")
            .body(format!("{{\"pad\":\"{}\"}}", "x".repeat(2 * 1024 * 1024)))
            .expect(
                "receiver: credentials are checked before the size",
                fails(401, "invalid_token"),
            ),
    );
    cases
}

fn protocol_cases() -> Vec<Case> {
    use Family::Receiver as R;
    let delivery = good_delivery();
    let framed = |head: &str| crate::raw_http::request(head.as_bytes(), delivery.as_bytes());
    vec![
        raw(R, "http: not a request line", b"GARBAGE\r\n\r\n", bare(400)),
        raw(
            R,
            "http: space in the target",
            framed("POST /webhooks/ver ify HTTP/1.1\r\n"),
            bare(400),
        ),
        raw(
            R,
            "http: unknown version",
            framed("POST /webhooks/verify HTTP/9.9\r\n"),
            bare(400),
        ),
        raw(
            R,
            "http: bare CR inside a header value",
            framed("POST /webhooks/verify HTTP/1.1\r\nX-A: a\rX-Injected: 1\r\n"),
            bare(400),
        ),
        raw(
            R,
            "http: NUL in a header value",
            framed(&format!(
                "POST /webhooks/verify HTTP/1.1\r\nAuthorization: Bearer {WEBHOOK_TOKEN}\0x\r\n"
            )),
            bare(400),
        ),
        raw(
            R,
            "http: folded header line",
            framed("POST /webhooks/verify HTTP/1.1\r\nX-A: a\r\n  X-Injected: 1\r\n"),
            bare(400),
        ),
        raw(
            R,
            "http: space in a header name",
            framed("POST /webhooks/verify HTTP/1.1\r\nX Injected: 1\r\n"),
            bare(400),
        ),
        raw(
            R,
            "http: header without a colon",
            framed("POST /webhooks/verify HTTP/1.1\r\nX-Injected\r\n"),
            bare(400),
        ),
        raw(
            R,
            "http: two different Content-Lengths",
            "POST /webhooks/verify HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
            bare(400),
        ),
        raw(
            R,
            "http: Content-Length that is not a number",
            "POST /webhooks/verify HTTP/1.1\r\nHost: x\r\nContent-Length: 2x\r\n\r\n{}",
            bare(400),
        ),
        raw(
            R,
            "http: negative Content-Length",
            "POST /webhooks/verify HTTP/1.1\r\nHost: x\r\nContent-Length: -2\r\n\r\n{}",
            bare(400),
        ),
        // RFC 9112 6.3: Transfer-Encoding wins (hyper drops Content-Length and closes the
        // connection after the answer, so nothing is left to smuggle a second request in).
        raw(
            R,
            "http: Content-Length and chunked together",
            format!(
                "POST /webhooks/verify HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {WEBHOOK_TOKEN}\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}",
                "b\r\n{\"entry\": [\r\n0\r\n\r\n"
            ),
            fails(400, "invalid_json"),
        ),
        raw(
            R,
            "http: unknown transfer coding",
            "POST /webhooks/verify HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n{}",
            bare(400),
        ),
        raw(
            R,
            "http: target over 64 KiB",
            framed(&format!(
                "POST /webhooks/{} HTTP/1.1\r\n",
                "v".repeat(70 * 1024)
            )),
            bare(414),
        ),
        raw(
            R,
            "http: 200 headers",
            framed(&format!(
                "POST /webhooks/verify HTTP/1.1\r\n{}",
                (0..200)
                    .map(|i| format!("X-H{i}: {i}\r\n"))
                    .collect::<String>()
            )),
            bare(431),
        ),
    ]
}

fn oauth_cases() -> Vec<Case> {
    use Family::OAuth as O;
    let token = || req(O, "POST", "/oauth/token");
    let good_client = format!("client_id={OAUTH_CLIENT_ID}&client_secret={OAUTH_CLIENT_SECRET}");
    let basic_challenge =
        |code| fails(401, code).with_header("www-authenticate", "Basic realm=\"oauth\"");
    vec![
        req(O, "GET", "/oauth/token")
            .expect("oauth: GET", fails(405, "method_not_allowed")),
        req(O, "PUT", "/oauth/token")
            .form("grant_type=client_credentials")
            .expect("oauth: PUT", fails(405, "method_not_allowed")),
        req(O, "POST", "/oauth/authorize")
            .form("grant_type=client_credentials")
            .expect("oauth: unknown route", fails(404, "not_found")),
        req(O, "POST", "/oauth/token/extra")
            .form("grant_type=client_credentials")
            .expect("oauth: extra segment", fails(404, "not_found")),
        req(O, "POST", "/oauth/../manage/webhooks")
            .form("grant_type=client_credentials")
            .expect("oauth: dot segments", fails(404, "not_found")),
        token().expect("oauth: empty body", fails(400, "invalid_request")),
        token()
            .form(&good_client)
            .secret(OAUTH_CLIENT_SECRET)
            .expect("oauth: no grant_type", fails(400, "invalid_request")),
        token()
            .form(&format!("grant_type=password&{good_client}&username=u&password=p"))
            .secret(OAUTH_CLIENT_SECRET)
            .expect("oauth: password grant", fails(400, "unsupported_grant_type")),
        token()
            .form("grant_type=client_credentials")
            .expect("oauth: no client authentication", fails(401, "invalid_client")),
        token()
            .form(&format!(
                "grant_type=client_credentials&client_id={}&client_secret={OAUTH_CLIENT_SECRET}",
                "i".repeat(3_000)
            ))
            .secret(OAUTH_CLIENT_SECRET)
            .expect("oauth: client_id over 256 bytes", fails(401, "invalid_client")),
        token()
            .form(&format!(
                "grant_type=refresh_token&refresh_token={}&{good_client}",
                "r".repeat(3_000)
            ))
            .secret(OAUTH_CLIENT_SECRET)
            .expect("oauth: refresh token over 512 bytes", fails(400, "invalid_grant")),
        token()
            .form(&format!(
                "grant_type=client_credentials&client_id={OAUTH_CLIENT_ID}&client_secret=wrong-secret-0123456789abcdef"
            ))
            .secret("wrong-secret-0123456789abcdef")
            .expect("oauth: wrong secret", fails(401, "invalid_client")),
        token()
            .form(&format!(
                "grant_type=client_credentials&client_id=nobody&client_secret={OAUTH_CLIENT_SECRET}"
            ))
            .secret(OAUTH_CLIENT_SECRET)
            .expect("oauth: unknown client", fails(401, "invalid_client")),
        token()
            .form(&format!(
                "grant_type=client_credentials&client_id={OAUTH_CLIENT_ID}&client_secret={}",
                "s".repeat(1024 * 1024)
            ))
            .expect("oauth: 1 MiB secret", fails(401, "invalid_client")),
        token()
            .basic(OAUTH_CLIENT_ID, "wrong-secret-0123456789abcdef")
            .form("grant_type=client_credentials")
            .expect("oauth: Basic, wrong secret", basic_challenge("invalid_client")),
        token()
            .authorization("Basic %%%not-base64%%%", "%%%not-base64%%%")
            .form("grant_type=client_credentials")
            .expect("oauth: Basic that is not base64", basic_challenge("invalid_client")),
        token()
            .authorization(
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode("no-colon-0123456789")
                ),
                "no-colon-0123456789",
            )
            .form("grant_type=client_credentials")
            .expect("oauth: Basic without a colon", basic_challenge("invalid_client")),
        token()
            .authorization(
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(b"id:\xff\xfe-secret")
                ),
                "\u{fffd}",
            )
            .form("grant_type=client_credentials")
            .expect(
                "oauth: Basic that is not UTF-8",
                basic_challenge("invalid_client"),
            ),
        token()
            .basic(OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET)
            .form(&format!(
                "grant_type=client_credentials&client_secret={OAUTH_CLIENT_SECRET}"
            ))
            .expect(
                "oauth: Basic and a secret in the body",
                fails(400, "invalid_request"),
            ),
        token()
            .basic(OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET)
            .form("grant_type=client_credentials&client_id=someone-else")
            .expect(
                "oauth: Basic and another client_id in the body",
                fails(400, "invalid_request"),
            ),
        token()
            .form(&format!(
                "grant_type=client_credentials&grant_type=client_credentials&{good_client}"
            ))
            .secret(OAUTH_CLIENT_SECRET)
            .expect("oauth: repeated form parameter", fails(400, "invalid_request")),
        token()
            .header("Content-Type", "application/json")
            .body(format!(
                "{{\"grant_type\": \"client_credentials\", \"client_id\": \"{OAUTH_CLIENT_ID}\", \"client_secret\": \"{OAUTH_CLIENT_SECRET}\", \"client_id\": \"someone-else\"}}"
            ))
            .secret(OAUTH_CLIENT_SECRET)
            .expect("oauth: repeated JSON key", fails(400, "invalid_request")),
        token()
            .header("Content-Type", "application/json")
            .body("{\"grant_type\": \"client_cre")
            .expect("oauth: truncated JSON", fails(400, "invalid_request")),
        token()
            .header("Content-Type", "application/json")
            .body("[\"grant_type\", \"client_credentials\"]")
            .expect("oauth: JSON array", fails(400, "invalid_request")),
        token()
            .header("Content-Type", "application/json")
            .body(format!("{{\"grant_type\": {}}}", nested(100_000, "", true)))
            .expect("oauth: JSON nested 100000 deep", fails(400, "invalid_request")),
        token()
            .header("Content-Type", "application/json")
            .body("{\"grant_type\": \"client_credentials\", \"expires\": 1e999}")
            .expect("oauth: JSON number beyond f64", fails(400, "invalid_request")),
        token()
            .header("Content-Type", "application/json")
            .body(b"{\"grant_type\": \"client_credentials\xff\"}")
            .expect("oauth: JSON that is not UTF-8", fails(400, "invalid_request")),
        token()
            .header("Content-Type", "text/plain")
            .body(format!("grant_type=client_credentials&{good_client}"))
            .secret(OAUTH_CLIENT_SECRET)
            .expect("oauth: text/plain", fails(400, "invalid_request")),
        token()
            .header("Content-Type", "multipart/form-data; boundary=b")
            .body("--b\r\nContent-Disposition: form-data; name=\"grant_type\"\r\n\r\nclient_credentials\r\n--b--\r\n")
            .expect("oauth: multipart", fails(400, "invalid_request")),
        token()
            .header("Content-Type", "application/json")
            .body(format!("grant_type=client_credentials&{good_client}"))
            .secret(OAUTH_CLIENT_SECRET)
            .expect("oauth: form body sent as JSON", fails(400, "invalid_request")),
        token()
            .header("Content-Type", "APPLICATION/JSON; Charset=UTF-8")
            .body(format!(
                "{{\"grant_type\": \"client_credentials\", \"client_id\": \"{OAUTH_CLIENT_ID}\", \"client_secret\": \"wrong-secret-0123456789abcdef\"}}"
            ))
            .secret("wrong-secret-0123456789abcdef")
            .expect(
                "oauth: media type in capitals is still JSON",
                fails(401, "invalid_client"),
            ),
        token()
            .form(&format!(
                "grant_type=client_credentials&client_id={OAUTH_CLIENT_ID}&client_secret=wrong\u{0}-secret-%FF%FE"
            ))
            .expect("oauth: form secret that is not UTF-8", fails(401, "invalid_client")),
        token()
            .form(&format!("grant_type=client_credentials&{good_client}&scope=admin"))
            .secret(OAUTH_CLIENT_SECRET)
            .expect("oauth: scope not allowed", fails(400, "invalid_scope")),
        token()
            .form(&format!("grant_type=refresh_token&{good_client}"))
            .secret(OAUTH_CLIENT_SECRET)
            .expect("oauth: refresh without a token", fails(400, "invalid_request")),
        token()
            .form(&format!(
                "grant_type=refresh_token&{good_client}&refresh_token=unknown-refresh-token-0123"
            ))
            .secret(OAUTH_CLIENT_SECRET)
            .secret("unknown-refresh-token-0123")
            .expect("oauth: unknown refresh token", fails(400, "invalid_grant")),
        req(O, "POST", "/oauth/revoke")
            .form(&good_client)
            .secret(OAUTH_CLIENT_SECRET)
            .expect("oauth: revoke without a token", fails(400, "invalid_request")),
        req(O, "POST", "/oauth/revoke")
            .form(&format!(
                "token=unknown-refresh-token-0123&client_id={OAUTH_CLIENT_ID}&client_secret=wrong-secret-0123456789abcdef"
            ))
            .secret("wrong-secret-0123456789abcdef")
            .expect("oauth: revoke with a wrong secret", fails(401, "invalid_client")),
        req(O, "POST", "/oauth/revoke")
            .form(&format!("token=unknown-refresh-token-0123&{good_client}"))
            .secret(OAUTH_CLIENT_SECRET)
            .expect("oauth: revoke an unknown token", bare(200)),
        token()
            .header("Transfer-Encoding", "chunked")
            .unframed()
            .body("zz\r\ngrant_type=client_credentials\r\n0\r\n\r\n")
            .expect("oauth: bad chunk size", fails(400, "invalid_request")),
    ]
}

fn query_cases(tokens: &Tokens) -> Vec<Case> {
    use Family::Query as Q;
    let get = |target: &str| req(Q, "GET", target).admin();
    vec![
        req(Q, "GET", "/messages/wamid.hostile")
            .expect("query: no credentials", fails(401, "missing_credentials")),
        req(Q, "GET", "/events?key=whatsapp-hostile")
            .bearer(WEBHOOK_TOKEN)
            .expect("query: webhook token", fails(401, "invalid_token")),
        req(Q, "GET", "/events?key=whatsapp-hostile")
            .bearer(&tokens.valid())
            .expect("query: delivery access token", fails(401, "invalid_token")),
        req(Q, "GET", "/messages/wamid.hostile")
            .authorization(
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD
                        .encode(format!("admin:{ADMIN_TOKEN}"))
                ),
                ADMIN_TOKEN,
            )
            .expect(
                "query: admin token over Basic",
                fails(401, "missing_credentials"),
            ),
        req(Q, "GET", "/messages/wamid.hostile")
            .admin()
            .bearer("not-the-admin-token-at-all")
            .expect(
                "query: admin token, then a wrong one",
                fails(401, "invalid_token"),
            ),
        req(Q, "POST", "/messages/wamid.hostile")
            .admin()
            .body("{}")
            .expect("query: POST a message", fails(405, "method_not_allowed")),
        req(Q, "DELETE", "/events?key=whatsapp-hostile")
            .admin()
            .expect("query: DELETE events", fails(405, "method_not_allowed")),
        get("/messages").expect("query: no message id", fails(404, "not_found")),
        get("/messages/").expect("query: empty message id", fails(404, "not_found")),
        get("/messages/a/b").expect("query: extra segment", fails(404, "not_found")),
        get("/events/extra").expect("query: segment after events", fails(404, "not_found")),
        get("/contacts/905551112233")
            .expect("query: contact without messages", fails(404, "not_found")),
        get("/contacts//messages").expect("query: empty contact", fails(404, "not_found")),
        get("/contacts/905551112233/messages/x").expect(
            "query: segment after a conversation",
            fails(404, "not_found"),
        ),
        get("/contacts/905551112233/messages?limit=0").expect(
            "query: conversation limit 0",
            fails(400, "invalid_parameter"),
        ),
        get("/contacts/905551112233/messages?cursor=AAAA").expect(
            "query: forged conversation cursor",
            fails(400, "invalid_cursor"),
        ),
        get("/stats").expect(
            "query: stats without since",
            fails(400, "missing_parameter"),
        ),
        get("/stats?since=yesterday")
            .expect("query: stats since a word", fails(400, "invalid_parameter")),
        get("/stats?since=1700000000&until=1600000000").expect(
            "query: stats ending before they start",
            fails(400, "invalid_parameter"),
        ),
        get("/stats/extra").expect("query: segment after stats", fails(404, "not_found")),
        req(Q, "POST", "/stats?since=1700000000")
            .admin()
            .body("{}")
            .expect("query: POST stats", fails(405, "method_not_allowed")),
        get("/messages/wamid.unknown")
            .expect("query: unknown message", fails(404, "message_not_found")),
        get("/messages/%FF%FE%00").expect(
            "query: id that is not UTF-8",
            fails(404, "message_not_found"),
        ),
        get("/messages/..%2F..%2Fetc%2Fpasswd").expect(
            "query: traversal in the id",
            fails(404, "message_not_found"),
        ),
        get("/messages/wamid.hostile%0D%0ASet-Cookie:%20a=b%0D%0AX-Injected:%201")
            .expect("query: CRLF in the id", fails(404, "message_not_found")),
        get(&format!("/messages/{}", "w".repeat(8000)))
            .expect("query: 8000-byte id", fails(404, "message_not_found")),
        get("/messages/'%20OR%20'1'='1")
            .expect("query: SQL in the id", fails(404, "message_not_found")),
        get("/events").expect("query: no key", fails(400, "missing_parameter")),
        get("/events?key=").expect("query: empty key", fails(400, "missing_parameter")),
        // Parameter names are exact: an unknown one is refused, not ignored.
        get("/events?KEY=whatsapp-hostile")
            .expect("query: key in capitals", fails(400, "invalid_parameter")),
        get("/events?key=whatsapp-hostile&limit=0")
            .expect("query: limit 0", fails(400, "invalid_parameter")),
        get("/events?key=whatsapp-hostile&limit=1001")
            .expect("query: limit over 1000", fails(400, "invalid_parameter")),
        get("/events?key=whatsapp-hostile&limit=-1")
            .expect("query: negative limit", fails(400, "invalid_parameter")),
        get("/events?key=whatsapp-hostile&limit=1e3").expect(
            "query: limit with an exponent",
            fails(400, "invalid_parameter"),
        ),
        get("/events?key=whatsapp-hostile&limit=99999999999999999999999999").expect(
            "query: limit beyond 64 bits",
            fails(400, "invalid_parameter"),
        ),
        // An empty value counts as left out (README, listing parameters); a fraction does not.
        get("/events?key=whatsapp-hostile&limit=1.5")
            .expect("query: fractional limit", fails(400, "invalid_parameter")),
        get("/events?key=whatsapp-hostile&limit=%00")
            .expect("query: NUL limit", fails(400, "invalid_parameter")),
        get("/events?key=whatsapp-hostile&limit=5%0D%0ASet-Cookie:%20a=b")
            .expect("query: CRLF in the limit", fails(400, "invalid_parameter")),
        req(Q, "GET", "/stalled?key=whatsapp-hostile")
            .expect("stalled: no credentials", fails(401, "missing_credentials")),
        get("/stalled?key=whatsapp-hostile&hours=1e3").expect(
            "stalled: hours with an exponent",
            fails(400, "invalid_parameter"),
        ),
        get("/stalled?key=whatsapp-hostile&status=read").expect(
            "stalled: a step a report follows no more",
            fails(400, "invalid_parameter"),
        ),
        req(Q, "DELETE", "/contacts/905551112233")
            .expect("erasure: no credentials", fails(401, "missing_credentials")),
        req(Q, "DELETE", "/contacts/905551112233")
            .bearer(WEBHOOK_TOKEN)
            .expect("erasure: webhook token", fails(401, "invalid_token")),
        req(Q, "DELETE", "/contacts/905551112233?limit=1000")
            .admin()
            .expect("erasure: limit over 100", fails(400, "invalid_parameter")),
        req(Q, "DELETE", "/contacts/905551112233?limit=1&limit=2")
            .admin()
            .expect("erasure: repeated limit", fails(400, "invalid_parameter")),
        // Replay publishes: behind the same credentials, POST only, the listing's parameters.
        req(Q, "POST", "/replay/messages/wamid.hostile")
            .expect("replay: no credentials", fails(401, "missing_credentials")),
        req(Q, "POST", "/replay/events?key=whatsapp-hostile")
            .bearer(WEBHOOK_TOKEN)
            .expect("replay: webhook token", fails(401, "invalid_token")),
        get("/replay/events?key=whatsapp-hostile")
            .expect("replay: GET", fails(405, "method_not_allowed")),
        req(Q, "POST", "/replay/events")
            .admin()
            .expect("replay: no window or key", fails(400, "missing_parameter")),
        req(
            Q,
            "POST",
            "/replay/events?key=whatsapp-hostile&format=ndjson",
        )
        .admin()
        .expect("replay: an export format", fails(400, "invalid_parameter")),
        req(
            Q,
            "POST",
            "/replay/events?key=whatsapp-hostile&cursor=forged",
        )
        .admin()
        .expect("replay: forged cursor", fails(400, "invalid_cursor")),
        req(Q, "POST", "/replay/contacts/905551112233")
            .admin()
            .expect("replay: unknown route", fails(404, "not_found")),
        req(Q, "POST", "/replay/messages/wamid.hostile")
            .admin()
            .expect(
                "replay: no downstream target (local stack without one)",
                fails(503, "replay_not_configured"),
            ),
    ]
}

/// A create body relying on every default, as the management tests write it.
fn webhook(changes: &[(&str, Value)]) -> Value {
    let mut body = crate::manage::minimal_webhook("transactional", &["sent"]);
    for (name, value) in changes {
        body[*name] = value.clone();
    }
    body
}

/// A create body whose `oauth2` is a client_credentials grant of an hour with `changes` merged in.
fn webhook_oauth2(changes: Value) -> Value {
    let mut oauth2 = json!({"grantType": "client_credentials", "expiresIn": 3600});
    if let (Some(oauth2), Value::Object(changes)) = (oauth2.as_object_mut(), changes) {
        oauth2.extend(changes);
    }
    webhook(&[("oauth2", oauth2)])
}

/// A create body with `expiresIn` written as a JSON number no f64 holds.
const EXPIRES_IN_BEYOND_F64: &str = r#"{"authType": "oauth2", "subProduct": "transactional", "events": ["sent"], "oauth2": {"grantType": "client_credentials", "expiresIn": 1e999}}"#;

fn manage_cases(tokens: &Tokens) -> Vec<Case> {
    use Family::Manage as M;
    let create = || req(M, "POST", format!("/manage/webhooks?phoneNumber={SENDER}")).admin();
    let invalid = || fails(400, "validation_failed");
    let secret_as_number = webhook_oauth2(json!({
        "clientId": "partner",
        "clientSecret": 123_456_789_012_345_u64,
    }));
    let refresh_with_client_credentials = webhook_oauth2(json!({
        "clientId": "partner",
        "clientSecret": "partner-secret-0123456789",
        "refreshToken": "partner-refresh-0123456789",
    }));
    let full_width_phone = format!(
        "/manage/webhooks?phoneNumber={}",
        "%EF%BC%91%EF%BC%95".repeat(4)
    );
    let long_url = webhook(&[(
        "webhookUrl",
        json!(format!("https://a.example/{}", "p".repeat(71_680))),
    )]);
    vec![
        req(M, "GET", format!("/manage/webhooks?phoneNumber={SENDER}"))
            .expect("manage: no credentials", fails(401, "missing_credentials")),
        req(M, "GET", format!("/manage/webhooks?phoneNumber={SENDER}"))
            .bearer(WEBHOOK_TOKEN)
            .expect("manage: webhook token", fails(401, "invalid_token")),
        req(M, "GET", format!("/manage/webhooks?phoneNumber={SENDER}"))
            .bearer(&tokens.valid())
            .expect("manage: delivery access token", fails(401, "invalid_token")),
        req(M, "GET", "/manage/credentials")
            .bearer(WEBHOOK_TOKEN)
            .expect(
                "manage: credentials with the webhook token",
                fails(401, "invalid_token"),
            ),
        req(M, "DELETE", "/manage/credentials/insider-00000000").expect(
            "manage: withdrawal without credentials",
            fails(401, "missing_credentials"),
        ),
        req(M, "DELETE", "/manage/credentials/insider-00000000")
            .admin()
            .expect(
                "manage: withdrawal of an unknown client",
                fails(404, "credential_not_found"),
            ),
        req(
            M,
            "DELETE",
            format!("/manage/credentials/{}", "c".repeat(4096)),
        )
        .admin()
        .expect(
            "manage: withdrawal of a 4 KB client id",
            fails(404, "credential_not_found"),
        ),
        req(M, "DELETE", "/manage/credentials").admin().expect(
            "manage: withdrawal without a client id",
            fails(405, "method_not_allowed").with_header("allow", "GET"),
        ),
        req(M, "POST", "/manage/credentials/insider-00000000")
            .admin()
            .expect(
                "manage: another method on a client",
                fails(405, "method_not_allowed").with_header("allow", "DELETE"),
            ),
        req(M, "GET", "/manage")
            .admin()
            .expect("manage: bare prefix", fails(404, "not_found")),
        req(M, "GET", "/manage/other")
            .admin()
            .expect("manage: unknown route", fails(404, "not_found")),
        req(M, "POST", "/manage/settings")
            .admin()
            .body("{}")
            .expect("manage: settings without a type", fails(404, "not_found")),
        req(M, "POST", "/manage/settings/conversational/v2")
            .admin()
            .body("{}")
            .expect("manage: unknown settings version", fails(404, "not_found")),
        req(
            M,
            "PUT",
            format!("/manage/webhooks/84/extra?phoneNumber={SENDER}"),
        )
        .admin()
        .body("{}")
        .expect("manage: extra segment", fails(404, "not_found")),
        req(
            M,
            "GET",
            "/manage/webhooks/%2e%2e/%2e%2e/settings/transactional",
        )
        .admin()
        .expect("manage: encoded dot segments", fails(404, "not_found")),
        req(M, "PATCH", format!("/manage/webhooks?phoneNumber={SENDER}"))
            .admin()
            .body("{}")
            .expect("manage: PATCH", fails(405, "method_not_allowed")),
        req(
            M,
            "DELETE",
            format!("/manage/webhooks?phoneNumber={SENDER}"),
        )
        .admin()
        .expect(
            "manage: DELETE without an id",
            fails(405, "method_not_allowed"),
        ),
        req(M, "GET", "/manage/settings/transactional")
            .admin()
            .expect("manage: GET settings", fails(405, "method_not_allowed")),
        req(
            M,
            "POST",
            format!("/manage/webhooks/84?phoneNumber={SENDER}"),
        )
        .admin()
        .body("{}")
        .expect(
            "manage: POST to a webhook id",
            fails(405, "method_not_allowed"),
        ),
        req(M, "GET", "/manage/webhooks")
            .admin()
            .expect("manage: no phone number", invalid()),
        req(M, "GET", "/manage/webhooks?phoneNumber=abc")
            .admin()
            .expect("manage: letters as phone number", invalid()),
        req(M, "GET", "/manage/webhooks?phoneNumber=1234567890123456")
            .admin()
            .expect("manage: 16-digit phone number", invalid()),
        req(
            M,
            "GET",
            "/manage/webhooks?phoneNumber=%0D%0ASet-Cookie:%20a=b",
        )
        .admin()
        .expect("manage: CRLF as phone number", invalid()),
        req(M, "GET", full_width_phone)
            .admin()
            .expect("manage: full-width digits", invalid()),
        req(
            M,
            "DELETE",
            format!("/manage/webhooks/0?phoneNumber={SENDER}"),
        )
        .admin()
        .expect("manage: webhook id 0", invalid()),
        req(
            M,
            "DELETE",
            format!("/manage/webhooks/-1?phoneNumber={SENDER}"),
        )
        .admin()
        .expect("manage: negative webhook id", invalid()),
        req(
            M,
            "DELETE",
            format!("/manage/webhooks/99999999999999999999999?phoneNumber={SENDER}"),
        )
        .admin()
        .expect("manage: webhook id beyond 64 bits", invalid()),
        req(
            M,
            "DELETE",
            format!("/manage/webhooks/1e3?phoneNumber={SENDER}"),
        )
        .admin()
        .expect("manage: webhook id with an exponent", invalid()),
        req(
            M,
            "DELETE",
            format!("/manage/webhooks/%2e%2e?phoneNumber={SENDER}"),
        )
        .admin()
        .expect("manage: dot-dot as webhook id", invalid()),
        create()
            .header("Content-Type", "application/json")
            .body("{\"authType\": \"oauth2\", ")
            .expect("manage: truncated JSON", fails(400, "invalid_json")),
        create()
            .header("Content-Type", "application/json")
            .expect("manage: empty body", fails(400, "invalid_json")),
        create()
            .header("Content-Type", "application/json")
            .body("{\"webhookURL\": ")
            .expect(
                "manage: unknown field, then truncated",
                fails(400, "invalid_json"),
            ),
        create()
            .header("Content-Type", "application/json")
            .body(b"{\"authType\": \"oauth2\xff\"}")
            .expect("manage: JSON that is not UTF-8", fails(400, "invalid_json")),
        create()
            .header("Content-Type", "application/json")
            .body("{\"authType\": \"oauth2\"} {}")
            .expect("manage: two objects", fails(400, "invalid_json")),
        create()
            .form("authType=oauth2&subProduct=verify")
            .expect("manage: form body", fails(400, "invalid_json")),
        create()
            .json(&json!(["authType", "oauth2"]))
            .expect("manage: JSON array", invalid()),
        create()
            .json(&json!("oauth2"))
            .expect("manage: JSON string", invalid()),
        create()
            .header("Content-Type", "application/json")
            .body("{\"authType\": \"oauth2\", \"authType\": \"bearer\"}")
            .expect("manage: repeated key", invalid()),
        create()
            .header("Content-Type", "application/json")
            .body(format!("{{\"authType\": {}}}", nested(100_000, "", true)))
            .expect("manage: arrays nested 100000 deep in a field", invalid()),
        create()
            .header("Content-Type", "application/json")
            .body(format!(
                "{{\"oauth2\": {}}}",
                "{\"x\":".repeat(1000) + "1" + &"}".repeat(1000)
            ))
            .expect("manage: objects nested 1000 deep in a field", invalid()),
        create()
            .header("Content-Type", "application/json")
            .body(EXPIRES_IN_BEYOND_F64)
            .expect("manage: expiresIn beyond f64", invalid()),
        create()
            .json(&webhook_oauth2(
                json!({"expiresIn": 99_999_999_999_999_999_999.0_f64}),
            ))
            .expect("manage: expiresIn beyond 64 bits", invalid()),
        create()
            .json(&webhook_oauth2(json!({"expiresIn": -1})))
            .expect("manage: negative expiresIn", invalid()),
        create()
            .json(&secret_as_number)
            .secret("123456789012345")
            .expect("manage: client secret as a number", invalid()),
        create()
            .json(&refresh_with_client_credentials)
            .secret("partner-secret-0123456789")
            .secret("partner-refresh-0123456789")
            .expect("manage: refresh token with client_credentials", invalid()),
        create()
            .json(&webhook(&[("webhookUrl", json!("javascript:alert(1)"))]))
            .expect("manage: javascript URL", invalid()),
        create()
            .json(&webhook(&[(
                "webhookUrl",
                json!("http://127.0.0.1.evil.example/hook"),
            )]))
            .expect("manage: loopback-looking host", invalid()),
        create()
            .json(&webhook(&[(
                "webhookUrl",
                json!("http://localhost.evil.example/hook"),
            )]))
            .expect("manage: localhost-looking host", invalid()),
        create()
            .json(&webhook(&[(
                "webhookUrl",
                json!("https://a.example/hook\r\nX-Injected: 1"),
            )]))
            .expect("manage: CRLF in the URL", invalid()),
        create()
            .json(&long_url)
            .expect("manage: URL over 64 KiB", invalid()),
        create()
            .json(&webhook(&[(
                "webhookUrl",
                json!("https://exämple.com/hook"),
            )]))
            .expect("manage: URL with a non-ASCII host", invalid()),
        create()
            .json(&webhook(&[("events", json!(["sent", 5]))]))
            .expect("manage: number among the events", invalid()),
        create()
            .json(&webhook(&[("events", json!(["sent", "sent\u{0}"]))]))
            .expect("manage: NUL in an event name", invalid()),
        create()
            .json(&webhook(&[("__proto__", json!({"authType": "bearer"}))]))
            .expect("manage: unknown field", invalid()),
        req(
            M,
            "PUT",
            format!("/manage/webhooks/84?phoneNumber={SENDER}"),
        )
        .admin()
        .json(&webhook(&[]))
        .expect("manage: subProduct on update", invalid()),
        req(M, "POST", "/manage/settings/transactional")
            .admin()
            .json(&json!({"auth_type": "BEARER", "api_key": WEBHOOK_TOKEN}))
            .secret(WEBHOOK_TOKEN)
            .expect("manage: auth_type in capitals", invalid()),
        req(M, "POST", "/manage/settings/conversational")
            .admin()
            .json(&json!({"auth_type": "bearer", "api_key": ["a-key-in-a-list-0123"]}))
            .secret("a-key-in-a-list-0123")
            .expect("manage: api_key as a list", invalid()),
        req(M, "POST", "/manage/settings/conversational/v1")
            .admin()
            .json(&json!({"isActive": "true", "apiKey": 987_654_321_098_765_u64}))
            .secret("987654321098765")
            .expect("manage: V1 flag as text, key as a number", invalid()),
    ]
}

/// Access tokens of an external issuer the receiver trusts, each refused `invalid_token`: forged
/// algorithms, tampered parts, unknown and over-long key ids, stale and future tokens, the wrong
/// audience or scope.
pub fn trusted_issuer_cases(issuer: &TestIssuer) -> Vec<Case> {
    let encode =
        |value: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string());
    let now = i64::try_from(jsonwebtoken::get_current_timestamp()).unwrap_or(i64::MAX);
    let (rsa, ec) = (&issuer.rsa, &issuer.ec);
    let claims = issuer.claims();
    let good = rsa.token(&claims);
    let (good_head, good_rest) = good.split_once('.').unwrap_or_default();
    let good_signature = good_rest.rsplit_once('.').map_or("", |(_, s)| s);
    let tokens: Vec<(&str, String)> = vec![
        (
            "alg none",
            format!(
                "{}.{}.",
                encode(&json!({"alg": "none", "kid": "rsa-1"})),
                encode(&claims)
            ),
        ),
        (
            "HS256 signed with the published RSA key",
            hs256(
                &json!({"alg": "HS256", "kid": "rsa-1"}),
                &claims,
                &rsa.public_bytes(),
            ),
        ),
        (
            "HS256 signed with the published EC key",
            hs256(
                &json!({"alg": "HS256", "kid": "ec-1"}),
                &claims,
                &ec.public_bytes(),
            ),
        ),
        (
            "RS256 named on the EC key",
            rsa.sign(&json!({"alg": "RS256", "kid": "ec-1"}), &claims),
        ),
        (
            "ES256 named on the RSA key",
            ec.sign(&json!({"alg": "ES256", "kid": "rsa-1"}), &claims),
        ),
        (
            "tampered claims",
            format!(
                "{good_head}.{}.{good_signature}",
                encode(&issuer.claims_with(json!({"sub": "someone-else"})))
            ),
        ),
        (
            "tampered header",
            format!(
                "{}.{good_rest}",
                encode(&json!({"alg": "RS512", "kid": "rsa-1"}))
            ),
        ),
        (
            "signature cut off",
            format!("{good_head}.{}.", encode(&claims)),
        ),
        ("unknown kid", IssuerKey::ec("not-published").token(&claims)),
        (
            "over-long kid",
            rsa.sign(&json!({"alg": "RS256", "kid": "k".repeat(4096)}), &claims),
        ),
        ("no kid", rsa.sign(&json!({"alg": "RS256"}), &claims)),
        (
            "expired",
            rsa.token(&issuer.claims_with(json!({"iat": now - 7200, "exp": now - 3600}))),
        ),
        (
            "not valid yet",
            rsa.token(&issuer.claims_with(json!({"nbf": now + 3600}))),
        ),
        (
            "without exp",
            rsa.token(&issuer.claims_with(json!({"exp": null}))),
        ),
        (
            "another audience",
            rsa.token(&issuer.claims_with(json!({"aud": "someone-else"}))),
        ),
        (
            "without a delivery scope",
            rsa.token(&issuer.claims_with(json!({"scope": "openid whatsapp.read"}))),
        ),
        (
            "over 16 KB",
            rsa.token(&issuer.claims_with(json!({"pad": "p".repeat(16 * 1024)}))),
        ),
    ];
    tokens
        .into_iter()
        .map(|(name, token)| {
            req(Family::Receiver, "POST", "/webhooks/transactional")
                .bearer(&token)
                .body(good_delivery())
                .expect(
                    format!("receiver: trusted issuer's token, {name}"),
                    fails(401, "invalid_token")
                        .with_header("www-authenticate", "Bearer error=\"invalid_token\""),
                )
        })
        .collect()
}

/// Every HTTP case, family by family.
pub fn http_cases(tokens: &Tokens) -> Vec<Case> {
    let mut cases = receiver_cases(tokens);
    cases.extend(protocol_cases());
    cases.extend(oauth_cases());
    cases.extend(query_cases(tokens));
    cases.extend(manage_cases(tokens));
    cases
}

/// What only exists at the Lambda boundary: API Gateway's event, its base64 bodies and its raw
/// paths, through the Lambdas' own conversion.
pub fn lambda_cases() -> Vec<EventCase> {
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let delivery = good_delivery();
    let authorization = format!("Bearer {WEBHOOK_TOKEN}");
    let with_token = [("authorization", authorization.as_str())];
    let event = |name: &str,
                 family: Family,
                 (method, path, query): (&str, &str, &str),
                 headers: &[(&str, &str)],
                 (body, base64): (Option<&str>, bool),
                 expect: Expect| EventCase {
        name: format!("lambda: {name}"),
        family,
        event: crate::gateway::event(method, path, query, headers, body, base64),
        expect,
        secrets: headers
            .iter()
            .filter(|(name, _)| *name == "authorization")
            .map(|(_, value)| {
                value
                    .rsplit(' ')
                    .next()
                    .unwrap_or(value)
                    .as_bytes()
                    .to_vec()
            })
            .collect(),
    };
    let deliver = ("POST", "/webhooks/conversational", "");
    let token_route = ("POST", "/oauth/token", "");
    let oversized = b64(format!("{{\"pad\":\"{}\"}}", "x".repeat(1024 * 1024)).as_bytes());
    let long_path = format!("/webhooks/{}", "v".repeat(70 * 1024));
    vec![
        event(
            "body that is not base64",
            Family::Receiver,
            deliver,
            &with_token,
            (Some("%%% not base64 %%%"), true),
            fails(400, "invalid_body"),
        ),
        event(
            "base64 wrapped over lines",
            Family::Receiver,
            deliver,
            &with_token,
            (
                Some(
                    &b64(delivery.as_bytes())
                        .as_bytes()
                        .chunks(76)
                        .map(|c| String::from_utf8_lossy(c).into_owned())
                        .collect::<Vec<_>>()
                        .join("\r\n"),
                ),
                true,
            ),
            fails(400, "invalid_body"),
        ),
        event(
            "base64 without padding",
            Family::Receiver,
            deliver,
            &with_token,
            (Some(b64(b"{\"key\":\"x\"}").trim_end_matches('=')), true),
            fails(400, "invalid_body"),
        ),
        event(
            "URL-safe base64",
            Family::Receiver,
            deliver,
            &with_token,
            (
                Some(&base64::engine::general_purpose::URL_SAFE.encode(b"{\"key\":\"\xfb\xff\"}")),
                true,
            ),
            fails(400, "invalid_body"),
        ),
        event(
            "base64 of bytes that are not UTF-8",
            Family::Receiver,
            deliver,
            &with_token,
            (Some(&b64(b"{\"key\": \"\xff\xfe\"}")), true),
            fails(400, "invalid_json"),
        ),
        event(
            "base64 of a JSON array",
            Family::Receiver,
            deliver,
            &with_token,
            (Some(&b64(b"[1, 2]")), true),
            fails(400, "not_a_json_object"),
        ),
        event(
            "base64 body over 1 MiB",
            Family::Receiver,
            deliver,
            &with_token,
            (Some(&oversized), true),
            fails(413, "payload_too_large"),
        ),
        event(
            "base64 text not marked as base64",
            Family::Receiver,
            deliver,
            &with_token,
            (Some(&b64(delivery.as_bytes())), false),
            fails(400, "invalid_json"),
        ),
        event(
            "base64 body without credentials",
            Family::Receiver,
            deliver,
            &[],
            (Some("%%% not base64 %%%"), true),
            fails(400, "invalid_body"),
        ),
        event(
            "empty base64 body is a probe",
            Family::Receiver,
            deliver,
            &[],
            (Some(""), true),
            bare(200),
        ),
        event(
            "repeated Authorization, joined",
            Family::Receiver,
            deliver,
            &[(
                "authorization",
                &format!("Bearer {WEBHOOK_TOKEN},Bearer {WEBHOOK_TOKEN}"),
            )],
            (Some(&delivery), false),
            fails(401, "invalid_token"),
        ),
        event(
            "host and forwarded proto that make no URL",
            Family::Receiver,
            deliver,
            &[
                ("authorization", authorization.as_str()),
                ("host", "a b"),
                ("x-forwarded-proto", "1nvalid"),
            ],
            (Some("{\"entry\": ["), false),
            fails(400, "invalid_json"),
        ),
        event(
            "raw path with spaces and quotes",
            Family::Receiver,
            ("POST", "/webhooks/con versational\"<>", ""),
            &with_token,
            (Some(&delivery), false),
            fails(404, "not_found"),
        ),
        event(
            "raw path with dot segments",
            Family::Receiver,
            ("POST", "/webhooks/conversational/../verify", ""),
            &with_token,
            (Some(&delivery), false),
            fails(404, "not_found"),
        ),
        event(
            "raw path over 64 KiB",
            Family::Receiver,
            ("POST", &long_path, ""),
            &with_token,
            (Some(&delivery), false),
            fails(414, "uri_too_long"),
        ),
        event(
            "unknown method",
            Family::Receiver,
            ("FETCH", "/webhooks/verify", ""),
            &with_token,
            (Some(&delivery), false),
            fails(405, "method_not_allowed"),
        ),
        event(
            "query string with spaces and a bad escape",
            Family::Query,
            ("GET", "/events", "key=whatsapp hostile\"&limit=%zz"),
            &[],
            (None, false),
            fails(400, "invalid_parameter"),
        ),
        event(
            "query string with CRLF",
            Family::Query,
            ("GET", "/events", "key=\r\nX-Injected: 1&limit=\r\n5"),
            &[],
            (None, false),
            fails(400, "invalid_parameter"),
        ),
        event(
            "token request that is not base64",
            Family::OAuth,
            token_route,
            &[("content-type", "application/x-www-form-urlencoded")],
            (Some("grant_type=client_credentials%%%"), true),
            fails(400, "invalid_request"),
        ),
        event(
            "token request with a JSON body marked base64",
            Family::OAuth,
            token_route,
            &[("content-type", "application/json")],
            (Some("{\"grant_type\": \"client_credentials\"}"), true),
            fails(400, "invalid_request"),
        ),
    ]
}

/// Every row of every table of the embedded store in `dir`, in a stable order: the whole store,
/// so that "unchanged" means unchanged, not "the rows we thought of looking at".
pub fn store_snapshot(dir: &Path) -> Vec<(String, Vec<String>)> {
    let connection = rusqlite::Connection::open_with_flags(
        dir.join("events.sqlite3"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("the embedded store opens read-only");
    let tables: Vec<String> = connection
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .and_then(|mut statement| {
            statement
                .query_map([], |row| row.get(0))
                .and_then(Iterator::collect)
        })
        .expect("the store's tables");
    tables
        .into_iter()
        .map(|table| {
            let mut statement = connection
                .prepare(&format!("SELECT * FROM \"{table}\""))
                .expect("a table reads");
            let columns = statement.column_count();
            let mut rows: Vec<String> = statement
                .query_map([], |row| {
                    (0..columns)
                        .map(|i| row.get::<_, rusqlite::types::Value>(i))
                        .collect::<Result<Vec<_>, _>>()
                        .map(|values| format!("{values:?}"))
                })
                .and_then(Iterator::collect)
                .expect("rows read");
            rows.sort();
            (table, rows)
        })
        .collect()
}

/// The error code of an answer: `error.code`, or OAuth's `error`; `None` when the body is not
/// such a JSON error.
pub fn error_code(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    match &value["error"] {
        Value::String(code) => Some(code.clone()),
        error => error["code"].as_str().map(str::to_owned),
    }
}

/// Every way an answer departs from `expect`, or from what every answer owes: README's error
/// shape, its challenge and `Allow` headers, no header a request could have injected, and no
/// credential the request presented.
pub fn judge(
    expect: &Expect,
    secrets: &[Vec<u8>],
    status: u16,
    headers: &[(String, Vec<u8>)],
    body: &[u8],
) -> Vec<String> {
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    };
    let mut problems = Vec::new();
    if status != expect.status {
        problems.push(format!("status {status}, expected {}", expect.status));
    }
    match expect.code {
        Some(code) => {
            let got = error_code(body);
            if got.as_deref() != Some(code) {
                problems.push(format!("code {got:?}, expected {code:?}"));
            }
            if !header("content-type").is_some_and(|t| t.starts_with("application/json")) {
                problems.push("the error is not labelled application/json".into());
            }
            let value: Value = serde_json::from_slice(body).unwrap_or_default();
            let described = match &value["error"] {
                Value::String(_) => value["error_description"].as_str(),
                error => error["message"].as_str(),
            };
            if described.is_none_or(str::is_empty) {
                problems.push("the error has no message".into());
            }
        }
        None if !body.is_empty() => problems.push("a body where none was expected".into()),
        None => {}
    }
    if let Some((name, value)) = expect.header
        && header(name).as_deref() != Some(value)
    {
        problems.push(format!("{name}: {:?}, expected {value:?}", header(name)));
    }
    if matches!(expect.code, Some("missing_credentials" | "invalid_token"))
        && !header("www-authenticate").is_some_and(|c| c.starts_with("Bearer"))
    {
        problems.push("a 401 without its Bearer challenge".into());
    }
    if expect.code == Some("method_not_allowed") && header("allow").is_none() {
        problems.push("a 405 without Allow".into());
    }
    for injected in ["set-cookie", "x-injected"] {
        if header(injected).is_some() {
            problems.push(format!("the answer carries {injected}"));
        }
    }
    for secret in secrets.iter().filter(|s| s.len() >= SECRET_MIN_LEN) {
        let shown = String::from_utf8_lossy(secret);
        let contains = |haystack: &[u8]| haystack.windows(secret.len()).any(|w| w == secret);
        if contains(body) || headers.iter().any(|(_, v)| contains(v)) {
            problems.push(format!("the answer repeats the credential {shown:?}"));
        }
    }
    problems
}
