//! DynamoDB's errors as the store port's: what a retry may cure, and what it never will.

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};

use crate::store::StoreError;

pub(super) fn rejected(error: impl std::fmt::Display) -> StoreError {
    StoreError::Rejected(error.to_string())
}

pub(super) fn service_error<E: ProvideErrorMetadata + std::error::Error>(error: E) -> StoreError {
    let message = format!(
        "{}: {}",
        error.code().unwrap_or("error"),
        error.message().unwrap_or("")
    );
    match error.code() {
        Some("ValidationException") => StoreError::Rejected(message),
        _ => StoreError::Unavailable(message),
    }
}

pub(super) fn classify<E, R>(error: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match error {
        SdkError::TimeoutError(_) => StoreError::Timeout,
        SdkError::ServiceError(e) => service_error(e.into_err()),
        other => StoreError::Unavailable(DisplayErrorContext(&other).to_string()),
    }
}

/// The answer of an update made only if its item exists (`attribute_exists(PK)`): an item gone
/// meanwhile (its retention ended) leaves nothing to do, which is no error.
pub(super) fn unless_gone<R: std::fmt::Debug>(
    result: Result<UpdateItemOutput, SdkError<UpdateItemError, R>>,
) -> Result<(), StoreError> {
    match result {
        Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => Ok(()),
        other => other.map(drop).map_err(classify),
    }
}
