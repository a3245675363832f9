//! The embedded adapter: a SQLite file, for the local stack and for users without AWS.
//!
//! A whole batch is one SQLite transaction, so it is stored completely or not at all. Duplicates
//! are absorbed by the primary key on the event id (`INSERT OR IGNORE`), and status changes are
//! applied with the domain's own rules inside the same transaction, as are the hourly counters
//! of `/stats` (only for rows actually inserted, so a duplicate never counts).
//!
//! Listings read an index (`events_by_time`, `events_by_contact`, `events_by_key`) in the same
//! orders as the DynamoDB adapter's indexes, filters in SQL, one row past the page to know
//! whether another follows. The schema carries its version in `PRAGMA user_version`; a file an
//! older version wrote is migrated when opened, its events indexed and counted as new ones are.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use super::{
    ClientStore, EraseContact, Erased, EventPage, EventsByContact, ListEvents, MessageRecord,
    ReadMessage, ReadStats, RefreshGrant, StoreError, StoreFuture, StoredEvent, WriteEvents,
    WriteReport, expiry, from_json_text, time_order, to_json_text,
};
use crate::domain::oauth::{MintedClient, MintedFor, OAuthClient};
use crate::domain::query::{
    EventFilter, EventScope, HOUR, HourWindow, PageRequest, Range, SortOrder, Stats, contact_key,
    hour_of, listed_at, tallies,
};
use crate::domain::{Event, MessageState, SubProduct, status_changes};

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
CREATE TABLE IF NOT EXISTS minted_clients (
    client_id TEXT PRIMARY KEY,
    minted    TEXT NOT NULL
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

/// Schema version 1: the columns and indexes of the listings, and the counters of `/stats`.
const MIGRATION_1: &str = "
ALTER TABLE events ADD COLUMN listed_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN family TEXT NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN status TEXT;
ALTER TABLE events ADD COLUMN contact TEXT;
CREATE INDEX events_by_time ON events (listed_at, event_id);
CREATE INDEX events_by_contact ON events (contact, listed_at, event_id);
CREATE TABLE hourly_counts (
    hour       INTEGER NOT NULL,
    name       TEXT NOT NULL,
    count      INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (hour, name)
) WITHOUT ROWID;
";

/// Refresh tokens know their family and whether they were rotated (RFC 9700 replay detection).
const MIGRATION_2: &str = "
ALTER TABLE refresh_tokens ADD COLUMN family TEXT;
ALTER TABLE refresh_tokens ADD COLUMN used INTEGER NOT NULL DEFAULT 0;
CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family, client_id);
";

