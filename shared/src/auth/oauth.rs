//! Our OAuth 2.0 authorization server for Insider One's V2 webhooks (RFC 6749 sections 4.4 and 6):
//! Insider calls our token endpoint with the client credentials we gave it and delivers events
//! with the access token it gets back.
//!
//! Clients come from configuration (seeded, read once) and from the client store (minted at run
//! time). Client secrets and refresh tokens are only ever kept as digests.
//!
//! Refresh tokens do not rotate by default: Insider One keeps the refresh token given at
//! registration and presents it again at every refresh, so consuming it on use would stop
//! deliveries after the first refresh. A client may opt in to rotation (`rotate_refresh_tokens`):
//! then using a token replaces it with a new one, returned in the answer, in one atomic store
//! write, so a token is used at most once and a failed write never loses it. The new token has
//! the scope of the old one (RFC 6749 6), also when the request narrowed its access token.

use std::sync::{Arc, LazyLock};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::access_tokens::AccessTokens;
use crate::clock::now_millis;
use crate::domain::oauth::{GrantType, OAuthClient, SecretHash, default_scopes};
use crate::store::{ClientStore, RefreshGrant, StoreError};

pub const DEFAULT_TOKEN_LIFETIME_SECS: u64 = 3600;
pub const REFRESH_TOKEN_LIFETIME_SECS: u64 = 30 * 86_400;
/// Refresh tokens handed to Insider One at registration: it never receives another one, so they
/// cannot rotate; each use renews them for this long instead (at most once a day), so a token
/// Insider One stopped using ends 90 days later, and one it uses ends with its webhook, whose
/// deletion withdraws its client.
pub const REGISTERED_REFRESH_TOKEN_LIFETIME_SECS: u64 = 90 * 86_400;
/// A registered refresh token is renewed when a use finds less than its lifetime less this left.
const RENEWAL_STEP_SECS: i64 = 86_400;
/// Configured secrets shorter than this are refused: secrets are hashed with a fast hash, which is
/// only safe for high-entropy secrets (generated ones have 256 bits).
pub const MIN_SECRET_CHARS: usize = 24;

/// Refresh tokens are random, so a plain digest is enough to look them up without storing them.
pub fn refresh_token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A client as written in configuration, with its secret in clear (it lives in Secrets Manager).
#[derive(Debug, Clone, Deserialize)]
pub struct ConfiguredClient {
    pub client_id: String,
    pub client_secret: String,
    #[serde(default = "all_grants")]
    pub grants: Vec<GrantType>,
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    #[serde(default = "default_lifetime")]
    pub token_lifetime_secs: u64,
    #[serde(default)]
    pub rotate_refresh_tokens: bool,
}

fn all_grants() -> Vec<GrantType> {
    vec![GrantType::ClientCredentials, GrantType::RefreshToken]
}

/// The longest `client_id` taken: far above any we mint or configure, far below DynamoDB's
/// 2,048-byte key, so a longer one is refused before any store call.
pub const MAX_CLIENT_ID_BYTES: usize = 256;
/// The longest `client_secret` taken.
pub const MAX_CLIENT_SECRET_BYTES: usize = 512;
/// The longest refresh token taken (ours are 43 characters).
pub const MAX_REFRESH_TOKEN_BYTES: usize = 512;

/// `value`, or `code` naming `field` when it is longer than `max` bytes.
fn bounded<'a>(
    field: &str,
    value: &'a str,
    max: usize,
    code: OAuthErrorCode,
) -> Result<&'a str, OAuthError> {
    if value.len() > max {
        return Err(OAuthError::new(
            code,
            format!("{field} is longer than {max} bytes"),
        ));
    }
    Ok(value)
}

fn default_lifetime() -> u64 {
    DEFAULT_TOKEN_LIFETIME_SECS
}

