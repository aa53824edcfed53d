//! `POST /ingest` ([`ingest`], over a parsed [`IngestRequest`]): validate everything, chunk by tokens, then embed and store only what is not
//! stored yet, inside the request's deadline, following the write protocol of
//! [`shared::document`].
//!
//! Resumable: vector keys are deterministic (`{document_id}#{chunk}`; a document without an
//! `id` gets one derived from its content), and every vector carries the `content_hash` of
//! its text. Each call first reads every stored vector of the documents, skips chunks already
//! stored with the same content and metadata, re-writes those whose metadata alone changed
//! (with the stored vector, no embedding), and embeds the rest until the deadline or a failed
//! embedding call; what was embedded is written (in order, the head last) and the outcome is
//! [`Outcome::Partial`] (202, with `chunks_done`/`chunks_total`) while anything is left; the
//! same request sent again continues. A complete document then loses what its version does not
//! have (chunks beyond its count, an original-layout vector) and is read back: a concurrent
//! writer of the same id makes the outcome partial, so that [`Outcome::Done`] (200) always
//! means "stored exactly as sent".

use crate::backend::{Backend, NewVector, StoredVector};
use crate::config::Config;
use crate::domain::{Ctx, Outcome};
use crate::embed::{EmbedStats, Embedded};
use crate::error::DomainError;
use crate::store;
use serde_json::{Map, Value};
use shared::api::{
    DocumentInput, INGEST_OK_MESSAGE, INGEST_PARTIAL_MESSAGE, IngestProgress, IngestRequest,
    IngestResponse,
};
use shared::chunk::{Chunk, chunk_text};
use shared::document::vector_key;
use shared::limits::{MAX_BATCH_DOCUMENTS, MAX_DOCUMENT_BYTES, MAX_TOTAL_METADATA_BYTES};
use shared::metadata::{self, CONTENT_HASH_KEY, ChunkInfo, MetadataError};
use std::collections::HashSet;
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

/// Reads back of a written document while a concurrent writer keeps leaving strays.
const VERIFY_ROUNDS: usize = 3;

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

fn validate_id(id: &str) -> Result<(), DomainError> {
    shared::api::document_id_problem(id).map_or(Ok(()), |why| Err(DomainError::Invalid(why)))
}

