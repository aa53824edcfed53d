//! `POST /search`: embed the query, QueryVectors, and shape the hits.

use crate::backend::Backend;
use crate::config::Config;
use crate::embed::{Deadline, Embedder};
use crate::error::ApiError;
use serde_json::Value;
use shared::api::{SearchRequest, SearchResponse, SearchResult};
use shared::limits::{DEFAULT_TOP_K, MAX_QUERY_BYTES, MAX_SEARCH_BODY_BYTES, MAX_TOP_K};
use shared::metadata::{NON_FILTERABLE_KEYS, TEXT_KEY};
use std::time::Instant;

/// Measurements of one search, for the log line.
#[derive(Debug, Default, Clone, Copy)]
pub struct SearchStats {
    /// Milliseconds spent embedding the query.
    pub embed_ms: u128,
    /// Milliseconds spent in QueryVectors.
    pub query_ms: u128,
    /// Results returned.
    pub results: usize,
}

/// Rejects filters that are not objects or that name a non-filterable key.
pub(crate) fn check_filter(filter: &Value) -> Result<(), ApiError> {
    fn walk(v: &Value) -> Result<(), ApiError> {
        match v {
            Value::Object(map) => {
                for (k, child) in map {
                    if NON_FILTERABLE_KEYS.contains(&k.as_str()) {
                        return Err(ApiError::bad_request(format!(
                            "`filter` uses `{k}`, which is not filterable"
                        )));
                    }
                    walk(child)?;
                }
                Ok(())
            }
            Value::Array(items) => items.iter().try_for_each(walk),
            _ => Ok(()),
        }
    }
    if !filter.is_object() {
        return Err(ApiError::bad_request("`filter` must be a JSON object"));
    }
    walk(filter)
}

/// Handles a search body.
pub async fn search<B: Backend>(
    backend: &B,
    config: &Config,
    deadline: Deadline,
    body: &[u8],
    stats: &mut SearchStats,
) -> Result<SearchResponse, ApiError> {
    if body.len() > MAX_SEARCH_BODY_BYTES {
        return Err(ApiError::too_large(format!(
            "search request is {} bytes; the limit is {MAX_SEARCH_BODY_BYTES}",
            body.len()
        )));
    }
    let request: SearchRequest = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid search request: {e}")))?;
    if request.query.trim().is_empty() {
        return Err(ApiError::bad_request("`query` must not be empty"));
    }
    if request.query.len() > MAX_QUERY_BYTES {
        return Err(ApiError::too_large(format!(
            "`query` is {} bytes; the limit is {MAX_QUERY_BYTES}",
            request.query.len()
        )));
    }
    let k = request.k.unwrap_or(DEFAULT_TOP_K);
    if !(1..=MAX_TOP_K).contains(&k) {
        return Err(ApiError::bad_request(format!(
            "`k` must be in 1..={MAX_TOP_K}, got {k}"
        )));
    }
    let filter = match request.filter {
        None | Some(Value::Null) => None,
        Some(f) => {
            check_filter(&f)?;
            Some(f)
        }
    };

    let started = Instant::now();
    // The model reads at most `max_tokens` word pieces (sentence-transformers truncates at
    // 256); a longer query would also make a token-level answer exceed the payload limit.
    let (query, tokens) = shared::tokenize::truncate(&request.query, config.chunk.max_tokens)
        .map_err(ApiError::internal)?;
    let embedder = Embedder::new(backend, config, deadline);
    let vector = embedder
        .embed(&[query], &[tokens])
        .await?
        .pop()
        .flatten()
        .ok_or_else(ApiError::out_of_time)?;
    stats.embed_ms = started.elapsed().as_millis();

    let started = Instant::now();
    let hits = backend.query(vector, k, filter).await?;
    stats.query_ms = started.elapsed().as_millis();

    let mut results: Vec<SearchResult> = hits
        .into_iter()
        .map(|hit| {
            let mut metadata = hit.metadata;
            let text = match metadata.remove(TEXT_KEY) {
                Some(Value::String(s)) => s,
                _ => String::new(),
            };
            let document_id = match metadata.get("document_id") {
                Some(Value::String(s)) => s.clone(),
                _ => hit
                    .key
                    .rsplit_once('#')
                    .map_or(hit.key.as_str(), |(d, _)| d)
                    .to_string(),
            };
            SearchResult {
                id: hit.key,
                document_id,
                score: 1.0 - f64::from(hit.distance),
                text,
                metadata,
            }
        })
        .collect();
    results.sort_by(|a, b| b.score.total_cmp(&a.score));
    stats.results = results.len();
    Ok(SearchResponse {
        count: results.len(),
        results,
    })
}
