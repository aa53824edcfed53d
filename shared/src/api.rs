//! The HTTP API's request and response bodies, route by route ([`crate::routes`] lists the
//! routes): ingest, search, the document list and pages, delete by filter, reindex.

use crate::bounded::{Documents, Metadata};
use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use std::fmt;

/// The success message of `/ingest`, as in the original setup.
pub const INGEST_OK_MESSAGE: &str = "Document indexed successfully";

/// One document to ingest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentInput {
    /// The document text.
    pub text: String,
    /// User metadata (string, number, bool or list-of-strings values), parsed within bounds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
    /// A stable id; re-ingesting the same id replaces the document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// Why `id` cannot be a document id (vector keys are `{id}#{chunk}`), or `None`.
pub fn document_id_problem(id: &str) -> Option<String> {
    use crate::limits::MAX_DOCUMENT_ID_LEN;
    if id.is_empty() || id.chars().count() > MAX_DOCUMENT_ID_LEN {
        return Some(format!("`id` must be 1..={MAX_DOCUMENT_ID_LEN} characters"));
    }
    if id.contains('#') || id.chars().any(char::is_control) {
        return Some("`id` must not contain `#` or control characters".into());
    }
    // Ids are paths in `/documents/{id}`: a segment a URL layer would remove or resolve, or a
    // first segment that names another route, would reach another document or none.
    let mut segments = id.split('/');
    if segments.any(|s| s.is_empty() || s == "." || s == "..") {
        return Some(
            "`id` must not have empty, `.` or `..` path segments (nor start or end with `/`)"
                .into(),
        );
    }
    let first = id.split('/').next().unwrap_or_default();
    if crate::routes::reserved_id_segment(first) {
        return Some(format!(
            "`id` must not start with `{first}`: `/documents/{first}` is another route"
        ));
    }
    None
}

/// Body of `POST /ingest`: one document, or `{"documents": [...]}`. Parsed straight from the
/// body, never through a `Value`, so its size stays within [`crate::bounded`]'s limits.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum IngestRequest {
    /// `{"documents": [...]}`.
    Batch {
        /// The documents (at most the batch limit are kept).
        documents: Vec<DocumentInput>,
        /// Documents in the request.
        #[serde(skip)]
        total: usize,
    },
    /// `{"text": ..., "metadata": ..., "id": ...}`.
    Single(DocumentInput),
}

impl<'de> Deserialize<'de> for IngestRequest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct RequestVisitor;
        impl<'de> Visitor<'de> for RequestVisitor {
            type Value = IngestRequest;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<IngestRequest, A::Error> {
                let (mut documents, mut text, mut metadata, mut id) = (None, None, None, None);
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    match key.as_ref() {
                        "documents" => documents = Some(map.next_value::<Documents>()?),
                        "text" => text = Some(map.next_value::<String>()?),
                        "metadata" => metadata = map.next_value::<Option<Metadata>>()?,
                        "id" => id = map.next_value::<Option<String>>()?,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                if let Some(docs) = documents {
                    return Ok(IngestRequest::Batch {
                        documents: docs.kept,
                        total: docs.total,
                    });
                }
                let text = text.ok_or_else(|| de::Error::missing_field("text"))?;
                Ok(IngestRequest::Single(DocumentInput { text, metadata, id }))
            }
        }
        d.deserialize_map(RequestVisitor)
    }
}

impl IngestRequest {
    /// Parses a request body, with an error message fit for a 400 answer.
    pub fn parse(body: &[u8]) -> Result<Self, String> {
        let first = body.iter().find(|b| !b.is_ascii_whitespace());
        if first.is_some_and(|&b| b != b'{') {
            return Err("request body must be a JSON object".into());
        }
        serde_json::from_slice(body).map_err(|e| {
            let message = e.to_string();
            if message.starts_with("documents[") {
                message
            } else if e.is_syntax() || e.is_eof() {
                format!("request body is not valid JSON: {e}")
            } else {
                format!("invalid ingest request: {e}")
            }
        })
    }

    /// Documents in the request (kept or not).
    pub fn count(&self) -> usize {
        match self {
            Self::Batch { total, .. } => *total,
            Self::Single(_) => 1,
        }
    }

    /// The documents, in request order.
    pub fn documents(&self) -> &[DocumentInput] {
        match self {
            Self::Batch { documents, .. } => documents,
            Self::Single(doc) => std::slice::from_ref(doc),
        }
    }

    /// The ids the request gives (a document without one gets a new id when ingested).
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.documents().iter().filter_map(|d| d.id.as_deref())
    }

    /// The documents, in request order.
    pub fn into_documents(self) -> Vec<DocumentInput> {
        match self {
            Self::Batch { documents, .. } => documents,
            Self::Single(doc) => vec![doc],
        }
    }
}

