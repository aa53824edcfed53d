//! [`Backend`] on the AWS SDK: SageMaker Runtime InvokeEndpoint and S3 Vectors, calling what a
//! validated [`Config`] names (the only way to build one, so no call has an empty name).
//! Errors are classified by the service error's code, never by display text.

use crate::backend::{
    Backend, BackendError, Hit, ListPage, ListRequest, NewVector, StoredVector, cap_text,
};
use crate::config::{Config, Name};
use aws_sdk_s3vectors::types::{PutInputVector, VectorData};
use aws_smithy_types::{Blob, Document, Number};
use serde_json::{Map, Value};

/// Error codes that mean "slow down / try later".
const THROTTLING_CODES: [&str; 7] = [
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "SlowDown",
    "RequestLimitExceeded",
];

/// The SDK clients, built once at cold start.
pub struct AwsBackend {
    s3vectors: aws_sdk_s3vectors::Client,
    sagemaker: aws_sdk_sagemakerruntime::Client,
    bucket: Name,
    index: Name,
    endpoint: Name,
}

impl AwsBackend {
    /// Clients from a loaded SDK config, calling what the validated function config names.
    pub fn new(sdk: &aws_config::SdkConfig, config: &Config) -> Self {
        Self {
            s3vectors: aws_sdk_s3vectors::Client::new(sdk),
            sagemaker: aws_sdk_sagemakerruntime::Client::new(sdk),
            bucket: config.bucket.clone(),
            index: config.index.clone(),
            endpoint: config.endpoint.clone(),
        }
    }

    /// The same clients, calling `index` (the mirror of a blue/green copy) and `endpoint`
    /// (the mirror's model, when it has its own).
    pub fn for_mirror(&self, index: Name, endpoint: Option<Name>) -> Self {
        Self {
            s3vectors: self.s3vectors.clone(),
            sagemaker: self.sagemaker.clone(),
            bucket: self.bucket.clone(),
            index,
            endpoint: endpoint.unwrap_or_else(|| self.endpoint.clone()),
        }
    }
}

/// Classifies an SDK error by its service error code.
fn classify<E>(
    service: &'static str,
    err: aws_smithy_runtime_api::client::result::SdkError<
        E,
        aws_smithy_runtime_api::http::Response,
    >,
) -> BackendError
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
{
    // A real-time endpoint refuses an oversize body with a bare 413 (no error code).
    if service == "SageMaker"
        && err
            .raw_response()
            .is_some_and(|r| r.status().as_u16() == 413)
    {
        return BackendError::TooLarge(format!("{service}: HTTP 413"));
    }
    // A call cut by the SDK's timeouts: on SageMaker, the first call to an idle serverless
    // endpoint waits for its cold start.
    if service == "SageMaker"
        && matches!(
            err,
            aws_smithy_runtime_api::client::result::SdkError::TimeoutError(_)
        )
    {
        return BackendError::NotReady(format!("{service}: the call timed out"));
    }
    let Some(service_err) = err.as_service_error() else {
        return BackendError::Other(format!(
            "{service} call failed: {}",
            aws_smithy_types::error::display::DisplayErrorContext(&err)
        ));
    };
    let code = service_err.code().unwrap_or("Unknown").to_string();
    let detail = format!("{code}: {}", service_err.message().unwrap_or(""));
    if THROTTLING_CODES.contains(&code.as_str()) {
        return BackendError::Throttled { service, detail };
    }
    if matches!(code.as_str(), "AccessDeniedException" | "AccessDenied") {
        return BackendError::Denied { service, detail };
    }
    let message = service_err.message().unwrap_or("");
    match (service, code.as_str()) {
        // Serverless: "Request … has oversize body."; an answer over the limit fails in the
        // model server ("Message size exceed limit"). Decided by code, then message.
        ("SageMaker", "ValidationError") if message.contains("oversize body") => {
            BackendError::TooLarge(detail)
        }
        ("SageMaker", "ModelError") if message.contains("size exceed") => {
            BackendError::TooLarge(detail)
        }
        ("SageMaker", "ModelNotReadyException") => BackendError::NotReady(detail),
        ("SageMaker", _) => BackendError::Endpoint(detail),
        ("S3 Vectors", "ValidationException") => BackendError::Invalid(
            service_err
                .message()
                .unwrap_or("invalid request")
                .to_string(),
        ),
        _ => BackendError::Other(format!("{service} {detail}")),
    }
}

/// JSON → smithy Document (metadata and filters).
pub fn to_document(v: &Value) -> Document {
    match v {
        Value::Null => Document::Null,
        Value::Bool(b) => Document::Bool(*b),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                Document::Number(Number::PosInt(u))
            } else if let Some(i) = n.as_i64() {
                Document::Number(Number::NegInt(i))
            } else {
                Document::Number(Number::Float(n.as_f64().unwrap_or(0.0)))
            }
        }
        Value::String(s) => Document::String(s.clone()),
        Value::Array(items) => Document::Array(items.iter().map(to_document).collect()),
        Value::Object(map) => Document::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), to_document(v)))
                .collect(),
        ),
    }
}

