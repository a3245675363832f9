//! `/manage/...`: our routes in front of Insider One's management API.
//!
//! | route | operation |
//! |---|---|
//! | `GET /manage/webhooks?phoneNumber=N` | list V2 OAuth 2.0 webhooks |
//! | `POST /manage/webhooks?phoneNumber=N` | create a V2 webhook (camelCase body) |
//! | `PUT /manage/webhooks/{id}?phoneNumber=N` | update it (camelCase body, no `subProduct`) |
//! | `DELETE /manage/webhooks/{id}?phoneNumber=N` | delete it |
//! | `POST /manage/settings/transactional` | V2 transactional settings (snake_case body) |
//! | `POST /manage/settings/conversational` | V2 conversational settings (snake_case body) |
//! | `POST /manage/settings/conversational/v1` | V1 "Save Webhook URL" (camelCase body) |
//! | `GET /manage/credentials` | the OAuth clients minted for Insider One, never a secret |
//! | `DELETE /manage/credentials/{client_id}` | withdraw one |
//!
//! Each route has its own Lambda, bound to one handler below; the local stack mounts them all
//! through [`manage`]. In AWS they sit behind IAM authorization at API Gateway, locally behind
//! the admin token, so nothing here authenticates the caller.

use std::time::Instant;

use http::{StatusCode, header};

use super::{
    ApiError, Request, Response, empty_response, header_str, json_response, path_segments,
    query_param,
};
use crate::auth::oauth::MAX_CLIENT_ID_BYTES;
use crate::domain::SubProduct;
use crate::domain::management::{
    decode, is_loopback, validate_settings, validate_target, validate_v1, validate_webhook,
};
use crate::insider::SecretValues;
use crate::management::{ManageError, Outcome};

pub use crate::management::Management;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    ListWebhooks,
    CreateWebhook,
    UpdateWebhook,
    DeleteWebhook,
    TransactionalSettings,
    ConversationalSettings,
    V1Settings,
    ListCredentials,
    WithdrawCredential,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ListWebhooks => "list_webhooks",
            Self::CreateWebhook => "create_webhook",
            Self::UpdateWebhook => "update_webhook",
            Self::DeleteWebhook => "delete_webhook",
            Self::TransactionalSettings => "transactional_settings",
            Self::ConversationalSettings => "conversational_settings",
            Self::V1Settings => "v1_settings",
            Self::ListCredentials => "list_credentials",
            Self::WithdrawCredential => "withdraw_credential",
        }
    }

    /// The operation the request's method and path name, with the webhook id of the path.
    pub fn of(request: &Request) -> Result<(Self, Option<String>), ApiError> {
        let segments = path_segments(request);
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let (methods, allowed): (&[(&str, Self)], &'static str) = match segments.as_slice() {
            ["manage", "webhooks"] => (
                &[("GET", Self::ListWebhooks), ("POST", Self::CreateWebhook)],
                "GET, POST",
            ),
            ["manage", "webhooks", _] => (
                &[
                    ("PUT", Self::UpdateWebhook),
                    ("DELETE", Self::DeleteWebhook),
                ],
                "PUT, DELETE",
            ),
            ["manage", "settings", "transactional"] => {
                (&[("POST", Self::TransactionalSettings)], "POST")
            }
            ["manage", "settings", "conversational"] => {
                (&[("POST", Self::ConversationalSettings)], "POST")
            }
            ["manage", "settings", "conversational", "v1"] => {
                (&[("POST", Self::V1Settings)], "POST")
            }
            ["manage", "credentials"] => (&[("GET", Self::ListCredentials)], "GET"),
            ["manage", "credentials", _] => (&[("DELETE", Self::WithdrawCredential)], "DELETE"),
            _ => return Err(ApiError::not_found()),
        };
        let id = match segments.as_slice() {
            ["manage", "webhooks" | "credentials", id] => Some((*id).to_owned()),
            _ => None,
        };
        methods
            .iter()
            .find(|(method, _)| *method == request.method().as_str())
            .map(|(_, operation)| (*operation, id))
            .ok_or_else(|| ApiError::method_not_allowed(allowed))
    }
}

