//! S3 Vectors and API limits (GA values, see the S3 Vectors "Limitations and restrictions" page).

/// Most vectors in one PutVectors call.
pub const MAX_PUT_VECTORS: usize = 500;
/// Most keys in one DeleteVectors call.
pub const MAX_DELETE_VECTORS: usize = 500;
/// Most keys in one GetVectors call.
pub const MAX_GET_VECTORS: usize = 100;
/// Largest topK of QueryVectors (10,000 since June 2026; results come 100 per page).
pub const MAX_TOP_K: u32 = 10_000;
/// Largest `/search` answer body, measured JSON-escaped as the Lambda response carries it
/// (the synchronous payload limit is 6 MB): texts, then the last results, are cut to fit.
pub const MAX_SEARCH_ANSWER_BYTES: usize = 5 * 1024 * 1024;
/// Default topK of `/search`.
pub const DEFAULT_TOP_K: u32 = 5;
/// Most metadata keys per vector.
pub const MAX_METADATA_KEYS: usize = 50;
/// Most bytes of filterable metadata per vector.
pub const MAX_FILTERABLE_METADATA_BYTES: usize = 2 * 1024;
/// Most bytes of metadata (filterable + non-filterable) per vector.
pub const MAX_TOTAL_METADATA_BYTES: usize = 40 * 1024;
/// Largest request/response payload of a synchronous Lambda invoke (6 MB).
pub const MAX_LAMBDA_PAYLOAD: usize = 6 * 1024 * 1024;
/// InvokeEndpoint's request and answer limit on a SageMaker Serverless endpoint (4 MiB).
pub const SERVERLESS_MAX_PAYLOAD: usize = 4 * 1024 * 1024;
/// InvokeEndpoint's request and answer limit on a real-time endpoint (6 MiB).
pub const REALTIME_MAX_PAYLOAD: usize = 6 * 1024 * 1024;
/// Most documents in one batch ingest request.
pub const MAX_BATCH_DOCUMENTS: usize = 1000;
/// Longest document accepted (bytes of UTF-8 text).
pub const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;
/// Longest search query (bytes).
pub const MAX_QUERY_BYTES: usize = 8 * 1024;
/// Largest `POST /search` body (a query plus a filter); checked before parsing, so a filter
/// can never be a multi-megabyte tree.
pub const MAX_SEARCH_BODY_BYTES: usize = 64 * 1024;
/// Longest caller-supplied document id (keys are `{id}#{chunk}`).
pub const MAX_DOCUMENT_ID_LEN: usize = 200;
