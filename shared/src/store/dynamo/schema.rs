//! The table and its indexes, as the SAM template declares them; created for DynamoDB Local
//! and the local stack.

use std::collections::HashSet;
use std::time::Duration;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, CreateGlobalSecondaryIndexAction, GlobalSecondaryIndex,
    GlobalSecondaryIndexUpdate, IndexStatus, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TableStatus,
};

use super::DynamoStore;
use super::errors::{classify, rejected};
use crate::store::StoreError;

/// A global secondary index: its name, key attributes and what it projects.
pub(super) struct Index {
    pub name: &'static str,
    pub partition: &'static str,
    pub sort: Option<&'static str>,
    /// `None`: keys only.
    pub projected: Option<&'static [&'static str]>,
}

/// The attributes a time listing filters on and `/stats` counts; small, so an entry stays far
/// below the 1 KB of one write unit.
pub(super) const TIME_INDEX_ATTRIBUTES: &[&str] = &[
    "family",
    "delivery_status",
    "sub_product",
    "error_codes",
    "message_type",
];

pub(super) const TIME_SORT: &str = "TSK";

pub(super) const TIME_INDEX: Index = Index {
    name: "ByTime",
    partition: "TPK",
    sort: Some(TIME_SORT),
    projected: Some(TIME_INDEX_ATTRIBUTES),
};
pub(super) const KEY_INDEX: Index = Index {
    name: "ByKey",
    partition: "KPK",
    sort: None,
    projected: None,
};
pub(super) const CONTACT_INDEX: Index = Index {
    name: "ByContact",
    partition: "CPK",
    sort: None,
    projected: None,
};
const INDEXES: [&Index; 3] = [&TIME_INDEX, &KEY_INDEX, &CONTACT_INDEX];

impl DynamoStore {
    /// Creates the table as the SAM template does, for DynamoDB Local and the local stack; on a
    /// table an older version created, adds the indexes it lacks (events stored before are not
    /// in them).
    pub async fn create_table_if_missing(&self) -> Result<(), StoreError> {
        let described = self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await;
        if let Ok(described) = described {
            let existing: HashSet<&str> = described
                .table()
                .map(|t| t.global_secondary_indexes())
                .unwrap_or_default()
                .iter()
                .filter_map(|i| i.index_name())
                .collect();
            for index in INDEXES.iter().filter(|i| !existing.contains(i.name)) {
                // DynamoDB builds one new index at a time, on an active table.
                self.wait_until_active().await?;
                let create = CreateGlobalSecondaryIndexAction::builder()
                    .index_name(index.name)
                    .set_key_schema(Some(index_key_schema(index)?))
                    .projection(projection(index))
                    .build()
                    .map_err(rejected)?;
                self.client
                    .update_table()
                    .table_name(&self.table)
                    .set_attribute_definitions(Some(index_attributes(index)?))
                    .global_secondary_index_updates(
                        GlobalSecondaryIndexUpdate::builder().create(create).build(),
                    )
                    .send()
                    .await
                    .map_err(classify)?;
            }
            return self.wait_until_active().await;
        }
        let mut attributes = vec![string_attribute("PK")?, string_attribute("SK")?];
        let mut indexes = Vec::new();
        for index in INDEXES {
            attributes.extend(index_attributes(index)?);
            indexes.push(
                GlobalSecondaryIndex::builder()
                    .index_name(index.name)
                    .set_key_schema(Some(index_key_schema(index)?))
                    .projection(projection(index))
                    .build()
                    .map_err(rejected)?,
            );
        }
        let created = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .set_attribute_definitions(Some(attributes))
            .key_schema(key_element("PK", KeyType::Hash)?)
            .key_schema(key_element("SK", KeyType::Range)?)
            .set_global_secondary_indexes(Some(indexes))
            .send()
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("ResourceInUseException") => Ok(()),
            Err(e) => Err(classify(e)),
        }
    }

    /// Waits, a minute at most, until the table and every index of it are active.
    async fn wait_until_active(&self) -> Result<(), StoreError> {
        for _ in 0..300 {
            let described = self
                .client
                .describe_table()
                .table_name(&self.table)
                .send()
                .await
                .map_err(classify)?;
            let active = described.table().is_some_and(|table| {
                table.table_status() == Some(&TableStatus::Active)
                    && table
                        .global_secondary_indexes()
                        .iter()
                        .all(|index| index.index_status() == Some(&IndexStatus::Active))
            });
            if active {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Err(StoreError::Unavailable(format!(
            "table {} did not become active with its indexes within a minute",
            self.table
        )))
    }
}

fn string_attribute(name: &str) -> Result<AttributeDefinition, StoreError> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(rejected)
}

fn key_element(name: &str, kind: KeyType) -> Result<KeySchemaElement, StoreError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .map_err(rejected)
}

fn index_attributes(index: &Index) -> Result<Vec<AttributeDefinition>, StoreError> {
    [Some(index.partition), index.sort]
        .into_iter()
        .flatten()
        .map(string_attribute)
        .collect()
}

fn index_key_schema(index: &Index) -> Result<Vec<KeySchemaElement>, StoreError> {
    let mut schema = vec![key_element(index.partition, KeyType::Hash)?];
    if let Some(sort) = index.sort {
        schema.push(key_element(sort, KeyType::Range)?);
    }
    Ok(schema)
}

fn projection(index: &Index) -> Projection {
    match index.projected {
        Some(attributes) => Projection::builder()
            .projection_type(ProjectionType::Include)
            .set_non_key_attributes(Some(attributes.iter().map(|a| (*a).to_owned()).collect()))
            .build(),
        None => Projection::builder()
            .projection_type(ProjectionType::KeysOnly)
            .build(),
    }
}
