//! Embedding text through the SageMaker endpoint inside its limits and the request's deadline.
//!
//! - **Batches sized by the answer they will produce**: a token-level answer costs
//!   `tokens × dimension × ~21 bytes`, so inputs are grouped until the estimate
//!   ([`shared::embedding::estimated_answer_bytes`]) reaches 90% of the endpoint's payload
//!   limit (4 MiB serverless). Until the process has seen an answer, a request's first batch
//!   goes alone; once an answer shows the endpoint pools (TEI), batches are
//!   sized with the pooled estimate (~200× smaller).
//! - **An oversize answer or request still splits**: the batch is halved and retried, so at
//!   most `2n − 1` calls for `n` inputs; a single input that is too large is an error.
//! - **Throttling and a starting endpoint back off** (exponential, capped, jittered) only while
//!   the deadline allows; then the answer is 503 with `Retry-After` (202 for ingest progress),
//!   and what was embedded is kept.
//! - **Concurrency** is at most `EMBED_CONCURRENCY` (the endpoint's max concurrency).
//! - **Deadline**: a batch starts only if the slowest call seen so far still fits, and every
//!   call is cut at the deadline; inputs not embedded in time come back as `None`.

use crate::backend::{Backend, BackendError};
use crate::config::Config;
use crate::error::ApiError;
use futures::StreamExt;
use serde::Serialize;
use shared::embedding::{decode_answer, plan_batches};
use std::ops::Range;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// When work must stop: the earlier of the invocation deadline and API Gateway's cut-off
/// (`TIME_BUDGET_MS` after the request arrived), minus `DEADLINE_MARGIN_MS` kept to write
/// what is done and answer.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    stop_at: Instant,
    end: Instant,
}

/// Time an AWS call needs at least: none starts with less left before the cut-off.
pub const MIN_CALL_TIME: Duration = Duration::from_millis(250);

impl Deadline {
    /// The deadline of a request that arrived at `started`; `invocation` is the Lambda
    /// deadline (`Lambda-Runtime-Deadline-Ms`), absent outside Lambda.
    pub fn new(started: Instant, invocation: Option<SystemTime>, config: &Config) -> Self {
        let mut end = started + Duration::from_millis(config.time_budget_ms);
        if let Some(at) = invocation {
            let left = at
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO);
            end = end.min(Instant::now() + left);
        }
        let margin = Duration::from_millis(config.deadline_margin_ms);
        Self {
            stop_at: end.checked_sub(margin).unwrap_or(started),
            end,
        }
    }

    /// Time left before work must stop (the margin kept to write what is done and answer).
    pub fn remaining(&self) -> Duration {
        self.stop_at.saturating_duration_since(Instant::now())
    }

    /// Checked before every AWS call: `Err` (503, send again) when the cut-off is too close
    /// for one more call to finish.
    pub fn check(&self) -> Result<(), ApiError> {
        if self.end.saturating_duration_since(Instant::now()) < MIN_CALL_TIME {
            Err(ApiError::deadline())
        } else {
            Ok(())
        }
    }
}

/// The answer shape seen last in this process: unknown, token-level or pooled. Until it is
/// known, a request's first batch goes alone and its answer decides how the rest is sized.
static ANSWER_SHAPE: AtomicU8 = AtomicU8::new(SHAPE_UNKNOWN);
const SHAPE_UNKNOWN: u8 = 0;
const SHAPE_TOKENS: u8 = 1;
const SHAPE_POOLED: u8 = 2;

/// What one request's embedding did, for the log line.
#[derive(Debug, Default, Serialize)]
pub struct EmbedStats {
    /// InvokeEndpoint calls made (including retries and splits).
    pub calls: usize,
    /// Calls throttled.
    pub throttled: usize,
    /// Batches halved after an oversize error.
    pub splits: usize,
    /// Largest answer received, bytes.
    pub largest_answer: usize,
}

/// What [`Embedder::embed`] produced: a vector per input (`None`: not embedded), and the
/// error that stopped the rest, if one did.
#[derive(Debug)]
pub struct Embedded {
    /// One per input, in order.
    pub vectors: Vec<Option<Vec<f32>>>,
    /// Why the rest was not embedded.
    pub error: Option<ApiError>,
}

