//! Secrets read once per cold start (Secrets Manager, and SSM for the webhook tokens) and the
//! forms their texts take. Behind the `secrets` feature: only the functions that read secrets
//! (receiver, token endpoint, management) compile and link those two SDK clients.

use aws_config::SdkConfig;
use base64::Engine;

use super::{ConfigError, insider_credentials_from, token_names};
use crate::auth::access_tokens::{AccessTokens, SigningKey};
use crate::auth::oauth::ConfiguredClient;
use crate::domain::oauth::OAuthClient;
use crate::insider::Credentials;

/// The access-token signer and verifier, when signing keys are configured. A secret that holds
/// no key yet (as the template creates it) is not an error here: the receiver keeps accepting
/// static tokens, and the token endpoint refuses to start (see [`super::token_service`]).
pub(super) async fn access_tokens(sdk: &SdkConfig) -> Result<Option<AccessTokens>, ConfigError> {
    let Ok(name) = std::env::var("OAUTH_SIGNING_KEYS_SECRET") else {
        return Ok(None);
    };
    let keys = parse_signing_keys(&read_secret(sdk, &name).await?).map_err(|reason| {
        ConfigError::Secret {
            name: name.clone(),
            reason,
        }
    })?;
    if keys.is_empty() {
        tracing::error!(
            secret = %name,
            "the signing keys secret holds no key: OAuth 2.0 access tokens are refused until one is set"
        );
        return Ok(None);
    }
    let (issuer, audience) = token_names();
    AccessTokens::new(keys, issuer, audience)
        .map(Some)
        .map_err(|e| ConfigError::Secret {
            name,
            reason: e.to_string(),
        })
}

/// Reads `{"keys": [{"kid", "secret"}]}` (or the bare array); secrets are base64.
pub fn parse_signing_keys(text: &str) -> Result<Vec<SigningKey>, String> {
    #[derive(serde::Deserialize)]
    struct Key {
        kid: String,
        secret: String,
    }
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Keys {
        Object { keys: Vec<Key> },
        List(Vec<Key>),
    }
    let keys = match serde_json::from_str::<Keys>(text) {
        Ok(Keys::Object { keys } | Keys::List(keys)) => keys,
        Err(_) => return Err("expected {\"keys\": [{\"kid\": ..., \"secret\": <base64>}]}".into()),
    };
    keys.into_iter()
        .map(|key| {
            let secret = base64::engine::general_purpose::STANDARD
                .decode(key.secret.trim())
                .map_err(|_| format!("the secret of key {} is not base64", key.kid))?;
            SigningKey::new(key.kid, secret).map_err(|e| e.to_string())
        })
        .collect()
}

/// Reads the configured OAuth clients (a JSON array) and hashes their secrets.
pub fn parse_clients(text: &str) -> Result<Vec<OAuthClient>, String> {
    let clients: Vec<ConfiguredClient> = serde_json::from_str(text)
        .map_err(|e| format!("expected a JSON array of OAuth clients: {e}"))?;
    clients
        .into_iter()
        .map(ConfiguredClient::into_client)
        .collect()
}