impl ConfiguredClient {
    pub fn into_client(self) -> Result<OAuthClient, String> {
        if self.client_id.trim().is_empty() {
            return Err("a configured OAuth client has an empty client_id".into());
        }
        if self.client_id.len() > MAX_CLIENT_ID_BYTES
            || self.client_secret.len() > MAX_CLIENT_SECRET_BYTES
        {
            return Err(format!(
                "a configured OAuth client has a client_id over {MAX_CLIENT_ID_BYTES} bytes or a secret over {MAX_CLIENT_SECRET_BYTES}"
            ));
        }
        SecretTooShort::check(&self.client_secret).map_err(|short| {
            format!(
                "the secret of OAuth client {} is too short: {short}",
                self.client_id
            )
        })?;
        if self.grants.is_empty() || self.token_lifetime_secs == 0 {
            return Err(format!(
                "OAuth client {} needs at least one grant and a token lifetime above 0",
                self.client_id
            ));
        }
        Ok(OAuthClient {
            secret_hash: SecretHash::new(&self.client_secret),
            client_id: self.client_id,
            grants: self.grants,
            scopes: self.scopes,
            token_lifetime_secs: self.token_lifetime_secs,
            rotate_refresh_tokens: self.rotate_refresh_tokens,
        })
    }
}

/// A configured client secret shorter than [`MIN_SECRET_CHARS`]; says how to make a good one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "it has {chars} characters, fewer than the {MIN_SECRET_CHARS} needed: use a random secret, e.g. `openssl rand -hex 32`"
)]
pub struct SecretTooShort {
    pub chars: usize,
}

impl SecretTooShort {
    pub fn check(secret: &str) -> Result<(), Self> {
        let chars = secret.chars().count();
        if chars < MIN_SECRET_CHARS {
            return Err(Self { chars });
        }
        Ok(())
    }
}

/// A token request as parsed from HTTP; how the client authenticated only matters for the error.
#[derive(Debug, Clone, Default)]
pub struct TokenRequest {
    pub grant_type: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub scope: Option<String>,
    pub refresh_token: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// RFC 6749 section 5.2 error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    /// Not in 5.2: our client store failed; answered 503 so the caller retries.
    TemporarilyUnavailable,
}

impl OAuthErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {description}", code.as_str())]
pub struct OAuthError {
    pub code: OAuthErrorCode,
    pub description: String,
}

impl OAuthError {
    pub fn new(code: OAuthErrorCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
        }
    }
}

impl From<StoreError> for OAuthError {
    fn from(error: StoreError) -> Self {
        tracing::error!(%error, "the OAuth client store failed");
        Self::new(
            OAuthErrorCode::TemporarilyUnavailable,
            "the token service is temporarily unavailable; try again",
        )
    }
}

pub struct TokenService {
    pub configured: Vec<OAuthClient>,
    pub store: Arc<dyn ClientStore>,
    pub tokens: AccessTokens,
}

