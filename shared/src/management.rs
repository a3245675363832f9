//! The management use case, what the `/manage/...` routes do once a request is validated: fill
//! in what depends on the vendor or on our client store (the API type of a webhook being
//! updated, minted credentials, whether the receiver takes a bearer key), make the call, and
//! compose our answer on the vendor's.
//!
//! Each public method is one request: its calls to Insider One share one [`Deadline`], what
//! they bring back has the secrets they carried masked, and credentials minted for a
//! registration that Insider One did not accept are withdrawn.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::auth::oauth::{REGISTERED_REFRESH_TOKEN_LIFETIME_SECS, refresh_token_digest};
use crate::auth::{TrustedIssuers, generate_token};
use crate::clock::now_millis;
use crate::domain::SubProduct;
use crate::domain::management::{
    Case, MintedCredentials, OAuth2Plan, OwnEndpoints, RequestError, SettingsPlan, V1Body,
    ValidationError, WebhookPlan, WebhookTarget, check_bearer_key,
};
use crate::domain::oauth::{GrantType, MintedClient, MintedFor, OAuthClient, SecretHash};
use crate::insider::{Deadline, InsiderApi, InsiderError, SecretValues, VendorCall, VendorReply};
use crate::store::{ClientStore, RefreshGrant, StoreError};

/// Tries at a free client id; ids have 32 random bits, so a second try is already rare.
const MINT_ATTEMPTS: usize = 3;

/// The dependencies of the management routes, built once per cold start.
pub struct Management {
    pub insider: Arc<dyn InsiderApi>,
    /// Where credentials minted for Insider One go: the store our token endpoint reads.
    pub clients: Arc<dyn ClientStore>,
    /// `PUBLIC_BASE_URL`: this deployment's public URL, which left-out webhook and token URLs
    /// default to; when unset, each request's own (`x-forwarded-proto` and `Host`).
    pub public_base_url: Option<String>,
    /// Whether this deployment's receiver accepts a bearer key, so that registering one it
    /// refuses is refused first; `None`: not known here, not checked.
    pub accepts_bearer_key: Option<AcceptsBearerKey>,
    /// The external issuers the receiver trusts, whose token endpoints a webhook delivering to
    /// it may name; `None`: none.
    pub trusted_issuers: Option<Arc<TrustedIssuers>>,
}

pub type AcceptsBearerKey = Arc<dyn Fn(&str) -> bool + Send + Sync>;

