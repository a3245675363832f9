//! Fresh stores for tests: an embedded one in a temporary folder, or a DynamoDB one on its own
//! table in the shared DynamoDB Local.

use std::time::Duration;

use shared::domain::oauth::{MintedClient, MintedFor, OAuthClient};
use shared::domain::query::{EventFilter, EventScope, PageRequest, Range};
use shared::store::dynamo::DynamoStore;
use shared::store::embedded::EmbeddedStore;
use shared::store::{ClientStore, EventsByContact, ListEvents, StoredEvent};

use crate::dynamodb_local;

pub const RETENTION: Duration = Duration::from_secs(7 * 86_400);

/// The store and the folder it lives in (removed when the guard drops).
pub fn embedded() -> (EmbeddedStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temporary folder");
    let store = EmbeddedStore::open(dir.path(), RETENTION).expect("embedded store opens");
    (store, dir)
}

/// A store on a new table of the shared DynamoDB Local, created as the template creates it.
pub async fn dynamo() -> DynamoStore {
    dynamo_at(dynamodb_local::shared().await.endpoint()).await
}

/// A store on a new table at `endpoint` (DynamoDB Local, or a proxy in front of it).
pub async fn dynamo_at(endpoint: &str) -> DynamoStore {
    let table = dynamodb_local::unique_table_name("events");
    let client = shared::config::endpoint_dynamo_client(endpoint, Duration::from_secs(30));
    let store = DynamoStore::new(client, table, RETENTION);
    store
        .create_table_if_missing()
        .await
        .expect("table is created");
    store
}

/// The first page of a tracking key's events, at most `limit`, unfiltered.
pub async fn events_of_key<S: ListEvents + ?Sized>(
    store: &S,
    key: &str,
    limit: usize,
) -> Vec<StoredEvent> {
    let scope = EventScope::Key {
        key: key.to_owned(),
        range: Range::default(),
    };
    let page = PageRequest { after: None, limit };
    store
        .list_events(&scope, &EventFilter::default(), &page)
        .await
        .expect("the key index answers")
        .events
}

/// The first page of a contact's events, at most `limit`, unfiltered.
pub async fn events_of_contact<S: EventsByContact + ?Sized>(
    store: &S,
    contact: &str,
    limit: usize,
) -> Vec<StoredEvent> {
    let page = PageRequest { after: None, limit };
    store
        .events_by_contact(contact, &Range::default(), &EventFilter::default(), &page)
        .await
        .expect("the contact index answers")
        .events
}

/// Runs each named `async fn(Arc<_>)` of the calling test file twice, as a test of module
/// `embedded` on a fresh embedded store and as one of module `dynamodb_local` on a new table of
/// the shared DynamoDB Local: one contract, both adapters.
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let (store, _dir) = $crate::stores::embedded();
                    super::$name(std::sync::Arc::new(store)).await;
                }
            )*
        }
        mod dynamodb_local {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(std::sync::Arc::new($crate::stores::dynamo().await)).await;
                }
            )*
        }
    };
}

/// Stores `client` as the management routes mint one (here for the transactional settings);
/// whether its id was free.
pub async fn mint(store: &dyn ClientStore, client: &OAuthClient) -> bool {
    let for_settings = MintedFor::Settings {
        sub_product: "transactional".into(),
    };
    store
        .create_client(
            client,
            &MintedClient::of(client, for_settings, shared::clock::now_millis()),
        )
        .await
        .expect("the client store answers")
}
