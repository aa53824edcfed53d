//! `POST /ingest`: validate everything, chunk by tokens, then embed and store only what is not
//! stored yet, inside the request's deadline.
//!
//! Resumable: vector keys are deterministic (`{document_id}#{chunk}`; a document without an
//! `id` gets one derived from its content), and every vector carries the `content_hash` of
//! its text. Each call first reads the stored chunks (GetVectors), skips those already stored
//! with the same content and metadata, re-writes those whose metadata alone changed (with the
//! stored vector, no embedding), and embeds the rest until the deadline. What is done is
//! written; the answer is 202 with `chunks_done`/`chunks_total` while anything is left, and
//! the same request sent again continues. Chunks beyond a document's new count (an edit made
//! it shorter) are deleted only once all its new chunks are stored.

use crate::backend::{Backend, NewVector, StoredVector};
use crate::config::Config;
use crate::embed::{Deadline, EmbedStats, Embedder};
use crate::error::ApiError;
use futures::{StreamExt, TryStreamExt};
use serde_json::{Map, Value};
use shared::api::{
    DocumentInput, INGEST_OK_MESSAGE, INGEST_PARTIAL_MESSAGE, IngestOutcome, IngestProgress,
    IngestRequest, IngestResponse,
};
use shared::chunk::{Chunk, chunk_text};
use shared::limits::{
    MAX_BATCH_DOCUMENTS, MAX_DELETE_VECTORS, MAX_DOCUMENT_BYTES, MAX_GET_VECTORS, MAX_PUT_VECTORS,
};
use shared::metadata::{self, CONTENT_HASH_KEY, ChunkInfo};
use std::collections::{HashMap, HashSet};
use std::time::Instant;

/// Measurements of one ingest, for the log line.
#[derive(Debug, Default)]
pub struct IngestStats {
    /// Documents in the request.
    pub documents: usize,
    /// Chunks in the request.
    pub chunks: usize,
    /// Chunks embedded by this call.
    pub embedded: usize,
    /// Chunks re-written with their stored vector (metadata changed, text did not).
    pub rewritten: usize,
    /// Chunks already stored as they are.
    pub unchanged: usize,
    /// Milliseconds spent embedding.
    pub embed_ms: u128,
    /// Milliseconds spent reading and writing S3 Vectors.
    pub store_ms: u128,
    /// What the embedding calls did.
    pub embed: EmbedStats,
}

/// A document that passed validation, with its chunks.
struct Prepared<'a> {
    id: String,
    chunks: Vec<Chunk<'a>>,
    user: Option<&'a Map<String, Value>>,
}

/// What a chunk needs.
enum Todo {
    /// Stored with this content and metadata.
    Done,
    /// Stored with this content: write the stored vector with the new metadata.
    Rewrite(Vec<f32>),
    /// Not stored, or with other content.
    Embed,
}

/// Namespace of the ids derived from content (UUID v5), fixed forever.
const CONTENT_ID_NAMESPACE: uuid::Uuid = uuid::uuid!("5d2f7a4e-3c1b-4e8a-9f61-0b7c2d9e4a10");

/// The id of a document sent without one: a UUID derived from its text and metadata, so the
/// same request sent again continues the same document instead of starting a new one.
fn content_id(doc: &DocumentInput) -> String {
    let meta = doc
        .metadata
        .as_ref()
        .and_then(|m| serde_json::to_vec(m).ok())
        .unwrap_or_default();
    let mut name = Vec::with_capacity(doc.text.len() + meta.len() + 1);
    name.extend_from_slice(doc.text.as_bytes());
    name.push(0);
    name.extend_from_slice(&meta);
    uuid::Uuid::new_v5(&CONTENT_ID_NAMESPACE, &name).to_string()
}

fn validate_id(id: &str) -> Result<(), ApiError> {
    shared::api::document_id_problem(id).map_or(Ok(()), |why| Err(ApiError::bad_request(why)))
}

