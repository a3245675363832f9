//! One client-store contract, two adapters: every test below runs against the embedded store and
//! against the DynamoDB adapter on real DynamoDB Local, as `store_contract.rs` does for events.
//! The token endpoint relies on all of it: clients minted at run time, and refresh tokens kept by
//! digest, each client's own, used or revoked at most once, and rotated in one atomic write.

use std::sync::Arc;

use shared::auth::oauth::refresh_token_digest;
use shared::clock::now_millis;
use shared::domain::oauth::{GrantType, MintedClient, MintedFor, OAuthClient, SecretHash};
use shared::store::{ClientStore, RefreshGrant, StoreError};

fn client(client_id: &str, secret: &str) -> OAuthClient {
    OAuthClient {
        client_id: client_id.to_owned(),
        secret_hash: SecretHash::new(secret),
        grants: vec![GrantType::ClientCredentials, GrantType::RefreshToken],
        scopes: vec!["webhook.write".into(), "whatsapp.read".into()],
        token_lifetime_secs: 600,
        rotate_refresh_tokens: true,
    }
}

/// A grant of `client_id` for the refresh token `token`, expiring `lifetime_secs` from now
/// (negative: already expired).
fn grant(token: &str, client_id: &str, lifetime_secs: i64) -> RefreshGrant {
    RefreshGrant::new(
        refresh_token_digest(token),
        client_id.to_owned(),
        vec!["webhook.write".into()],
        now_millis() / 1000 + lifetime_secs,
    )
}

const DAY: i64 = 86_400;

/// What the tests' clients are minted for: a webhook of this sender.
fn for_webhook(webhook_id: Option<u64>) -> MintedFor {
    MintedFor::Webhook {
        phone_number: "15551234567".into(),
        webhook_id,
    }
}

/// Mints `client` for a webhook being created; whether its id was free.
async fn mint(store: &Arc<dyn ClientStore>, client: &OAuthClient) -> bool {
    store
        .create_client(
            client,
            &MintedClient::of(client, for_webhook(None), now_millis()),
        )
        .await
        .unwrap()
}

async fn a_created_client_is_found_as_created(store: Arc<dyn ClientStore>) {
    let created = client("insider-0a1b2c3d", "a-long-enough-client-secret");
    assert!(mint(&store, &created).await);
    let found = store
        .find_client("insider-0a1b2c3d")
        .await
        .unwrap()
        .expect("the client is found");
    assert_eq!(found, created);
    assert!(found.secret_hash.matches("a-long-enough-client-secret"));
    assert_eq!(store.find_client("insider-unknown").await.unwrap(), None);
}

async fn a_taken_client_id_is_never_overwritten(store: Arc<dyn ClientStore>) {
    let first = client("insider-taken", "the-first-client-secret-000");
    assert!(mint(&store, &first).await);
    let second = client("insider-taken", "the-second-client-secret-00");
    assert!(!mint(&store, &second).await);
    assert_eq!(
        store.find_client("insider-taken").await.unwrap(),
        Some(first),
        "the first client keeps its secret"
    );
}

async fn a_deleted_client_is_gone_and_its_id_free_again(store: Arc<dyn ClientStore>) {
    let minted = client("insider-withdrawn", "a-secret-nobody-was-shown-0");
    assert!(mint(&store, &minted).await);
    assert!(store.delete_client("insider-withdrawn").await.unwrap());
    assert_eq!(store.find_client("insider-withdrawn").await.unwrap(), None);
    assert!(
        !store.delete_client("insider-withdrawn").await.unwrap(),
        "a second delete finds nothing"
    );
    assert!(!store.delete_client("insider-never").await.unwrap());
    assert!(mint(&store, &minted).await, "the id is free");
}

async fn concurrent_creates_of_one_id_have_one_winner(store: Arc<dyn ClientStore>) {
    let tasks: Vec<_> = (0..8)
        .map(|n| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let candidate = client("insider-raced", &format!("secret-of-candidate-{n:04}"));
                let created = mint(&store, &candidate).await;
                (created, candidate)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        let (created, candidate) = task.await.unwrap();
        if created {
            winners.push(candidate);
        }
    }
    assert_eq!(winners.len(), 1, "exactly one create succeeds");
    assert_eq!(
        store.find_client("insider-raced").await.unwrap(),
        winners.pop()
    );
}

