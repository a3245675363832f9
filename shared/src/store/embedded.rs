//! The embedded adapter: a SQLite file, for the local stack and for users without AWS.
//!
//! A whole batch is one SQLite transaction, so it is stored completely or not at all. Duplicates
//! are absorbed by the primary key on the event id (`INSERT OR IGNORE`), and status changes are
//! applied with the domain's own rules inside the same transaction.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use super::{
    ClientStore, EventsByKey, MessageRecord, ReadMessage, RefreshGrant, StoreError, StoreFuture,
    StoredEvent, WriteEvents, WriteReport, expiry, time_order,
};
use crate::auth::oauth::OAuthClient;
use crate::domain::{MessageState, SubProduct, status_changes};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    event_id    TEXT PRIMARY KEY,
    message_id  TEXT,
    key         TEXT,
    occurred_at INTEGER,
    received_at INTEGER NOT NULL,
    sub_product TEXT NOT NULL,
    expires_at  INTEGER NOT NULL,
    event       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_message ON events (message_id, occurred_at, received_at);
CREATE INDEX IF NOT EXISTS events_by_key ON events (key, occurred_at, received_at);
CREATE TABLE IF NOT EXISTS oauth_clients (
    client_id TEXT PRIMARY KEY,
    client    TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS refresh_tokens (
    digest     TEXT PRIMARY KEY,
    client_id  TEXT NOT NULL,
    scopes     TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS message_status (
    message_id TEXT PRIMARY KEY,
    key        TEXT,
    expires_at INTEGER NOT NULL,
    state      TEXT NOT NULL
);
";

#[derive(Clone)]
pub struct EmbeddedStore {
    connection: Arc<Mutex<Connection>>,
    retention: Duration,
}

impl EmbeddedStore {
    /// Opens (or creates) the store in `dir`, dropping items whose retention has passed.
    pub fn open(dir: &Path, retention: Duration) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
        })?;
        let connection = Connection::open(dir.join("events.sqlite3")).map_err(unavailable)?;
        Self::init(connection, retention)
    }

    /// A store that lives in memory only; for tests.
    pub fn in_memory(retention: Duration) -> Result<Self, StoreError> {
        Self::init(
            Connection::open_in_memory().map_err(unavailable)?,
            retention,
        )
    }

    fn init(connection: Connection, retention: Duration) -> Result<Self, StoreError> {
        // FULL makes every acknowledged batch survive a power cut, which a 200 promises.
        connection
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;",
            )
            .map_err(unavailable)?;
        connection.execute_batch(SCHEMA).map_err(unavailable)?;
        let now = crate::clock::now_millis() / 1000;
        for table in ["events", "message_status", "refresh_tokens"] {
            connection
                .execute(
                    &format!("DELETE FROM {table} WHERE expires_at < ?1"),
                    params![now],
                )
                .map_err(unavailable)?;
        }
        Ok(Self {
            connection: Arc::new(Mutex::new(connection)),
            retention,
        })
    }

    /// Runs a statement that yields one grant's `scopes, expires_at`, or nothing.
    fn refresh_grant<'a>(
        &'a self,
        sql: &'static str,
        digest: &str,
        client_id: &str,
    ) -> StoreFuture<'a, Option<RefreshGrant>> {
        let (digest, client_id) = (digest.to_owned(), client_id.to_owned());
        Box::pin(self.with_connection(move |connection| {
            let row: Option<(String, i64)> = connection
                .query_row(sql, params![digest, client_id], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })
                .optional()
                .map_err(unavailable)?;
            row.map(|(scopes, expires_at)| {
                Ok(RefreshGrant {
                    scopes: serde_json::from_str(&scopes)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    digest,
                    client_id,
                    expires_at,
                })
            })
            .transpose()
        }))
    }

    async fn with_connection<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let connection = Arc::clone(&self.connection);
        tokio::task::spawn_blocking(move || {
            let mut guard = connection
                .lock()
                .map_err(|_| StoreError::Unavailable("the store lock is poisoned".into()))?;
            work(&mut guard)
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("store task failed: {e}")))?
    }
}

