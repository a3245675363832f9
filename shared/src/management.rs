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
use crate::domain::oauth::{GrantType, OAuthClient, SecretHash};
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
    #[error("minting credentials failed: {0}")]
    Store(#[from] StoreError),
    #[error("Insider One lists no webhook {id} for sender {phone_number}")]
    WebhookNotFound { id: u64, phone_number: String },
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

    pub async fn delete_webhook(&self, target: WebhookTarget) -> Result<Outcome, ManageError> {
        let call = VendorCall::DeleteWebhook {
            phone_number: target.phone_number,
            id: target.id.unwrap_or_default(),
        };
        let reply = self.vendor(&call, self.deadline()).await?;
        Ok(Outcome::new(reply, None, Vec::new()))
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
        self.register(Some(&oauth2), Case::Camel, notes, deadline, |minted| {
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
        self.register(oauth2.as_ref(), Case::Snake, notes, deadline, |minted| {
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
        self.register(None, Case::Camel, notes, deadline, |_| {
            VendorCall::V1Settings {
                body: to_json(&body),
            }
        })
        .await
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

    /// The shape every registration shares: mint what was left out, call, answer. Credentials
    /// are minted before the call because Insider One uses them at once, to probe the URL; when
    /// the call fails they are withdrawn ([`Self::withdraw`]).
    async fn register(
        &self,
        oauth2: Option<&OAuth2Plan>,
        case: Case,
        notes: Vec<String>,
        deadline: Deadline,
        call: impl FnOnce(Option<&MintedCredentials>) -> VendorCall,
    ) -> Result<Outcome, ManageError> {
        let minted = match oauth2.filter(|plan| plan.mint) {
            // Within the request's deadline too: an update lists before it gets here.
            Some(plan) => Some(
                tokio::time::timeout_at(deadline.at(), self.mint(plan))
                    .await
                    .map_err(|_| deadline.exceeded())??,
            ),
            None => None,
        };
        match self.vendor(&call(minted.as_ref()), deadline).await {
            Ok(reply) => Ok(Outcome::new(reply, minted.map(|m| m.to_json(case)), notes)),
            Err(error) => {
                if let Some(minted) = &minted {
                    self.withdraw(minted).await;
                }
                Err(error.into())
            }
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

    /// A client of our token endpoint for Insider One: a 256-bit secret, the grant and scopes
    /// of the registration, tokens living `expiresIn`; for the refresh_token grant, also a
    /// refresh token. Only digests are stored; the values are returned once.
    async fn mint(&self, plan: &OAuth2Plan) -> Result<MintedCredentials, StoreError> {
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
            if !self.clients.create_client(&client).await? {
                continue;
            }
            let refresh_token = match plan.grant_type {
                GrantType::ClientCredentials => None,
                GrantType::RefreshToken => {
                    let token = generate_token();
                    let lifetime =
                        i64::try_from(REGISTERED_REFRESH_TOKEN_LIFETIME_SECS).unwrap_or(i64::MAX);
                    self.clients
                        .save_refresh_token(&RefreshGrant {
                            digest: refresh_token_digest(&token),
                            client_id: client.client_id.clone(),
                            scopes: plan.scopes.clone(),
                            expires_at: now_millis() / 1000 + lifetime,
                        })
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

/// Our request models serialize into plain JSON objects; nothing in them can fail to encode.
fn to_json(value: &impl serde::Serialize) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}
