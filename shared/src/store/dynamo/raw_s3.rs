//! Raw fragments too large for an event's item, kept in S3: a claim check. The object's key is
//! the SHA-256 of the fragment, so a redelivery writes the same object again, never another; the
//! item keeps the object's URI, hash and size instead of the fragment.

use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::primitives::ByteStream;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use super::errors::classify;
use crate::domain::RawRef;
use crate::store::StoreError;

const KEY_PREFIX: &str = "raw/";

#[derive(Clone)]
pub struct RawBucket {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl RawBucket {
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }

    /// Stores a fragment; its reference once S3 has it.
    pub(super) async fn put(&self, raw: &str) -> Result<RawRef, StoreError> {
        let sha256 = hex::encode(Sha256::digest(raw.as_bytes()));
        let key = format!("{KEY_PREFIX}{sha256}");
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type("application/json")
            .body(ByteStream::from(raw.as_bytes().to_vec()))
            .send()
            .await
            .map_err(classify)?;
        Ok(RawRef {
            uri: format!("s3://{}/{key}", self.bucket),
            sha256,
            bytes: raw.len() as u64,
        })
    }

    /// Deletes the fragment `uri` names (an erasure); an object already gone is no error.
    pub(super) async fn delete(&self, uri: &str) -> Result<(), StoreError> {
        let (bucket, key) = bucket_and_key(uri)?;
        self.client
            .delete_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map(drop)
            .map_err(classify)
    }

    /// The fragment a reference names, checked against its hash; `None` when the object is gone
    /// (expired by the bucket's lifecycle before DynamoDB removed its expired item).
    pub(super) async fn get(
        &self,
        reference: &RawRef,
    ) -> Result<Option<Box<RawValue>>, StoreError> {
        let (bucket, key) = bucket_and_key(&reference.uri)?;
        let object = match self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
        {
            Ok(object) => object,
            Err(SdkError::ServiceError(e)) if e.err().is_no_such_key() => return Ok(None),
            Err(e) => return Err(classify(e)),
        };
        let bytes = object
            .body
            .collect()
            .await
            .map_err(|e| StoreError::Unavailable(format!("reading {}: {e}", reference.uri)))?
            .into_bytes();
        if hex::encode(Sha256::digest(&bytes)) != reference.sha256 {
            return Err(StoreError::Corrupt(format!(
                "{} does not match its SHA-256",
                reference.uri
            )));
        }
        let text = String::from_utf8(bytes.to_vec())
            .map_err(|_| StoreError::Corrupt(format!("{} is not UTF-8", reference.uri)))?;
        RawValue::from_string(text)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("{} is not JSON: {e}", reference.uri)))
    }
}

/// The bucket and key of an `s3://bucket/key` URI.
fn bucket_and_key(uri: &str) -> Result<(&str, &str), StoreError> {
    uri.strip_prefix("s3://")
        .and_then(|rest| rest.split_once('/'))
        .ok_or_else(|| StoreError::Corrupt(format!("raw fragment URI {uri}")))
}