impl WriteEvents for EmbeddedStore {
    fn write_events<'a>(&'a self, events: &'a [StoredEvent]) -> StoreFuture<'a, WriteReport> {
        Box::pin(async move {
            let rows = events
                .iter()
                .map(|e| {
                    let body = serde_json::to_string(&e.event)
                        .map_err(|e| StoreError::Rejected(e.to_string()))?;
                    Ok((e.clone(), body, expiry(e.received_at, self.retention)))
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            let changes = status_changes(events.iter().map(|e| &e.event));
            let expires_at = expiry(
                events.iter().map(|e| e.received_at).max().unwrap_or(0),
                self.retention,
            );
            self.with_connection(move |connection| {
                let tx = connection.transaction().map_err(unavailable)?;
                let mut report = WriteReport::default();
                for (stored, body, event_expires_at) in &rows {
                    let inserted = tx
                        .execute(
                            "INSERT OR IGNORE INTO events
                             (event_id, message_id, key, occurred_at, received_at, sub_product, expires_at, event)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                            params![
                                stored.event.id,
                                stored.event.message_id,
                                stored.event.key,
                                stored.event.occurred_at,
                                stored.received_at,
                                stored.sub_product.as_str(),
                                event_expires_at,
                                body
                            ],
                        )
                        .map_err(unavailable)?;
                    if inserted == 1 {
                        report.stored += 1;
                        report.new_event_ids.push(stored.event.id.clone());
                    } else {
                        report.duplicates += 1;
                    }
                }
                for change in &changes {
                    let current: Option<(String, Option<String>)> = tx
                        .query_row(
                            "SELECT state, key FROM message_status WHERE message_id = ?1",
                            params![change.message_id],
                            |row| Ok((row.get(0)?, row.get(1)?)),
                        )
                        .optional()
                        .map_err(unavailable)?;
                    let (mut state, key) = match current {
                        Some((json, key)) => (
                            serde_json::from_str::<MessageState>(&json)
                                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                            key,
                        ),
                        None => (MessageState::default(), None),
                    };
                    state.apply(change);
                    let state = serde_json::to_string(&state).map_err(|e| StoreError::Rejected(e.to_string()))?;
                    tx.execute(
                        "INSERT INTO message_status (message_id, key, expires_at, state)
                         VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT (message_id) DO UPDATE
                         SET key = excluded.key, expires_at = excluded.expires_at, state = excluded.state",
                        params![change.message_id, key.or_else(|| change.key.clone()), expires_at, state],
                    )
                    .map_err(unavailable)?;
                }
                tx.commit().map_err(unavailable)?;
                Ok(report)
            })
            .await
        })
    }
}

impl ReadMessage for EmbeddedStore {
    fn read_message<'a>(&'a self, message_id: &'a str) -> StoreFuture<'a, Option<MessageRecord>> {
        Box::pin(async move {
            let message_id = message_id.to_owned();
            self.with_connection(move |connection| {
                let status: Option<(String, Option<String>)> = connection
                    .query_row(
                        "SELECT state, key FROM message_status WHERE message_id = ?1",
                        params![message_id],
                        |row| Ok((row.get(0)?, row.get(1)?)),
                    )
                    .optional()
                    .map_err(unavailable)?;
                let events = query_events(
                    connection,
                    "SELECT event, sub_product, received_at FROM events WHERE message_id = ?1 LIMIT ?2",
                    &message_id,
                    usize::MAX,
                )?;
                if status.is_none() && events.is_empty() {
                    return Ok(None);
                }
                let (state, status_key) = match status {
                    Some((json, key)) => (
                        Some(
                            serde_json::from_str(&json)
                                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                        ),
                        key,
                    ),
                    None => (None, None),
                };
                let key = status_key.or_else(|| events.iter().find_map(|e| e.event.key.clone()));
                Ok(Some(MessageRecord {
                    message_id,
                    key,
                    state,
                    events,
                }))
            })
            .await
        })
    }
}

impl EventsByKey for EmbeddedStore {
    fn events_by_key<'a>(
        &'a self,
        key: &'a str,
        limit: usize,
    ) -> StoreFuture<'a, Vec<StoredEvent>> {
        Box::pin(async move {
            let key = key.to_owned();
            self.with_connection(move |connection| {
                query_events(
                    connection,
                    "SELECT event, sub_product, received_at FROM events WHERE key = ?1
                     ORDER BY occurred_at, received_at LIMIT ?2",
                    &key,
                    limit,
                )
            })
            .await
        })
    }
}