/// Messages whose contact's data was erased on request: an event of theirs that arrives later
/// is stored redacted.
const MIGRATION_3: &str = "
CREATE TABLE erased_messages (message_id TEXT PRIMARY KEY) WITHOUT ROWID;
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

    fn init(mut connection: Connection, retention: Duration) -> Result<Self, StoreError> {
        // FULL makes every acknowledged batch survive a power cut, which a 200 promises.
        connection
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;",
            )
            .map_err(unavailable)?;
        connection.execute_batch(SCHEMA).map_err(unavailable)?;
        migrate(&mut connection, retention)?;
        let now = crate::clock::now_millis() / 1000;
        for table in [
            "events",
            "message_status",
            "refresh_tokens",
            "hourly_counts",
        ] {
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
            let row: Option<(String, i64, Option<String>, bool)> = connection
                .query_row(sql, params![digest, client_id], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
                })
                .optional()
                .map_err(unavailable)?;
            row.map(|(scopes, expires_at, family, used)| {
                Ok(RefreshGrant {
                    scopes: from_json_text(&scopes)?,
                    // A token stored before families were kept heads its own.
                    family: family.unwrap_or_else(|| digest.clone()),
                    digest,
                    client_id,
                    expires_at,
                    used,
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
            let retention = self.retention;
            self.with_connection(move |connection| {
                let tx = connection.transaction().map_err(unavailable)?;
                let mut report = WriteReport::default();
                for (stored, body, event_expires_at) in &rows {
                    let event = &stored.event;
                    let at = stored.listed_at();
                    // A late event of a message whose contact was erased is kept redacted.
                    let erased = match &event.message_id {
                        Some(message_id) => tx
                            .query_row(
                                "SELECT EXISTS (SELECT 1 FROM erased_messages WHERE message_id = ?1)",
                                params![message_id],
                                |row| row.get::<_, bool>(0),
                            )
                            .map_err(unavailable)?,
                        None => false,
                    };
                    let (body, contact) = if erased {
                        let mut redacted = event.clone();
                        redacted.erase_personal_data();
                        (to_json_text(&redacted)?, None)
                    } else {
                        (body.clone(), event.contact.as_deref().and_then(contact_key))
                    };
                    let inserted = tx
                        .execute(
                            "INSERT OR IGNORE INTO events
                             (event_id, message_id, key, occurred_at, received_at, sub_product, expires_at, event,
                              listed_at, family, status, contact)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                            params![
                                event.id,
                                event.message_id,
                                event.key,
                                event.occurred_at,
                                stored.received_at,
                                stored.sub_product.as_str(),
                                event_expires_at,
                                body,
                                at,
                                event.family.as_str(),
                                event.status.as_ref().map(|s| s.as_str()),
                                contact,
                            ],
                        )
                        .map_err(unavailable)?;
                    if inserted == 1 {
                        count(&tx, event, at, stored.received_at, retention)?;
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
                    let state = to_json_text(&state)?;
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
                let mut events = read_rows(
                    connection,
                    "SELECT event, sub_product, received_at FROM events WHERE message_id = ?1",
                    params![message_id],
                )?;
                events.sort_by(time_order);
                if status.is_none() && events.is_empty() {
                    return Ok(None);
                }
                let (state, status_key) = match status {
                    Some((json, key)) => (Some(from_json_text(&json)?), key),
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

impl ListEvents for EmbeddedStore {
    fn list_events<'a>(
        &'a self,
        scope: &'a EventScope,
        filter: &'a EventFilter,
        page: &'a PageRequest,
    ) -> StoreFuture<'a, EventPage> {
        let selection = match scope {
            EventScope::Window(window) => Selection::Listed {
                column: None,
                range: window.range(),
            },
            EventScope::Key { key, range } => Selection::Key {
                key: key.clone(),
                range: *range,
            },
        };
        let (filter, page) = (filter.clone(), page.clone());
        Box::pin(
            self.with_connection(move |connection| list(connection, &selection, &filter, &page)),
        )
    }
}

impl EventsByContact for EmbeddedStore {
    fn events_by_contact<'a>(
        &'a self,
        contact: &'a str,
        range: &'a Range,
        filter: &'a EventFilter,
        page: &'a PageRequest,
    ) -> StoreFuture<'a, EventPage> {
        let Some(contact) = contact_key(contact) else {
            return Box::pin(async {
                Ok(EventPage {
                    events: Vec::new(),
                    next: None,
                })
            });
        };
        let selection = Selection::Listed {
            column: Some(("contact", contact.to_owned())),
            range: *range,
        };
        let (filter, page) = (filter.clone(), page.clone());
        Box::pin(
            self.with_connection(move |connection| list(connection, &selection, &filter, &page)),
        )
    }
}

impl EraseContact for EmbeddedStore {
    fn erase_contact<'a>(&'a self, contact: &'a str, limit: usize) -> StoreFuture<'a, Erased> {
        let Some(contact) = contact_key(contact).map(str::to_owned) else {
            return Box::pin(async {
                Ok(Erased {
                    done: true,
                    ..Erased::default()
                })
            });
        };
        Box::pin(self.with_connection(move |connection| {
            let tx = connection.transaction().map_err(unavailable)?;
            // The contact's messages, or the event itself when it has no message id.
            let groups: Vec<(Option<String>, String)> = {
                let mut statement = tx
                    .prepare_cached(
                        "SELECT message_id, MIN(event_id) FROM events WHERE contact = ?1
                         GROUP BY COALESCE(message_id, event_id) LIMIT ?2",
                    )
                    .map_err(unavailable)?;
                statement
                    .query_map(params![contact, limit as i64], |row| {
                        Ok((row.get(0)?, row.get(1)?))
                    })
                    .map_err(unavailable)?
                    .collect::<Result<_, _>>()
                    .map_err(unavailable)?
            };
            let mut erased = Erased {
                messages: groups.len(),
                ..Erased::default()
            };
            for (message_id, event_id) in &groups {
                if let Some(message_id) = message_id {
                    tx.execute(
                        "INSERT OR IGNORE INTO erased_messages (message_id) VALUES (?1)",
                        params![message_id],
                    )
                    .map_err(unavailable)?;
                }
                let rows: Vec<(String, String)> = {
                    let mut statement = tx
                        .prepare_cached(
                            "SELECT event_id, event FROM events
                             WHERE message_id = ?1 OR (?1 IS NULL AND event_id = ?2)",
                        )
                        .map_err(unavailable)?;
                    statement
                        .query_map(params![message_id, event_id], |row| {
                            Ok((row.get(0)?, row.get(1)?))
                        })
                        .map_err(unavailable)?
                        .collect::<Result<_, _>>()
                        .map_err(unavailable)?
                };
                for (id, json) in rows {
                    let mut event: Event = from_json_text(&json)?;
                    event.erase_personal_data();
                    tx.execute(
                        "UPDATE events SET event = ?2, contact = NULL WHERE event_id = ?1",
                        params![id, to_json_text(&event)?],
                    )
                    .map_err(unavailable)?;
                    erased.events += 1;
                }
            }
            erased.done = !tx
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM events WHERE contact = ?1)",
                    params![contact],
                    |row| row.get::<_, bool>(0),
                )
                .map_err(unavailable)?;
            tx.commit().map_err(unavailable)?;
            Ok(erased)
        }))
    }
}

impl ReadStats for EmbeddedStore {
    fn read_stats<'a>(&'a self, hours: &'a HourWindow) -> StoreFuture<'a, Stats> {
        let hours = *hours;
        Box::pin(self.with_connection(move |connection| {
            let mut statement = connection
                .prepare_cached(
                    "SELECT name, SUM(count) FROM hourly_counts
                     WHERE hour >= ?1 AND hour < ?2 GROUP BY name",
                )
                .map_err(unavailable)?;
            let counts = statement
                .query_map(params![hours.since(), hours.until()], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
                })
                .map_err(unavailable)?
                .map(|row| {
                    let (name, count) = row.map_err(unavailable)?;
                    Ok((name, u64::try_from(count).unwrap_or(0)))
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            Ok(Stats::from_counts(hours, counts))
        }))
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
            json.map(|j| from_json_text(&j)).transpose()
        }))
    }

    fn create_client<'a>(
        &'a self,
        client: &'a OAuthClient,
        minted: &'a MintedClient,
    ) -> StoreFuture<'a, bool> {
        let (client, minted) = (client.clone(), minted.clone());
        Box::pin(self.with_connection(move |connection| {
            let client_json = to_json_text(&client)?;
            let minted_json = to_json_text(&minted)?;
            let tx = connection.transaction().map_err(unavailable)?;
            let inserted = tx
                .execute(
                    "INSERT OR IGNORE INTO oauth_clients (client_id, client) VALUES (?1, ?2)",
                    params![client.client_id, client_json],
                )
                .map_err(unavailable)?;
            if inserted == 1 {
                tx.execute(
                    "INSERT OR REPLACE INTO minted_clients (client_id, minted) VALUES (?1, ?2)",
                    params![client.client_id, minted_json],
                )
                .map_err(unavailable)?;
            }
            tx.commit().map_err(unavailable)?;
            Ok(inserted == 1)
        }))
    }

    fn delete_client<'a>(&'a self, client_id: &'a str) -> StoreFuture<'a, bool> {
        let client_id = client_id.to_owned();
        Box::pin(self.with_connection(move |connection| {
            let tx = connection.transaction().map_err(unavailable)?;
            let mut deleted = 0;
            for table in ["oauth_clients", "minted_clients"] {
                deleted += tx
                    .execute(
                        &format!("DELETE FROM {table} WHERE client_id = ?1"),
                        params![client_id],
                    )
                    .map_err(unavailable)?;
            }
            tx.commit().map_err(unavailable)?;
            Ok(deleted > 0)
        }))
    }

    fn minted_clients(&self) -> StoreFuture<'_, Vec<MintedClient>> {
        Box::pin(self.with_connection(|connection| {
            let mut statement = connection
                .prepare("SELECT minted FROM minted_clients ORDER BY client_id")
                .map_err(unavailable)?;
            let rows = statement
                .query_map([], |row| row.get::<_, String>(0))
                .map_err(unavailable)?;
            rows.map(|row| {
                let json = row.map_err(unavailable)?;
                from_json_text(&json)
            })
            .collect()
        }))
    }

    fn set_minted_for<'a>(
        &'a self,
        client_id: &'a str,
        minted_for: &'a MintedFor,
    ) -> StoreFuture<'a, bool> {
        let (client_id, minted_for) = (client_id.to_owned(), minted_for.clone());
        Box::pin(self.with_connection(move |connection| {
            let tx = connection.transaction().map_err(unavailable)?;
            let json: Option<String> = tx
                .query_row(
                    "SELECT minted FROM minted_clients WHERE client_id = ?1",
                    params![client_id],
                    |row| row.get(0),
                )
                .optional()
                .map_err(unavailable)?;
            let Some(json) = json else {
                return Ok(false);
            };
            let mut entry: MintedClient = from_json_text(&json)?;
            entry.minted_for = minted_for;
            let json = to_json_text(&entry)?;
            tx.execute(
                "UPDATE minted_clients SET minted = ?2 WHERE client_id = ?1",
                params![client_id, json],
            )
            .map_err(unavailable)?;
            tx.commit().map_err(unavailable)?;
            Ok(true)
        }))
    }

    fn save_refresh_token<'a>(&'a self, grant: &'a RefreshGrant) -> StoreFuture<'a, ()> {
        let grant = grant.clone();
        Box::pin(self.with_connection(move |connection| {
            write_refresh_grant(
                connection,
                "INSERT OR REPLACE INTO refresh_tokens
                 (digest, client_id, scopes, expires_at, family, used) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                &grant,
            )
        }))
    }

    fn find_refresh_token<'a>(
        &'a self,
        digest: &'a str,
        client_id: &'a str,
    ) -> StoreFuture<'a, Option<RefreshGrant>> {
        self.refresh_grant(
            "SELECT scopes, expires_at, family, used FROM refresh_tokens
             WHERE digest = ?1 AND client_id = ?2",
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
             RETURNING scopes, expires_at, family, used",
            digest,
            client_id,
        )
    }

    fn rotate_refresh_token<'a>(
        &'a self,
        digest: &'a str,
        client_id: &'a str,
        replacement: &'a RefreshGrant,
    ) -> StoreFuture<'a, bool> {
        let (digest, client_id, replacement) =
            (digest.to_owned(), client_id.to_owned(), replacement.clone());
        Box::pin(self.with_connection(move |connection| {
            // One transaction: dropped uncommitted on any early return, which rolls the update
            // back, so the old token survives a failed insert.
            let tx = connection.transaction().map_err(unavailable)?;
            let used = tx
                .execute(
                    "UPDATE refresh_tokens SET used = 1
                     WHERE digest = ?1 AND client_id = ?2 AND used = 0",
                    params![digest, client_id],
                )
                .map_err(unavailable)?;
            if used == 0 {
                return Ok(false);
            }
            // A plain INSERT: a digest already stored is refused, never overwritten.
            write_refresh_grant(
                &tx,
                "INSERT INTO refresh_tokens (digest, client_id, scopes, expires_at, family, used)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                &replacement,
            )?;
            tx.commit().map_err(unavailable)?;
            Ok(true)
        }))
    }

    fn revoke_refresh_family<'a>(
        &'a self,
        family: &'a str,
        client_id: &'a str,
    ) -> StoreFuture<'a, bool> {
        let (family, client_id) = (family.to_owned(), client_id.to_owned());
        Box::pin(self.with_connection(move |connection| {
            let revoked = connection
                .execute(
                    "DELETE FROM refresh_tokens WHERE family = ?1 AND client_id = ?2 AND used = 0",
                    params![family, client_id],
                )
                .map_err(unavailable)?;
            Ok(revoked > 0)
        }))
    }
}