fn prepare<'a>(
    doc: &'a DocumentInput,
    config: &Config,
    timestamp: &str,
) -> Result<Prepared<'a>, ApiError> {
    if doc.text.len() > MAX_DOCUMENT_BYTES {
        return Err(ApiError::too_large(format!(
            "`text` is {} bytes; the limit is {MAX_DOCUMENT_BYTES} bytes per document",
            doc.text.len()
        )));
    }
    if doc.text.trim().is_empty() {
        return Err(ApiError::bad_request("`text` must not be empty"));
    }
    if let Some(id) = &doc.id {
        validate_id(id)?;
    }
    if let Some(user) = &doc.metadata {
        metadata::validate_user_metadata(user)?;
    }
    let chunks = chunk_text(&doc.text, config.chunk).map_err(ApiError::internal)?;
    if chunks.is_empty() {
        return Err(ApiError::bad_request(
            "`text` has nothing to embed (only whitespace or control characters)",
        ));
    }
    let id = doc.id.clone().unwrap_or_else(|| content_id(doc));
    // The largest metadata of the document: its longest chunk with the widest index.
    if let Some(longest) = chunks.iter().max_by_key(|c| c.text.len()) {
        let info = ChunkInfo {
            document_id: &id,
            index: chunks.len() - 1,
            count: chunks.len(),
            timestamp,
        };
        metadata::check_limits(&metadata::build(
            longest.text,
            info,
            doc.metadata.as_deref(),
        ))?;
    }
    Ok(Prepared {
        id,
        chunks,
        user: doc.metadata.as_deref(),
    })
}

/// Validates the whole request (`count` documents were sent, `documents` kept); nothing is
/// called unless every document is valid.
fn prepare_all<'a>(
    documents: &'a [DocumentInput],
    count: usize,
    batch: bool,
    config: &Config,
    timestamp: &str,
) -> Result<Vec<Prepared<'a>>, ApiError> {
    if count == 0 {
        return Err(ApiError::bad_request("`documents` must not be empty"));
    }
    if count > MAX_BATCH_DOCUMENTS {
        return Err(ApiError::too_large(format!(
            "{count} documents in one request; the limit is {MAX_BATCH_DOCUMENTS}"
        )));
    }
    let mut seen = HashSet::new();
    let mut prepared = Vec::with_capacity(documents.len());
    for (i, doc) in documents.iter().enumerate() {
        let p = prepare(doc, config, timestamp).map_err(|e| e.in_document(i, batch))?;
        if !seen.insert(p.id.clone()) {
            let what = if doc.id.is_some() {
                format!("duplicate id `{}` in the request", p.id)
            } else {
                "the same document (text and metadata) twice in the request".to_string()
            };
            return Err(ApiError::bad_request(what).in_document(i, batch));
        }
        prepared.push(p);
    }
    Ok(prepared)
}

