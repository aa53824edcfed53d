//! The document endpoints: `GET /documents` (ids, paged), `GET /documents/{id}`,
//! `DELETE /documents/{id}` and `POST /documents/delete {"filter": …}` / `{"all": true}`.
//!
//! A document is what [`shared::document`] says: chunks `{id}#0…` (the head carrying the
//! count), or one original-layout vector; reads probe past the counts, so chunks an
//! interrupted write left are found and deleted too ([`crate::store`]). Delete-by-filter scans
//! the index (ListVectors with metadata) and evaluates the filter itself ([`shared::filter`]),
//! since QueryVectors returns at most topK hits; it checks the time budget before every call,
//! stops with [`Outcome::Partial`] (202) and a `next_token`, and is [`Outcome::Done`] (200) only
//! after a pass over the whole index that removed nothing more (a listing continued across
//! deletions may skip vectors, so a pass that deleted is followed by another).

use crate::answer::cut_texts_to_fit;
use crate::backend::{Backend, ListRequest};
use crate::domain::{Ctx, Outcome};
use crate::error::DomainError;
use crate::store::{self, View};
use shared::api::{
    DeleteByFilterRequest, DeleteByFilterResponse, DeleteResponse, DocumentList, DocumentResponse,
    StoredChunk,
};
use shared::document::{Key, parse_key};
use shared::filter::Filter;
use shared::limits::MAX_SEARCH_ANSWER_BYTES;
use shared::metadata::ChunkView;
use std::collections::BTreeSet;
use std::time::Duration;

/// Keys per `GET /documents` listing call (keys only: small).
const LIST_PAGE: u32 = 1000;
/// Vectors per scanning call (with metadata, ≤ 40 KB each).
const SCAN_PAGE: u32 = 100;
/// Time kept back for deleting one matched document and answering (at most a quarter of the
/// budget, so every request gets somewhere).
const SCAN_MARGIN: Duration = Duration::from_secs(2);

/// `GET /documents/{id}`: the newest layout of the id; texts cut (and `texts_cut` set) when
/// the answer would not fit the Lambda payload.
pub async fn get<B: Backend>(ctx: &Ctx<'_, B>, id: &str) -> Result<DocumentResponse, DomainError> {
    let stored = store::read(ctx.backend, &ctx.deadline, id).await?;
    let (head, chunks) = match stored.view() {
        View::Absent => return Err(DomainError::UnknownDocument(id.to_string())),
        View::Original(v) => (v, vec![v]),
        View::Chunked { count } => {
            let chunks: Vec<_> = stored.chunks.range(..count).map(|(_, v)| v).collect();
            (chunks[0], chunks)
        }
    };
    let view = ChunkView(&head.metadata);
    let mut answer = DocumentResponse {
        document_id: id.to_string(),
        chunks: chunks
            .iter()
            .map(|v| StoredChunk {
                index: match parse_key(&v.key) {
                    Key::Chunk { index, .. } => index,
                    Key::Original(_) => 0,
                },
                text: ChunkView(&v.metadata).text().unwrap_or("").to_string(),
            })
            .collect(),
        metadata: view.user(),
        timestamp: view.timestamp().map(str::to_string),
        embedding: view.embedding().map(str::to_string),
        texts_cut: false,
    };
    answer.texts_cut = cut_texts_to_fit(&mut answer, MAX_SEARCH_ANSWER_BYTES, |a| {
        a.chunks.iter_mut().map(|c| &mut c.text).collect()
    });
    Ok(answer)
}

/// `DELETE /documents/{id}`: every vector of the id, whichever layout; 404 when none.
pub async fn delete<B: Backend>(ctx: &Ctx<'_, B>, id: &str) -> Result<DeleteResponse, DomainError> {
    let deleted = store::delete_document(ctx.backend, &ctx.deadline, id)
        .await?
        .ok_or_else(|| DomainError::UnknownDocument(id.to_string()))?;
    Ok(DeleteResponse {
        document_id: id.to_string(),
        deleted_chunks: deleted,
    })
}

/// Documents per `GET /documents?metadata=true` answer (user metadata is at most 2 KB
/// filterable per document: ≤ 2 MB, under Lambda's 6 MB).
const LIST_METADATA_DOCUMENTS: usize = 1000;
/// Vectors per ListVectors call when listing with metadata (each up to 40 KB with its text:
/// a page stays within the function's memory).
const LIST_METADATA_PAGE: u32 = 200;

/// `GET /documents?next_token=…`: one page of ids (chunk 0 keys, and original documents);
/// with `metadata`, each one's user metadata too ([`list_with_metadata`]).
pub async fn list<B: Backend>(
    ctx: &Ctx<'_, B>,
    next_token: Option<String>,
    metadata: bool,
) -> Result<DocumentList, DomainError> {
    if metadata {
        return list_with_metadata(ctx, next_token).await;
    }
    ctx.deadline.check()?;
    let page = ctx
        .deadline
        .bound(ctx.backend.list_vectors(ListRequest {
            next_token,
            max_results: LIST_PAGE,
            ..ListRequest::default()
        }))
        .await?;
    let ids: BTreeSet<String> = page
        .vectors
        .iter()
        .filter_map(|(key, _)| match parse_key(key) {
            Key::Chunk { id, index: 0 } | Key::Original(id) => Some(id.to_string()),
            Key::Chunk { .. } => None,
        })
        .collect();
    Ok(DocumentList {
        document_ids: ids.into_iter().collect(),
        metadata: None,
        next_token: page.next_token,
    })
}

