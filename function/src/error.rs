//! Errors on both sides of the edge: [`DomainError`] is what domain code returns (what went
//! wrong, in its own terms); [`ApiError`] is an HTTP error answer (a status, a message safe to
//! show the caller, and the detail that only goes to the log). `From<DomainError> for ApiError`
//! is the one place a domain error becomes a status; the handler builds the few errors that
//! only HTTP has (no route, wrong method, body too large, unparseable body, misconfigured).

use crate::backend::BackendError;
use shared::embedding::EmbeddingError;
use shared::metadata::MetadataError;
use std::fmt;

/// Seconds a throttled caller is asked to wait (`Retry-After`).
pub const RETRY_AFTER_SECS: u32 = 2;
/// The code of an access denial (the body's `code`; the handler retries it in a new
/// environment, where IAM may still be propagating).
pub const ACCESS_DENIED: &str = "AccessDenied";
/// Seconds a caller is asked to wait while the embedding endpoint starts.
pub const STARTING_RETRY_AFTER_SECS: u32 = 5;

/// Why a domain function ([`crate::ingest`], [`crate::search`], [`crate::documents`],
/// [`crate::reindex`]) stopped. Its `Display` is the caller-facing message.
#[derive(Debug, Clone, PartialEq)]
pub enum DomainError {
    /// The request asks for something that cannot be done as asked.
    Invalid(String),
    /// The request exceeds a limit.
    TooLarge(String),
    /// User metadata refused (its shape, or a size limit).
    Metadata(MetadataError),
    /// No document with this id is stored.
    UnknownDocument(String),
    /// Refused while the index is being copied to its mirror (blue/green `reindex --into`).
    Copying(String),
    /// The time budget ran out between two AWS calls; what was done is kept and the same
    /// request sent again continues.
    OutOfTime,
    /// The embedding endpoint answered nothing before the deadline (most often a serverless
    /// endpoint's cold start).
    EndpointSilent,
    /// One input's embedding exceeds the endpoint's payload limit (the detail, for the log).
    InputTooLarge(String),
    /// The endpoint's answer could not be turned into embeddings.
    Embedding(EmbeddingError),
    /// An AWS call failed.
    Backend(BackendError),
    /// A fault of the function itself (the detail, for the log).
    Internal(String),
    /// One document of a batch was refused.
    InDocument {
        /// Its position in `documents`.
        index: usize,
        /// Why.
        error: Box<DomainError>,
    },
}

/// The message of a one-input embedding over the endpoint's payload limit.
const INPUT_TOO_LARGE: &str = "one chunk's embedding exceeds the endpoint's payload limit; \
    lower CHUNK_MAX_TOKENS or deploy the endpoint with the Text Embeddings Inference container \
    (pooled answers)";

impl fmt::Display for DomainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid(m) | Self::TooLarge(m) | Self::Copying(m) => f.write_str(m),
            Self::Metadata(e) => write!(f, "{e}"),
            Self::UnknownDocument(id) => write!(f, "document `{id}` is not stored"),
            Self::OutOfTime => f.write_str(
                "the request ran out of time; what was done is kept: send it again",
            ),
            Self::EndpointSilent => f.write_str(
                "the embedding endpoint did not answer in time (an idle serverless endpoint takes seconds up to a minute to start); retry later",
            ),
            Self::InputTooLarge(_) => f.write_str(INPUT_TOO_LARGE),
            Self::Embedding(e) => write!(f, "{e}"),
            Self::Backend(e) => match e {
                BackendError::Throttled { service, .. } => {
                    write!(f, "{service} is throttling requests; retry later")
                }
                BackendError::NotReady(_) => f.write_str(
                    "the embedding endpoint is starting (an idle serverless endpoint takes seconds up to a minute); retry later",
                ),
                BackendError::Denied { service, .. } => write!(
                    f,
                    "the function's role was denied access to {service}; a stack deployed moments ago waits for IAM to propagate: retry in a few seconds"
                ),
                BackendError::Endpoint(_) | BackendError::TooLarge(_) => f.write_str(
                    "the embedding endpoint failed; see the function's logs with this request_id",
                ),
                BackendError::Invalid(msg) => {
                    write!(f, "the vector index rejected the request: {msg}")
                }
                BackendError::Other(_) => f.write_str(INTERNAL_MESSAGE),
            },
            Self::Internal(_) => f.write_str(INTERNAL_MESSAGE),
            Self::InDocument { index, error } => write!(f, "documents[{index}]: {error}"),
        }
    }
}