pub async fn list_webhooks(management: &Management, request: Request) -> Response {
    handle(management, request, Some(Operation::ListWebhooks)).await
}

pub async fn create_webhook(management: &Management, request: Request) -> Response {
    handle(management, request, Some(Operation::CreateWebhook)).await
}

pub async fn update_webhook(management: &Management, request: Request) -> Response {
    handle(management, request, Some(Operation::UpdateWebhook)).await
}

pub async fn delete_webhook(management: &Management, request: Request) -> Response {
    handle(management, request, Some(Operation::DeleteWebhook)).await
}

pub async fn transactional_settings(management: &Management, request: Request) -> Response {
    handle(management, request, Some(Operation::TransactionalSettings)).await
}

pub async fn conversational_settings(management: &Management, request: Request) -> Response {
    handle(management, request, Some(Operation::ConversationalSettings)).await
}

pub async fn v1_settings(management: &Management, request: Request) -> Response {
    handle(management, request, Some(Operation::V1Settings)).await
}

pub async fn list_credentials(management: &Management, request: Request) -> Response {
    handle(management, request, Some(Operation::ListCredentials)).await
}

pub async fn withdraw_credential(management: &Management, request: Request) -> Response {
    handle(management, request, Some(Operation::WithdrawCredential)).await
}

/// Every `/manage/...` route, for the local stack.
pub async fn manage(management: &Management, request: Request) -> Response {
    handle(management, request, None).await
}

/// The one shape of every management route: route, run, one log line, answer. A handler bound
/// to one operation answers 404 to anything but that operation (another route, or another
/// method on its path), as a Lambda behind a wrong route must: it serves no other route.
async fn handle(management: &Management, request: Request, only: Option<Operation>) -> Response {
    let started = Instant::now();
    let routed = match (Operation::of(&request), only) {
        (routed, None) => routed,
        (Ok((operation, id)), Some(only)) if operation == only => Ok((operation, id)),
        (_, Some(_)) => Err(ApiError::not_found()),
    };
    let (operation, outcome) = match routed {
        Ok((operation, id)) => (
            Some(operation),
            run(management, &request, operation, id.as_deref())
                .await
                .map_err(|error| {
                    let vendor_status = match &error {
                        ManageError::Vendor(error) => error.vendor_status(),
                        _ => None,
                    };
                    (ApiError::from(error), vendor_status)
                }),
        ),
        Err(error) => (only, Err((error, None))),
    };
    let operation = operation.map_or("unknown", Operation::as_str);
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    match outcome {
        Ok(outcome) => {
            let vendor_status = outcome.vendor_status;
            let response = success_response(outcome);
            tracing::info!(
                operation,
                outcome = "ok",
                status = response.status().as_u16(),
                vendor_status,
                elapsed_ms
            );
            response
        }
        Err((error, vendor_status)) => {
            tracing::warn!(
                operation,
                outcome = error.code,
                status = error.status.as_u16(),
                vendor_status,
                elapsed_ms
            );
            // An error may quote what the request carried (a vendor's message, a problem
            // naming a value): its secrets are masked wherever they appear.
            error.masking(&request_secrets(&request)).into_response()
        }
    }
}

/// The answer to a call Insider One accepted: its status, and its body with ours beside it. A
/// 204 has no body, so it is passed on as it is when we have nothing to add, and becomes a 200
/// when we have notes or minted credentials to show.
fn success_response(outcome: Outcome) -> Response {
    let status = StatusCode::from_u16(outcome.vendor_status).unwrap_or(StatusCode::OK);
    let nothing_to_show = outcome.body.as_object().is_some_and(|body| body.is_empty());
    match status {
        StatusCode::NO_CONTENT if nothing_to_show => empty_response(StatusCode::NO_CONTENT),
        StatusCode::NO_CONTENT => json_response(StatusCode::OK, &outcome.body),
        _ => json_response(status, &outcome.body),
    }
}

