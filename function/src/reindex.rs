//! `POST /documents/reindex {segment, segments, next_token}`: brings one ListVectors page of
//! one segment to the current embedding ([`EMBEDDING_MARKER`]), within the time budget.
//!
//! - A chunk (`{id}#{n}`) without the marker is re-embedded from its stored text and written
//!   back under its key with the marker and a new content hash; its other metadata stays. Just
//!   before writing, the chunk is read again: one that changed since it was listed (an ingest
//!   landed in between) is left as that ingest wrote it.
//! - A document of the original stack (one vector keyed by its id, embedded from token 0) is
//!   read again with every chunk of its id: when a newer chunked version exists, the old vector
//!   is only deleted (the newest write wins); otherwise it is ingested again under the same id
//!   — chunked, mean-pooled, resumable like any ingest, which deletes the old vector once every
//!   chunk is stored.
//!
//! A round that ran out of time is [`Outcome::Partial`] (202) with the same `next_token` again
//! (what it finished now carries the marker and is skipped), and so is a finished page with
//! more after it; only the segment's last page is [`Outcome::Done`] (200). The answer's `done`
//! field says the same, set from the outcome, so the caller just keeps sending until `done`;
//! running the whole reindex again is safe and re-embeds nothing twice.

use crate::backend::{Backend, ListRequest, NewVector};
use crate::domain::{Ctx, Outcome};
use crate::error::DomainError;
use crate::ingest::{IngestStats, ingest};
use crate::store::{self, View};
use serde_json::{Map, Value, json};
use shared::api::{IngestRequest, ReindexRequest, ReindexResponse};
use shared::document::{Key, parse_key};
use shared::metadata::{
    CONTENT_HASH_KEY, ChunkView, EMBEDDING_KEY, EMBEDDING_MARKER, TEXT_KEY, TIMESTAMP_KEY,
    content_hash,
};
use std::collections::HashMap;

/// Vectors per round (with metadata: ≤ 40 KB each).
const PAGE: u32 = 50;

/// The stored `text` of a vector's metadata, unless it is missing or blank.
pub(crate) fn text_of(meta: &Map<String, Value>) -> Option<&str> {
    meta.get(TEXT_KEY)
        .and_then(Value::as_str)
        .filter(|t| !t.trim().is_empty())
}

/// `POST /documents/reindex`.
pub async fn reindex<B: Backend>(
    ctx: &Ctx<'_, B>,
    request: &ReindexRequest,
) -> Result<Outcome<ReindexResponse>, DomainError> {
    if !(1..=16).contains(&request.segments) || request.segment >= request.segments {
        return Err(DomainError::Invalid(
            "`segments` must be 1..=16 and `segment` below it".into(),
        ));
    }
    let segment = Some((request.segment, request.segments));
    ctx.deadline.check()?;
    let page = ctx
        .deadline
        .bound(ctx.backend.list_vectors(ListRequest {
            next_token: request.next_token.clone(),
            max_results: PAGE,
            metadata: true,
            segment,
        }))
        .await?;
    let mut out = ReindexResponse::scanned(page.vectors.len());
    let (chunks, originals): (Vec<_>, Vec<_>) = page
        .vectors
        .into_iter()
        .filter(|(_, meta)| !ChunkView(meta).is_current())
        .partition(|(key, _)| matches!(parse_key(key), Key::Chunk { .. }));
    let complete =
        reembed(ctx, chunks, &mut out).await? && migrate(ctx, originals, &mut out).await?;
    out.next_token = if complete {
        page.next_token
    } else {
        request.next_token.clone()
    };
    let done = complete && out.next_token.is_none();
    out.done = done;
    Ok(Outcome::new(done, out))
}