impl TokenService {
    pub async fn grant(&self, request: TokenRequest) -> Result<TokenResponse, OAuthError> {
        use OAuthErrorCode::*;
        let grant_name = request
            .grant_type
            .as_deref()
            .ok_or_else(|| OAuthError::new(InvalidRequest, "grant_type is missing"))?;
        let (Some(client_id), Some(secret)) = (&request.client_id, &request.client_secret) else {
            return Err(OAuthError::new(
                InvalidClient,
                "client authentication is missing: use HTTP Basic or client_id and client_secret",
            ));
        };
        let client = self.authenticate(client_id, secret).await?;
        let grant = GrantType::parse(grant_name).ok_or_else(|| {
            OAuthError::new(
                UnsupportedGrantType,
                "grant_type must be client_credentials or refresh_token",
            )
        })?;
        // Checked against the client as configured now, also on a refresh: a client that has
        // lost the refresh grant cannot go on using the refresh tokens it holds.
        if !client.grants.contains(&grant) {
            return Err(OAuthError::new(
                UnauthorizedClient,
                format!("this client may not use the {} grant", grant.as_str()),
            ));
        }
        let asked = request.scope.as_deref();
        let (scopes, refresh_token) = match grant {
            GrantType::ClientCredentials => {
                let scopes = granted_scopes(asked, &client, None)?;
                // RFC 6749 4.4.3 says this grant SHOULD NOT return a refresh token. We return one
                // to clients allowed the refresh grant all the same: it is how a configured
                // client gets the refresh token that Insider One's `refresh_token` webhooks
                // are registered with (README, "OAuth 2.0 for V2 webhooks", says what it costs).
                let refresh_token = if client.grants.contains(&GrantType::RefreshToken) {
                    Some(self.issue_refresh_token(&client, &scopes).await?)
                } else {
                    None
                };
                (scopes, refresh_token)
            }
            GrantType::RefreshToken => {
                let token = request
                    .refresh_token
                    .as_deref()
                    .ok_or_else(|| OAuthError::new(InvalidRequest, "refresh_token is missing"))?;
                let redeemed = self.redeem(&client, token).await?;
                let scopes = granted_scopes(asked, &client, Some(&redeemed))?;
                // A client that does not rotate keeps the refresh token it already has. A
                // rotating one gets a new token with the scope of the old one, not the narrower
                // scope of this access token (RFC 6749 6: "MUST be identical").
                let refresh_token = if client.rotate_refresh_tokens {
                    let kept = rotated_scopes(&client, &redeemed);
                    Some(self.rotate_refresh_token(&client, &redeemed, &kept).await?)
                } else {
                    if !self.is_configured(&client.client_id) {
                        self.renew_registered(&redeemed).await;
                    }
                    None
                };
                (scopes, refresh_token)
            }
        };
        let minted = !self.is_configured(&client.client_id);
        let issued = self.tokens.issue(
            &client.client_id,
            &scopes,
            client.token_lifetime_secs,
            minted,
        );
        tracing::info!(client_id = %client.client_id, grant = grant.as_str(), "access token issued");
        crate::telemetry::record::token_issued(grant.as_str());
        Ok(TokenResponse {
            access_token: issued.token,
            token_type: "Bearer",
            expires_in: issued.expires_in,
            scope: scopes.join(" "),
            refresh_token,
        })
    }

    /// Revokes a refresh token (RFC 7009); unknown tokens and other clients' tokens are ignored,
    /// as the RFC asks, so the answer reveals nothing.
    pub async fn revoke(&self, request: TokenRequest, token: &str) -> Result<(), OAuthError> {
        let (Some(client_id), Some(secret)) = (&request.client_id, &request.client_secret) else {
            return Err(OAuthError::new(
                OAuthErrorCode::InvalidClient,
                "client authentication is missing",
            ));
        };
        let client = self.authenticate(client_id, secret).await?;
        // Longer than any token we issue: unknown, so ignored like any unknown token.
        if token.len() > MAX_REFRESH_TOKEN_BYTES {
            return Ok(());
        }
        self.store
            .take_refresh_token(&refresh_token_digest(token), &client.client_id)
            .await?;
        Ok(())
    }

    /// A client of the configuration, not minted at run time.
    fn is_configured(&self, client_id: &str) -> bool {
        self.configured.iter().any(|c| c.client_id == client_id)
    }

    async fn authenticate(&self, client_id: &str, secret: &str) -> Result<OAuthClient, OAuthError> {
        // Longer than any client's: failed client authentication, told without a store read.
        let client_id = bounded(
            "client_id",
            client_id,
            MAX_CLIENT_ID_BYTES,
            OAuthErrorCode::InvalidClient,
        )?;
        let secret = bounded(
            "client_secret",
            secret,
            MAX_CLIENT_SECRET_BYTES,
            OAuthErrorCode::InvalidClient,
        )?;
        let client = match self.configured.iter().find(|c| c.client_id == client_id) {
            Some(client) => Some(client.clone()),
            None => self.store.find_client(client_id).await?,
        };
        verify_secret(client, secret).ok_or_else(|| {
            OAuthError::new(
                OAuthErrorCode::InvalidClient,
                "unknown client or wrong client secret",
            )
        })
    }