impl ClientStore for EmbeddedStore {
    fn find_client<'a>(&'a self, client_id: &'a str) -> StoreFuture<'a, Option<OAuthClient>> {
        let client_id = client_id.to_owned();
        Box::pin(self.with_connection(move |connection| {
            let json: Option<String> = connection
                .query_row(
                    "SELECT client FROM oauth_clients WHERE client_id = ?1",
                    params![client_id],
                    |row| row.get(0),
                )
                .optional()
                .map_err(unavailable)?;
            json.map(|j| serde_json::from_str(&j).map_err(|e| StoreError::Corrupt(e.to_string())))
                .transpose()
        }))
    }

    fn create_client<'a>(&'a self, client: &'a OAuthClient) -> StoreFuture<'a, bool> {
        let client = client.clone();
        Box::pin(self.with_connection(move |connection| {
            let json =
                serde_json::to_string(&client).map_err(|e| StoreError::Rejected(e.to_string()))?;
            let inserted = connection
                .execute(
                    "INSERT OR IGNORE INTO oauth_clients (client_id, client) VALUES (?1, ?2)",
                    params![client.client_id, json],
                )
                .map_err(unavailable)?;
            Ok(inserted == 1)
        }))
    }

    fn save_refresh_token<'a>(&'a self, grant: &'a RefreshGrant) -> StoreFuture<'a, ()> {
        let grant = grant.clone();
        Box::pin(self.with_connection(move |connection| {
            let scopes = serde_json::to_string(&grant.scopes)
                .map_err(|e| StoreError::Rejected(e.to_string()))?;
            connection
                .execute(
                    "INSERT OR REPLACE INTO refresh_tokens (digest, client_id, scopes, expires_at)
                     VALUES (?1, ?2, ?3, ?4)",
                    params![grant.digest, grant.client_id, scopes, grant.expires_at],
                )
                .map_err(unavailable)?;
            Ok(())
        }))
    }

    fn find_refresh_token<'a>(
        &'a self,
        digest: &'a str,
        client_id: &'a str,
    ) -> StoreFuture<'a, Option<RefreshGrant>> {
        self.refresh_grant(
            "SELECT scopes, expires_at FROM refresh_tokens WHERE digest = ?1 AND client_id = ?2",
            digest,
            client_id,
        )
    }

    fn take_refresh_token<'a>(
        &'a self,
        digest: &'a str,
        client_id: &'a str,
    ) -> StoreFuture<'a, Option<RefreshGrant>> {
        self.refresh_grant(
            "DELETE FROM refresh_tokens WHERE digest = ?1 AND client_id = ?2
             RETURNING scopes, expires_at",
            digest,
            client_id,
        )
    }
}

fn query_events(
    connection: &Connection,
    sql: &str,
    value: &str,
    limit: usize,
) -> Result<Vec<StoredEvent>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut statement = connection.prepare_cached(sql).map_err(unavailable)?;
    let rows = statement
        .query_map(params![value, limit], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, i64>(2)?,
            ))
        })
        .map_err(unavailable)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(unavailable)?;
    let mut events = rows
        .into_iter()
        .map(|(event, sub_product, received_at)| {
            Ok(StoredEvent {
                event: serde_json::from_str(&event)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                sub_product: SubProduct::parse(&sub_product).ok_or_else(|| {
                    StoreError::Corrupt(format!("unknown sub-product {sub_product}"))
                })?,
                received_at,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    events.sort_by(time_order);
    Ok(events)
}

fn unavailable(error: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(error.to_string())
}