/// Re-embeds stale chunks from their text; `false` when the deadline stopped part of it.
async fn reembed<B: Backend>(
    ctx: &Ctx<'_, B>,
    chunks: Vec<(String, Map<String, Value>)>,
    out: &mut ReindexResponse,
) -> Result<bool, DomainError> {
    let Ctx {
        backend, deadline, ..
    } = *ctx;
    let mut todo = Vec::new();
    for (key, meta) in chunks {
        match text_of(&meta).map(shared::tokenize::count_tokens) {
            Some(Ok(tokens)) => todo.push((key, meta, tokens)),
            Some(Err(e)) => out.problems.push(format!("{key}: {e}")),
            None => out.problems.push(format!("{key}: no stored text to embed")),
        }
    }
    let texts: Vec<&str> = todo.iter().filter_map(|(_, m, _)| text_of(m)).collect();
    let tokens: Vec<usize> = todo.iter().map(|(.., t)| *t).collect();
    let vectors = ctx.embedder().embed(&texts, &tokens).await.into_result()?;
    let timestamp = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut complete = true;
    let mut writes = Vec::new();
    let mut listed = HashMap::new();
    for ((key, mut metadata, _), vector) in todo.into_iter().zip(vectors) {
        listed.insert(key.clone(), metadata.clone());
        let Some(data) = vector else {
            complete = false;
            continue;
        };
        let hash = text_of(&metadata).map(content_hash).unwrap_or_default();
        metadata.insert(EMBEDDING_KEY.into(), Value::from(EMBEDDING_MARKER));
        metadata.insert(CONTENT_HASH_KEY.into(), Value::from(hash));
        metadata.insert(TIMESTAMP_KEY.into(), Value::from(timestamp.as_str()));
        writes.push(NewVector {
            key,
            data,
            metadata,
        });
    }
    // Only what is still as listed: an ingest that landed meanwhile wins.
    let keys: Vec<String> = writes.iter().map(|w| w.key.clone()).collect();
    let now: HashMap<String, Map<String, Value>> = store::get_all(backend, &deadline, keys)
        .await?
        .into_iter()
        .map(|v| (v.key, v.metadata))
        .collect();
    writes.retain(|w| now.get(&w.key) == listed.get(&w.key));
    out.reembedded += writes.len();
    store::put_all(backend, &deadline, writes).await?;
    Ok(complete)
}

/// Re-ingests documents of the original stack under their ids, then deletes their old vector;
/// `false` when the deadline stopped one (its stored chunks are kept for the next round).
async fn migrate<B: Backend>(
    ctx: &Ctx<'_, B>,
    originals: Vec<(String, Map<String, Value>)>,
    out: &mut ReindexResponse,
) -> Result<bool, DomainError> {
    let Ctx {
        backend, deadline, ..
    } = *ctx;
    for (id, _) in originals {
        let stored = store::read(backend, &deadline, &id).await?;
        let original = match stored.view() {
            View::Original(v) => v,
            // Superseded by a newer chunked version (or already gone): only the old vector goes.
            View::Chunked { .. } | View::Absent => {
                let old: Vec<String> = stored.original.iter().map(|v| v.key.clone()).collect();
                store::delete_keys(backend, &deadline, &old).await?;
                continue;
            }
        };
        let view = ChunkView(&original.metadata);
        let Some(text) = view.text().filter(|t| !t.trim().is_empty()) else {
            out.problems.push(format!("{id}: no stored text to embed"));
            continue;
        };
        // Through the same parser as a request, so stored metadata meets the same bounds.
        let body = json!({"id": id, "text": text, "metadata": view.user()}).to_string();
        let ingested = match IngestRequest::parse(body.as_bytes()) {
            Ok(request) => ingest(ctx, &request, &mut IngestStats::default()).await,
            Err(why) => Err(DomainError::Invalid(why)),
        };
        match ingested {
            Ok(Outcome::Done(_)) => out.migrated += 1,
            Ok(Outcome::Partial(_)) => return Ok(false),
            Err(e) if e.is_refusal() => out.problems.push(format!("{id}: {e}")),
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}