    /// The grant of a refresh token of this client that has not expired. It stays stored: a
    /// rotating client's token is replaced only once the whole request has been checked, so a
    /// refused request leaves it usable.
    async fn redeem(&self, client: &OAuthClient, token: &str) -> Result<RefreshGrant, OAuthError> {
        // Longer than any token we issue: unknown, told without a store read.
        bounded(
            "refresh_token",
            token,
            MAX_REFRESH_TOKEN_BYTES,
            OAuthErrorCode::InvalidGrant,
        )?;
        let grant = self
            .store
            .find_refresh_token(&refresh_token_digest(token), &client.client_id)
            .await?
            .ok_or_else(unusable_refresh_token)?;
        // The table's TTL deletes expired grants only eventually.
        if grant.expires_at <= now_millis() / 1000 {
            return Err(unusable_refresh_token());
        }
        if grant.used {
            // RFC 9700 4.14.2: a rotated token presented again was stolen or replayed; whoever
            // holds the family's live token may be the thief, so that one goes too.
            let revoked = self
                .store
                .revoke_refresh_family(&grant.family, &client.client_id)
                .await?;
            tracing::warn!(
                client_id = %client.client_id,
                revoked,
                "a rotated refresh token was presented again: its family is revoked"
            );
            crate::telemetry::record::auth_failure("oauth");
            return Err(unusable_refresh_token());
        }
        Ok(grant)
    }

    /// Renews a registered refresh token (a minted client's, which never rotates) for its whole
    /// lifetime again, at most once a day; a failed renewal leaves it as it was.
    async fn renew_registered(&self, grant: &RefreshGrant) {
        let lifetime = i64::try_from(REGISTERED_REFRESH_TOKEN_LIFETIME_SECS).unwrap_or(i64::MAX);
        let renewed_until = now_millis() / 1000 + lifetime;
        if grant.expires_at > renewed_until - RENEWAL_STEP_SECS {
            return;
        }
        let renewed = RefreshGrant {
            expires_at: renewed_until,
            ..grant.clone()
        };
        if let Err(error) = self.store.save_refresh_token(&renewed).await {
            tracing::warn!(client_id = %grant.client_id, %error, "a registered refresh token could not be renewed");
        }
    }

    async fn issue_refresh_token(
        &self,
        client: &OAuthClient,
        scopes: &[String],
    ) -> Result<String, OAuthError> {
        let (token, grant) = new_refresh_grant(client, scopes);
        self.store.save_refresh_token(&grant).await?;
        Ok(token)
    }

    /// Replaces `old` with a new refresh token in one atomic store write: if the write fails,
    /// the old token still works and the client can simply retry.
    async fn rotate_refresh_token(
        &self,
        client: &OAuthClient,
        old: &RefreshGrant,
        scopes: &[String],
    ) -> Result<String, OAuthError> {
        let (token, mut replacement) = new_refresh_grant(client, scopes);
        replacement.family.clone_from(&old.family);
        let rotated = self
            .store
            .rotate_refresh_token(&old.digest, &client.client_id, &replacement)
            .await?;
        // Not rotated: a request presenting the same token at the same time used it first.
        rotated.then_some(token).ok_or_else(unusable_refresh_token)
    }
}

fn unusable_refresh_token() -> OAuthError {
    OAuthError::new(
        OAuthErrorCode::InvalidGrant,
        "the refresh token is unknown, expired, revoked or already used",
    )
}

/// A fresh refresh token of `client` for `scopes`, and the grant the store keeps for it.
fn new_refresh_grant(client: &OAuthClient, scopes: &[String]) -> (String, RefreshGrant) {
    let token = super::generate_token();
    let lifetime = i64::try_from(REFRESH_TOKEN_LIFETIME_SECS).unwrap_or(i64::MAX / 2);
    let grant = RefreshGrant::new(
        refresh_token_digest(&token),
        client.client_id.clone(),
        scopes.to_vec(),
        now_millis() / 1000 + lifetime,
    );
    (token, grant)
}