/// Answer of a successful `POST /ingest`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IngestResponse {
    /// Always [`INGEST_OK_MESSAGE`].
    pub message: String,
    /// The id of the (first) document.
    pub document_id: String,
    /// Every document id, in request order (batch requests; one element otherwise).
    pub document_ids: Vec<String>,
    /// Vectors written (one per chunk).
    pub chunks: usize,
}

/// The message of a 202 answer: the request was valid, part of it is stored.
pub const INGEST_PARTIAL_MESSAGE: &str =
    "Document partially indexed; send the same request again to continue";

/// Answer of `POST /ingest` that ran out of time (HTTP 202): the chunks done so far are
/// stored; sending the same request again skips them and continues.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IngestProgress {
    /// Always [`INGEST_PARTIAL_MESSAGE`].
    pub message: String,
    /// The id of the (first) document.
    pub document_id: String,
    /// Every document id, in request order.
    pub document_ids: Vec<String>,
    /// Chunks of the request now stored with their current content.
    pub chunks_done: usize,
    /// Chunks of the request.
    pub chunks_total: usize,
}

/// Body of `POST /search`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchRequest {
    /// The query text.
    pub query: String,
    /// How many results (1..=10,000, default 5).
    #[serde(default)]
    pub k: Option<u32>,
    /// An S3 Vectors metadata filter.
    #[serde(default)]
    pub filter: Option<Value>,
}

/// One search hit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchResult {
    /// The vector key (`{document_id}#{chunk}`).
    pub id: String,
    /// The document the chunk belongs to.
    pub document_id: String,
    /// `1 − distance` in the index's metric: cosine similarity for a cosine index (−1..1),
    /// `1 − L2 distance` for a euclidean one (can be negative). Higher is better.
    pub score: f64,
    /// The chunk's text.
    pub text: String,
    /// The user metadata and chunk information stored with the vector.
    pub metadata: Map<String, Value>,
}

/// Answer of `POST /search`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchResponse {
    /// Best first.
    pub results: Vec<SearchResult>,
    /// `results.len()`.
    pub count: usize,
    /// Some texts were cut to keep the answer under the Lambda payload limit (large `k`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub texts_cut: bool,
    /// The last results were left out for the same reason (`count` < `k`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub results_cut: bool,
}

/// One stored chunk of a document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredChunk {
    /// Its index in the document.
    pub index: usize,
    /// Its text.
    pub text: String,
}

/// Answer of `GET /documents/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentResponse {
    /// The document id.
    pub document_id: String,
    /// Its chunks, in order.
    pub chunks: Vec<StoredChunk>,
    /// The user metadata it was ingested with.
    pub metadata: Map<String, Value>,
    /// When it was stored (UTC, RFC 3339), if known.
    pub timestamp: Option<String>,
    /// The embedding its vectors were made with (`None`: the original function's token-0
    /// vectors, which `deployer reindex` replaces).
    pub embedding: Option<String>,
    /// Whether chunk texts were cut to keep the answer under the Lambda payload limit.
    #[serde(default)]
    pub texts_cut: bool,
}

/// Answer of `DELETE /documents/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeleteResponse {
    /// The document id.
    pub document_id: String,
    /// Vectors removed.
    pub deleted_chunks: usize,
}

/// Body of `POST /documents/delete`: a non-empty `filter`, or `"all": true` to delete every
/// document (its own request, never an empty filter).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeleteByFilterRequest {
    /// An S3 Vectors metadata filter: every document with a matching chunk is removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Value>,
    /// Delete every document of the index.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all: bool,
    /// From a 202 answer: where to continue.
    #[serde(default)]
    pub next_token: Option<String>,
}

/// Answer of `POST /documents/delete`: 200 when the whole index was scanned, 202 with
/// `next_token` when the time budget ran out (send the request again with it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeleteByFilterResponse {
    /// Documents removed by this request.
    pub deleted_documents: usize,
    /// Vectors removed by this request.
    pub deleted_chunks: usize,
    /// The ids removed by this request.
    pub document_ids: Vec<String>,
    /// Where to continue (202), or `None` when done.
    pub next_token: Option<String>,
}

/// Answer of `GET /documents`: a page of document ids (with `?metadata=true`, also each
/// document's user metadata, which is how `deployer sync` compares files with the index).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentList {
    /// Ids on this page.
    pub document_ids: Vec<String>,
    /// With `?metadata=true`: each listed document's user metadata (its head's), by id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<std::collections::BTreeMap<String, Map<String, Value>>>,
    /// The next page (`?next_token=`), or `None` on the last.
    pub next_token: Option<String>,
}