/// Writes a refresh grant with `statement`, an insert of `(digest, client_id, scopes,
/// expires_at, family, used)`; a digest the statement may not overwrite is
/// [`StoreError::Rejected`].
fn write_refresh_grant(
    connection: &Connection,
    statement: &str,
    grant: &RefreshGrant,
) -> Result<(), StoreError> {
    let scopes = to_json_text(&grant.scopes)?;
    connection
        .execute(
            statement,
            params![
                grant.digest,
                grant.client_id,
                scopes,
                grant.expires_at,
                grant.family,
                grant.used
            ],
        )
        .map_err(|error| match error.sqlite_error_code() {
            Some(rusqlite::ErrorCode::ConstraintViolation) => {
                StoreError::Rejected("a refresh token with this digest is already stored".into())
            }
            _ => unavailable(error),
        })?;
    Ok(())
}

/// Brings a file an older version wrote to the current schema, in one transaction.
fn migrate(connection: &mut Connection, retention: Duration) -> Result<(), StoreError> {
    let version: i64 = connection
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(unavailable)?;
    if version < 1 {
        migrate_to_1(connection, retention)?;
    }
    if version < 2 {
        let tx = connection.transaction().map_err(unavailable)?;
        tx.execute_batch(MIGRATION_2).map_err(unavailable)?;
        tx.execute_batch("PRAGMA user_version = 2")
            .map_err(unavailable)?;
        tx.commit().map_err(unavailable)?;
    }
    if version < 3 {
        let tx = connection.transaction().map_err(unavailable)?;
        tx.execute_batch(MIGRATION_3).map_err(unavailable)?;
        tx.execute_batch("PRAGMA user_version = 3")
            .map_err(unavailable)?;
        tx.commit().map_err(unavailable)?;
    }
    Ok(())
}