/// The scopes to grant (RFC 6749 3.3 and 6): those asked for, or when `scope` is left out, all
/// the client is allowed (client_credentials) or all the refresh token was granted
/// (refresh_token, where section 6 reads a left-out scope as the one originally granted).
///
/// Every scope must be allowed to the client *now*, so narrowing a client narrows the refresh
/// tokens it already holds too; on a refresh, it must also have been granted to the token, so a
/// refresh may narrow the access token it gives, never widen it (the refresh token itself keeps
/// its scope, see [`rotated_scopes`]). Anything else is `invalid_scope` (5.2: the requested
/// scope "exceeds the scope granted by the resource owner", here the client's configuration),
/// also when it is only implied by a left-out `scope`. Not `invalid_grant`: the refresh token is
/// still good for the scopes the client keeps, and a request naming those succeeds.
fn granted_scopes(
    asked: Option<&str>,
    client: &OAuthClient,
    refreshed: Option<&RefreshGrant>,
) -> Result<Vec<String>, OAuthError> {
    let refused = |description: String| OAuthError::new(OAuthErrorCode::InvalidScope, description);
    let asked: Vec<String> = asked
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let implied = asked.is_empty();
    let scopes = if implied {
        refreshed.map_or_else(|| client.scopes.clone(), |r| r.scopes.clone())
    } else {
        asked
    };
    if let Some(scope) = scopes.iter().find(|s| !client.scopes.contains(s)) {
        return Err(refused(if implied {
            format!(
                "the refresh token was granted scope {scope}, which this client is no longer allowed: ask for a narrower scope"
            )
        } else {
            format!("scope {scope} is not allowed for this client")
        }));
    }
    if let Some(scope) = refreshed.and_then(|r| scopes.iter().find(|s| !r.scopes.contains(s))) {
        return Err(refused(format!(
            "scope {scope} was not granted to this refresh token: a refresh may narrow the scope, never widen it"
        )));
    }
    Ok(scopes)
}

/// The scope of the refresh token that replaces `redeemed` on a rotation: RFC 6749 6 says it
/// "MUST be identical" to the scope of the refresh token presented, whatever narrower scope the
/// access token of the same answer was asked for, so a narrowed refresh does not narrow the
/// grant for good. Only the scopes the client is no longer allowed are left out (it can no
/// longer be granted them anyway, see [`granted_scopes`]), so a rotation never makes a token
/// worth more than the client is allowed now; for a client not narrowed since, this is the
/// scope of `redeemed` exactly.
fn rotated_scopes(client: &OAuthClient, redeemed: &RefreshGrant) -> Vec<String> {
    redeemed
        .scopes
        .iter()
        .filter(|scope| client.scopes.contains(scope))
        .cloned()
        .collect()
}

/// What the secret presented for an unknown client id is compared with. Answering an unknown id
/// then costs the same salted hash and comparison as answering a wrong secret for a known one,
/// so the time of the answer does not tell which client ids exist. Made like every client's
/// hash, from a random secret nobody knows.
static UNKNOWN_CLIENT_SECRET_HASH: LazyLock<SecretHash> =
    LazyLock::new(|| SecretHash::new(&super::generate_token()));

/// The hash `secret` is compared with: the client's, or for an unknown client the stand-in.
fn secret_hash_to_compare(client: Option<&OAuthClient>) -> &SecretHash {
    client.map_or(&UNKNOWN_CLIENT_SECRET_HASH, |client| &client.secret_hash)
}