impl Management {
    /// This deployment's endpoints at `base`, with the token endpoints of the issuers its
    /// receiver trusts (read from their discovery documents, once each).
    pub async fn own_endpoints(&self, base: Option<String>) -> OwnEndpoints {
        let own = OwnEndpoints::new(base);
        match &self.trusted_issuers {
            Some(issuers) => own.with_trusted(issuers.servers().await),
            None => own,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    #[error(transparent)]
    Request(#[from] RequestError),
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error(transparent)]
    Vendor(#[from] InsiderError),
    #[error("the store of minted credentials failed: {0}")]
    Store(#[from] StoreError),
    #[error("Insider One lists no webhook {id} for sender {phone_number}")]
    WebhookNotFound { id: u64, phone_number: String },
    #[error("no minted client {0}: it was never minted here, or is withdrawn already")]
    CredentialNotFound(String),
}

/// A call that succeeded: the vendor's status and our answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub vendor_status: u16,
    pub body: Value,
}

impl Outcome {
    /// The vendor's answer, with our notes and the freshly minted credentials beside it.
    fn new(reply: VendorReply, credentials: Option<Value>, notes: Vec<String>) -> Self {
        let mut body = match reply.body {
            Value::Object(map) => map,
            Value::Null => Map::new(),
            other => Map::from_iter([("vendor".to_owned(), other)]),
        };
        if !notes.is_empty() {
            body.insert("notes".into(), json!(notes));
        }
        if let Some(credentials) = credentials {
            body.insert("credentials".into(), credentials);
        }
        Self {
            vendor_status: reply.status,
            body: Value::Object(body),
        }
    }
}

impl Management {
    pub async fn list_webhooks(&self, target: WebhookTarget) -> Result<Outcome, ManageError> {
        let call = VendorCall::ListWebhooks {
            phone_number: target.phone_number,
        };
        let reply = self.vendor(&call, self.deadline()).await?;
        Ok(Outcome::new(reply, None, Vec::new()))
    }

    /// Deletes the webhook, then withdraws the credentials minted for it.
    pub async fn delete_webhook(&self, target: WebhookTarget) -> Result<Outcome, ManageError> {
        let id = target.id.unwrap_or_default();
        let minted_for = MintedFor::Webhook {
            phone_number: target.phone_number.clone(),
            webhook_id: Some(id),
        };
        let call = VendorCall::DeleteWebhook {
            phone_number: target.phone_number,
            id,
        };
        let reply = self.vendor(&call, self.deadline()).await?;
        let notes = self
            .withdraw_minted(&minted_for, None, "the deleted webhook")
            .await;
        Ok(Outcome::new(reply, None, notes))
    }

    /// Every client in the ledger of minted credentials; never a secret.
    pub async fn list_credentials(&self) -> Result<Outcome, ManageError> {
        let minted = self.clients.minted_clients().await?;
        Ok(Outcome {
            vendor_status: 200,
            body: json!({ "credentials": minted.iter().map(credential_json).collect::<Vec<_>>() }),
        })
    }

    /// Withdraws one minted client: its secret, its refresh tokens and, within a minute, its
    /// access tokens stop working.
    pub async fn withdraw_credential(&self, client_id: &str) -> Result<Outcome, ManageError> {
        if !self.clients.delete_client(client_id).await? {
            return Err(ManageError::CredentialNotFound(client_id.to_owned()));
        }
        tracing::info!(
            client_id,
            "withdrew minted OAuth client credentials on request"
        );
        Ok(Outcome {
            vendor_status: 200,
            body: json!({ "withdrawn": client_id }),
        })
    }

    /// Creates the webhook, or updates it when the plan names one.
    pub async fn save_webhook(
        &self,
        mut plan: WebhookPlan,
        own: &OwnEndpoints,
    ) -> Result<Outcome, ManageError> {
        let deadline = self.deadline();
        let phone_number = plan.target.phone_number.clone();
        let id = plan.target.id;
        if let Some(id) = id {
            // An update body has no subProduct, yet the reply rule and the path of the default
            // URL depend on it: the existing webhook's comes from the list.
            let sub_product = self.sub_product_of(&phone_number, id, deadline).await?;
            plan.apply_sub_product(sub_product, own)?;
        }
        let notes = std::mem::take(&mut plan.notes);
        let oauth2 = plan.oauth2.clone();
        let minted_for = MintedFor::Webhook {
            phone_number: phone_number.clone(),
            webhook_id: id,
        };
        let registration = Registration {
            oauth2: Some(&oauth2),
            case: Case::Camel,
            minted_for: &minted_for,
            // A create's webhook exists only once Insider One answers; an update replaces the
            // credentials of one that does.
            replaces: id.is_some(),
        };
        self.register(registration, notes, deadline, |minted| {
            let body = to_json(&plan.into_body(minted, id.is_none()));
            match id {
                None => VendorCall::CreateWebhook { phone_number, body },
                Some(id) => VendorCall::UpdateWebhook {
                    phone_number,
                    id,
                    body,
                },
            }
        })
        .await
    }

    /// V2 settings of `transactional` or `conversational`.
    pub async fn save_settings(
        &self,
        sub_product: SubProduct,
        mut plan: SettingsPlan,
        own: &OwnEndpoints,
    ) -> Result<Outcome, ManageError> {
        self.check_bearer_key(
            "api_key",
            plan.body.api_key.as_deref(),
            plan.body.webhook_url.as_deref(),
            own,
        )?;
        let deadline = self.deadline();
        let notes = std::mem::take(&mut plan.notes);
        let oauth2 = plan.oauth2.clone();
        let minted_for = MintedFor::Settings {
            sub_product: sub_product.as_str().to_owned(),
        };
        let registration = Registration {
            oauth2: oauth2.as_ref(),
            case: Case::Snake,
            minted_for: &minted_for,
            replaces: true,
        };
        self.register(registration, notes, deadline, |minted| {
            VendorCall::Settings {
                sub_product,
                body: to_json(&plan.into_body(minted)),
            }
        })
        .await
    }

    pub async fn save_v1(
        &self,
        body: V1Body,
        notes: Vec<String>,
        own: &OwnEndpoints,
    ) -> Result<Outcome, ManageError> {
        self.check_bearer_key(
            "apiKey",
            body.api_key.as_deref(),
            body.webhook_url.as_deref(),
            own,
        )?;
        let deadline = self.deadline();
        let vendor_call = VendorCall::V1Settings {
            body: to_json(&body),
        };
        let reply = self.vendor(&vendor_call, deadline).await?;
        Ok(Outcome::new(reply, None, notes))
    }

    /// Refuses, before the vendor is called, a bearer key that this deployment's receiver would
    /// refuse (see [`check_bearer_key`]).
    fn check_bearer_key(
        &self,
        field: &str,
        key: Option<&str>,
        webhook_url: Option<&str>,
        own: &OwnEndpoints,
    ) -> Result<(), ManageError> {
        let Some(accepts) = &self.accepts_bearer_key else {
            return Ok(());
        };
        check_bearer_key(field, key, webhook_url, own, |key| accepts(key))
            .map_err(|error| ManageError::Request(error.into()))
    }

    /// The deadline of a request starting now, for all its calls to Insider One.
    fn deadline(&self) -> Deadline {
        Deadline::after(self.insider.request_budget())
    }

    /// A call to Insider One within `deadline`. The vendor may quote what it was sent in its
    /// messages, so the secrets the call carried (the caller's, and any minted for it) are
    /// masked in whatever comes back.
    async fn vendor(
        &self,
        call: &VendorCall,
        deadline: Deadline,
    ) -> Result<VendorReply, InsiderError> {
        let mut outcome = self.insider.call_within(call, deadline).await;
        if let Some(body) = call.body() {
            SecretValues::of(body).mask_outcome(&mut outcome);
        }
        outcome
    }

    /// The shape every registration shares: mint what was left out, call, answer, and withdraw
    /// what the registration replaced. Credentials are minted before the call because Insider
    /// One uses them at once, to probe the URL; when the call fails they are withdrawn
    /// ([`Self::withdraw`]), and those it replaced stay.
    async fn register(
        &self,
        registration: Registration<'_>,
        mut notes: Vec<String>,
        deadline: Deadline,
        call: impl FnOnce(Option<&MintedCredentials>) -> VendorCall,
    ) -> Result<Outcome, ManageError> {
        let minted = match registration.oauth2.filter(|plan| plan.mint) {
            // Within the request's deadline too: an update lists before it gets here.
            Some(plan) => Some(
                tokio::time::timeout_at(deadline.at(), self.mint(plan, registration.minted_for))
                    .await
                    .map_err(|_| deadline.exceeded())??,
            ),
            None => None,
        };
        let reply = match self.vendor(&call(minted.as_ref()), deadline).await {
            Ok(reply) => reply,
            Err(error) => {
                if let Some(minted) = &minted {
                    self.withdraw(minted).await;
                }
                return Err(error.into());
            }
        };
        let kept = minted.as_ref().map(|m| m.client_id.as_str());
        if registration.replaces {
            let why = "what this request replaced";
            notes.extend(
                self.withdraw_minted(registration.minted_for, kept, why)
                    .await,
            );
        } else if let (Some(client_id), MintedFor::Webhook { phone_number, .. }) =
            (kept, registration.minted_for)
        {
            self.record_created_webhook(client_id, phone_number, &reply.body)
                .await;
        }
        Ok(Outcome::new(
            reply,
            minted.map(|m| m.to_json(registration.case)),
            notes,
        ))
    }

    /// Ties a client minted for a webhook being created to the id Insider One gave it, so that
    /// deleting or updating the webhook withdraws it.
    async fn record_created_webhook(&self, client_id: &str, phone_number: &str, reply: &Value) {
        let Some(webhook_id) = reply["webhook"].as_u64() else {
            tracing::warn!(
                client_id,
                "Insider One's answer names no webhook id: the minted client stays listed without one"
            );
            return;
        };
        let minted_for = MintedFor::Webhook {
            phone_number: phone_number.to_owned(),
            webhook_id: Some(webhook_id),
        };
        if let Err(error) = self.clients.set_minted_for(client_id, &minted_for).await {
            tracing::error!(
                client_id,
                webhook_id,
                %error,
                "could not record which webhook a minted client is for; withdraw it with DELETE /manage/credentials/{{id}} once the webhook is gone"
            );
        }
    }

    /// Withdraws the clients minted for `minted_for` but `kept` (the one a registration just
    /// minted), now that Insider One confirmed what replaced or deleted them (`why`, for the
    /// notes); what it withdrew, as notes. A failure is logged and noted: the call to Insider
    /// One itself succeeded.
    async fn withdraw_minted(
        &self,
        minted_for: &MintedFor,
        kept: Option<&str>,
        why: &str,
    ) -> Vec<String> {
        let replaced: Vec<String> = match self.clients.minted_clients().await {
            Ok(ledger) => ledger
                .into_iter()
                .filter(|entry| &entry.minted_for == minted_for)
                .map(|entry| entry.client_id)
                .filter(|client_id| Some(client_id.as_str()) != kept)
                .collect(),
            Err(error) => {
                tracing::error!(%error, "could not read the ledger of minted credentials to withdraw those of a replaced or deleted registration");
                return vec![WITHDRAWAL_FAILED_NOTE.to_owned()];
            }
        };
        let withdrawals =
            futures::future::join_all(replaced.iter().map(|id| self.clients.delete_client(id)))
                .await;
        let mut notes = Vec::new();
        for (client_id, outcome) in replaced.iter().zip(withdrawals) {
            match outcome {
                Ok(_) => {
                    tracing::info!(client_id = %client_id, "withdrew minted credentials whose registration was replaced or deleted");
                    notes.push(format!("withdrew the client {client_id}, minted for {why}"));
                }
                Err(error) => {
                    tracing::error!(client_id = %client_id, %error, "could not withdraw minted credentials whose registration was replaced or deleted");
                    notes.push(WITHDRAWAL_FAILED_NOTE.to_owned());
                }
            }
        }
        notes.dedup();
        notes
    }

    /// Withdraws the credentials minted for a registration that Insider One did not accept
    /// (refused, failed, or not answered in time). They were shown to nobody, yet Insider One
    /// may have received them, so they must not stay usable: the client is deleted, which
    /// stops its secret and its refresh tokens alike, and its refresh token goes with it.
    async fn withdraw(&self, minted: &MintedCredentials) {
        let client_id = minted.client_id.as_str();
        let take_refresh_token = async {
            match &minted.refresh_token {
                Some(token) => self
                    .clients
                    .take_refresh_token(&refresh_token_digest(token), client_id)
                    .await
                    .map(|_| ()),
                None => Ok(()),
            }
        };
        // At once: the request's budget leaves room for one store call after the vendor's.
        let (deleted, taken) =
            tokio::join!(self.clients.delete_client(client_id), take_refresh_token);
        match deleted.and(taken) {
            Ok(()) => tracing::info!(
                client_id,
                "withdrew the credentials minted for a registration Insider One did not accept"
            ),
            // The vendor's failure stays the answer; the operators remove the client.
            Err(error) => tracing::error!(
                client_id,
                %error,
                "could not withdraw the credentials minted for a registration Insider One did not accept; delete the client"
            ),
        }
    }

    /// The API type of an existing webhook, from the vendor's list.
    async fn sub_product_of(
        &self,
        phone_number: &str,
        id: u64,
        deadline: Deadline,
    ) -> Result<SubProduct, ManageError> {
        let call = VendorCall::ListWebhooks {
            phone_number: phone_number.to_owned(),
        };
        let list = self.vendor(&call, deadline).await?;
        list.body["webhooks"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|webhook| webhook["id"].as_u64() == Some(id))
            .and_then(|webhook| webhook["subProduct"].as_str())
            .and_then(SubProduct::parse)
            .ok_or_else(|| ManageError::WebhookNotFound {
                id,
                phone_number: phone_number.to_owned(),
            })
    }

    /// A client of our token endpoint for Insider One: a 256-bit secret, the grant and scopes
    /// of the registration, tokens living `expiresIn`; for the refresh_token grant, also a
    /// refresh token. Only digests are stored; the values are returned once.
    async fn mint(
        &self,
        plan: &OAuth2Plan,
        minted_for: &MintedFor,
    ) -> Result<MintedCredentials, StoreError> {
        let client_secret = generate_token();
        for _ in 0..MINT_ATTEMPTS {
            let client = OAuthClient {
                client_id: format!("insider-{}", &generate_token()[..8]),
                secret_hash: SecretHash::new(&client_secret),
                grants: vec![plan.grant_type],
                scopes: plan.scopes.clone(),
                token_lifetime_secs: plan.expires_in,
                rotate_refresh_tokens: false,
            };
            let entry = MintedClient::of(&client, minted_for.clone(), now_millis());
            if !self.clients.create_client(&client, &entry).await? {
                continue;
            }
            let refresh_token = match plan.grant_type {
                GrantType::ClientCredentials => None,
                GrantType::RefreshToken => {
                    let token = generate_token();
                    let lifetime =
                        i64::try_from(REGISTERED_REFRESH_TOKEN_LIFETIME_SECS).unwrap_or(i64::MAX);
                    self.clients
                        .save_refresh_token(&RefreshGrant::new(
                            refresh_token_digest(&token),
                            client.client_id.clone(),
                            plan.scopes.clone(),
                            now_millis() / 1000 + lifetime,
                        ))
                        .await?;
                    Some(token)
                }
            };
            tracing::info!(
                client_id = %client.client_id,
                grant = plan.grant_type.as_str(),
                "minted OAuth client credentials for Insider One"
            );
            return Ok(MintedCredentials {
                client_id: client.client_id,
                client_secret,
                refresh_token,
            });
        }
        Err(StoreError::Rejected(
            "no free client id was found for the minted credentials".into(),
        ))
    }
}

/// What a registration is, beside its vendor call.
struct Registration<'a> {
    oauth2: Option<&'a OAuth2Plan>,
    case: Case,
    /// What credentials minted for it are for.
    minted_for: &'a MintedFor,
    /// Whether it replaces the credentials of an existing registration (an update, new
    /// settings), which are withdrawn once Insider One confirms.
    replaces: bool,
}

/// The note of an answer whose replaced or deleted registration's credentials could not all be
/// withdrawn.
pub const WITHDRAWAL_FAILED_NOTE: &str = "the credentials minted for what this request replaced or deleted could not all be withdrawn: list them with GET /manage/credentials and withdraw each with DELETE /manage/credentials/{client_id}";

/// A ledger entry as the credentials route shows it. The sender's number is the business's own,
/// yet shown only by its last four digits, as numbers are everywhere we answer.
fn credential_json(entry: &MintedClient) -> Value {
    let minted_for = match &entry.minted_for {
        MintedFor::Webhook {
            phone_number,
            webhook_id,
        } => json!({
            "kind": "webhook",
            "webhookId": webhook_id,
            "phoneNumber": last_digits(phone_number),
        }),
        MintedFor::Settings { sub_product } => {
            json!({"kind": "settings", "subProduct": sub_product})
        }
    };
    json!({
        "clientId": entry.client_id,
        "mintedFor": minted_for,
        "mintedAt": entry.minted_at,
        "grantTypes": entry.grants.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        "scopes": entry.scopes,
    })
}

fn last_digits(phone_number: &str) -> String {
    let digits: Vec<char> = phone_number.chars().filter(char::is_ascii_digit).collect();
    let shown: String = digits[digits.len().saturating_sub(4)..].iter().collect();
    format!("********{shown}")
}

/// Our request models serialize into plain JSON objects; nothing in them can fail to encode.
fn to_json(value: &impl serde::Serialize) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}