/// smithy Document → JSON.
pub fn from_document(d: &Document) -> Value {
    match d {
        Document::Null => Value::Null,
        Document::Bool(b) => Value::Bool(*b),
        Document::Number(Number::PosInt(u)) => Value::from(*u),
        Document::Number(Number::NegInt(i)) => Value::from(*i),
        Document::Number(Number::Float(f)) => {
            serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number)
        }
        Document::String(s) => Value::String(s.clone()),
        Document::Array(items) => Value::Array(items.iter().map(from_document).collect()),
        Document::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), from_document(v)))
                .collect(),
        ),
    }
}

fn metadata_map(d: Option<&Document>) -> Map<String, Value> {
    match d.map(from_document) {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

impl Backend for AwsBackend {
    async fn invoke_endpoint(&self, body: Vec<u8>) -> Result<Vec<u8>, BackendError> {
        let out = self
            .sagemaker
            .invoke_endpoint()
            .endpoint_name(self.endpoint.as_str())
            .content_type("application/json")
            .accept("application/json")
            .body(Blob::new(body))
            .send()
            .await
            .map_err(|e| classify("SageMaker", e))?;
        Ok(out.body.map(Blob::into_inner).unwrap_or_default())
    }

    async fn put_vectors(&self, vectors: Vec<NewVector>) -> Result<(), BackendError> {
        let inputs = vectors
            .into_iter()
            .map(|v| {
                PutInputVector::builder()
                    .key(v.key)
                    .data(VectorData::Float32(v.data))
                    .metadata(to_document(&Value::Object(v.metadata)))
                    .build()
                    .map_err(|e| BackendError::Other(format!("building PutVectors input: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.s3vectors
            .put_vectors()
            .vector_bucket_name(self.bucket.as_str())
            .index_name(self.index.as_str())
            .set_vectors(Some(inputs))
            .send()
            .await
            .map_err(|e| classify("S3 Vectors", e))?;
        Ok(())
    }

    async fn get_vectors(&self, keys: Vec<String>) -> Result<Vec<StoredVector>, BackendError> {
        let out = self
            .s3vectors
            .get_vectors()
            .vector_bucket_name(self.bucket.as_str())
            .index_name(self.index.as_str())
            .set_keys(Some(keys))
            .return_data(true)
            .return_metadata(true)
            .send()
            .await
            .map_err(|e| classify("S3 Vectors", e))?;
        Ok(out
            .vectors
            .into_iter()
            .map(|v| StoredVector {
                data: match v.data {
                    Some(VectorData::Float32(d)) => d,
                    _ => Vec::new(),
                },
                metadata: metadata_map(v.metadata.as_ref()),
                key: v.key,
            })
            .collect())
    }

    async fn delete_vectors(&self, keys: Vec<String>) -> Result<(), BackendError> {
        self.s3vectors
            .delete_vectors()
            .vector_bucket_name(self.bucket.as_str())
            .index_name(self.index.as_str())
            .set_keys(Some(keys))
            .send()
            .await
            .map_err(|e| classify("S3 Vectors", e))?;
        Ok(())
    }

    async fn list_vectors(&self, request: ListRequest) -> Result<ListPage, BackendError> {
        let ListRequest {
            next_token,
            max_results,
            metadata,
            segment,
        } = request;
        let out = self
            .s3vectors
            .list_vectors()
            .vector_bucket_name(self.bucket.as_str())
            .index_name(self.index.as_str())
            .max_results(max_results as i32)
            .set_next_token(next_token)
            .return_metadata(metadata)
            .set_segment_index(segment.map(|(i, _)| i as i32))
            .set_segment_count(segment.map(|(_, n)| n as i32))
            .send()
            .await
            .map_err(|e| classify("S3 Vectors", e))?;
        Ok(ListPage {
            vectors: out
                .vectors
                .into_iter()
                .map(|v| (v.key, metadata_map(v.metadata.as_ref())))
                .collect(),
            next_token: out.next_token,
        })
    }

    async fn query(
        &self,
        vector: Vec<f32>,
        top_k: u32,
        filter: Option<Value>,
        text_cap: usize,
    ) -> Result<Vec<Hit>, BackendError> {
        // Results beyond one page come with `nextToken`: re-send the same query with it.
        let filter = filter.as_ref().map(to_document);
        let mut hits = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .s3vectors
                .query_vectors()
                .vector_bucket_name(self.bucket.as_str())
                .index_name(self.index.as_str())
                .top_k(top_k as i32)
                .query_vector(VectorData::Float32(vector.clone()))
                .set_filter(filter.clone())
                .return_metadata(true)
                .return_distance(true)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| classify("S3 Vectors", e))?;
            hits.extend(out.vectors.into_iter().map(|v| {
                let mut metadata = metadata_map(v.metadata.as_ref());
                let text_cut = cap_text(&mut metadata, text_cap);
                Hit {
                    distance: v.distance.unwrap_or(1.0),
                    metadata,
                    key: v.key,
                    text_cut,
                }
            }));
            token = out.next_token.filter(|t| !t.is_empty());
            if token.is_none() || hits.len() >= top_k as usize {
                return Ok(hits);
            }
        }
    }
}
