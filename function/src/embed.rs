//! Embedding text through the SageMaker endpoint inside its limits and the request's deadline.
//!
//! - **Batches sized by the answer they will produce**: a token-level answer costs
//!   `tokens × dimension × ~21 bytes`, so inputs are grouped until the estimate
//!   ([`shared::embedding::estimated_answer_bytes`]) reaches 90% of the endpoint's payload
//!   limit (4 MiB serverless). Until the environment has seen an answer ([`AnswerShape`], kept
//!   in [`crate::handler::App`]), a request's first batch goes alone; once an answer shows the
//!   endpoint pools (TEI), batches are sized with the pooled estimate (~200× smaller).
//! - **An oversize answer or request still splits**: the batch is halved and retried, so at
//!   most `2n − 1` calls for `n` inputs; a single input that is too large is an error.
//! - **Throttling and a starting endpoint back off** (exponential, capped, jittered) only while
//!   the deadline allows; then the error is a transient [`DomainError`] (503 with
//!   `Retry-After`; 202 for ingest progress), and what was embedded is kept.
//! - **Concurrency** is at most `EMBED_CONCURRENCY` (the endpoint's max concurrency).
//! - **Deadline**: a batch starts only if the slowest call seen so far still fits, and every
//!   call is cut at the deadline; inputs not embedded in time come back as `None`.

use crate::backend::{Backend, BackendError};
use crate::config::Config;
use crate::error::DomainError;
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
/// Time kept after the last AWS call to answer before the cut-off.
const ANSWER_TIME: Duration = Duration::from_millis(250);

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

    /// `call`, cut when it has not answered by the cut-off ([`DomainError::OutOfTime`]: send
    /// again). A call the SDK keeps retrying (a throttled write backs off for seconds) must
    /// not outlive the invocation: Lambda would kill it, and API Gateway answer 502. A call
    /// cut this way may still have taken effect, like one whose answer was lost.
    pub async fn bound<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, crate::backend::BackendError>>,
    ) -> Result<T, DomainError> {
        let left = self
            .end
            .checked_sub(ANSWER_TIME)
            .map_or(Duration::ZERO, |at| {
                at.saturating_duration_since(Instant::now())
            });
        match tokio::time::timeout(left, call).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(DomainError::OutOfTime),
        }
    }

    /// Checked before every AWS call: [`DomainError::OutOfTime`] (send again) when the
    /// cut-off is too close for one more call to finish.
    pub fn check(&self) -> Result<(), DomainError> {
        if self.end.saturating_duration_since(Instant::now()) < MIN_CALL_TIME {
            Err(DomainError::OutOfTime)
        } else {
            Ok(())
        }
    }
}

/// The answer shape this environment's endpoint gave last: unknown, token-level or pooled.
/// Until it is known, a request's first batch goes alone and its answer decides how the rest
/// is sized. Built once with the [`crate::handler::App`] and shared by its requests.
#[derive(Debug, Default)]
pub struct AnswerShape(AtomicU8);

const SHAPE_UNKNOWN: u8 = 0;
const SHAPE_TOKENS: u8 = 1;
const SHAPE_POOLED: u8 = 2;

impl AnswerShape {
    /// Whether an answer has been seen.
    pub fn is_known(&self) -> bool {
        self.0.load(Ordering::Relaxed) != SHAPE_UNKNOWN
    }

    /// Whether the last answer was pooled (one vector per input).
    pub fn is_pooled(&self) -> bool {
        self.0.load(Ordering::Relaxed) == SHAPE_POOLED
    }

    fn record(&self, token_level: bool) {
        let shape = if token_level {
            SHAPE_TOKENS
        } else {
            SHAPE_POOLED
        };
        self.0.store(shape, Ordering::Relaxed);
    }
}

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
    pub error: Option<DomainError>,
}

impl Embedded {
    /// The vectors, or the error when there was one (for callers that cannot keep part).
    pub fn into_result(self) -> Result<Vec<Option<Vec<f32>>>, DomainError> {
        self.error.map_or(Ok(self.vectors), Err)
    }
}

/// A batch's inputs and their vectors, or `None` when the deadline stopped it.
type BatchResult = (Range<usize>, Option<Vec<Vec<f32>>>);

/// Embeds texts for one request.
pub struct Embedder<'a, B> {
    backend: &'a B,
    config: &'a Config,
    answers: &'a AnswerShape,
    deadline: Deadline,
    slowest_ms: AtomicU64,
    calls: AtomicUsize,
    throttled: AtomicUsize,
    splits: AtomicUsize,
    largest: AtomicUsize,
}

impl<'a, B> Embedder<'a, B> {
    /// An embedder that stops at `deadline` and sizes batches by `answers` (which it updates).
    pub fn new(
        backend: &'a B,
        config: &'a Config,
        answers: &'a AnswerShape,
        deadline: Deadline,
    ) -> Self {
        Self {
            backend,
            config,
            answers,
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
}

impl<B: Backend> Embedder<'_, B> {
    /// Embeds `texts` (with their token counts); `None` for inputs the deadline stopped. An
    /// error stops what is left, and what was finished before it is kept.
    pub async fn embed(&self, texts: &[&str], tokens: &[usize]) -> Embedded {
        let mut vectors: Vec<Option<Vec<f32>>> = vec![None; texts.len()];
        let mut start = 0;
        let mut result = Ok(());
        if !self.answers.is_known()
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
            result = Err(DomainError::EndpointSilent);
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
            !self.answers.is_pooled(),
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
    ) -> Result<(), DomainError> {
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
    ) -> futures::future::BoxFuture<'s, Result<Vec<Vec<f32>>, DomainError>>
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
                    Err(DomainError::Backend(BackendError::TooLarge(_))) if texts.len() > 1 => {
                        self.splits.fetch_add(1, Ordering::Relaxed);
                        let (left, right) = texts.split_at(texts.len() / 2);
                        let mut vectors = self.embed_batch(left).await?;
                        vectors.extend(self.embed_batch(right).await?);
                        return Ok(vectors);
                    }
                    Err(DomainError::Backend(BackendError::TooLarge(detail))) => {
                        return Err(DomainError::InputTooLarge(detail));
                    }
                    Err(
                        e @ DomainError::Backend(
                            BackendError::Throttled { .. } | BackendError::NotReady(_),
                        ),
                    ) => {
                        self.throttled.fetch_add(1, Ordering::Relaxed);
                        let wait = backoff(attempt);
                        if attempt >= 8 || self.deadline.remaining() <= wait {
                            return Err(e);
                        }
                        tokio::time::sleep(wait).await;
                        attempt += 1;
                    }
                    Err(e) => return Err(e),
                }
            }
        })
    }

    async fn call(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, DomainError> {
        // `parameters.truncation` for the HuggingFace toolkit, `truncate` for TEI; each
        // container ignores the other's.
        let body = serde_json::json!({
            "inputs": texts,
            "parameters": {"truncation": true},
            "truncate": true,
        });
        let body = serde_json::to_vec(&body).map_err(|e| DomainError::Internal(e.to_string()))?;
        let answer = self.backend.invoke_endpoint(body).await?;
        self.largest.fetch_max(answer.len(), Ordering::Relaxed);
        let decoded = decode_answer(&answer, texts.len(), self.config.dimension)?;
        self.answers.record(decoded.token_level);
        Ok(decoded.vectors)
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