/// The client, if it exists and `secret` is its secret; the comparison is made either way.
fn verify_secret(client: Option<OAuthClient>, secret: &str) -> Option<OAuthClient> {
    // black_box: the result is unused for an unknown client, and the comparison must not be
    // optimised away on that path.
    let matches = std::hint::black_box(secret_hash_to_compare(client.as_ref()).matches(secret));
    client.filter(|_| matches)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn configured(secret: &str) -> ConfiguredClient {
        ConfiguredClient {
            client_id: "c".into(),
            client_secret: secret.into(),
            grants: all_grants(),
            scopes: default_scopes(),
            token_lifetime_secs: 60,
            rotate_refresh_tokens: false,
        }
    }

    #[test]
    fn configured_clients_need_strong_secrets() {
        let refused = configured("short").into_client().unwrap_err();
        assert!(
            refused.contains("5 characters") && refused.contains("openssl rand"),
            "the error says what is wrong and what to do: {refused}"
        );
        assert!(
            configured("a-secret-of-twenty-four-c")
                .into_client()
                .is_ok()
        );
    }

    /// The behaviour that keeps the timing even, not the timing itself: an unknown client id
    /// gets its secret compared with a stand-in hash that `matches` works through in full,
    /// exactly as with a known client's hash, and is refused whatever the secret.
    #[test]
    fn an_unknown_client_id_gets_a_full_secret_comparison_and_is_refused() {
        let secret = "a-long-enough-client-secret";
        let known = configured(secret).into_client().unwrap();
        assert!(std::ptr::eq(
            secret_hash_to_compare(Some(&known)),
            &known.secret_hash
        ));
        assert!(std::ptr::eq(
            secret_hash_to_compare(None),
            &*UNKNOWN_CLIENT_SECRET_HASH
        ));
        let stand_in = UNKNOWN_CLIENT_SECRET_HASH
            .salt_and_digest()
            .expect("the stand-in is in our format, so matches hashes the secret");
        let (salt, digest) = known.secret_hash.salt_and_digest().unwrap();
        assert_eq!(
            (stand_in.0.len(), stand_in.1.len()),
            (salt.len(), digest.len()),
            "as much to hash and compare as for a known client"
        );

        assert_eq!(verify_secret(None, secret), None);
        assert_eq!(verify_secret(None, ""), None);
        assert_eq!(verify_secret(Some(known.clone()), "wrong"), None);
        assert_eq!(verify_secret(Some(known.clone()), secret), Some(known));
    }

    #[test]
    fn scopes_are_those_allowed_now_and_on_a_refresh_those_of_the_token() {
        let client = OAuthClient {
            scopes: vec!["a".into(), "b".into()],
            ..configured("a-long-enough-client-secret")
                .into_client()
                .unwrap()
        };
        let refreshed = |scopes: &[&str]| {
            RefreshGrant::new(
                "d".into(),
                "c".into(),
                scopes.iter().map(|s| (*s).to_owned()).collect(),
                i64::MAX,
            )
        };
        let granted = |asked, token: Option<&RefreshGrant>| {
            granted_scopes(asked, &client, token).map_err(|e| e.code)
        };
        assert_eq!(granted(None, None), Ok(vec!["a".into(), "b".into()]));
        assert_eq!(granted(Some(" b "), None), Ok(vec!["b".into()]));
        assert_eq!(granted(Some("c"), None), Err(OAuthErrorCode::InvalidScope));

        let token = refreshed(&["a"]);
        assert_eq!(granted(None, Some(&token)), Ok(vec!["a".into()]));
        assert_eq!(
            granted(Some("b"), Some(&token)),
            Err(OAuthErrorCode::InvalidScope),
            "never wider than the token"
        );
        // The client was narrowed to a and b after this token was granted a, b and c.
        let outlived = refreshed(&["a", "b", "c"]);
        assert_eq!(
            granted(None, Some(&outlived)),
            Err(OAuthErrorCode::InvalidScope),
            "a left-out scope asks for all the token was granted"
        );
        assert_eq!(
            granted(Some("a b"), Some(&outlived)),
            Ok(vec!["a".into(), "b".into()])
        );
    }

    #[test]
    fn a_rotated_refresh_token_keeps_the_scope_of_the_old_one_that_the_client_still_has() {
        let client = OAuthClient {
            scopes: vec!["a".into(), "b".into()],
            ..configured("a-long-enough-client-secret")
                .into_client()
                .unwrap()
        };
        let redeemed = |scopes: &[&str]| {
            RefreshGrant::new(
                "d".into(),
                "c".into(),
                scopes.iter().map(|s| (*s).to_owned()).collect(),
                i64::MAX,
            )
        };
        assert_eq!(
            rotated_scopes(&client, &redeemed(&["b", "a"])),
            vec!["b".to_owned(), "a".to_owned()],
            "identical, whatever the access token was narrowed to"
        );
        assert_eq!(
            rotated_scopes(&client, &redeemed(&["a"])),
            vec!["a".to_owned()],
            "never wider than the old token"
        );
        // The client was narrowed to a and b after this token was granted a, b and c.
        assert_eq!(
            rotated_scopes(&client, &redeemed(&["a", "c", "b"])),
            vec!["a".to_owned(), "b".to_owned()],
            "never more than the client is allowed now"
        );
    }
}