/// Our Insider One credentials: from the Secrets Manager secret `INSIDER_CREDENTIALS_SECRET`
/// names, `{"client_id", "client_secret", "ins_auth_key"}`, when it is set (AWS), else from
/// `INSIDER_CLIENT_ID`, `INSIDER_CLIENT_SECRET` and `INSIDER_INS_AUTH_KEY` (outside AWS, where
/// there is no Secrets Manager). Blank values count as unset either way, so that the placeholder
/// secret the template creates reads as "not configured". `env` looks a variable up: the
/// process environment in the functions, a map in tests.
pub async fn insider_credentials(
    secrets: &aws_sdk_secretsmanager::Client,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Credentials, ConfigError> {
    let Some(name) = env("INSIDER_CREDENTIALS_SECRET").filter(|name| !name.trim().is_empty())
    else {
        return Ok(insider_credentials_from(env));
    };
    // The secret's text is never repeated: a malformed one may still hold a credential.
    let credentials: Credentials = serde_json::from_str(&secret_text(secrets, &name).await?)
        .map_err(|_| ConfigError::Secret {
            name,
            reason: "expected {\"client_id\", \"client_secret\", \"ins_auth_key\"}".into(),
        })?;
    Ok(credentials.blank_as_unset())
}

/// The webhook bearer tokens, from `WEBHOOK_TOKENS_SECRET` or else `WEBHOOK_TOKENS_PARAMETER`;
/// none when neither is set.
pub(super) async fn webhook_tokens(sdk: &SdkConfig) -> Result<Vec<String>, ConfigError> {
    if let Ok(name) = std::env::var("WEBHOOK_TOKENS_SECRET") {
        return parse_token_list(&read_secret(sdk, &name).await?)
            .map_err(|reason| ConfigError::Secret { name, reason });
    }
    if let Ok(name) = std::env::var("WEBHOOK_TOKENS_PARAMETER") {
        let parameter = aws_sdk_ssm::Client::new(sdk)
            .get_parameter()
            .name(&name)
            .with_decryption(true)
            .send()
            .await
            .map_err(|e| secret_error(&name, e))?;
        let value = parameter
            .parameter()
            .and_then(|p| p.value())
            .unwrap_or_default();
        return parse_token_list(value).map_err(|reason| ConfigError::Secret { name, reason });
    }
    Ok(Vec::new())
}

/// The text of a Secrets Manager secret.
pub(super) async fn read_secret(sdk: &SdkConfig, name: &str) -> Result<String, ConfigError> {
    secret_text(&aws_sdk_secretsmanager::Client::new(sdk), name).await
}

async fn secret_text(
    secrets: &aws_sdk_secretsmanager::Client,
    name: &str,
) -> Result<String, ConfigError> {
    let secret = secrets
        .get_secret_value()
        .secret_id(name)
        .send()
        .await
        .map_err(|e| secret_error(name, e))?;
    Ok(secret.secret_string().unwrap_or_default().to_owned())
}

/// Reads a token list in any of the documented forms; blank entries are dropped. Text that
/// begins as JSON does (`[`, `{` or `"`) must be JSON of one of those forms: a list with a
/// typo is refused (the reason never quotes the value) rather than taken as one literal token.
pub fn parse_token_list(text: &str) -> Result<Vec<String>, String> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Tokens {
        List(Vec<String>),
        Object { tokens: Vec<String> },
        One(String),
    }
    let text = text.trim();
    let tokens = match serde_json::from_str::<Tokens>(text) {
        Ok(Tokens::List(list) | Tokens::Object { tokens: list }) => list,
        Ok(Tokens::One(one)) => vec![one],
        Err(e) if text.starts_with(['[', '{', '"']) => {
            return Err(format!(
                "it begins as JSON but is not a list of tokens, {{\"tokens\": [...]}} or one string (line {}, column {})",
                e.line(),
                e.column()
            ));
        }
        Err(_) => text.lines().map(str::to_owned).collect(),
    };
    Ok(tokens
        .into_iter()
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .collect())
}

/// The SDK error's own text names the failure (missing, access denied) but never the value.
fn secret_error(name: &str, error: impl std::error::Error + 'static) -> ConfigError {
    ConfigError::Secret {
        name: name.to_owned(),
        reason: aws_sdk_dynamodb::error::DisplayErrorContext(&error).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_clients, parse_signing_keys, parse_token_list};

    #[test]
    fn token_lists_in_every_documented_form() {
        let parse = |text| parse_token_list(text).unwrap();
        assert_eq!(parse("abc"), ["abc"]);
        assert_eq!(parse(" abc \n"), ["abc"]);
        assert_eq!(parse(r#"["a", "b", " "]"#), ["a", "b"]);
        assert_eq!(parse(r#"{"tokens": ["a", "b"]}"#), ["a", "b"]);
        assert_eq!(parse("a\nb\n\n"), ["a", "b"]);
        assert!(parse("").is_empty());
        assert!(parse("[]").is_empty());
        for malformed in [
            r#"["token-one", "#,
            r#"{"tokens": "token-one"}"#,
            r#""token-one"#,
        ] {
            let reason = parse_token_list(malformed).unwrap_err();
            assert!(!reason.contains("token-one"), "{reason}");
        }
    }

    #[test]
    fn signing_keys_and_clients_from_their_secrets() {
        let secret = "c2lnbmluZy1rZXktb2YtYXQtbGVhc3QtdGhpcnR5LXR3by1ieXRlcw==";
        let keys = parse_signing_keys(&format!(
            r#"{{"keys": [{{"kid": "new", "secret": "{secret}"}}, {{"kid": "old", "secret": "{secret}"}}]}}"#
        ))
        .unwrap();
        assert_eq!(
            keys.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(),
            ["new", "old"]
        );
        assert!(parse_signing_keys(r#"[{"kid": "k", "secret": "c2hvcnQ="}]"#).is_err());
        // The placeholder the template creates reads as "no key yet", not as an error.
        assert!(
            parse_signing_keys(r#"{"keys": [], "note": "set a key: see infra/README.md"}"#)
                .unwrap()
                .is_empty()
        );
        assert!(parse_signing_keys(r#"[{"kid": "k", "secret": "not base64!"}]"#).is_err());

        let clients = parse_clients(
            r#"[{"client_id": "insider", "client_secret": "a-long-client-secret-value", "grants": ["client_credentials"]}]"#,
        )
        .unwrap();
        assert_eq!(clients[0].client_id, "insider");
        assert!(clients[0].secret_hash.matches("a-long-client-secret-value"));
        assert_eq!(clients[0].scopes, crate::domain::oauth::default_scopes());
        assert!(parse_clients(r#"[{"client_id": "x", "client_secret": "short"}]"#).is_err());
    }
}
