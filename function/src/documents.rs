//! The document endpoints: `GET /documents` (ids, paged), `GET /documents/{id}`,
//! `DELETE /documents/{id}` and `POST /documents/delete {"filter": …}`.
//!
//! A document is the vectors `{id}#0 … {id}#{n-1}`, chunk 0 carrying `chunk_count`; a
//! document of the original Python stack is one vector whose key is its id. Deleting a
//! document also removes chunks beyond its count (left by an edit that shortened it and was
//! interrupted). Delete-by-filter scans the index (ListVectors with metadata) and evaluates
//! the filter itself ([`shared::filter`]), since QueryVectors returns at most topK hits; it
//! stops before the time budget with a 202 and a `next_token`, and answers 200 only after a
//! pass over the whole index that removed nothing more (a listing continued across deletions
//! may skip vectors, so a pass that deleted is followed by another).

use crate::backend::{Backend, StoredVector};
use crate::embed::Deadline;
use crate::error::ApiError;
use serde_json::{Map, Value};
use shared::api::{
    DeleteByFilterRequest, DeleteByFilterResponse, DeleteResponse, DocumentList, DocumentResponse,
    StoredChunk,
};
use shared::limits::{MAX_DELETE_VECTORS, MAX_GET_VECTORS, MAX_SEARCH_BODY_BYTES};
use shared::metadata::{EMBEDDING_KEY, RESERVED_KEYS, TEXT_KEY, TIMESTAMP_KEY, vector_key};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Keys per `GET /documents` listing call (keys only: small).
const LIST_PAGE: u32 = 1000;
/// Vectors per scanning call (with metadata, ≤ 40 KB each).
const SCAN_PAGE: u32 = 100;
/// Time kept back for deleting what one page matched and answering (at most a quarter of
/// the budget, so every request scans at least one page).
const SCAN_MARGIN: Duration = Duration::from_secs(4);

/// The document id and chunk index of a vector key (`None`: an original one-vector document).
pub fn split_key(key: &str) -> (&str, Option<usize>) {
    match key.rsplit_once('#') {
        Some((id, n)) => match n.parse() {
            Ok(n) => (id, Some(n)),
            Err(_) => (key, None),
        },
        None => (key, None),
    }
}

async fn get_all<B: Backend>(
    backend: &B,
    keys: Vec<String>,
) -> Result<Vec<StoredVector>, ApiError> {
    let mut found = Vec::new();
    for batch in keys.chunks(MAX_GET_VECTORS) {
        found.extend(backend.get_vectors(batch.to_vec()).await?);
    }
    Ok(found)
}

/// A document's stored vectors in chunk order (with chunks beyond its count); `None` when
/// no vector of it exists.
async fn read<B: Backend>(backend: &B, id: &str) -> Result<Option<Vec<StoredVector>>, ApiError> {
    let first_key = vector_key(id, 0);
    let first = backend
        .get_vectors(vec![first_key.clone(), id.to_string()])
        .await?;
    let Some(head) = first.iter().find(|v| v.key == first_key) else {
        return Ok(first.into_iter().find(|v| v.key == id).map(|v| vec![v]));
    };
    let count = head
        .metadata
        .get("chunk_count")
        .and_then(Value::as_u64)
        .unwrap_or(1)
        .max(1) as usize;
    let mut vectors = get_all(backend, (0..count).map(|i| vector_key(id, i)).collect()).await?;
    // Chunks beyond the count: probe further until a batch finds none.
    let mut from = count;
    loop {
        let probe = (from..from + MAX_GET_VECTORS)
            .map(|i| vector_key(id, i))
            .collect();
        let extra = backend.get_vectors(probe).await?;
        if extra.is_empty() {
            break;
        }
        vectors.extend(extra);
        from += MAX_GET_VECTORS;
    }
    vectors.sort_by_key(|v| split_key(&v.key).1);
    Ok(Some(vectors))
}

fn unknown(id: &str) -> ApiError {
    ApiError::new(404, format!("document `{id}` is not stored"))
}