async fn a_refresh_token_is_found_only_by_its_client(store: Arc<dyn ClientStore>) {
    let saved = grant("refresh-token-one", "client-a", 30 * DAY);
    store.save_refresh_token(&saved).await.unwrap();
    for _ in 0..2 {
        assert_eq!(
            store
                .find_refresh_token(&saved.digest, "client-a")
                .await
                .unwrap(),
            Some(saved.clone()),
            "finding leaves the token usable"
        );
    }
    assert_eq!(
        store
            .find_refresh_token(&saved.digest, "client-b")
            .await
            .unwrap(),
        None,
        "another client's token is not found"
    );
    let unknown = refresh_token_digest("never-issued");
    assert_eq!(
        store
            .find_refresh_token(&unknown, "client-a")
            .await
            .unwrap(),
        None
    );
}

/// The store returns an expired grant, with its expiry, until its TTL deletes it: the token
/// endpoint refuses it by `expires_at`, so the expiry must come back exactly as saved.
async fn an_expired_refresh_token_keeps_its_expiry(store: Arc<dyn ClientStore>) {
    let expired = grant("refresh-token-expired", "client-a", -60);
    store.save_refresh_token(&expired).await.unwrap();
    let found = store
        .find_refresh_token(&expired.digest, "client-a")
        .await
        .unwrap();
    assert_eq!(found, Some(expired));
}

async fn a_refresh_token_is_taken_once_and_only_by_its_client(store: Arc<dyn ClientStore>) {
    let saved = grant("refresh-token-taken", "client-a", 30 * DAY);
    store.save_refresh_token(&saved).await.unwrap();
    assert_eq!(
        store
            .take_refresh_token(&saved.digest, "client-b")
            .await
            .unwrap(),
        None,
        "another client cannot take it"
    );
    assert_eq!(
        store
            .take_refresh_token(&saved.digest, "client-a")
            .await
            .unwrap(),
        Some(saved.clone()),
        "another client's attempt left it in place"
    );
    assert_eq!(
        store
            .take_refresh_token(&saved.digest, "client-a")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .find_refresh_token(&saved.digest, "client-a")
            .await
            .unwrap(),
        None,
        "a revoked token is gone"
    );
}

async fn concurrent_takes_of_one_refresh_token_have_one_winner(store: Arc<dyn ClientStore>) {
    let saved = grant("refresh-token-raced", "client-a", 30 * DAY);
    store.save_refresh_token(&saved).await.unwrap();
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (store, digest) = (Arc::clone(&store), saved.digest.clone());
            tokio::spawn(async move { store.take_refresh_token(&digest, "client-a").await })
        })
        .collect();
    let mut taken = Vec::new();
    for task in tasks {
        taken.extend(task.await.unwrap().expect("every take is answered"));
    }
    assert_eq!(taken, vec![saved], "exactly one take gets the grant");
}

async fn a_rotation_replaces_the_old_refresh_token_in_one_step(store: Arc<dyn ClientStore>) {
    let old = grant("refresh-token-old", "client-a", 30 * DAY);
    store.save_refresh_token(&old).await.unwrap();
    let new = RefreshGrant {
        family: old.family.clone(),
        ..grant("refresh-token-new", "client-a", 30 * DAY)
    };
    assert!(
        !store
            .rotate_refresh_token(&old.digest, "client-b", &new)
            .await
            .unwrap(),
        "another client cannot rotate it"
    );
    assert_eq!(
        store
            .find_refresh_token(&new.digest, "client-a")
            .await
            .unwrap(),
        None,
        "a refused rotation writes nothing"
    );
    assert!(
        store
            .rotate_refresh_token(&old.digest, "client-a", &new)
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .find_refresh_token(&old.digest, "client-a")
            .await
            .unwrap(),
        Some(RefreshGrant {
            used: true,
            ..old.clone()
        }),
        "the old token is kept, used, so that a replay of it is seen"
    );
    assert_eq!(
        store
            .find_refresh_token(&new.digest, "client-a")
            .await
            .unwrap(),
        Some(new.clone())
    );
    let again = grant("refresh-token-again", "client-a", 30 * DAY);
    assert!(
        !store
            .rotate_refresh_token(&old.digest, "client-a", &again)
            .await
            .unwrap(),
        "a rotated-out token cannot be rotated again"
    );
    assert_eq!(
        store
            .find_refresh_token(&again.digest, "client-a")
            .await
            .unwrap(),
        None
    );
}

