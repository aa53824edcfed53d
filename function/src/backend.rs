//! The AWS calls the domain code makes, behind a trait so handler tests can stand in for them;
//! [`Unconfigured`] stands in when the function has no valid configuration.

use serde_json::{Map, Value};
use std::future::Future;

/// A vector to write.
#[derive(Debug, Clone, PartialEq)]
pub struct NewVector {
    /// `{document_id}#{chunk}`.
    pub key: String,
    /// The L2-normalised embedding.
    pub data: Vec<f32>,
    /// The stored metadata.
    pub metadata: Map<String, Value>,
}

/// A stored vector read back by GetVectors.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredVector {
    /// The vector key.
    pub key: String,
    /// The embedding.
    pub data: Vec<f32>,
    /// The stored metadata.
    pub metadata: Map<String, Value>,
}

/// Cuts the `text` in `metadata` to at most `cap` bytes (at a character boundary); returns
/// whether it was cut.
pub fn cap_text(metadata: &mut Map<String, Value>, cap: usize) -> bool {
    match metadata.get_mut(shared::metadata::TEXT_KEY) {
        Some(Value::String(text)) => cut_text(text, cap),
        _ => false,
    }
}

/// Cuts `text` to at most `cap` bytes at a character boundary; returns whether it was cut.
pub fn cut_text(text: &mut String, cap: usize) -> bool {
    if text.len() <= cap {
        return false;
    }
    let mut end = cap;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    true
}

/// One QueryVectors hit.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// The vector key.
    pub key: String,
    /// The distance under the index's metric.
    pub distance: f32,
    /// The stored metadata.
    pub metadata: Map<String, Value>,
    /// Whether its `text` was cut.
    pub text_cut: bool,
}

/// Which page of ListVectors to read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListRequest {
    /// The page after this token (`None`: the first).
    pub next_token: Option<String>,
    /// At most this many keys (≤ 1,000).
    pub max_results: u32,
    /// Whether each key's metadata is returned too.
    pub metadata: bool,
    /// Only segment `(index, count)` of the index, when given.
    pub segment: Option<(u32, u32)>,
}

/// One page of ListVectors: keys, with metadata when asked for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListPage {
    /// The vectors on the page (metadata empty unless requested).
    pub vectors: Vec<(String, Map<String, Value>)>,
    /// The next page's token.
    pub next_token: Option<String>,
}

/// A failed AWS call, classified by the service's error code.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BackendError {
    /// Still throttled (or the service unavailable) after the SDK's retries.
    #[error("{service} throttled: {detail}")]
    Throttled {
        /// Which service.
        service: &'static str,
        /// The code and message, for the log.
        detail: String,
    },
    /// The embedding endpoint is not ready: a serverless endpoint provisioning capacity after
    /// idling (`ModelNotReadyException`), or a call cut by its timeout while it starts.
    #[error("embedding endpoint not ready: {0}")]
    NotReady(String),
    /// The function's role was denied the call (IAM still propagating, or a missing permission).
    #[error("{service} denied access: {detail}")]
    Denied {
        /// Which service.
        service: &'static str,
        /// The code and message, for the log.
        detail: String,
    },
    /// The embedding endpoint failed (unknown endpoint, model error…).
    #[error("embedding endpoint failed: {0}")]
    Endpoint(String),
    /// The request or the answer exceeded the endpoint's payload limit (4 MiB serverless,
    /// 6 MiB real-time): a smaller batch may pass.
    #[error("embedding endpoint payload limit exceeded: {0}")]
    TooLarge(String),
    /// S3 Vectors rejected the request's input (e.g. a filter).
    #[error("rejected by S3 Vectors: {0}")]
    Invalid(String),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

/// What the handlers need from AWS.
pub trait Backend: Send + Sync {
    /// InvokeEndpoint with a JSON `body`; returns the raw answer.
    fn invoke_endpoint(
        &self,
        body: Vec<u8>,
    ) -> impl Future<Output = Result<Vec<u8>, BackendError>> + Send;
    /// PutVectors (≤ 500 vectors).
    fn put_vectors(
        &self,
        vectors: Vec<NewVector>,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;
    /// GetVectors (≤ 100 keys) with data and metadata; missing keys are left out.
    fn get_vectors(
        &self,
        keys: Vec<String>,
    ) -> impl Future<Output = Result<Vec<StoredVector>, BackendError>> + Send;
    /// DeleteVectors (≤ 500 keys); missing keys are not an error.
    fn delete_vectors(
        &self,
        keys: Vec<String>,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;
    /// One ListVectors page, as `request` describes it.
    fn list_vectors(
        &self,
        request: ListRequest,
    ) -> impl Future<Output = Result<ListPage, BackendError>> + Send;
    /// QueryVectors with metadata and distances, every page up to `top_k` hits; each hit's
    /// `text` is cut to `text_cap` bytes as its page arrives (see [`cap_text`]), so a large
    /// topK never holds every text at once.
    fn query(
        &self,
        vector: Vec<f32>,
        top_k: u32,
        filter: Option<Value>,
        text_cap: usize,
    ) -> impl Future<Output = Result<Vec<Hit>, BackendError>> + Send;
}

/// The backend of a function deployed without its configuration: there is nothing to call (an
/// [`crate::aws::AwsBackend`] needs a valid [`crate::config::Config`]), and the handler answers
/// 500 before any call, so every call fails.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unconfigured;

impl Unconfigured {
    fn fail<T>() -> std::future::Ready<Result<T, BackendError>> {
        std::future::ready(Err(BackendError::Other(
            "the function is not configured".into(),
        )))
    }
}

impl Backend for Unconfigured {
    fn invoke_endpoint(
        &self,
        _: Vec<u8>,
    ) -> impl Future<Output = Result<Vec<u8>, BackendError>> + Send {
        Self::fail()
    }
    fn put_vectors(
        &self,
        _: Vec<NewVector>,
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        Self::fail()
    }
    fn get_vectors(
        &self,
        _: Vec<String>,
    ) -> impl Future<Output = Result<Vec<StoredVector>, BackendError>> + Send {
        Self::fail()
    }
    fn delete_vectors(
        &self,
        _: Vec<String>,
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        Self::fail()
    }
    fn list_vectors(
        &self,
        _: ListRequest,
    ) -> impl Future<Output = Result<ListPage, BackendError>> + Send {
        Self::fail()
    }
    fn query(
        &self,
        _: Vec<f32>,
        _: u32,
        _: Option<Value>,
        _: usize,
    ) -> impl Future<Output = Result<Vec<Hit>, BackendError>> + Send {
        Self::fail()
    }
}