impl Embedded {
    /// The vectors, or the error when there was one (for callers that cannot keep part).
    pub fn into_result(self) -> Result<Vec<Option<Vec<f32>>>, ApiError> {
        self.error.map_or(Ok(self.vectors), Err)
    }
}

/// A batch's inputs and their vectors, or `None` when the deadline stopped it.
type BatchResult = (Range<usize>, Option<Vec<Vec<f32>>>);

/// Embeds texts for one request.
pub struct Embedder<'a, B> {
    backend: &'a B,
    config: &'a Config,
    deadline: Deadline,
    slowest_ms: AtomicU64,
    calls: AtomicUsize,
    throttled: AtomicUsize,
    splits: AtomicUsize,
    largest: AtomicUsize,
}

impl<'a, B: Backend> Embedder<'a, B> {
    /// An embedder that stops at `deadline`.
    pub fn new(backend: &'a B, config: &'a Config, deadline: Deadline) -> Self {
        Self {
            backend,
            config,
            deadline,
            slowest_ms: AtomicU64::new(0),
            calls: AtomicUsize::new(0),
            throttled: AtomicUsize::new(0),
            splits: AtomicUsize::new(0),
            largest: AtomicUsize::new(0),
        }
    }

    /// What was done so far.
    pub fn stats(&self) -> EmbedStats {
        EmbedStats {
            calls: self.calls.load(Ordering::Relaxed),
            throttled: self.throttled.load(Ordering::Relaxed),
            splits: self.splits.load(Ordering::Relaxed),
            largest_answer: self.largest.load(Ordering::Relaxed),
        }
    }

    /// Embeds `texts` (with their token counts); `None` for inputs the deadline stopped. An
    /// error stops what is left, and what was finished before it is kept.
    pub async fn embed(&self, texts: &[&str], tokens: &[usize]) -> Embedded {
        let mut vectors: Vec<Option<Vec<f32>>> = vec![None; texts.len()];
        let mut start = 0;
        let mut result = Ok(());
        if ANSWER_SHAPE.load(Ordering::Relaxed) == SHAPE_UNKNOWN
            && let Some(first) = self.plan(texts, tokens, 0).into_iter().next()
        {
            start = first.end;
            result = self.run(vec![first], texts, &mut vectors).await;
        }
        if result.is_ok() {
            let rest = self.plan(texts, tokens, start);
            result = self.run(rest, texts, &mut vectors).await;
        }
        // Nothing came back before the deadline: the endpoint did not answer in time (most
        // often a serverless cold start), which is not progress.
        if result.is_ok() && !texts.is_empty() && vectors.iter().all(Option::is_none) {
            result = Err(ApiError::out_of_time());
        }
        Embedded {
            vectors,
            error: result.err(),
        }
    }

    /// Batches for `texts[start..]`, sized for the answer shape known now (token-level until
    /// an answer shows otherwise).
    fn plan(&self, texts: &[&str], tokens: &[usize], start: usize) -> Vec<Range<usize>> {
        let bytes: Vec<usize> = texts[start..].iter().map(|t| t.len()).collect();
        plan_batches(
            &tokens[start..],
            &bytes,
            self.config.dimension,
            self.config.embed_max_payload,
            ANSWER_SHAPE.load(Ordering::Relaxed) != SHAPE_POOLED,
            self.config.embed_batch_size,
        )
        .into_iter()
        .map(|r| r.start + start..r.end + start)
        .collect()
    }

    /// Runs `batches` with bounded concurrency, each only if the deadline allows, into `out`
    /// as they finish; the first error stops the rest.
    async fn run(
        &self,
        batches: Vec<Range<usize>>,
        texts: &[&str],
        out: &mut [Option<Vec<f32>>],
    ) -> Result<(), ApiError> {
        let mut results = futures::stream::iter(batches)
            .map(|range| async move {
                let slowest = Duration::from_millis(self.slowest_ms.load(Ordering::Relaxed));
                let left = self.deadline.remaining();
                if left.is_zero() || left < slowest {
                    return Ok((range, None));
                }
                match tokio::time::timeout(left, self.embed_batch(&texts[range.clone()])).await {
                    Ok(Ok(vectors)) => Ok((range, Some(vectors))),
                    Ok(Err(e)) => Err(e),
                    Err(_) => Ok((range, None)),
                }
            })
            .buffered(self.config.embed_concurrency.max(1));
        while let Some(result) = results.next().await {
            let (range, vectors): BatchResult = result?;
            for (slot, v) in out[range].iter_mut().zip(vectors.into_iter().flatten()) {
                *slot = Some(v);
            }
        }
        Ok(())
    }