impl std::error::Error for DomainError {}

const INTERNAL_MESSAGE: &str = "internal error; see the function's logs with this request_id";

impl DomainError {
    /// Marks an error of document `index`, when the request was a batch.
    pub fn in_document(self, index: usize, batch: bool) -> Self {
        if batch {
            Self::InDocument {
                index,
                error: Box::new(self),
            }
        } else {
            self
        }
    }

    /// Whether the same request sent a little later may get past it (throttling, a starting
    /// endpoint, IAM propagating, the time budget).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::OutOfTime | Self::EndpointSilent => true,
            Self::Backend(e) => matches!(
                e,
                BackendError::Throttled { .. }
                    | BackendError::NotReady(_)
                    | BackendError::Denied { .. }
            ),
            Self::InDocument { error, .. } => error.is_transient(),
            _ => false,
        }
    }

    /// Whether the request's content itself was refused (sending it again changes nothing).
    pub fn is_refusal(&self) -> bool {
        match self {
            Self::Invalid(_) | Self::TooLarge(_) | Self::Metadata(_) | Self::UnknownDocument(_) => {
                true
            }
            Self::Backend(e) => matches!(e, BackendError::Invalid(_)),
            Self::InDocument { error, .. } => error.is_refusal(),
            _ => false,
        }
    }

    /// Whether the function's role was denied an AWS call.
    pub fn is_access_denied(&self) -> bool {
        match self {
            Self::Backend(e) => matches!(e, BackendError::Denied { .. }),
            Self::InDocument { error, .. } => error.is_access_denied(),
            _ => false,
        }
    }

    /// What happened, for the log only.
    pub fn detail(&self) -> Option<String> {
        match self {
            Self::InputTooLarge(detail) | Self::Internal(detail) => Some(detail.clone()),
            Self::Embedding(e) => Some(e.to_string()),
            Self::Backend(BackendError::NotReady(detail)) => Some(detail.clone()),
            Self::Backend(e) => Some(e.to_string()),
            Self::InDocument { error, .. } => error.detail(),
            _ => None,
        }
    }
}

impl From<MetadataError> for DomainError {
    fn from(e: MetadataError) -> Self {
        Self::Metadata(e)
    }
}

impl From<EmbeddingError> for DomainError {
    fn from(e: EmbeddingError) -> Self {
        Self::Embedding(e)
    }
}

impl From<BackendError> for DomainError {
    fn from(e: BackendError) -> Self {
        Self::Backend(e)
    }
}

/// An error answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// The caller-facing message.
    pub message: String,
    /// `Retry-After` seconds (503 only).
    pub retry_after: Option<u32>,
    /// What happened, for the log only.
    pub detail: Option<String>,
    /// The methods a 405 names in its `Allow` header.
    pub allow: Option<String>,
    /// The body's `code` ([`shared::api::ENDPOINT_STARTING`]).
    pub code: Option<&'static str>,
}

impl ApiError {
    fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            retry_after: None,
            detail: None,
            allow: None,
            code: None,
        }
    }
    /// 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, message)
    }
    /// 413.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(413, message)
    }
    /// 404 for a path no route serves.
    pub fn not_found(path: &str) -> Self {
        Self::new(
            404,
            format!("no route for `{path}`; use {}", shared::routes::summary()),
        )
    }
    /// 405; `allow` lists the methods the path takes.
    pub fn method_not_allowed(method: &str, path: &str, allow: String) -> Self {
        let message = format!("method {method} is not allowed on `{path}`; use {allow}");
        Self {
            allow: Some(allow),
            ..Self::new(405, message)
        }
    }
    /// An access denial in an environment old enough that IAM has propagated: the role lacks a
    /// permission (500, not retryable).
    pub fn not_propagating(self) -> Self {
        Self {
            status: 500,
            retry_after: None,
            message: "the function's role was denied access to AWS; run `deployer doctor` (and `deployer up` to repair the role's policy)".into(),
            ..self
        }
    }
    /// 500 for a function deployed without its configuration.
    pub fn misconfigured(problem: &str) -> Self {
        Self::new(500, format!("the function is misconfigured: {problem}"))
    }
}

