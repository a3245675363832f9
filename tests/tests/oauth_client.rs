//! A real OAuth 2.0 client library gets tokens from our endpoint with both grants and both
//! client-authentication methods, delivers with them, and no secret reaches a log line. Its own
//! test binary: log capture is per thread, and tests running beside it in other threads made
//! tracing's callsite cache skip the capturing subscriber now and then.

use e2e_tests::logs;
use e2e_tests::oauth::{deliver_with, http_client};
use e2e_tests::stack::{self, OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET, client};
use oauth2::basic::BasicClient;
use oauth2::{AuthType, ClientId, ClientSecret, RefreshToken, Scope, TokenResponse, TokenUrl};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn an_oauth2_client_gets_tokens_with_both_grants_and_both_auth_methods_and_delivers() {
    let (logs, _guard) = logs::capture();
    let (stack, _dir) = stack::embedded().await;
    let base = stack.url();
    let mut secrets = vec![OAUTH_CLIENT_SECRET.to_owned()];

    for (n, auth_type) in [AuthType::BasicAuth, AuthType::RequestBody]
        .into_iter()
        .enumerate()
    {
        let oauth = BasicClient::new(ClientId::new(OAUTH_CLIENT_ID.into()))
            .set_client_secret(ClientSecret::new(OAUTH_CLIENT_SECRET.into()))
            .set_token_uri(TokenUrl::new(format!("{base}/oauth/token")).unwrap())
            .set_auth_type(auth_type);
        let token = oauth
            .exchange_client_credentials()
            .add_scope(Scope::new("webhook.write".into()))
            .request_async(&http_client)
            .await
            .expect("client_credentials grant");
        assert_eq!(token.expires_in().unwrap().as_secs(), 3600);
        assert_eq!(token.scopes().unwrap()[0].as_str(), "webhook.write");
        let (code, answer, _) = deliver_with(
            &base,
            token.access_token().secret(),
            &format!("wamid.cc-{n}"),
        )
        .await;
        assert_eq!(
            (code, answer),
            (StatusCode::OK, json!({"stored": 1, "duplicates": 0}))
        );

        let refresh = token
            .refresh_token()
            .expect("the client may refresh")
            .clone();
        let refreshed = oauth
            .exchange_refresh_token(&refresh)
            .request_async(&http_client)
            .await
            .expect("refresh_token grant");
        let (code, _, _) = deliver_with(
            &base,
            refreshed.access_token().secret(),
            &format!("wamid.rt-{n}"),
        )
        .await;
        assert_eq!(code, StatusCode::OK);
        assert!(
            refreshed.refresh_token().is_none(),
            "the client keeps its refresh token, as Insider One does"
        );
        let again = oauth
            .exchange_refresh_token(&refresh)
            .request_async(&http_client)
            .await
            .expect("the same refresh token works again");
        let (code, _, _) = deliver_with(
            &base,
            again.access_token().secret(),
            &format!("wamid.again-{n}"),
        )
        .await;
        assert_eq!(code, StatusCode::OK);
        secrets.extend([
            token.access_token().secret().clone(),
            refresh.secret().clone(),
            refreshed.access_token().secret().clone(),
            again.access_token().secret().clone(),
        ]);
    }

    // Revocation (RFC 7009) makes a refresh token useless.
    let body = client()
        .post(format!("{base}/oauth/token"))
        .basic_auth(OAUTH_CLIENT_ID, Some(OAUTH_CLIENT_SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();
    let revoked = client()
        .post(format!("{base}/oauth/revoke"))
        .basic_auth(OAUTH_CLIENT_ID, Some(OAUTH_CLIENT_SECRET))
        .form(&[("token", refresh.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    let oauth = BasicClient::new(ClientId::new(OAUTH_CLIENT_ID.into()))
        .set_client_secret(ClientSecret::new(OAUTH_CLIENT_SECRET.into()))
        .set_token_uri(TokenUrl::new(format!("{base}/oauth/token")).unwrap());
    let after = oauth
        .exchange_refresh_token(&RefreshToken::new(refresh.clone()))
        .request_async(&http_client)
        .await;
    assert!(format!("{:?}", after.unwrap_err()).contains("invalid_grant"));
    secrets.push(refresh);

    let logged = logs.text();
    assert!(
        logged.contains("access token issued"),
        "token issuance is logged"
    );
    for secret in &secrets {
        assert!(
            !logged.contains(secret.as_str()),
            "a secret reached the logs"
        );
    }
}