/// Reads the stored vectors `{id}#0..={id}#N` of every document (chunk `N` tells how many
/// chunks an earlier, longer version had).
async fn read_stored<B: Backend>(
    backend: &B,
    prepared: &[Prepared<'_>],
) -> Result<HashMap<String, StoredVector>, ApiError> {
    let keys: Vec<String> = prepared
        .iter()
        .flat_map(|p| (0..=p.chunks.len()).map(|i| metadata::vector_key(&p.id, i)))
        .collect();
    let pages: Vec<Vec<String>> = keys
        .chunks(MAX_GET_VECTORS)
        .map(<[String]>::to_vec)
        .collect();
    let pages: Vec<Vec<StoredVector>> = futures::stream::iter(pages)
        .map(|page| backend.get_vectors(page))
        .buffer_unordered(4)
        .try_collect()
        .await?;
    Ok(pages
        .into_iter()
        .flatten()
        .map(|v| (v.key.clone(), v))
        .collect())
}

/// The most chunks any stored version of the document had.
fn stored_count(stored: &HashMap<String, StoredVector>, p: &Prepared<'_>) -> usize {
    (0..=p.chunks.len())
        .filter_map(|i| stored.get(&metadata::vector_key(&p.id, i)))
        .filter_map(|v| v.metadata.get("chunk_count").and_then(Value::as_u64))
        .max()
        .unwrap_or(0) as usize
}

fn todo_for(stored: Option<StoredVector>, new: &Map<String, Value>, dimension: usize) -> Todo {
    match stored {
        Some(v)
            if v.data.len() == dimension
                && v.metadata.get(CONTENT_HASH_KEY) == new.get(CONTENT_HASH_KEY) =>
        {
            if metadata::same_apart_from_timestamp(&v.metadata, new) {
                Todo::Done
            } else {
                Todo::Rewrite(v.data)
            }
        }
        _ => Todo::Embed,
    }
}

/// The metadata stored with chunk `index` of `p`; built when needed and dropped after, so a
/// request never holds a copy of the user's metadata per chunk.
fn chunk_metadata(p: &Prepared<'_>, index: usize, timestamp: &str) -> Map<String, Value> {
    let info = ChunkInfo {
        document_id: &p.id,
        index,
        count: p.chunks.len(),
        timestamp,
    };
    metadata::build(p.chunks[index].text, info, p.user)
}

/// Handles an ingest body: 200 when every document is stored, 202 when the deadline left
/// some chunks for the next, identical request.
pub async fn ingest<B: Backend>(
    backend: &B,
    config: &Config,
    deadline: Deadline,
    body: &[u8],
    stats: &mut IngestStats,
) -> Result<IngestOutcome, ApiError> {
    let request = IngestRequest::parse(body).map_err(ApiError::bad_request)?;
    let batch = matches!(request, IngestRequest::Batch { .. });
    stats.documents = request.count();
    let documents = request.into_documents();
    let timestamp = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let prepared = prepare_all(&documents, stats.documents, batch, config, &timestamp)?;
    stats.chunks = prepared.iter().map(|p| p.chunks.len()).sum();

    let started = Instant::now();
    let mut stored = read_stored(backend, &prepared).await?;
    let previous_counts: Vec<usize> = prepared.iter().map(|p| stored_count(&stored, p)).collect();
    // Per chunk, in request order: its document, its number and what it needs.
    let mut plan: Vec<(usize, usize, Todo)> = Vec::with_capacity(stats.chunks);
    for (d, p) in prepared.iter().enumerate() {
        for index in 0..p.chunks.len() {
            let new = chunk_metadata(p, index, &timestamp);
            let stored = stored.remove(&metadata::vector_key(&p.id, index));
            plan.push((d, index, todo_for(stored, &new, config.dimension)));
        }
    }
    drop(stored);
    stats.store_ms = started.elapsed().as_millis();

    // Embed what is missing, in request order, until the deadline.
    let (texts, tokens): (Vec<&str>, Vec<usize>) = prepared
        .iter()
        .flat_map(|p| p.chunks.iter())
        .zip(&plan)
        .filter(|(_, (.., todo))| matches!(todo, Todo::Embed))
        .map(|(c, _)| (c.text, c.tokens))
        .unzip();
    let started = Instant::now();
    let embedder = Embedder::new(backend, config, deadline);
    let embedded = embedder.embed(&texts, &tokens).await;
    stats.embed = embedder.stats();
    stats.embed_ms = started.elapsed().as_millis();
    let mut embedded = embedded?.into_iter();

    let started = Instant::now();
    let mut records = Vec::with_capacity(MAX_PUT_VECTORS.min(plan.len()));
    let mut missing = vec![0usize; prepared.len()];
    for (d, index, todo) in plan {
        let data = match todo {
            Todo::Done => {
                stats.unchanged += 1;
                continue;
            }
            Todo::Rewrite(data) => {
                stats.rewritten += 1;
                data
            }
            Todo::Embed => match embedded.next().flatten() {
                Some(data) => {
                    stats.embedded += 1;
                    data
                }
                None => {
                    missing[d] += 1;
                    continue;
                }
            },
        };
        let p = &prepared[d];
        records.push(NewVector {
            key: metadata::vector_key(&p.id, index),
            data,
            metadata: chunk_metadata(p, index, &timestamp),
        });
        if records.len() == MAX_PUT_VECTORS {
            backend.put_vectors(std::mem::take(&mut records)).await?;
        }
    }
    if !records.is_empty() {
        backend.put_vectors(records).await?;
    }
    // Complete documents lose the chunks an earlier, longer version left beyond their end.
    let stale: Vec<String> = prepared
        .iter()
        .zip(&previous_counts)
        .zip(&missing)
        .filter(|(_, left)| **left == 0)
        .flat_map(|((p, &old), _)| {
            (p.chunks.len()..old).map(move |i| metadata::vector_key(&p.id, i))
        })
        .collect();
    for keys in stale.chunks(MAX_DELETE_VECTORS) {
        backend.delete_vectors(keys.to_vec()).await?;
    }
    stats.store_ms += started.elapsed().as_millis();

    let left: usize = missing.iter().sum();
    let document_ids: Vec<String> = prepared.into_iter().map(|p| p.id).collect();
    let document_id = document_ids.first().cloned().unwrap_or_default();
    Ok(if left == 0 {
        IngestOutcome::Done(IngestResponse {
            message: INGEST_OK_MESSAGE.to_string(),
            document_id,
            document_ids,
            chunks: stats.chunks,
        })
    } else {
        IngestOutcome::Partial(IngestProgress {
            message: INGEST_PARTIAL_MESSAGE.to_string(),
            document_id,
            document_ids,
            chunks_done: stats.chunks - left,
            chunks_total: stats.chunks,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ids_are_stable_uuids_that_depend_on_text_and_metadata() {
        let doc = |text: &str, meta: Option<Value>| DocumentInput {
            text: text.into(),
            metadata: meta.and_then(|m| m.as_object().cloned()).map(Into::into),
            id: None,
        };
        let a = content_id(&doc("hello", None));
        assert_eq!(a, content_id(&doc("hello", None)));
        assert!(uuid::Uuid::parse_str(&a).is_ok());
        assert_ne!(a, content_id(&doc("hello!", None)));
        assert_ne!(
            a,
            content_id(&doc("hello", Some(serde_json::json!({"k": 1}))))
        );
    }

    #[test]
    fn stored_chunks_are_skipped_rewritten_or_embedded() {
        let info = ChunkInfo {
            document_id: "d",
            index: 0,
            count: 2,
            timestamp: "t1",
        };
        let new = metadata::build("text", info, None);
        let stored = |m: Map<String, Value>, dim| StoredVector {
            key: "d#0".into(),
            data: vec![0.5; dim],
            metadata: m,
        };
        let same = metadata::build(
            "text",
            ChunkInfo {
                timestamp: "t0",
                ..info
            },
            None,
        );
        assert!(matches!(
            todo_for(Some(stored(same.clone(), 4)), &new, 4),
            Todo::Done
        ));
        let shorter = metadata::build("text", ChunkInfo { count: 3, ..info }, None);
        assert!(matches!(
            todo_for(Some(stored(shorter, 4)), &new, 4),
            Todo::Rewrite(_)
        ));
        let edited = metadata::build("other", info, None);
        assert!(matches!(
            todo_for(Some(stored(edited, 4)), &new, 4),
            Todo::Embed
        ));
        let mut unmarked = same.clone();
        unmarked.remove(CONTENT_HASH_KEY);
        assert!(matches!(
            todo_for(Some(stored(unmarked, 4)), &new, 4),
            Todo::Embed
        ));
        assert!(matches!(
            todo_for(Some(stored(same, 3)), &new, 4),
            Todo::Embed
        ));
        assert!(matches!(todo_for(None, &new, 4), Todo::Embed));
    }
}
