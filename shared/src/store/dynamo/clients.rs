//! OAuth clients minted at run time and refresh tokens, by their keys (`CLIENT#`, `REFRESH#`;
//! `REFRESH#FAMILY#` names each rotated family's unused token), and the ledger of minted
//! clients: one partition, `MINTED`, an item per client (`CLIENT#id`).

use std::collections::HashMap;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValue, TransactWriteItem, Update};

use super::errors::{classify, rejected, service_error};
use super::items::{get_s, n, parse_n, s};
use super::{DynamoStore, Item};
use crate::domain::oauth::{MintedClient, MintedFor, OAuthClient};
use crate::store::{
    ClientStore, RefreshGrant, StoreError, StoreFuture, from_json_text, to_json_text,
};

const CLIENT_SK: &str = "CLIENT";
const REFRESH_SK: &str = "REFRESH";
const FAMILY_SK: &str = "FAMILY";
/// The ledger's one partition: minted clients are a few per webhook, read only by operators.
const LEDGER_PK: &str = "MINTED";

fn ledger_key(client_id: &str) -> [(&'static str, AttributeValue); 2] {
    [
        ("PK", s(LEDGER_PK)),
        ("SK", s(&format!("CLIENT#{client_id}"))),
    ]
}

fn minted_json(minted: &MintedClient) -> Result<AttributeValue, StoreError> {
    to_json_text(minted).map(|json| s(&json))
}

impl ClientStore for DynamoStore {
    fn find_client<'a>(&'a self, client_id: &'a str) -> StoreFuture<'a, Option<OAuthClient>> {
        Box::pin(async move {
            let item = self
                .client
                .get_item()
                .table_name(&self.table)
                .key("PK", s(&format!("CLIENT#{client_id}")))
                .key("SK", s(CLIENT_SK))
                .consistent_read(true)
                .send()
                .await
                .map_err(classify)?;
            item.item()
                .and_then(|item| get_s(item, "client"))
                .map(|json| from_json_text(&json))
                .transpose()
        })
    }

    /// One `TransactWriteItems`: the client, if its id is free, and its ledger entry.
    fn create_client<'a>(
        &'a self,
        client: &'a OAuthClient,
        minted: &'a MintedClient,
    ) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let json = to_json_text(client)?;
            let put_client = Put::builder()
                .table_name(&self.table)
                .item("PK", s(&format!("CLIENT#{}", client.client_id)))
                .item("SK", s(CLIENT_SK))
                .item("client", s(&json))
                .condition_expression("attribute_not_exists(PK)")
                .build()
                .map_err(rejected)?;
            let [(_, pk), (_, sk)] = ledger_key(&client.client_id);
            let put_entry = Put::builder()
                .table_name(&self.table)
                .item("PK", pk)
                .item("SK", sk)
                .item("minted", minted_json(minted)?)
                .build()
                .map_err(rejected)?;
            let result = self
                .client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().put(put_client).build())
                .transact_items(TransactWriteItem::builder().put(put_entry).build())
                .send()
                .await;
            match result {
                Ok(_) => Ok(true),
                Err(SdkError::ServiceError(e)) => match e.into_err() {
                    TransactWriteItemsError::TransactionCanceledException(cancelled)
                        if cancelled
                            .cancellation_reasons()
                            .first()
                            .and_then(|r| r.code())
                            == Some("ConditionalCheckFailed") =>
                    {
                        Ok(false)
                    }
                    other => Err(service_error(other)),
                },
                Err(e) => Err(classify(e)),
            }
        })
    }

    /// The client and its ledger entry, at once; an entry left by an earlier, interrupted
    /// withdrawal goes too.
    fn delete_client<'a>(&'a self, client_id: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let delete = |key: [(&'static str, AttributeValue); 2]| {
                self.client
                    .delete_item()
                    .table_name(&self.table)
                    .set_key(Some(
                        key.map(|(name, value)| (name.to_owned(), value)).into(),
                    ))
                    .return_values(ReturnValue::AllOld)
                    .send()
            };
            let client_key = [
                ("PK", s(&format!("CLIENT#{client_id}"))),
                ("SK", s(CLIENT_SK)),
            ];
            let (client, entry) = tokio::join!(delete(client_key), delete(ledger_key(client_id)));
            let (client, entry) = (client.map_err(classify)?, entry.map_err(classify)?);
            Ok(client.attributes.is_some() || entry.attributes.is_some())
        })
    }

    fn minted_clients(&self) -> StoreFuture<'_, Vec<MintedClient>> {
        Box::pin(async move {
            let items = self.query_partition(LEDGER_PK, true).await?;
            items
                .iter()
                .filter_map(|item| get_s(item, "minted"))
                .map(|json| from_json_text(&json))
                .collect()
        })
    }

    fn set_minted_for<'a>(
        &'a self,
        client_id: &'a str,
        minted_for: &'a MintedFor,
    ) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let found = self
                .client
                .get_item()
                .table_name(&self.table)
                .set_key(Some(
                    ledger_key(client_id)
                        .map(|(name, value)| (name.to_owned(), value))
                        .into(),
                ))
                .consistent_read(true)
                .send()
                .await
                .map_err(classify)?;
            let Some(json) = found.item().and_then(|item| get_s(item, "minted")) else {
                return Ok(false);
            };
            let mut entry: MintedClient = from_json_text(&json)?;
            entry.minted_for = minted_for.clone();
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(
                    ledger_key(client_id)
                        .map(|(name, value)| (name.to_owned(), value))
                        .into_iter()
                        .chain([("minted".to_owned(), minted_json(&entry)?)])
                        .collect(),
                ))
                .condition_expression("attribute_exists(PK)")
                .send()
                .await;
            match result {
                Ok(_) => Ok(true),
                Err(SdkError::ServiceError(e))
                    if e.err().is_conditional_check_failed_exception() =>
                {
                    Ok(false)
                }
                Err(e) => Err(classify(e)),
            }
        })
    }

    fn save_refresh_token<'a>(&'a self, grant: &'a RefreshGrant) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(refresh_token_item(grant)))
                .send()
                .await
                .map_err(classify)?;
            Ok(())
        })
    }

    fn find_refresh_token<'a>(
        &'a self,
        digest: &'a str,
        client_id: &'a str,
    ) -> StoreFuture<'a, Option<RefreshGrant>> {
        Box::pin(async move {
            let found = self
                .client
                .get_item()
                .table_name(&self.table)
                .key("PK", s(&format!("REFRESH#{digest}")))
                .key("SK", s(REFRESH_SK))
                .consistent_read(true)
                .send()
                .await
                .map_err(classify)?;
            Ok(found
                .item
                .filter(|item| get_s(item, "client_id").as_deref() == Some(client_id))
                .map(|item| refresh_grant(digest, client_id, &item)))
        })
    }

    fn take_refresh_token<'a>(
        &'a self,
        digest: &'a str,
        client_id: &'a str,
    ) -> StoreFuture<'a, Option<RefreshGrant>> {
        Box::pin(async move {
            let deleted = self
                .client
                .delete_item()
                .table_name(&self.table)
                .key("PK", s(&format!("REFRESH#{digest}")))
                .key("SK", s(REFRESH_SK))
                .condition_expression("client_id = :client_id")
                .expression_attribute_values(":client_id", s(client_id))
                .return_values(ReturnValue::AllOld)
                .send()
                .await;
            let old = match deleted {
                Ok(output) => output.attributes,
                // Missing, or another client's: nothing to take.
                Err(SdkError::ServiceError(e))
                    if e.err().is_conditional_check_failed_exception() =>
                {
                    None
                }
                Err(e) => return Err(classify(e)),
            };
            Ok(old.map(|item| refresh_grant(digest, client_id, &item)))
        })
    }

    /// One `TransactWriteItems`: the old token marked used (if it is this client's and unused),
    /// the new one put (if its digest is free), and the family's pointer moved to it, so either
    /// all happen or none.
    fn rotate_refresh_token<'a>(
        &'a self,
        digest: &'a str,
        client_id: &'a str,
        replacement: &'a RefreshGrant,
    ) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let use_old = Update::builder()
                .table_name(&self.table)
                .key("PK", s(&format!("REFRESH#{digest}")))
                .key("SK", s(REFRESH_SK))
                .update_expression("SET used = :used")
                .condition_expression("client_id = :client_id AND attribute_not_exists(used)")
                .expression_attribute_values(":client_id", s(client_id))
                .expression_attribute_values(":used", AttributeValue::Bool(true))
                .build()
                .map_err(rejected)?;
            let put_new = Put::builder()
                .table_name(&self.table)
                .set_item(Some(refresh_token_item(replacement)))
                .condition_expression("attribute_not_exists(PK)")
                .build()
                .map_err(rejected)?;
            let point_family = Put::builder()
                .table_name(&self.table)
                .set_item(Some(HashMap::from([
                    ("PK".to_owned(), s(&family_pk(&replacement.family))),
                    ("SK".to_owned(), s(FAMILY_SK)),
                    ("client_id".to_owned(), s(client_id)),
                    ("current".to_owned(), s(&replacement.digest)),
                    ("expires_at".to_owned(), n(replacement.expires_at)),
                ])))
                .build()
                .map_err(rejected)?;
            let result = self
                .client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().update(use_old).build())
                .transact_items(TransactWriteItem::builder().put(put_new).build())
                .transact_items(TransactWriteItem::builder().put(point_family).build())
                .send()
                .await;
            let cancelled = match result {
                Ok(_) => return Ok(true),
                Err(SdkError::ServiceError(e)) => match e.into_err() {
                    TransactWriteItemsError::TransactionCanceledException(cancelled) => cancelled,
                    other => return Err(service_error(other)),
                },
                Err(e) => return Err(classify(e)),
            };
            let reasons: Vec<&str> = cancelled
                .cancellation_reasons()
                .iter()
                .map(|r| r.code().unwrap_or("None"))
                .collect();
            match reasons.as_slice() {
                // Missing, used, or another client's: nothing to rotate.
                ["ConditionalCheckFailed", ..] => Ok(false),
                [_, "ConditionalCheckFailed", ..] => Err(StoreError::Rejected(
                    "a refresh token with this digest is already stored".into(),
                )),
                // A racing rotation of the same token (TransactionConflict) or throttling: the
                // caller may retry, and then learns whether the token is still there.
                _ => Err(StoreError::Unavailable(format!(
                    "the refresh token rotation was cancelled: {reasons:?}"
                ))),
            }
        })
    }

    /// The family's pointer names its unused token, which is deleted if it is still unused.
    fn revoke_refresh_family<'a>(
        &'a self,
        family: &'a str,
        client_id: &'a str,
    ) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let pointer = self
                .client
                .get_item()
                .table_name(&self.table)
                .key("PK", s(&family_pk(family)))
                .key("SK", s(FAMILY_SK))
                .consistent_read(true)
                .send()
                .await
                .map_err(classify)?;
            let current = pointer
                .item()
                .filter(|item| get_s(item, "client_id").as_deref() == Some(client_id))
                .and_then(|item| get_s(item, "current"));
            let Some(current) = current else {
                return Ok(false);
            };
            let deleted = self
                .client
                .delete_item()
                .table_name(&self.table)
                .key("PK", s(&format!("REFRESH#{current}")))
                .key("SK", s(REFRESH_SK))
                .condition_expression("client_id = :client_id AND attribute_not_exists(used)")
                .expression_attribute_values(":client_id", s(client_id))
                .send()
                .await;
            match deleted {
                Ok(_) => Ok(true),
                Err(SdkError::ServiceError(e))
                    if e.err().is_conditional_check_failed_exception() =>
                {
                    Ok(false)
                }
                Err(e) => Err(classify(e)),
            }
        })
    }
}

