//! `POST /ingest`: validate everything, chunk, embed, then write; replace by id.

use crate::backend::{Backend, NewVector};
use crate::config::Config;
use crate::error::ApiError;
use futures::{StreamExt, TryStreamExt};
use serde_json::{Value, json};
use shared::api::{DocumentInput, INGEST_OK_MESSAGE, IngestRequest, IngestResponse};
use shared::chunk::chunk_text;
use shared::embedding::decode_embeddings;
use shared::limits::{
    MAX_BATCH_DOCUMENTS, MAX_DELETE_VECTORS, MAX_DOCUMENT_BYTES, MAX_DOCUMENT_ID_LEN,
    MAX_PUT_VECTORS,
};
use shared::metadata::{self, ChunkInfo};
use std::collections::HashSet;
use std::time::Instant;

/// Measurements of one ingest, for the log line.
#[derive(Debug, Default, Clone, Copy)]
pub struct IngestStats {
    /// Documents in the request.
    pub documents: usize,
    /// Vectors written.
    pub chunks: usize,
    /// Milliseconds spent embedding.
    pub embed_ms: u128,
    /// Milliseconds spent writing (and removing stale chunks).
    pub put_ms: u128,
}

/// A document that passed validation, with its chunks and their metadata.
struct Prepared {
    id: String,
    replaces: bool,
    chunks: Vec<String>,
    metadata: Vec<serde_json::Map<String, Value>>,
}

fn validate_id(id: &str) -> Result<(), ApiError> {
    if id.is_empty() || id.chars().count() > MAX_DOCUMENT_ID_LEN {
        return Err(ApiError::bad_request(format!(
            "`id` must be 1..={MAX_DOCUMENT_ID_LEN} characters"
        )));
    }
    if id.contains('#') || id.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "`id` must not contain `#` or control characters",
        ));
    }
    Ok(())
}

fn prepare(doc: DocumentInput, config: &Config, timestamp: &str) -> Result<Prepared, ApiError> {
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
    let replaces = doc.id.is_some();
    let id = doc.id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let chunks = chunk_text(&doc.text, config.chunk);
    let count = chunks.len();
    let metadata = chunks
        .iter()
        .enumerate()
        .map(|(index, text)| {
            let info = ChunkInfo {
                document_id: &id,
                index,
                count,
                timestamp,
            };
            let m = metadata::build(text, info, doc.metadata.as_ref());
            metadata::check_limits(&m)?;
            Ok(m)
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(Prepared {
        id,
        replaces,
        chunks,
        metadata,
    })
}

async fn embed_batch<B: Backend>(
    backend: &B,
    config: &Config,
    batch: &[String],
) -> Result<Vec<Vec<f32>>, ApiError> {
    let body = json!({"inputs": batch, "parameters": {"truncation": true}});
    let body = serde_json::to_vec(&body).map_err(|e| ApiError::internal(e.to_string()))?;
    let answer = backend.invoke_endpoint(body).await?;
    Ok(decode_embeddings(&answer, batch.len(), config.dimension)?)
}

/// Embeds `texts` in batches with bounded concurrency; one vector per text, in order.
pub async fn embed_all<B: Backend>(
    backend: &B,
    config: &Config,
    texts: &[String],
) -> Result<Vec<Vec<f32>>, ApiError> {
    let mut calls = Vec::new();
    for batch in texts.chunks(config.embed_batch_size.max(1)) {
        calls.push(embed_batch(backend, config, batch));
    }
    let nested: Vec<Vec<Vec<f32>>> = futures::stream::iter(calls)
        .buffered(config.embed_concurrency.max(1))
        .try_collect()
        .await?;
    Ok(nested.into_iter().flatten().collect())
}

/// `(id, new chunk count, old chunk count)` of a document being replaced.
async fn old_count<B: Backend>(
    backend: &B,
    id: &str,
    new: usize,
) -> Result<(String, usize, usize), ApiError> {
    let old = backend.chunk_count(metadata::vector_key(id, 0)).await?;
    Ok((id.to_string(), new, old.unwrap_or(0)))
}

/// Handles an ingest body; nothing is written unless every document is valid.
pub async fn ingest<B: Backend>(
    backend: &B,
    config: &Config,
    body: &[u8],
    stats: &mut IngestStats,
) -> Result<IngestResponse, ApiError> {
    let request = IngestRequest::parse(body).map_err(ApiError::bad_request)?;
    let batch = matches!(request, IngestRequest::Batch { .. });
    let documents = request.into_documents();
    stats.documents = documents.len();
    if documents.is_empty() {
        return Err(ApiError::bad_request("`documents` must not be empty"));
    }
    if documents.len() > MAX_BATCH_DOCUMENTS {
        return Err(ApiError::too_large(format!(
            "{} documents in one request; the limit is {MAX_BATCH_DOCUMENTS}",
            documents.len()
        )));
    }
    let timestamp = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut seen = HashSet::new();
    let mut prepared = Vec::with_capacity(documents.len());
    for (i, doc) in documents.into_iter().enumerate() {
        let p = prepare(doc, config, &timestamp).map_err(|e| e.in_document(i, batch))?;
        if !seen.insert(p.id.clone()) {
            return Err(
                ApiError::bad_request(format!("duplicate id `{}` in the request", p.id))
                    .in_document(i, batch),
            );
        }
        prepared.push(p);
    }

    let texts: Vec<String> = prepared
        .iter()
        .flat_map(|p| p.chunks.iter().cloned())
        .collect();
    stats.chunks = texts.len();
    let started = Instant::now();
    let mut vectors = embed_all(backend, config, &texts).await?.into_iter();
    stats.embed_ms = started.elapsed().as_millis();

    let started = Instant::now();
    // Old chunk counts of documents being replaced, read before the new chunk 0 overwrites them.
    let mut lookups = Vec::new();
    for p in &prepared {
        if p.replaces {
            lookups.push(old_count(backend, &p.id, p.chunks.len()));
        }
    }
    let old_counts: Vec<(String, usize, usize)> = futures::stream::iter(lookups)
        .buffer_unordered(8)
        .try_collect()
        .await?;

    let mut records = Vec::with_capacity(texts.len());
    for p in prepared.iter() {
        for (index, m) in p.metadata.iter().enumerate() {
            let data = vectors
                .next()
                .ok_or_else(|| ApiError::internal("fewer embeddings than chunks"))?;
            records.push(NewVector {
                key: metadata::vector_key(&p.id, index),
                data,
                metadata: m.clone(),
            });
        }
    }
    while !records.is_empty() {
        let rest = records.split_off(records.len().min(MAX_PUT_VECTORS));
        backend
            .put_vectors(std::mem::replace(&mut records, rest))
            .await?;
    }
    let stale: Vec<String> = old_counts
        .iter()
        .flat_map(|(id, new, old)| (*new..*old).map(move |i| metadata::vector_key(id, i)))
        .collect();
    for keys in stale.chunks(MAX_DELETE_VECTORS) {
        backend.delete_vectors(keys.to_vec()).await?;
    }
    stats.put_ms = started.elapsed().as_millis();

    let document_ids: Vec<String> = prepared.into_iter().map(|p| p.id).collect();
    Ok(IngestResponse {
        message: INGEST_OK_MESSAGE.to_string(),
        document_id: document_ids[0].clone(),
        document_ids,
        chunks: stats.chunks,
    })
}