/// The secret values of a request's body; none when it is not JSON (it then reached no one).
fn request_secrets(request: &Request) -> SecretValues {
    serde_json::from_slice(request.body().as_ref())
        .map(|body| SecretValues::of(&body))
        .unwrap_or_default()
}

async fn run(
    management: &Management,
    request: &Request,
    operation: Operation,
    id: Option<&str>,
) -> Result<Outcome, ManageError> {
    let phone_number = query_param(request, "phoneNumber");
    let phone_number = phone_number.as_deref();
    let body = request.body().as_ref();
    // Only the registrations need it, and it may read the trusted issuers' discovery documents.
    let own = || {
        management.own_endpoints(
            management
                .public_base_url
                .clone()
                .or_else(|| request_base_url(request)),
        )
    };
    match operation {
        Operation::ListWebhooks => {
            management
                .list_webhooks(validate_target(phone_number, None)?)
                .await
        }
        Operation::DeleteWebhook => {
            management
                .delete_webhook(validate_target(phone_number, id)?)
                .await
        }
        Operation::CreateWebhook | Operation::UpdateWebhook => {
            let own = own().await;
            let plan = validate_webhook(phone_number, id, decode(body)?, &own)?;
            management.save_webhook(plan, &own).await
        }
        Operation::TransactionalSettings | Operation::ConversationalSettings => {
            let sub_product = if operation == Operation::TransactionalSettings {
                SubProduct::Transactional
            } else {
                SubProduct::Conversational
            };
            let own = own().await;
            let plan = validate_settings(sub_product, decode(body)?, &own)?;
            management.save_settings(sub_product, plan, &own).await
        }
        Operation::V1Settings => {
            let own = own().await;
            let (body, notes) = validate_v1(decode(body)?, &own)?;
            management.save_v1(body, notes, &own).await
        }
        Operation::ListCredentials => management.list_credentials().await,
        Operation::WithdrawCredential => {
            let client_id = id.unwrap_or_default();
            // No client id is that long (ours are `insider-` and 8 hex digits): answered without
            // a store call, whose key it might not even fit.
            if client_id.is_empty() || client_id.len() > MAX_CLIENT_ID_BYTES {
                return Err(ManageError::CredentialNotFound(
                    client_id.chars().take(64).collect(),
                ));
            }
            management.withdraw_credential(client_id).await
        }
    }
}