/// The item naming a refresh family's unused token; under `REFRESH#` like the tokens, and never
/// a digest (those are hex).
fn family_pk(family: &str) -> String {
    format!("REFRESH#FAMILY#{family}")
}

/// A refresh grant as the table keeps it, keyed by its digest.
fn refresh_token_item(grant: &RefreshGrant) -> Item {
    let mut item = HashMap::from([
        ("PK".to_owned(), s(&format!("REFRESH#{}", grant.digest))),
        ("SK".to_owned(), s(REFRESH_SK)),
        ("client_id".to_owned(), s(&grant.client_id)),
        (
            "scopes".to_owned(),
            AttributeValue::L(grant.scopes.iter().map(|x| s(x)).collect()),
        ),
        ("expires_at".to_owned(), n(grant.expires_at)),
        ("family".to_owned(), s(&grant.family)),
    ]);
    if grant.used {
        item.insert("used".to_owned(), AttributeValue::Bool(true));
    }
    item
}

fn refresh_grant(digest: &str, client_id: &str, item: &Item) -> RefreshGrant {
    RefreshGrant {
        digest: digest.to_owned(),
        client_id: client_id.to_owned(),
        scopes: match item.get("scopes") {
            Some(AttributeValue::L(list)) => {
                list.iter().filter_map(|v| v.as_s().ok().cloned()).collect()
            }
            _ => Vec::new(),
        },
        expires_at: item.get("expires_at").and_then(parse_n).unwrap_or(0),
        // A token stored before families were kept heads its own.
        family: get_s(item, "family").unwrap_or_else(|| digest.to_owned()),
        used: matches!(item.get("used"), Some(AttributeValue::Bool(true))),
    }
}