/// Checks every chunk's stored metadata against S3 Vectors' limits as PutVectors measures
/// it (the encoded JSON: a control character takes 6 bytes), before anything is embedded.
fn check_chunk_sizes(
    id: &str,
    chunks: &[Chunk<'_>],
    user: Option<&Map<String, Value>>,
    timestamp: &str,
) -> Result<(), DomainError> {
    // The widest metadata apart from the text: the last chunk's number, an empty text.
    let info = ChunkInfo {
        document_id: id,
        index: chunks.len().saturating_sub(1),
        count: chunks.len(),
        timestamp,
    };
    let widest = metadata::build("", info, user);
    metadata::check_limits(&widest)?;
    let base = metadata::encoded_size(&widest, |_| true) - metadata::json_str_len("");
    for chunk in chunks {
        let total = base + metadata::json_str_len(chunk.text);
        if total > MAX_TOTAL_METADATA_BYTES {
            return Err(MetadataError::TotalTooLarge(total).into());
        }
    }
    Ok(())
}

fn prepare<'a>(
    doc: &'a DocumentInput,
    config: &Config,
    timestamp: &str,
) -> Result<Prepared<'a>, DomainError> {
    if doc.text.len() > MAX_DOCUMENT_BYTES {
        return Err(DomainError::TooLarge(format!(
            "`text` is {} bytes; the limit is {MAX_DOCUMENT_BYTES} bytes per document",
            doc.text.len()
        )));
    }
    if doc.text.trim().is_empty() {
        return Err(DomainError::Invalid("`text` must not be empty".into()));
    }
    if let Some(id) = &doc.id {
        validate_id(id)?;
    }
    if let Some(user) = &doc.metadata {
        metadata::validate_user_metadata(user)?;
    }
    let chunks = chunk_text(&doc.text, config.chunk).map_err(DomainError::Internal)?;
    if chunks.is_empty() {
        return Err(DomainError::Invalid(
            "`text` has nothing to embed (only whitespace or control characters)".into(),
        ));
    }
    let id = doc.id.clone().unwrap_or_else(|| content_id(doc));
    check_chunk_sizes(&id, &chunks, doc.metadata.as_deref(), timestamp)?;
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
) -> Result<Vec<Prepared<'a>>, DomainError> {
    if count == 0 {
        return Err(DomainError::Invalid("`documents` must not be empty".into()));
    }
    if count > MAX_BATCH_DOCUMENTS {
        return Err(DomainError::TooLarge(format!(
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
            return Err(DomainError::Invalid(what).in_document(i, batch));
        }
        prepared.push(p);
    }
    Ok(prepared)
}

fn todo_for(stored: Option<&StoredVector>, new: &Map<String, Value>, dimension: usize) -> Todo {
    match stored {
        Some(v)
            if v.data.len() == dimension
                && v.metadata.get(CONTENT_HASH_KEY) == new.get(CONTENT_HASH_KEY) =>
        {
            if metadata::same_apart_from_timestamp(&v.metadata, new) {
                Todo::Done
            } else {
                Todo::Rewrite(v.data.clone())
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

/// The order a document's chunks are embedded and written in: the head (chunk 0) last, so
/// it is written only once every other chunk is stored ([`shared::document`]).
fn write_order(count: usize) -> impl Iterator<Item = usize> {
    (1..count).chain(std::iter::once(0))
}

/// The documents of a request, in request order.
/// Ingests a request: `Done` when every document is stored, `Partial` when the deadline (or a
/// throttled embedding call) left some chunks for the next, identical request.
pub async fn ingest<B: Backend>(
    ctx: &Ctx<'_, B>,
    request: &IngestRequest,
    stats: &mut IngestStats,
) -> Result<Outcome<IngestResponse, IngestProgress>, DomainError> {
    let Ctx {
        backend,
        config,
        deadline,
        ..
    } = *ctx;
    let batch = matches!(request, IngestRequest::Batch { .. });
    stats.documents = request.count();
    let timestamp = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let prepared = prepare_all(
        request.documents(),
        stats.documents,
        batch,
        config,
        &timestamp,
    )?;
    stats.chunks = prepared.iter().map(|p| p.chunks.len()).sum();

    // Per chunk, in write order: its document and its number.
    let order: Vec<(usize, usize)> = prepared
        .iter()
        .enumerate()
        .flat_map(|(d, p)| write_order(p.chunks.len()).map(move |index| (d, index)))
        .collect();
    let text_of = |&(d, index): &(usize, usize)| {
        let c = &prepared[d].chunks[index];
        (c.text, c.tokens)
    };
    let ids: Vec<(&str, usize)> = prepared
        .iter()
        .map(|p| (p.id.as_str(), p.chunks.len()))
        .collect();
    let embedder = ctx.embedder();
    let started = Instant::now();
    // A request that fits one embedding call embeds while its resume read runs, which takes a
    // round trip off its critical path; the vectors of chunks the read finds stored are
    // dropped (a re-sent small request pays one embedding call). Larger requests read first
    // and embed only what is missing.
    let speculative = stats.chunks <= config.embed_batch_size;
    let (all_texts, all_tokens): (Vec<&str>, Vec<usize>) = if speculative {
        order.iter().map(text_of).unzip()
    } else {
        (Vec::new(), Vec::new())
    };
    let mut early = std::pin::pin!(embedder.embed(&all_texts, &all_tokens));
    let mut early_done = None;
    let stored = {
        let mut read = std::pin::pin!(store::read_many(backend, &deadline, &ids));
        loop {
            tokio::select! {
                biased;
                stored = &mut read => break stored?,
                embedded = &mut early, if speculative && early_done.is_none() => {
                    early_done = Some(embedded);
                }
            }
        }
    };
    let plan: Vec<(usize, usize, Todo)> = order
        .iter()
        .map(|&(d, index)| {
            let new = chunk_metadata(&prepared[d], index, &timestamp);
            (
                d,
                index,
                todo_for(stored[d].chunks.get(&index), &new, config.dimension),
            )
        })
        .collect();
    stats.store_ms = started.elapsed().as_millis();

    // Embed what is missing, in write order, until the deadline or an error.
    let needed = plan.iter().any(|(.., todo)| matches!(todo, Todo::Embed));
    let started = Instant::now();
    let embedded = if !needed {
        Embedded {
            vectors: Vec::new(),
            error: None,
        }
    } else if speculative {
        let all = match early_done {
            Some(embedded) => embedded,
            None => early.await,
        };
        // Only the chunks that need embedding keep their vectors (in plan order).
        let Embedded { vectors, error } = all;
        Embedded {
            vectors: plan
                .iter()
                .zip(vectors)
                .filter(|((.., todo), _)| matches!(todo, Todo::Embed))
                .map(|(_, v)| v)
                .collect(),
            error,
        }
    } else {
        let (texts, tokens): (Vec<&str>, Vec<usize>) = plan
            .iter()
            .filter(|(.., todo)| matches!(todo, Todo::Embed))
            .map(|(d, index, _)| text_of(&(*d, *index)))
            .unzip();
        embedder.embed(&texts, &tokens).await
    };
    stats.embed = embedder.stats();
    stats.embed_ms = started.elapsed().as_millis();
    let embed_error = embedded.error;
    let mut vectors = embedded.vectors.into_iter();

    // Write each document's chunks in order up to the first one not embedded (what is stored
    // stays contiguous), its head only when all the others are stored.
    let started = Instant::now();
    let mut records = Vec::new();
    let mut missing = vec![0usize; prepared.len()];
    for (d, index, todo) in plan {
        let (data, embed) = match todo {
            Todo::Done => {
                stats.unchanged += 1;
                continue;
            }
            Todo::Rewrite(data) => (Some(data), false),
            Todo::Embed => (vectors.next().flatten(), true),
        };
        let Some(data) = data.filter(|_| missing[d] == 0) else {
            missing[d] += 1;
            continue;
        };
        if embed {
            stats.embedded += 1;
        } else {
            stats.rewritten += 1;
        }
        let p = &prepared[d];
        records.push(NewVector {
            key: vector_key(&p.id, index),
            data,
            metadata: chunk_metadata(p, index, &timestamp),
        });
    }
    store::put_all(backend, &deadline, records).await?;
    // Complete documents lose what their version does not have, then are read back (at least
    // as far as the first read reached): strays a concurrent writer left meanwhile are deleted
    // and the read repeated; a chunk that is not this version's makes the answer 202.
    let complete: Vec<usize> = (0..prepared.len()).filter(|&d| missing[d] == 0).collect();
    let beyond: Vec<String> = complete
        .iter()
        .flat_map(|&d| stored[d].beyond(prepared[d].chunks.len()))
        .collect();
    store::delete_keys(backend, &deadline, &beyond).await?;
    let mut check: Vec<(usize, usize)> = complete
        .iter()
        .map(|&d| (d, stored[d].extent().max(prepared[d].chunks.len())))
        .collect();
    drop(stored);
    for _ in 0..VERIFY_ROUNDS {
        if check.is_empty() {
            break;
        }
        let ids: Vec<(&str, usize)> = check
            .iter()
            .map(|&(d, extent)| (prepared[d].id.as_str(), extent))
            .collect();
        let after = store::read_many(backend, &deadline, &ids).await?;
        let (mut again, mut beyond) = (Vec::new(), Vec::new());
        for (&(d, extent), found) in check.iter().zip(&after) {
            let p = &prepared[d];
            let n = p.chunks.len();
            if !store::holds(found, n, config.dimension, |i| {
                chunk_metadata(p, i, &timestamp)
            }) {
                missing[d] = n;
                continue;
            }
            let strays = found.beyond(n);
            if !strays.is_empty() {
                beyond.extend(strays);
                again.push((d, found.extent().max(extent)));
            }
        }
        store::delete_keys(backend, &deadline, &beyond).await?;
        check = again;
    }
    for (d, _) in check {
        missing[d] = prepared[d].chunks.len();
    }
    stats.store_ms += started.elapsed().as_millis();
    outcome(prepared, &missing, stats, embed_error)
}

/// `Done` when nothing is missing; else `Partial` — unless an embedding error stopped the
/// round before anything was embedded, or is not one a retry can get past.
fn outcome(
    prepared: Vec<Prepared<'_>>,
    missing: &[usize],
    stats: &IngestStats,
    error: Option<DomainError>,
) -> Result<Outcome<IngestResponse, IngestProgress>, DomainError> {
    let left: usize = missing.iter().sum();
    if let Some(e) = error
        && left > 0
        && (stats.embedded == 0 || !e.is_transient())
    {
        return Err(e);
    }
    let document_ids: Vec<String> = prepared.into_iter().map(|p| p.id).collect();
    let document_id = document_ids.first().cloned().unwrap_or_default();
    Ok(if left == 0 {
        Outcome::Done(IngestResponse {
            message: INGEST_OK_MESSAGE.to_string(),
            document_id,
            document_ids,
            chunks: stats.chunks,
        })
    } else {
        Outcome::Partial(IngestProgress {
            message: INGEST_PARTIAL_MESSAGE.to_string(),
            document_id,
            document_ids,
            chunks_done: stats.chunks - left.min(stats.chunks),
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
            todo_for(Some(&stored(same.clone(), 4)), &new, 4),
            Todo::Done
        ));
        let shorter = metadata::build("text", ChunkInfo { count: 3, ..info }, None);
        assert!(matches!(
            todo_for(Some(&stored(shorter, 4)), &new, 4),
            Todo::Rewrite(_)
        ));
        let edited = metadata::build("other", info, None);
        assert!(matches!(
            todo_for(Some(&stored(edited, 4)), &new, 4),
            Todo::Embed
        ));
        let mut unmarked = same.clone();
        unmarked.remove(CONTENT_HASH_KEY);
        assert!(matches!(
            todo_for(Some(&stored(unmarked, 4)), &new, 4),
            Todo::Embed
        ));
        assert!(matches!(
            todo_for(Some(&stored(same, 3)), &new, 4),
            Todo::Embed
        ));
        assert!(matches!(todo_for(None, &new, 4), Todo::Embed));
    }
}
