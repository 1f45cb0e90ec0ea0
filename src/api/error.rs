//! The one mapping from Sluice's error types to the Kafka error codes clients get.
//!
//! Below the API layer errors stay typed (`TopicError`, `BatchError`, `AppendError`, `ReadError`,
//! `StoreError`) and know nothing of the wire; a handler turns one into a code here. A storage
//! failure is the broker's fault, not the client's: [`code`] logs it, with the handler's context,
//! where it is turned into KAFKA_STORAGE_ERROR.

use kafka_protocol::error::ResponseError;

use crate::broker::TopicError;
use crate::log::batch::BatchError;
use crate::log::{AppendError, ReadError};
use crate::store::StoreError;

/// The error code for a write that did not become durable.
pub const STORAGE_ERROR: i16 = ResponseError::KafkaStorageError.code();

/// The Kafka error a client gets for an error.
pub trait KafkaError: std::fmt::Display {
    fn kafka_error(&self) -> ResponseError;
}

/// The error code for `e`, logging it with `context` when it is a storage failure.
pub fn code(e: &impl KafkaError, context: &str) -> i16 {
    let error = e.kafka_error();
    if error == ResponseError::KafkaStorageError {
        tracing::error!(error = %e, "{context} failed in the store");
    }
    error.code()
}

impl KafkaError for StoreError {
    fn kafka_error(&self) -> ResponseError {
        ResponseError::KafkaStorageError
    }
}

impl KafkaError for TopicError {
    fn kafka_error(&self) -> ResponseError {
        match self {
            TopicError::InvalidName(..) | TopicError::Collides(..) => {
                ResponseError::InvalidTopicException
            }
            TopicError::AlreadyExists(_) => ResponseError::TopicAlreadyExists,
            TopicError::InvalidPartitions(_) | TopicError::CannotShrink { .. } => {
                ResponseError::InvalidPartitions
            }
            TopicError::Unknown(_) => ResponseError::UnknownTopicOrPartition,
            TopicError::InvalidConfig(_) => ResponseError::InvalidConfig,
            TopicError::Refused(code, _) => {
                ResponseError::try_from_code(*code).unwrap_or(ResponseError::UnknownServerError)
            }
            TopicError::Store(e) => e.kafka_error(),
        }
    }
}

impl KafkaError for BatchError {
    fn kafka_error(&self) -> ResponseError {
        match self {
            BatchError::Corrupt(_) => ResponseError::CorruptMessage,
            BatchError::Invalid(_) => ResponseError::InvalidRecord,
            BatchError::TooLarge { .. } | BatchError::DecompressedTooLarge { .. } => {
                ResponseError::MessageTooLarge
            }
            BatchError::Undecompressable(_) => ResponseError::UnknownServerError,
        }
    }
}

impl KafkaError for AppendError {
    fn kafka_error(&self) -> ResponseError {
        match self {
            AppendError::Store(e) => e.kafka_error(),
            AppendError::StaleEpoch { .. } => ResponseError::InvalidProducerEpoch,
            AppendError::OutOfOrder(_) => ResponseError::OutOfOrderSequenceNumber,
            AppendError::InvalidTxnState { .. } => ResponseError::InvalidTxnState,
            AppendError::CoordinatorFenced { .. } => ResponseError::TransactionCoordinatorFenced,
        }
    }
}

impl KafkaError for ReadError {
    fn kafka_error(&self) -> ResponseError {
        match self {
            ReadError::OutOfRange { .. } => ResponseError::OffsetOutOfRange,
            ReadError::Store(e) => e.kafka_error(),
        }
    }
}

impl KafkaError for crate::coordinator::share_group::ShareGroupError {
    fn kafka_error(&self) -> ResponseError {
        use crate::coordinator::share_group::ShareGroupError as E;
        match self {
            E::InvalidRequest(_) => ResponseError::InvalidRequest,
            E::UnknownMemberId(_) => ResponseError::UnknownMemberId,
            E::FencedMemberEpoch(_) => ResponseError::FencedMemberEpoch,
            E::GroupMaxSizeReached(_) => ResponseError::GroupMaxSizeReached,
            E::GroupIdNotFound(_) => ResponseError::GroupIdNotFound,
            E::NonEmptyGroup(_) => ResponseError::NonEmptyGroup,
            // Kafka answers a coordinator write that failed with COORDINATOR_NOT_AVAILABLE; the
            // client retries, and the member is then known or not, both consistent.
            E::Storage(_) => ResponseError::CoordinatorNotAvailable,
        }
    }
}