/// This deployment's URL as the caller reached it: `x-forwarded-proto` (set by API Gateway and
/// proxies; else http for loopback hosts, https otherwise) and `Host`. The callers are operators
/// (IAM or the admin token), so trusting their `Host` lets no one else redirect deliveries.
fn request_base_url(request: &Request) -> Option<String> {
    let host = header_str(request, header::HOST)
        .map(str::to_owned)
        .or_else(|| request.uri().authority().map(ToString::to_string))?;
    let host = host.trim();
    let hostname = host.parse::<http::uri::Authority>().ok()?.host().to_owned();
    let scheme = header_str(
        request,
        header::HeaderName::from_static("x-forwarded-proto"),
    )
    .and_then(|proto| proto.split(',').next())
    .map(str::trim)
    .filter(|proto| matches!(*proto, "http" | "https"))
    .unwrap_or(if is_loopback(&hostname) {
        "http"
    } else {
        "https"
    });
    Some(format!("{scheme}://{host}"))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use serde_json::{Value, json};

    use super::*;
    use crate::domain::management::BLANK_FROM_NOTE;
    use crate::domain::oauth::{MintedClient, MintedFor, OAuthClient};
    use crate::http::Body;
    use crate::insider::{
        Deadline, InsiderApi, InsiderError, InsiderFuture, VendorCall, VendorReply,
    };
    use crate::store::{ClientStore, RefreshGrant, StoreError, StoreFuture};

    fn request(method: &str, uri: &str, headers: &[(&str, &str)]) -> Request {
        let mut builder = http::Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(Body::Empty).unwrap()
    }

    /// An Insider One that answers every call alike.
    struct Answering(Result<VendorReply, InsiderError>);

    impl InsiderApi for Answering {
        fn call_within<'a>(
            &'a self,
            _call: &'a VendorCall,
            _deadline: Deadline,
        ) -> InsiderFuture<'a, VendorReply> {
            Box::pin(std::future::ready(self.0.clone()))
        }

        fn request_budget(&self) -> Duration {
            Duration::from_secs(1)
        }
    }

    /// A client store these tests never write to: none of their calls mints credentials, and
    /// its ledger is empty, so none finds any to withdraw; or, `ledger_fails`, cannot be read.
    struct NoClients {
        ledger_fails: bool,
    }

    impl NoClients {
        fn answer<'a, T: Send + 'a>() -> StoreFuture<'a, T> {
            Box::pin(std::future::ready(Err(StoreError::Unavailable(
                "no client store in these tests".into(),
            ))))
        }
    }

    impl ClientStore for NoClients {
        fn find_client<'a>(&'a self, _: &'a str) -> StoreFuture<'a, Option<OAuthClient>> {
            Self::answer()
        }
        fn create_client<'a>(
            &'a self,
            _: &'a OAuthClient,
            _: &'a MintedClient,
        ) -> StoreFuture<'a, bool> {
            Self::answer()
        }
        fn delete_client<'a>(&'a self, _: &'a str) -> StoreFuture<'a, bool> {
            Self::answer()
        }
        fn minted_clients(&self) -> StoreFuture<'_, Vec<MintedClient>> {
            if self.ledger_fails {
                return Self::answer();
            }
            Box::pin(std::future::ready(Ok(Vec::new())))
        }
        fn set_minted_for<'a>(&'a self, _: &'a str, _: &'a MintedFor) -> StoreFuture<'a, bool> {
            Self::answer()
        }
        fn save_refresh_token<'a>(&'a self, _: &'a RefreshGrant) -> StoreFuture<'a, ()> {
            Self::answer()
        }
        fn find_refresh_token<'a>(
            &'a self,
            _: &'a str,
            _: &'a str,
        ) -> StoreFuture<'a, Option<RefreshGrant>> {
            Self::answer()
        }
        fn take_refresh_token<'a>(
            &'a self,
            _: &'a str,
            _: &'a str,
        ) -> StoreFuture<'a, Option<RefreshGrant>> {
            Self::answer()
        }
        fn rotate_refresh_token<'a>(
            &'a self,
            _: &'a str,
            _: &'a str,
            _: &'a RefreshGrant,
        ) -> StoreFuture<'a, bool> {
            Self::answer()
        }
        fn revoke_refresh_family<'a>(&'a self, _: &'a str, _: &'a str) -> StoreFuture<'a, bool> {
            Self::answer()
        }
    }

    fn management(answer: Result<VendorReply, InsiderError>) -> Management {
        Management {
            insider: Arc::new(Answering(answer)),
            clients: Arc::new(NoClients {
                ledger_fails: false,
            }),
            public_base_url: Some("https://hooks.example.com".into()),
            accepts_bearer_key: None,
            trusted_issuers: None,
        }
    }

    async fn post(management: &Management, uri: &str, body: &Value) -> (StatusCode, String) {
        let request = http::Request::builder()
            .method("POST")
            .uri(uri)
            .body(Body::Text(body.to_string()))
            .unwrap();
        let response = manage(management, request).await;
        let body = String::from_utf8(response.body().to_vec()).unwrap();
        (response.status(), body)
    }

    #[tokio::test]
    async fn a_204_stays_bodiless_unless_there_is_something_to_show() {
        let no_content = management(Ok(VendorReply {
            status: 204,
            body: Value::Null,
        }));
        let v1 = json!({"isActive": true, "url": "https://a.example/h", "apiKey": "k-123456"});
        assert_eq!(
            post(&no_content, "/manage/settings/conversational/v1", &v1).await,
            (StatusCode::NO_CONTENT, String::new())
        );
        let noted = json!({"auth_type": "bearer", "api_key": "k-123456", "from": " ",
                           "webhook_url": "https://a.example/h"});
        let (status, body) = post(&no_content, "/manage/settings/transactional", &noted).await;
        assert_eq!(status, StatusCode::OK);
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body, json!({"notes": [BLANK_FROM_NOTE]}));
    }

    #[tokio::test]
    async fn a_withdrawal_that_fails_after_insider_one_confirmed_is_a_note_not_an_error() {
        let mut deleting = management(Ok(VendorReply {
            status: 200,
            body: json!({"status": true}),
        }));
        deleting.clients = Arc::new(NoClients { ledger_fails: true });
        let request = http::Request::builder()
            .method("DELETE")
            .uri("/manage/webhooks/84?phoneNumber=15551234567")
            .body(crate::http::Body::Empty)
            .unwrap();
        let response = manage(&deleting, request).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(
            body,
            json!({"status": true, "notes": [crate::management::WITHDRAWAL_FAILED_NOTE]})
        );
    }

    #[tokio::test]
    async fn what_the_request_carried_is_masked_wherever_it_is_quoted() {
        let echoing = management(Err(InsiderError::Rejected {
            status: 400,
            body: json!({"errorCode": "2011", "message":
                "api_key k-quoted-secret-value refused for https://hook:hook-password@a.example/h"}),
        }));
        let body = json!({"auth_type": "bearer", "api_key": "k-quoted-secret-value",
                          "webhook_url": "https://hook:hook-password@a.example/h"});
        let (status, answer) = post(&echoing, "/manage/settings/conversational", &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(!answer.contains("k-quoted-secret-value"), "{answer}");
        assert!(!answer.contains("hook-password"), "{answer}");
        assert!(answer.contains("\"errorCode\":\"2011\""), "{answer}");

        // A secret the caller also put where a problem quotes it.
        let misplaced = json!({"authType": "oauth2", "subProduct": "verify",
                               "events": ["sent", "partner-whatsapp-secret"],
                               "oauth2": {"grantType": "client_credentials", "expiresIn": 60,
                                          "tokenUrl": "ftp://user:url-password@a.example/t",
                                          "clientId": "c", "clientSecret": "partner-whatsapp-secret"}});
        let (status, answer) = post(
            &echoing,
            "/manage/webhooks?phoneNumber=15551234567",
            &misplaced,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(answer.contains("oauth2.tokenUrl"), "{answer}");
        assert!(!answer.contains("partner-whatsapp-secret"), "{answer}");
        assert!(!answer.contains("url-password"), "{answer}");
    }

    #[test]
    fn routes_name_their_operation() {
        let of = |method, uri| Operation::of(&request(method, uri, &[])).map_err(|e| e.code);
        assert_eq!(
            of("GET", "/manage/webhooks"),
            Ok((Operation::ListWebhooks, None))
        );
        assert_eq!(
            of("DELETE", "/manage/webhooks/84/"),
            Ok((Operation::DeleteWebhook, Some("84".into())))
        );
        assert_eq!(
            of("POST", "/manage/settings/conversational/v1"),
            Ok((Operation::V1Settings, None))
        );
        assert_eq!(
            of("GET", "/manage/settings/transactional"),
            Err("method_not_allowed")
        );
        assert_eq!(of("POST", "/manage/webhooks/84"), Err("method_not_allowed"));
        assert_eq!(of("DELETE", "/manage/webhooks"), Err("method_not_allowed"));
        assert_eq!(of("GET", "/manage/other"), Err("not_found"));
    }

    #[test]
    fn the_base_url_comes_from_the_request() {
        let base = |headers: &[(&str, &str)]| request_base_url(&request("GET", "/x", headers));
        assert_eq!(
            base(&[("host", "127.0.0.1:3000")]).as_deref(),
            Some("http://127.0.0.1:3000")
        );
        assert_eq!(
            base(&[("host", "abc.execute-api.eu-west-1.amazonaws.com")]).as_deref(),
            Some("https://abc.execute-api.eu-west-1.amazonaws.com")
        );
        assert_eq!(
            base(&[
                ("host", "hooks.example.com"),
                ("x-forwarded-proto", "http, https")
            ])
            .as_deref(),
            Some("http://hooks.example.com")
        );
        assert_eq!(base(&[]), None);
    }
}