impl From<DomainError> for ApiError {
    /// The one mapping of a domain error to an answer: status, `Retry-After`, `code`; the
    /// message is the error's `Display`, the detail goes to the log.
    fn from(e: DomainError) -> Self {
        let (status, retry_after, code) = match &e {
            DomainError::InDocument { error, .. } => {
                let inner = Self::from((**error).clone());
                (inner.status, inner.retry_after, inner.code)
            }
            DomainError::Invalid(_) => (400, None, None),
            DomainError::TooLarge(_) => (413, None, None),
            DomainError::Metadata(m) if m.is_size_limit() => (413, None, None),
            DomainError::Metadata(_) => (400, None, None),
            DomainError::UnknownDocument(_) => (404, None, None),
            DomainError::Copying(_) => (409, None, Some(shared::api::COPY_IN_PROGRESS)),
            DomainError::OutOfTime => (503, Some(RETRY_AFTER_SECS), None),
            DomainError::EndpointSilent => (
                503,
                Some(STARTING_RETRY_AFTER_SECS),
                Some(shared::api::ENDPOINT_STARTING),
            ),
            DomainError::InputTooLarge(_) | DomainError::Embedding(_) => (502, None, None),
            DomainError::Internal(_) => (500, None, None),
            DomainError::Backend(b) => match b {
                BackendError::Throttled { .. } => (503, Some(RETRY_AFTER_SECS), None),
                BackendError::NotReady(_) => (
                    503,
                    Some(STARTING_RETRY_AFTER_SECS),
                    Some(shared::api::ENDPOINT_STARTING),
                ),
                BackendError::Denied { .. } => {
                    (503, Some(STARTING_RETRY_AFTER_SECS), Some(ACCESS_DENIED))
                }
                BackendError::Endpoint(_) | BackendError::TooLarge(_) => (502, None, None),
                BackendError::Invalid(_) => (400, None, None),
                BackendError::Other(_) => (500, None, None),
            },
        };
        Self {
            retry_after,
            code,
            detail: e.detail(),
            ..Self::new(status, e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_kind() -> Vec<DomainError> {
        let service = "S3 Vectors";
        let detail = || "Code: message".to_string();
        let mut all = vec![
            DomainError::Invalid("bad".into()),
            DomainError::TooLarge("big".into()),
            DomainError::Metadata(MetadataError::TotalTooLarge(50_000)),
            DomainError::UnknownDocument("d".into()),
            DomainError::OutOfTime,
            DomainError::EndpointSilent,
            DomainError::InputTooLarge(detail()),
            DomainError::Embedding(EmbeddingError::Count {
                expected: 2,
                got: 1,
            }),
            DomainError::Internal(detail()),
        ];
        all.extend(
            [
                BackendError::Throttled {
                    service,
                    detail: detail(),
                },
                BackendError::NotReady(detail()),
                BackendError::Denied {
                    service,
                    detail: detail(),
                },
                BackendError::Endpoint(detail()),
                BackendError::TooLarge(detail()),
                BackendError::Invalid(detail()),
                BackendError::Other(detail()),
            ]
            .map(DomainError::Backend),
        );
        let nested: Vec<_> = all.iter().map(|e| e.clone().in_document(3, true)).collect();
        all.extend(nested);
        all
    }

    /// The domain's own judgements agree with the answer the mapping gives.
    #[test]
    fn predicates_agree_with_the_mapping() {
        for e in every_kind() {
            let answer = ApiError::from(e.clone());
            assert_eq!(e.is_transient(), answer.retry_after.is_some(), "{e:?}");
            assert_eq!(e.is_refusal(), answer.status < 500, "{e:?}");
            assert_eq!(
                e.is_access_denied(),
                answer.code == Some(ACCESS_DENIED),
                "{e:?}"
            );
            assert!(!answer.message.is_empty());
        }
    }

    #[test]
    fn batch_errors_name_the_document() {
        let e = DomainError::Invalid("`text` must not be empty".into());
        assert_eq!(e.clone().in_document(2, false), e);
        let answer = ApiError::from(e.in_document(2, true));
        assert_eq!(answer.status, 400);
        assert_eq!(answer.message, "documents[2]: `text` must not be empty");
    }
}
