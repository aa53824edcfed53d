//! API errors: an HTTP status, a message safe to show the caller, and the detail that only
//! goes to the log.

use crate::backend::BackendError;
use shared::embedding::EmbeddingError;
use shared::metadata::MetadataError;

/// Seconds a throttled caller is asked to wait (`Retry-After`).
pub const RETRY_AFTER_SECS: u32 = 2;
/// The code of an access denial (the body's `code`; the handler retries it in a new
/// environment, where IAM may still be propagating).
pub const ACCESS_DENIED: &str = "AccessDenied";
/// Seconds a caller is asked to wait while the embedding endpoint starts.
pub const STARTING_RETRY_AFTER_SECS: u32 = 5;

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
    pub(crate) fn new(status: u16, message: impl Into<String>) -> Self {
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
    /// 500 with a generic message; `detail` goes to the log.
    pub fn internal(detail: impl Into<String>) -> Self {
        Self {
            detail: Some(detail.into()),
            ..Self::new(
                500,
                "internal error; see the function's logs with this request_id",
            )
        }
    }
    /// 502: a downstream service failed; `detail` goes to the log.
    pub fn upstream(message: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            detail: Some(detail.into()),
            ..Self::new(502, message)
        }
    }
    /// 503: the embedding endpoint did not answer before the deadline; the usual cause is a
    /// serverless endpoint's cold start.
    pub fn out_of_time() -> Self {
        Self {
            retry_after: Some(STARTING_RETRY_AFTER_SECS),
            code: Some(shared::api::ENDPOINT_STARTING),
            ..Self::new(
                503,
                "the embedding endpoint did not answer in time (an idle serverless endpoint takes seconds up to a minute to start); retry later",
            )
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
    /// 503: the embedding endpoint is starting (`ModelNotReadyException`).
    pub fn endpoint_starting(detail: impl Into<String>) -> Self {
        Self {
            retry_after: Some(STARTING_RETRY_AFTER_SECS),
            code: Some(shared::api::ENDPOINT_STARTING),
            detail: Some(detail.into()),
            ..Self::new(
                503,
                "the embedding endpoint is starting (an idle serverless endpoint takes seconds up to a minute); retry later",
            )
        }
    }
    /// 503: the time budget ran out between two AWS calls; what was done is kept and the same
    /// request sent again continues.
    pub fn deadline() -> Self {
        Self {
            retry_after: Some(RETRY_AFTER_SECS),
            ..Self::new(
                503,
                "the request ran out of time; what was done is kept: send it again",
            )
        }
    }
    /// 500 for a function deployed without its configuration.
    pub fn misconfigured(problem: &str) -> Self {
        Self::new(500, format!("the function is misconfigured: {problem}"))
    }
    /// Prefixes the message with the document's position in a batch.
    pub fn in_document(mut self, index: usize, batch: bool) -> Self {
        if batch {
            self.message = format!("documents[{index}]: {}", self.message);
        }
        self
    }
}

impl From<MetadataError> for ApiError {
    fn from(e: MetadataError) -> Self {
        if e.is_size_limit() {
            Self::too_large(e.to_string())
        } else {
            Self::bad_request(e.to_string())
        }
    }
}

impl From<EmbeddingError> for ApiError {
    fn from(e: EmbeddingError) -> Self {
        Self {
            detail: Some(e.to_string()),
            ..Self::new(502, e.to_string())
        }
    }
}

impl From<BackendError> for ApiError {
    fn from(e: BackendError) -> Self {
        let detail = Some(e.to_string());
        match e {
            BackendError::Throttled { service, .. } => Self {
                retry_after: Some(RETRY_AFTER_SECS),
                detail,
                ..Self::new(
                    503,
                    format!("{service} is throttling requests; retry later"),
                )
            },
            BackendError::NotReady(detail) => Self::endpoint_starting(detail),
            BackendError::Denied { service, .. } => Self {
                retry_after: Some(STARTING_RETRY_AFTER_SECS),
                code: Some(ACCESS_DENIED),
                detail,
                ..Self::new(
                    503,
                    format!(
                        "the function's role was denied access to {service}; a stack deployed moments ago waits for IAM to propagate: retry in a few seconds"
                    ),
                )
            },
            BackendError::Endpoint(_) | BackendError::TooLarge(_) => Self {
                detail,
                ..Self::new(
                    502,
                    "the embedding endpoint failed; see the function's logs with this request_id",
                )
            },
            BackendError::Invalid(msg) => Self {
                detail,
                ..Self::bad_request(format!("the vector index rejected the request: {msg}"))
            },
            BackendError::Other(_) => Self::internal(e.to_string()),
        }
    }
}