    /// Embeds one batch, halving it on an oversize error and backing off on throttling.
    fn embed_batch<'s>(
        &'s self,
        texts: &'s [&'s str],
    ) -> futures::future::BoxFuture<'s, Result<Vec<Vec<f32>>, ApiError>>
    where
        B: Sync,
    {
        Box::pin(async move {
            let mut attempt = 0u32;
            loop {
                let started = Instant::now();
                self.calls.fetch_add(1, Ordering::Relaxed);
                match self.call(texts).await {
                    Ok(vectors) => {
                        let ms = started.elapsed().as_millis() as u64;
                        self.slowest_ms.fetch_max(ms, Ordering::Relaxed);
                        return Ok(vectors);
                    }
                    Err(CallError::Backend(BackendError::TooLarge(_))) if texts.len() > 1 => {
                        self.splits.fetch_add(1, Ordering::Relaxed);
                        let (left, right) = texts.split_at(texts.len() / 2);
                        let mut vectors = self.embed_batch(left).await?;
                        vectors.extend(self.embed_batch(right).await?);
                        return Ok(vectors);
                    }
                    Err(CallError::Backend(BackendError::TooLarge(detail))) => {
                        return Err(ApiError::upstream(
                            "one chunk's embedding exceeds the endpoint's payload limit; \
                             lower CHUNK_MAX_TOKENS or deploy the endpoint with the Text \
                             Embeddings Inference container (pooled answers)",
                            detail,
                        ));
                    }
                    Err(CallError::Backend(
                        e @ (BackendError::Throttled { .. } | BackendError::NotReady(_)),
                    )) => {
                        self.throttled.fetch_add(1, Ordering::Relaxed);
                        let wait = backoff(attempt);
                        if attempt >= 8 || self.deadline.remaining() <= wait {
                            return Err(e.into());
                        }
                        tokio::time::sleep(wait).await;
                        attempt += 1;
                    }
                    Err(CallError::Backend(e)) => return Err(e.into()),
                    Err(CallError::Api(e)) => return Err(e),
                }
            }
        })
    }

    async fn call(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, CallError> {
        // `parameters.truncation` for the HuggingFace toolkit, `truncate` for TEI; each
        // container ignores the other's.
        let body = serde_json::json!({
            "inputs": texts,
            "parameters": {"truncation": true},
            "truncate": true,
        });
        let body = serde_json::to_vec(&body).map_err(|e| ApiError::internal(e.to_string()))?;
        let answer = self.backend.invoke_endpoint(body).await?;
        self.largest.fetch_max(answer.len(), Ordering::Relaxed);
        let decoded =
            decode_answer(&answer, texts.len(), self.config.dimension).map_err(ApiError::from)?;
        let shape = if decoded.token_level {
            SHAPE_TOKENS
        } else {
            SHAPE_POOLED
        };
        ANSWER_SHAPE.store(shape, Ordering::Relaxed);
        Ok(decoded.vectors)
    }
}

enum CallError {
    Backend(BackendError),
    Api(ApiError),
}

impl From<BackendError> for CallError {
    fn from(e: BackendError) -> Self {
        Self::Backend(e)
    }
}

impl From<ApiError> for CallError {
    fn from(e: ApiError) -> Self {
        Self::Api(e)
    }
}

/// 200 ms, 400 ms, … capped at 3.2 s, with up to 25% jitter from the clock.
fn backoff(attempt: u32) -> Duration {
    let base = 200u64 << attempt.min(4);
    let jitter = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()) % (base / 4 + 1));
    Duration::from_millis(base + jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(
            backoff(0) >= Duration::from_millis(200) && backoff(0) <= Duration::from_millis(250)
        );
        assert!(backoff(10) <= Duration::from_millis(4000));
    }
}
