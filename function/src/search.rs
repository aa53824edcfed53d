//! `POST /search` ([`search`], over a parsed [`SearchRequest`]): embed the query, QueryVectors (every page up to `k`), and shape the hits;
//! with a large `k` the answer is kept under the Lambda payload limit by cutting texts, then
//! the last results, and says so (`texts_cut`, `results_cut`).

use crate::answer::{carried_len, cut_texts_to_fit};
use crate::backend::Backend;
use crate::domain::Ctx;
use crate::error::DomainError;
use serde_json::Value;
use shared::api::{SearchRequest, SearchResponse, SearchResult};
use shared::document::parse_key;
use shared::filter::Filter;
use shared::limits::{DEFAULT_TOP_K, MAX_QUERY_BYTES, MAX_SEARCH_ANSWER_BYTES, MAX_TOP_K};
use shared::metadata::{ChunkView, NON_FILTERABLE_KEYS, TEXT_KEY};
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

/// Validates a filter with [`shared::filter`] (the index's non-filterable keys refused).
pub(crate) fn parse_filter(filter: Value) -> Result<Filter, DomainError> {
    Filter::parse(filter, &NON_FILTERABLE_KEYS)
        .map_err(|why| DomainError::Invalid(format!("invalid `filter`: {why}")))
}

/// Runs a search.
pub async fn search<B: Backend>(
    ctx: &Ctx<'_, B>,
    request: &SearchRequest,
    stats: &mut SearchStats,
) -> Result<SearchResponse, DomainError> {
    let Ctx {
        backend,
        config,
        deadline,
        ..
    } = *ctx;
    if request.query.trim().is_empty() {
        return Err(DomainError::Invalid("`query` must not be empty".into()));
    }
    if request.query.len() > MAX_QUERY_BYTES {
        return Err(DomainError::TooLarge(format!(
            "`query` is {} bytes; the limit is {MAX_QUERY_BYTES}",
            request.query.len()
        )));
    }
    let k = request.k.unwrap_or(DEFAULT_TOP_K);
    if !(1..=MAX_TOP_K).contains(&k) {
        return Err(DomainError::Invalid(format!(
            "`k` must be in 1..={MAX_TOP_K}, got {k}"
        )));
    }
    let filter = match &request.filter {
        None | Some(Value::Null) => None,
        Some(f) => Some(parse_filter(f.clone())?.into_value()),
    };

    let started = Instant::now();
    // The model reads at most `max_tokens` word pieces (sentence-transformers truncates at
    // 256); a longer query would also make a token-level answer exceed the payload limit.
    let (query, tokens) = shared::tokenize::truncate(&request.query, config.chunk.max_tokens)
        .map_err(DomainError::Internal)?;
    let vector = ctx
        .embedder()
        .embed(&[query], &[tokens])
        .await
        .into_result()?
        .pop()
        .flatten()
        .ok_or(DomainError::EndpointSilent)?;
    stats.embed_ms = started.elapsed().as_millis();

    let started = Instant::now();
    // Each hit's share of the answer, for its text (at least a preview).
    let text_cap = (MAX_SEARCH_ANSWER_BYTES / k as usize).max(TEXT_PREVIEW_BYTES);
    deadline.check()?;
    let hits = deadline
        .bound(backend.query(vector, k, filter, text_cap))
        .await?;
    let mut texts_cut = hits.iter().any(|h| h.text_cut);
    stats.query_ms = started.elapsed().as_millis();

    let mut results: Vec<SearchResult> = hits
        .into_iter()
        .map(|hit| {
            let mut metadata = hit.metadata;
            let text = match metadata.remove(TEXT_KEY) {
                Some(Value::String(s)) => s,
                _ => String::new(),
            };
            let document_id = ChunkView(&metadata)
                .document_id()
                .unwrap_or_else(|| parse_key(&hit.key).id())
                .to_string();
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
    let mut response = SearchResponse {
        count: results.len(),
        results,
        texts_cut: false,
        results_cut: false,
    };
    texts_cut |= fit(&mut response, MAX_SEARCH_ANSWER_BYTES);
    response.texts_cut = texts_cut;
    stats.results = response.count;
    Ok(response)
}

/// Bytes of a text kept however large `k` is.
const TEXT_PREVIEW_BYTES: usize = 200;

/// Makes `response` fit in `budget` bytes: texts are cut to one common length first, then the
/// last results are left out. Returns whether texts were cut (`results_cut` is set here).
pub fn fit(response: &mut SearchResponse, budget: usize) -> bool {
    let texts_cut = cut_texts_to_fit(response, budget, |r| {
        r.results.iter_mut().map(|x| &mut x.text).collect()
    });
    while carried_len(response) > budget && !response.results.is_empty() {
        let keep = response.results.len() * 9 / 10;
        response.results.truncate(keep);
        response.results_cut = true;
    }
    response.count = response.results.len();
    texts_cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;

    fn answer(n: usize, text_len: usize) -> SearchResponse {
        let results = (0..n)
            .map(|i| SearchResult {
                id: format!("d{i}#0"),
                document_id: format!("d{i}"),
                score: 0.5,
                text: "é\"x".repeat(text_len / 4),
                metadata: Map::new(),
            })
            .collect();
        SearchResponse {
            count: n,
            results,
            texts_cut: false,
            results_cut: false,
        }
    }

    #[test]
    fn a_small_answer_is_untouched() {
        let mut r = answer(5, 400);
        let before = r.clone();
        assert!(!fit(&mut r, MAX_SEARCH_ANSWER_BYTES));
        assert_eq!(r, before);
    }

    #[test]
    fn texts_are_cut_then_results_to_fit_the_carried_size() {
        let mut r = answer(2_000, 4_000);
        assert!(fit(&mut r, 1_000_000));
        assert!(carried_len(&r) <= 1_000_000);
        assert_eq!(r.count, 2_000, "cutting texts was enough");
        assert!(r.results.iter().all(|x| x.text.len() < 4_000));
        let mut r = answer(50_000, 400);
        fit(&mut r, 1_000_000);
        assert!(r.results_cut && r.count < 50_000 && carried_len(&r) <= 1_000_000);
    }
}