/// Body of `POST /documents/reindex`: one round over one ListVectors segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReindexRequest {
    /// This segment (0-based).
    pub segment: u32,
    /// Segments the index is listed in (1..=16).
    pub segments: u32,
    /// From the previous round of this segment.
    #[serde(default)]
    pub next_token: Option<String>,
    /// Instead of re-embedding: a round of the blue/green copy to the function's
    /// `MIRROR_INDEX` (`deployer reindex --into`), listing this side.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy: Option<CopyPass>,
}

/// Which index a copy round lists (`POST /documents/reindex {"copy": …}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CopyPass {
    /// The index: every listed document is copied to the mirror.
    Index,
    /// The mirror: listed documents the index lacks are removed from it.
    Mirror,
}

/// Answer of `POST /documents/reindex`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReindexResponse {
    /// Vectors looked at.
    pub scanned: usize,
    /// Chunks re-embedded from their stored text.
    pub reembedded: usize,
    /// Documents of the original stack (one token-0 vector each) re-ingested as chunks.
    pub migrated: usize,
    /// Vectors that could not be brought up to date, with why.
    pub problems: Vec<String>,
    /// Where the next round of this segment starts.
    pub next_token: Option<String>,
    /// Whether the segment is finished.
    pub done: bool,
    /// Copy rounds: documents written to the mirror.
    #[serde(default)]
    pub copied: usize,
    /// Copy rounds: documents removed from the mirror (the index holds none of them).
    #[serde(default)]
    pub removed: usize,
}

impl ReindexResponse {
    /// A round that looked at `scanned` vectors and has done nothing yet.
    pub fn scanned(scanned: usize) -> Self {
        Self {
            scanned,
            reembedded: 0,
            migrated: 0,
            problems: Vec::new(),
            next_token: None,
            done: false,
            copied: 0,
            removed: 0,
        }
    }
}

/// Every error body: `{"error": "...", "request_id": "..."}`, and a `code` when a client
/// can act on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong, for the caller; never internal details.
    pub error: String,
    /// The Lambda request id, to find the log lines.
    pub request_id: String,
    /// A stable code for the errors a client handles ([`ENDPOINT_STARTING`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// The code of a 503 whose cause is the embedding endpoint starting (a serverless endpoint
/// scaled to zero: `ModelNotReadyException`, or a first call still waiting for capacity). Send
/// the same request again after `Retry-After`; a cold start takes seconds up to about a minute.
pub const ENDPOINT_STARTING: &str = "EndpointStarting";

/// The code of a 409 answered to a write that addresses documents by filter while the index is
/// being copied to a new one (`deployer reindex --into`): send it again once that finished.
pub const COPY_IN_PROGRESS: &str = "CopyInProgress";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_and_batch_bodies_parse() {
        let single: IngestRequest =
            serde_json::from_str(r#"{"text":"t","metadata":{"source":"x"}}"#).unwrap();
        assert!(matches!(single, IngestRequest::Single(d) if d.text == "t" && d.id.is_none()));
        let batch: IngestRequest =
            serde_json::from_str(r#"{"documents":[{"text":"a","id":"1"},{"text":"b"}]}"#).unwrap();
        assert!(
            matches!(batch, IngestRequest::Batch { documents, total: 2 } if documents.len() == 2)
        );
    }

    #[test]
    fn parse_gives_clear_messages() {
        let err = IngestRequest::parse(b"{").unwrap_err();
        assert!(err.starts_with("request body is not valid JSON"));
        assert_eq!(
            IngestRequest::parse(b"[1]").unwrap_err(),
            "request body must be a JSON object"
        );
        let err = IngestRequest::parse(br#"{"documents":[{"text":"a"},{"id":"x"}]}"#).unwrap_err();
        assert!(
            err.starts_with("documents[1]: missing field `text`"),
            "{err}"
        );
        let err = IngestRequest::parse(br#"{"documents":{"text":"a"}}"#).unwrap_err();
        assert!(
            err.contains("a list of {text, metadata?, id?} objects"),
            "{err}"
        );
        let ok = IngestRequest::parse(br#"{"text":"a","id":"x","extra":[1,{"y":2}]}"#).unwrap();
        assert_eq!(ok.into_documents()[0].id.as_deref(), Some("x"));
    }

    #[test]
    fn a_body_without_text_is_rejected() {
        assert!(serde_json::from_str::<IngestRequest>(r#"{"metadata":{}}"#).is_err());
        assert!(serde_json::from_str::<IngestRequest>(r#"{"text":5}"#).is_err());
    }
}