/// `GET /documents?metadata=true`: ids and their heads' user metadata, several ListVectors
/// pages per answer (up to [`LIST_METADATA_DOCUMENTS`] documents, within a quarter of the time
/// budget), so a client compares a corpus with ≤ 1 call per 100 documents.
async fn list_with_metadata<B: Backend>(
    ctx: &Ctx<'_, B>,
    mut next_token: Option<String>,
) -> Result<DocumentList, DomainError> {
    let budget = ctx.deadline.remaining() / 4;
    let started = std::time::Instant::now();
    let mut found = std::collections::BTreeMap::new();
    loop {
        ctx.deadline.check()?;
        let page = ctx
            .deadline
            .bound(ctx.backend.list_vectors(ListRequest {
                next_token: next_token.take(),
                max_results: LIST_METADATA_PAGE,
                metadata: true,
                segment: None,
            }))
            .await?;
        for (key, meta) in &page.vectors {
            if let Key::Chunk { id, index: 0 } | Key::Original(id) = parse_key(key) {
                found.insert(id.to_string(), ChunkView(meta).user());
            }
        }
        next_token = page.next_token;
        if next_token.is_none()
            || found.len() >= LIST_METADATA_DOCUMENTS
            || started.elapsed() >= budget
        {
            break;
        }
    }
    Ok(DocumentList {
        document_ids: found.keys().cloned().collect(),
        metadata: Some(found),
        next_token,
    })
}

/// The scan position carried by `next_token`: whether this pass deleted anything, and the
/// ListVectors token (`None`: the start).
fn parse_token(token: Option<&str>) -> Result<(bool, Option<String>), DomainError> {
    let Some(token) = token else {
        return Ok((false, None));
    };
    let bad = || DomainError::Invalid("`next_token` is not one this API returned".into());
    let (dirty, rest) = token.split_once('.').ok_or_else(bad)?;
    let dirty = match dirty {
        "0" => false,
        "1" => true,
        _ => return Err(bad()),
    };
    Ok((dirty, (!rest.is_empty()).then(|| rest.to_string())))
}

fn make_token(dirty: bool, list: Option<&str>) -> String {
    format!("{}.{}", u8::from(dirty), list.unwrap_or(""))
}

/// The request's selection: a validated filter, or every document (`None`).
fn selection(request: &DeleteByFilterRequest) -> Result<Option<Filter>, DomainError> {
    match (&request.filter, request.all) {
        (Some(_), true) => Err(DomainError::Invalid(
            "give either `filter` or `\"all\": true`, not both".into(),
        )),
        (None, true) => Ok(None),
        (None, false) => Err(DomainError::Invalid(
            "`filter` is required (to delete every document, send `\"all\": true`)".into(),
        )),
        (Some(f), false) => crate::search::parse_filter(f.clone()).map(Some),
    }
}

/// `POST /documents/delete`.
pub async fn delete_by_filter<B: Backend>(
    ctx: &Ctx<'_, B>,
    request: &DeleteByFilterRequest,
) -> Result<Outcome<DeleteByFilterResponse>, DomainError> {
    let Ctx {
        backend, deadline, ..
    } = *ctx;
    let dimension = ctx.config.dimension;
    let filter = selection(request)?;
    let (mut dirty, mut list) = parse_token(request.next_token.as_deref())?;
    if let Some(filter) = &filter {
        // Let the index judge the filter first (operators its mode does not support, keys).
        let mut probe = vec![0.0; dimension.max(1)];
        probe[0] = 1.0;
        deadline.check()?;
        let probe = backend.query(probe, 1, Some(filter.as_value().clone()), 0);
        deadline.bound(probe).await?;
    }
    let mut out = DeleteByFilterResponse {
        deleted_documents: 0,
        deleted_chunks: 0,
        document_ids: Vec::new(),
        next_token: None,
    };
    let margin = SCAN_MARGIN.min(deadline.remaining() / 4);
    let out_of_time = || deadline.remaining() < margin;
    loop {
        if out_of_time() {
            out.next_token = Some(make_token(dirty, list.as_deref()));
            return Ok(Outcome::Partial(out));
        }
        deadline.check()?;
        let page = deadline
            .bound(backend.list_vectors(ListRequest {
                next_token: list.clone(),
                max_results: SCAN_PAGE,
                metadata: filter.is_some(),
                segment: None,
            }))
            .await?;
        let mut matched: BTreeSet<String> = BTreeSet::new();
        for (key, meta) in &page.vectors {
            if filter.as_ref().is_none_or(|f| f.matches(meta)) {
                let id = ChunkView(meta).document_id();
                matched.insert(id.unwrap_or(parse_key(key).id()).to_string());
            }
        }
        for id in matched {
            if out_of_time() {
                // This page again next time: what was deleted is gone from it.
                out.next_token = Some(make_token(true, list.as_deref()));
                return Ok(Outcome::Partial(out));
            }
            if let Some(n) = store::delete_document(backend, &deadline, &id).await? {
                out.deleted_chunks += n;
                out.deleted_documents += 1;
                out.document_ids.push(id);
            }
            dirty = true;
        }
        match page.next_token {
            Some(token) => list = Some(token),
            // A pass that deleted may have skipped vectors: one more, from the start.
            None if dirty => (dirty, list) = (false, None),
            None => return Ok(Outcome::Done(out)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_tokens_round_trip() {
        assert_eq!(parse_token(None).unwrap(), (false, None));
        let t = make_token(true, Some("abc.def"));
        assert_eq!(
            parse_token(Some(&t)).unwrap(),
            (true, Some("abc.def".into()))
        );
        assert_eq!(parse_token(Some("0.")).unwrap(), (false, None));
        assert!(parse_token(Some("zzz")).is_err());
    }
}
