//! OAuth clients minted at run time and refresh tokens, by their keys (`CLIENT#`, `REFRESH#`).

use std::collections::HashMap;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, ReturnValue, TransactWriteItem};

use super::errors::{classify, rejected, service_error};
use super::items::{get_s, n, parse_n, s};
use super::{DynamoStore, Item};
use crate::domain::oauth::OAuthClient;
use crate::store::{ClientStore, RefreshGrant, StoreError, StoreFuture};

const CLIENT_SK: &str = "CLIENT";
const REFRESH_SK: &str = "REFRESH";

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
                .map(|json| {
                    serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(e.to_string()))
                })
                .transpose()
        })
    }

    fn create_client<'a>(&'a self, client: &'a OAuthClient) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let json =
                serde_json::to_string(client).map_err(|e| StoreError::Rejected(e.to_string()))?;
            self.put_if_absent(HashMap::from([
                ("PK".to_owned(), s(&format!("CLIENT#{}", client.client_id))),
                ("SK".to_owned(), s(CLIENT_SK)),
                ("client".to_owned(), s(&json)),
            ]))
            .await
        })
    }

    fn delete_client<'a>(&'a self, client_id: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let deleted = self
                .client
                .delete_item()
                .table_name(&self.table)
                .key("PK", s(&format!("CLIENT#{client_id}")))
                .key("SK", s(CLIENT_SK))
                .return_values(ReturnValue::AllOld)
                .send()
                .await
                .map_err(classify)?;
            Ok(deleted.attributes.is_some())
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

    /// One `TransactWriteItems`: the conditional delete of the old token and the put of the new
    /// one, so either both happen or neither.
    fn rotate_refresh_token<'a>(
        &'a self,
        digest: &'a str,
        client_id: &'a str,
        replacement: &'a RefreshGrant,
    ) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let take_old = Delete::builder()
                .table_name(&self.table)
                .key("PK", s(&format!("REFRESH#{digest}")))
                .key("SK", s(REFRESH_SK))
                .condition_expression("client_id = :client_id")
                .expression_attribute_values(":client_id", s(client_id))
                .build()
                .map_err(rejected)?;
            let put_new = Put::builder()
                .table_name(&self.table)
                .set_item(Some(refresh_token_item(replacement)))
                .condition_expression("attribute_not_exists(PK)")
                .build()
                .map_err(rejected)?;
            let result = self
                .client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().delete(take_old).build())
                .transact_items(TransactWriteItem::builder().put(put_new).build())
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
                // Missing, or another client's: nothing to rotate.
                ["ConditionalCheckFailed", _] => Ok(false),
                [_, "ConditionalCheckFailed"] => Err(StoreError::Rejected(
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
}

/// A refresh grant as the table keeps it, keyed by its digest.
fn refresh_token_item(grant: &RefreshGrant) -> Item {
    HashMap::from([
        ("PK".to_owned(), s(&format!("REFRESH#{}", grant.digest))),
        ("SK".to_owned(), s(REFRESH_SK)),
        ("client_id".to_owned(), s(&grant.client_id)),
        (
            "scopes".to_owned(),
            AttributeValue::L(grant.scopes.iter().map(|x| s(x)).collect()),
        ),
        ("expires_at".to_owned(), n(grant.expires_at)),
    ])
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
    }
}