/// `GET /documents/{id}`.
pub async fn get<B: Backend>(backend: &B, id: &str) -> Result<DocumentResponse, ApiError> {
    let vectors = read(backend, id).await?.ok_or_else(|| unknown(id))?;
    let head = vectors
        .first()
        .map(|v| v.metadata.clone())
        .unwrap_or_default();
    let field = |k: &str| head.get(k).and_then(Value::as_str).map(str::to_string);
    let metadata: Map<String, Value> = head
        .iter()
        .filter(|(k, _)| !RESERVED_KEYS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let chunks = vectors
        .iter()
        .map(|v| StoredChunk {
            index: split_key(&v.key).1.unwrap_or(0),
            text: v
                .metadata
                .get(TEXT_KEY)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        })
        .collect();
    Ok(DocumentResponse {
        document_id: id.to_string(),
        chunks,
        metadata,
        timestamp: field(TIMESTAMP_KEY),
        embedding: field(EMBEDDING_KEY),
    })
}

async fn delete_keys<B: Backend>(backend: &B, keys: Vec<String>) -> Result<usize, ApiError> {
    for batch in keys.chunks(MAX_DELETE_VECTORS) {
        backend.delete_vectors(batch.to_vec()).await?;
    }
    Ok(keys.len())
}

/// `DELETE /documents/{id}`.
pub async fn delete<B: Backend>(backend: &B, id: &str) -> Result<DeleteResponse, ApiError> {
    let vectors = read(backend, id).await?.ok_or_else(|| unknown(id))?;
    let deleted = delete_keys(backend, vectors.into_iter().map(|v| v.key).collect()).await?;
    Ok(DeleteResponse {
        document_id: id.to_string(),
        deleted_chunks: deleted,
    })
}

/// `GET /documents?next_token=…`: one page of ids (chunk 0 keys, and original documents).
pub async fn list<B: Backend>(
    backend: &B,
    next_token: Option<String>,
) -> Result<DocumentList, ApiError> {
    let page = backend
        .list_vectors(next_token, LIST_PAGE, false, None)
        .await?;
    let ids: BTreeSet<String> = page
        .vectors
        .iter()
        .filter_map(|(key, _)| match split_key(key) {
            (id, Some(0) | None) => Some(id.to_string()),
            _ => None,
        })
        .collect();
    Ok(DocumentList {
        document_ids: ids.into_iter().collect(),
        next_token: page.next_token,
    })
}

/// The scan position carried by `next_token`: whether this pass deleted anything, and the
/// ListVectors token (`None`: the start).
fn parse_token(token: Option<&str>) -> Result<(bool, Option<String>), ApiError> {
    let Some(token) = token else {
        return Ok((false, None));
    };
    let bad = || ApiError::bad_request("`next_token` is not one this API returned");
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

/// `POST /documents/delete`.
pub async fn delete_by_filter<B: Backend>(
    backend: &B,
    dimension: usize,
    deadline: Deadline,
    body: &[u8],
) -> Result<(DeleteByFilterResponse, bool), ApiError> {
    if body.len() > MAX_SEARCH_BODY_BYTES {
        return Err(ApiError::too_large(format!(
            "request is {} bytes; the limit is {MAX_SEARCH_BODY_BYTES}",
            body.len()
        )));
    }
    let request: DeleteByFilterRequest = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid delete request: {e}")))?;
    crate::search::check_filter(&request.filter)?;
    // Let the index judge the filter first (operators its mode does not support, keys).
    let mut probe = vec![0.0; dimension.max(1)];
    probe[0] = 1.0;
    backend
        .query(probe, 1, Some(request.filter.clone()), 0)
        .await?;
    let (mut dirty, mut list) = parse_token(request.next_token.as_deref())?;
    let mut out = DeleteByFilterResponse {
        deleted_documents: 0,
        deleted_chunks: 0,
        document_ids: Vec::new(),
        next_token: None,
    };
    let margin = SCAN_MARGIN.min(deadline.remaining() / 4);
    loop {
        if deadline.remaining() < margin {
            out.next_token = Some(make_token(dirty, list.as_deref()));
            return Ok((out, false));
        }
        let page = backend
            .list_vectors(list.take(), SCAN_PAGE, true, None)
            .await?;
        let mut matched: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (key, meta) in &page.vectors {
            let hit = shared::filter::matches(&request.filter, meta)
                .map_err(|e| ApiError::bad_request(format!("invalid filter: {e}")))?;
            if hit {
                let id = meta.get("document_id").and_then(Value::as_str);
                let id = id.unwrap_or(split_key(key).0).to_string();
                matched.entry(id).or_default().push(key.clone());
            }
        }
        for (id, keys) in matched {
            // The whole document; a stray chunk whose chunk 0 is gone, by itself.
            let keys = match read(backend, &id).await? {
                Some(vectors) => vectors.into_iter().map(|v| v.key).collect(),
                None => keys,
            };
            out.deleted_chunks += delete_keys(backend, keys).await?;
            out.deleted_documents += 1;
            out.document_ids.push(id);
            dirty = true;
        }
        match page.next_token {
            Some(token) => list = Some(token),
            // A pass that deleted may have skipped vectors: one more, from the start.
            None if dirty => dirty = false,
            None => return Ok((out, true)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_tokens_round_trip() {
        assert_eq!(split_key("a/notes.md#3"), ("a/notes.md", Some(3)));
        assert_eq!(split_key("0b7c-uuid"), ("0b7c-uuid", None));
        assert_eq!(split_key("odd#name"), ("odd#name", None));
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