/// The new token's write fails (its digest is taken, the one failure a test can cause on both
/// adapters): the old token must be left in place, and the token in the way untouched.
async fn a_failed_rotation_leaves_the_old_refresh_token_usable(store: Arc<dyn ClientStore>) {
    let old = grant("refresh-token-kept", "client-a", 30 * DAY);
    store.save_refresh_token(&old).await.unwrap();
    let in_the_way = grant("refresh-token-in-the-way", "client-b", 7 * DAY);
    store.save_refresh_token(&in_the_way).await.unwrap();
    let colliding = RefreshGrant {
        client_id: "client-a".into(),
        scopes: vec!["whatsapp.read".into()],
        ..in_the_way.clone()
    };
    let refused = store
        .rotate_refresh_token(&old.digest, "client-a", &colliding)
        .await;
    assert!(
        matches!(refused, Err(StoreError::Rejected(_))),
        "{refused:?}"
    );
    assert_eq!(
        store
            .find_refresh_token(&old.digest, "client-a")
            .await
            .unwrap(),
        Some(old),
        "the old token still works"
    );
    assert_eq!(
        store
            .find_refresh_token(&in_the_way.digest, "client-b")
            .await
            .unwrap(),
        Some(in_the_way)
    );
}

/// Rotates, trying again while the store answers that it is unavailable: DynamoDB cancels
/// transactions that race on one item, and the token endpoint answers that with a 503 its
/// client retries.
async fn rotate_until_answered(
    store: &dyn ClientStore,
    digest: &str,
    replacement: &RefreshGrant,
) -> bool {
    for _ in 0..20 {
        match store
            .rotate_refresh_token(digest, &replacement.client_id, replacement)
            .await
        {
            Ok(rotated) => return rotated,
            Err(StoreError::Unavailable(_)) => {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            Err(other) => panic!("the rotation failed: {other}"),
        }
    }
    panic!("the rotation was cancelled at every attempt");
}

async fn concurrent_rotations_of_one_refresh_token_have_one_winner(store: Arc<dyn ClientStore>) {
    let old = grant("refresh-token-rotated-in-a-race", "client-a", 30 * DAY);
    store.save_refresh_token(&old).await.unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|n| {
            let (store, digest) = (Arc::clone(&store), old.digest.clone());
            tokio::spawn(async move {
                let replacement = grant(&format!("replacement-{n}"), "client-a", 30 * DAY);
                let rotated = rotate_until_answered(store.as_ref(), &digest, &replacement).await;
                (rotated, replacement)
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    assert_eq!(
        outcomes.iter().filter(|(rotated, _)| *rotated).count(),
        1,
        "exactly one rotation wins"
    );
    for (rotated, replacement) in outcomes {
        let stored = store
            .find_refresh_token(&replacement.digest, "client-a")
            .await
            .unwrap();
        assert_eq!(
            stored.is_some(),
            rotated,
            "only the winner's token is stored"
        );
    }
    assert_eq!(
        store
            .find_refresh_token(&old.digest, "client-a")
            .await
            .unwrap()
            .map(|grant| grant.used),
        Some(true),
        "the old token is kept, used"
    );
}

async fn the_ledger_lists_each_minted_client_with_what_it_is_for(store: Arc<dyn ClientStore>) {
    let webhook = client("insider-webhook1", "a-long-enough-client-secret");
    let settings = client("insider-settings", "another-long-enough-client-secret");
    assert!(mint(&store, &webhook).await);
    let for_settings = MintedFor::Settings {
        sub_product: "conversational".into(),
    };
    assert!(
        store
            .create_client(
                &settings,
                &MintedClient::of(&settings, for_settings.clone(), now_millis())
            )
            .await
            .unwrap()
    );
    let ledger = store.minted_clients().await.unwrap();
    let ids: Vec<&str> = ledger.iter().map(|e| e.client_id.as_str()).collect();
    assert_eq!(ids, ["insider-settings", "insider-webhook1"]);
    assert_eq!(ledger[0].minted_for, for_settings);
    assert_eq!(ledger[0].grants, settings.grants);
    assert_eq!(ledger[0].scopes, settings.scopes);
    assert!(ledger[0].minted_at > now_millis() - 60_000);

    // The webhook's id, once Insider One created it.
    assert!(
        store
            .set_minted_for("insider-webhook1", &for_webhook(Some(84)))
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_minted_for("insider-unknown", &for_webhook(Some(84)))
            .await
            .unwrap()
    );
    let ledger = store.minted_clients().await.unwrap();
    assert_eq!(ledger[1].minted_for, for_webhook(Some(84)));
    assert_eq!(ledger.len(), 2, "nothing was added for an unknown client");

    // Withdrawn: gone from the ledger with the client.
    assert!(store.delete_client("insider-webhook1").await.unwrap());
    let ledger = store.minted_clients().await.unwrap();
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0].client_id, "insider-settings");
    assert_eq!(store.find_client("insider-webhook1").await.unwrap(), None);
}

async fn a_taken_id_adds_no_ledger_entry(store: Arc<dyn ClientStore>) {
    let first = client("insider-taken", "a-long-enough-client-secret");
    assert!(mint(&store, &first).await);
    let settings = MintedFor::Settings {
        sub_product: "transactional".into(),
    };
    let second = client("insider-taken", "another-long-enough-client-secret");
    assert!(
        !store
            .create_client(&second, &MintedClient::of(&second, settings, now_millis()))
            .await
            .unwrap()
    );
    let ledger = store.minted_clients().await.unwrap();
    assert_eq!(ledger.len(), 1);
    assert_eq!(
        ledger[0].minted_for,
        for_webhook(None),
        "the first entry stays"
    );
}

async fn a_replayed_family_loses_its_live_token_and_only_it(store: Arc<dyn ClientStore>) {
    let first = grant("refresh-token-first", "client-a", 30 * DAY);
    store.save_refresh_token(&first).await.unwrap();
    let second = RefreshGrant {
        family: first.family.clone(),
        ..grant("refresh-token-second", "client-a", 30 * DAY)
    };
    let third = RefreshGrant {
        family: first.family.clone(),
        ..grant("refresh-token-third", "client-a", 30 * DAY)
    };
    assert!(
        store
            .rotate_refresh_token(&first.digest, "client-a", &second)
            .await
            .unwrap()
    );
    assert!(
        store
            .rotate_refresh_token(&second.digest, "client-a", &third)
            .await
            .unwrap()
    );
    let other_family = grant("refresh-token-elsewhere", "client-a", 30 * DAY);
    store.save_refresh_token(&other_family).await.unwrap();

    assert!(
        !store
            .revoke_refresh_family(&first.family, "client-b")
            .await
            .unwrap(),
        "another client's request revokes nothing"
    );
    assert!(
        store
            .revoke_refresh_family(&first.family, "client-a")
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .find_refresh_token(&third.digest, "client-a")
            .await
            .unwrap(),
        None,
        "the family's live token is revoked"
    );
    assert!(
        store
            .find_refresh_token(&other_family.digest, "client-a")
            .await
            .unwrap()
            .is_some(),
        "another family of the client keeps its token"
    );
    assert!(
        !store
            .revoke_refresh_family(&first.family, "client-a")
            .await
            .unwrap(),
        "nothing is left to revoke"
    );
}

e2e_tests::on_both_stores!(
    a_replayed_family_loses_its_live_token_and_only_it,
    the_ledger_lists_each_minted_client_with_what_it_is_for,
    a_taken_id_adds_no_ledger_entry,
    a_created_client_is_found_as_created,
    a_taken_client_id_is_never_overwritten,
    a_deleted_client_is_gone_and_its_id_free_again,
    concurrent_creates_of_one_id_have_one_winner,
    a_refresh_token_is_found_only_by_its_client,
    an_expired_refresh_token_keeps_its_expiry,
    a_refresh_token_is_taken_once_and_only_by_its_client,
    concurrent_takes_of_one_refresh_token_have_one_winner,
    a_rotation_replaces_the_old_refresh_token_in_one_step,
    a_failed_rotation_leaves_the_old_refresh_token_usable,
    concurrent_rotations_of_one_refresh_token_have_one_winner,
);