/// Version 1: events placed in time and by contact, and counted by the hour.
fn migrate_to_1(connection: &mut Connection, retention: Duration) -> Result<(), StoreError> {
    let tx = connection.transaction().map_err(unavailable)?;
    tx.execute_batch(MIGRATION_1).map_err(unavailable)?;
    // Events an older version stored: indexed and counted as a new write would.
    let rows = tx
        .prepare("SELECT event_id, event, received_at FROM events")
        .and_then(|mut statement| {
            statement
                .query_map([], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, i64>(2)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(unavailable)?;
    for (event_id, json, received_at) in rows {
        let event: Event = from_json_text(&json)?;
        let at = listed_at(event.occurred_at, received_at);
        tx.execute(
            "UPDATE events SET listed_at = ?2, family = ?3, status = ?4, contact = ?5
             WHERE event_id = ?1",
            params![
                event_id,
                at,
                event.family.as_str(),
                event.status.as_ref().map(|s| s.as_str()),
                event.contact.as_deref().and_then(contact_key),
            ],
        )
        .map_err(unavailable)?;
        count(&tx, &event, at, received_at, retention)?;
    }
    tx.execute_batch("PRAGMA user_version = 1")
        .map_err(unavailable)?;
    tx.commit().map_err(unavailable)
}

/// Adds one to each counter of a newly stored event, in its hour. A counter lasts as long as the
/// last event it counts: an event whose payload time is older than the retention (received
/// today, kept a retention from today) is still counted after the store is opened again.
fn count(
    connection: &Connection,
    event: &Event,
    listed_at: i64,
    received_at_ms: i64,
    retention: Duration,
) -> Result<(), StoreError> {
    let hour = hour_of(listed_at);
    let expires_at = expiry(((hour + HOUR) * 1000).max(received_at_ms), retention);
    let mut statement = connection
        .prepare_cached(
            "INSERT INTO hourly_counts (hour, name, count, expires_at) VALUES (?1, ?2, 1, ?3)
             ON CONFLICT (hour, name)
             DO UPDATE SET count = count + 1, expires_at = MAX(expires_at, excluded.expires_at)",
        )
        .map_err(unavailable)?;
    for name in tallies(event) {
        statement
            .execute(params![hour, name, expires_at])
            .map_err(unavailable)?;
    }
    Ok(())
}

/// Which rows a listing reads, by which index.
enum Selection {
    /// By `listed_at`, optionally only where `column` equals a value.
    Listed {
        column: Option<(&'static str, String)>,
        range: Range,
    },
    /// A tracking key's rows, by the payload's time or 0, as the DynamoDB key index orders them.
    Key { key: String, range: Range },
}

/// A `WHERE` clause with its values, in the order of their `?`.
#[derive(Default)]
struct Conditions {
    clauses: Vec<String>,
    values: Vec<Value>,
}

impl Conditions {
    fn add(&mut self, clause: impl Into<String>, values: impl IntoIterator<Item = Value>) {
        self.clauses.push(clause.into());
        self.values.extend(values);
    }

    fn range(&mut self, range: &Range) {
        if let Some(since) = range.since {
            self.add("listed_at >= ?", [Value::Integer(since)]);
        }
        if let Some(until) = range.until {
            self.add("listed_at < ?", [Value::Integer(until)]);
        }
    }
}

fn list(
    connection: &Connection,
    selection: &Selection,
    filter: &EventFilter,
    page: &PageRequest,
) -> Result<EventPage, StoreError> {
    let mut conditions = Conditions::default();
    let (order, at) = match selection {
        Selection::Listed { column, range } => {
            if let Some((column, value)) = column {
                conditions.add(format!("{column} = ?"), [Value::Text(value.clone())]);
            }
            conditions.range(range);
            (SortOrder::Listed, "listed_at")
        }
        Selection::Key { key, range } => {
            conditions.add("key = ?", [Value::Text(key.clone())]);
            conditions.range(range);
            (SortOrder::KeyIndex, "MAX(COALESCE(occurred_at, 0), 0)")
        }
    };
    if let Some(family) = filter.family {
        conditions.add("family = ?", [Value::Text(family.as_str().to_owned())]);
    }
    if let Some(status) = &filter.status {
        conditions.add("status = ?", [Value::Text(status.as_str().to_owned())]);
    }
    if let Some(sub_product) = filter.sub_product {
        conditions.add(
            "sub_product = ?",
            [Value::Text(sub_product.as_str().to_owned())],
        );
    }
    if let Some(code) = filter.error_code {
        conditions.add(
            "EXISTS (SELECT 1 FROM json_each(events.event, '$.error_codes') WHERE value = ?)",
            [Value::Integer(code)],
        );
    }
    if let Some(after) = &page.after {
        conditions.add(
            format!("({at}, event_id) > (?, ?)"),
            [
                Value::Integer(after.at),
                Value::Text(after.event_id.clone()),
            ],
        );
    }
    // One row past the page says whether another page follows.
    let limit = i64::try_from(page.limit).unwrap_or(i64::MAX - 1) + 1;
    conditions.values.push(Value::Integer(limit));
    let sql = format!(
        "SELECT event, sub_product, received_at FROM events WHERE {} ORDER BY {at}, event_id LIMIT ?",
        conditions.clauses.join(" AND ")
    );
    let mut events = read_rows(connection, &sql, params_from_iter(conditions.values))?;
    let next = if events.len() > page.limit {
        events.truncate(page.limit);
        events
            .last()
            .map(|last| order.position(last.event.occurred_at, last.received_at, &last.event.id))
    } else {
        None
    };
    Ok(EventPage { events, next })
}

/// Rows of `event, sub_product, received_at` as stored events, in the statement's order.
fn read_rows(
    connection: &Connection,
    sql: &str,
    values: impl rusqlite::Params,
) -> Result<Vec<StoredEvent>, StoreError> {
    let mut statement = connection.prepare_cached(sql).map_err(unavailable)?;
    let rows = statement
        .query_map(values, |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, i64>(2)?,
            ))
        })
        .map_err(unavailable)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(unavailable)?;
    rows.into_iter()
        .map(|(event, sub_product, received_at)| {
            Ok(StoredEvent::new(
                from_json_text(&event)?,
                SubProduct::parse(&sub_product).ok_or_else(|| {
                    StoreError::Corrupt(format!("unknown sub-product {sub_product}"))
                })?,
                received_at,
            ))
        })
        .collect()
}

fn unavailable(error: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::parse_delivery;
    use crate::domain::query::{Window, listed_at};

    /// A file the previous version wrote: its schema, one event row, no version.
    fn older_file() -> (Connection, Event) {
        let connection = Connection::open_in_memory().unwrap();
        connection.execute_batch(SCHEMA).unwrap();
        let body = r#"{"key":"whatsapp-old","entry":[{"changes":[{"value":{"statuses":[
            {"id":"wamid.old","status":"failed","timestamp":"1700000000","recipient_id":"+90555",
             "errors":[{"code":131026}]}]}}]}]}"#;
        let event = parse_delivery(body.as_bytes()).unwrap().remove(0);
        connection
            .execute(
                "INSERT INTO events (event_id, message_id, key, occurred_at, received_at, sub_product, expires_at, event)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'transactional', ?6, ?7)",
                params![
                    event.id,
                    event.message_id,
                    event.key,
                    event.occurred_at,
                    1_700_000_001_000_i64,
                    i64::MAX,
                    serde_json::to_string(&event).unwrap()
                ],
            )
            .unwrap();
        connection
            .execute(
                "INSERT INTO refresh_tokens (digest, client_id, scopes, expires_at)
                 VALUES ('old-digest', 'old-client', '[\"webhook.write\"]', ?1)",
                params![i64::MAX],
            )
            .unwrap();
        (connection, event)
    }

    #[tokio::test]
    async fn a_file_of_the_previous_version_is_indexed_and_counted_when_opened() {
        let (connection, event) = older_file();
        // A retention long enough that the 2023 hour's counters are not expired at once.
        let retention = Duration::from_secs(100 * 365 * 86_400);
        let store = EmbeddedStore::init(connection, retention).unwrap();
        let at = listed_at(event.occurred_at, 0);
        let window = Window::new(at, at + 1).unwrap();
        let page = PageRequest {
            after: None,
            limit: 10,
        };
        let failed = EventFilter {
            status: Some(crate::domain::DeliveryStatus::Failed),
            error_code: Some(131026),
            ..EventFilter::default()
        };
        let listed = store
            .list_events(&EventScope::Window(window), &failed, &page)
            .await
            .unwrap();
        assert_eq!(listed.events.len(), 1);
        let conversation = store
            .events_by_contact("90555", &Range::default(), &EventFilter::default(), &page)
            .await
            .unwrap();
        assert_eq!(conversation.events[0].event.id, event.id);
        let stats = store
            .read_stats(&HourWindow::covering(window))
            .await
            .unwrap();
        assert_eq!((stats.events, stats.failed), (1, 1));
        let version: i64 = store
            .connection
            .lock()
            .unwrap()
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .unwrap();
        assert_eq!(version, 3);
        // A refresh token kept before families: the head of its own, not used.
        let grant = store
            .find_refresh_token("old-digest", "old-client")
            .await
            .unwrap()
            .unwrap();
        assert_eq!((grant.family.as_str(), grant.used), ("old-digest", false));
    }

    #[tokio::test]
    async fn an_event_of_an_hour_past_the_retention_is_still_counted_when_opened_again() {
        let dir = tempfile::tempdir().unwrap();
        let retention = Duration::from_secs(90 * 86_400);
        // The README's first `curl`: a 2023 timestamp, received today.
        let body = r#"{"key":"whatsapp-demo","entry":[{"changes":[{"value":{"statuses":[
            {"id":"wamid.demo","status":"delivered","timestamp":"1700000000","recipient_id":"15551234567"}]}}]}]}"#;
        let event = parse_delivery(body.as_bytes()).unwrap().remove(0);
        let stored = StoredEvent {
            event,
            sub_product: SubProduct::Conversational,
            received_at: crate::clock::now_millis(),
            raw_ref: None,
            raw_omitted: false,
        };
        let window = Window::new(stored.listed_at(), stored.listed_at() + 1).unwrap();
        let store = EmbeddedStore::open(dir.path(), retention).unwrap();
        store
            .write_events(std::slice::from_ref(&stored))
            .await
            .unwrap();
        drop(store);
        let reopened = EmbeddedStore::open(dir.path(), retention).unwrap();
        let stats = reopened
            .read_stats(&HourWindow::covering(window))
            .await
            .unwrap();
        assert_eq!((stats.events, stats.delivered), (1, 1));
    }
}
