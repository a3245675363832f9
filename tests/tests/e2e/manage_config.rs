//! Where the management functions get our Insider One credentials: the Secrets Manager secret
//! `INSIDER_CREDENTIALS_SECRET` names (moto's Secrets Manager here), else the environment. The
//! environment is a map handed to `shared::config::insider_credentials`, so no test changes the
//! process's own.

use std::collections::HashMap;

use aws_sdk_secretsmanager::config as sm;
use e2e_tests::moto::Moto;
use shared::config::{ConfigError, insider_credentials};

fn secrets_client(moto: &Moto) -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::from_conf(
        sm::Config::builder()
            .behavior_version(sm::BehaviorVersion::latest())
            .region(sm::Region::new("us-east-1"))
            .endpoint_url(moto.endpoint())
            .credentials_provider(sm::Credentials::new("test", "test", None, None, "moto"))
            .build(),
    )
}

/// A lookup in `variables`, as the functions look variables up in their environment.
fn env(variables: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let variables: HashMap<String, String> = variables
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
    move |name| variables.get(name).cloned()
}

async fn put_secret(secrets: &aws_sdk_secretsmanager::Client, name: &str, text: &str) {
    secrets
        .create_secret()
        .name(name)
        .secret_string(text)
        .send()
        .await
        .expect("moto creates the secret");
}

#[tokio::test]
async fn the_secret_is_read_when_named_and_its_blank_values_count_as_unset() {
    let moto = Moto::start().await;
    let secrets = secrets_client(&moto);
    put_secret(
        &secrets,
        "insider-credentials",
        r#"{"client_id": "gw-client", "client_secret": " gw-secret-value ", "ins_auth_key": " "}"#,
    )
    .await;
    // The secret wins over the environment, whose values would otherwise be used.
    let credentials = insider_credentials(
        &secrets,
        env(&[
            ("INSIDER_CREDENTIALS_SECRET", "insider-credentials"),
            ("INSIDER_CLIENT_ID", "env-client"),
            ("INSIDER_INS_AUTH_KEY", "env-key"),
        ]),
    )
    .await
    .expect("the secret is read");
    assert_eq!(credentials.client_id.as_deref(), Some("gw-client"));
    assert_eq!(
        credentials.client_secret.as_deref(),
        Some("gw-secret-value")
    );
    assert_eq!(credentials.ins_auth_key, None, "blank is unset");

    // The placeholder the template creates: every value blank, so nothing is configured.
    put_secret(
        &secrets,
        "placeholder",
        r#"{"client_id": "", "client_secret": "", "ins_auth_key": ""}"#,
    )
    .await;
    let placeholder = insider_credentials(
        &secrets,
        env(&[("INSIDER_CREDENTIALS_SECRET", "placeholder")]),
    )
    .await
    .unwrap();
    assert_eq!(
        (
            placeholder.client_id,
            placeholder.client_secret,
            placeholder.ins_auth_key
        ),
        (None, None, None)
    );
}

#[tokio::test]
async fn a_secret_that_cannot_be_read_is_an_error_that_never_quotes_it() {
    let moto = Moto::start().await;
    let secrets = secrets_client(&moto);
    put_secret(&secrets, "not-json", "client_secret=leaked-if-quoted").await;
    let error = insider_credentials(&secrets, env(&[("INSIDER_CREDENTIALS_SECRET", "not-json")]))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ConfigError::Secret { name, .. } if name == "not-json"),
        "{error}"
    );
    assert!(!error.to_string().contains("leaked-if-quoted"), "{error}");

    let missing = insider_credentials(
        &secrets,
        env(&[("INSIDER_CREDENTIALS_SECRET", "no-such-secret")]),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&missing, ConfigError::Secret { name, .. } if name == "no-such-secret"),
        "{missing}"
    );
}

#[tokio::test]
async fn without_a_secret_the_environment_is_read_and_blank_values_count_as_unset() {
    // No AWS call is made without a secret name: this client points at nothing that answers.
    let unreachable = aws_sdk_secretsmanager::Client::from_conf(
        sm::Config::builder()
            .behavior_version(sm::BehaviorVersion::latest())
            .region(sm::Region::new("us-east-1"))
            .endpoint_url(e2e_tests::manage::closed_port_url())
            .credentials_provider(sm::Credentials::new("test", "test", None, None, "none"))
            .build(),
    );
    let credentials = insider_credentials(
        &unreachable,
        env(&[
            ("INSIDER_CREDENTIALS_SECRET", " "),
            ("INSIDER_CLIENT_ID", "env-client"),
            ("INSIDER_CLIENT_SECRET", "env-secret\n"),
            ("INSIDER_INS_AUTH_KEY", ""),
        ]),
    )
    .await
    .expect("the environment is read");
    assert_eq!(credentials.client_id.as_deref(), Some("env-client"));
    assert_eq!(credentials.client_secret.as_deref(), Some("env-secret"));
    assert_eq!(credentials.ins_auth_key, None);

    let nothing = insider_credentials(&unreachable, env(&[])).await.unwrap();
    assert_eq!(
        (
            nothing.client_id,
            nothing.client_secret,
            nothing.ins_auth_key
        ),
        (None, None, None)
    );
}
