//! DynamoDB's errors as the store port's: what a retry may cure, and what it never will.

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

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
