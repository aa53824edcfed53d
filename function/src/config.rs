//! Function configuration, read once from the environment at cold start.

use shared::chunk::{ChunkConfig, MIN_MAX_TOKENS};
use shared::limits::SERVERLESS_MAX_PAYLOAD;
use shared::names::{DEFAULT_DIMENSION, DEFAULT_INDEX};
use shared::tokenize::MODEL_MAX_TOKENS;

/// Everything the handlers need to know about their deployment.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `VECTOR_BUCKET` (required).
    pub bucket: String,
    /// `INDEX_NAME` (default `financial-research`).
    pub index: String,
    /// `SAGEMAKER_ENDPOINT` (required).
    pub endpoint: String,
    /// `EMBEDDING_DIMENSION` (default 384): the index's dimension.
    pub dimension: usize,
    /// `CHUNK_MAX_TOKENS` (default 256, special tokens included) / `CHUNK_OVERLAP_TOKENS`
    /// (default 32): chunk sizes in the model's word pieces.
    pub chunk: ChunkConfig,
    /// `EMBED_BATCH_SIZE` (default 32): most texts per InvokeEndpoint call; calls are also
    /// sized so the answer fits `embed_max_payload`.
    pub embed_batch_size: usize,
    /// `EMBED_CONCURRENCY` (default 2, the original serverless endpoint's max concurrency):
    /// InvokeEndpoint calls in flight.
    pub embed_concurrency: usize,
    /// `EMBED_MAX_PAYLOAD_BYTES` (default 4 MiB, a serverless endpoint's request and answer
    /// limit; real-time endpoints allow 6 MiB).
    pub embed_max_payload: usize,
    /// `TIME_BUDGET_MS` (default 29,000, API Gateway's integration timeout): work stops
    /// before this much time has passed since the request arrived, or before the invocation
    /// deadline if that is earlier.
    pub time_budget_ms: u64,
    /// `DEADLINE_MARGIN_MS` (default 1,500): time kept to write what is done and answer.
    pub deadline_margin_ms: u64,
}

impl Config {
    /// Reads the configuration through `var` (the process environment in `main`).
    /// The error names every missing or invalid variable.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let mut problems = Vec::new();
        let mut required = |name: &str| match var(name).filter(|v| !v.trim().is_empty()) {
            Some(v) => v,
            None => {
                problems.push(format!("{name} is not set"));
                String::new()
            }
        };
        let bucket = required("VECTOR_BUCKET");
        let endpoint = required("SAGEMAKER_ENDPOINT");
        let mut number = |name: &str, default: usize, min: usize, max: usize| match var(name) {
            None => default,
            Some(v) => match v.trim().parse::<usize>() {
                Ok(n) if (min..=max).contains(&n) => n,
                _ => {
                    problems.push(format!(
                        "{name} must be an integer in {min}..={max}, got `{v}`"
                    ));
                    default
                }
            },
        };
        let defaults = ChunkConfig::default();
        let config = Self {
            bucket,
            endpoint,
            index: var("INDEX_NAME")
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| DEFAULT_INDEX.to_string()),
            dimension: number("EMBEDDING_DIMENSION", DEFAULT_DIMENSION as usize, 1, 4096),
            chunk: ChunkConfig {
                max_tokens: number(
                    "CHUNK_MAX_TOKENS",
                    defaults.max_tokens,
                    MIN_MAX_TOKENS,
                    MODEL_MAX_TOKENS,
                ),
                overlap_tokens: number("CHUNK_OVERLAP_TOKENS", defaults.overlap_tokens, 0, 128),
                max_bytes: defaults.max_bytes,
            },
            embed_batch_size: number("EMBED_BATCH_SIZE", 32, 1, 256),
            embed_concurrency: number("EMBED_CONCURRENCY", 2, 1, 64),
            embed_max_payload: number(
                "EMBED_MAX_PAYLOAD_BYTES",
                SERVERLESS_MAX_PAYLOAD,
                64 * 1024,
                64 * 1024 * 1024,
            ),
            time_budget_ms: number("TIME_BUDGET_MS", 29_000, 1_000, 900_000) as u64,
            deadline_margin_ms: number("DEADLINE_MARGIN_MS", 1_500, 0, 60_000) as u64,
        };
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(problems.join("; "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn defaults() {
        let c = Config::from_lookup(lookup(&[
            ("VECTOR_BUCKET", "b"),
            ("SAGEMAKER_ENDPOINT", "e"),
        ]))
        .unwrap();
        assert_eq!(c.index, "financial-research");
        assert_eq!(c.dimension, 384);
        assert_eq!(c.embed_concurrency, 2);
        assert_eq!(c.chunk.max_tokens, 256);
        assert_eq!(c.embed_max_payload, 4 * 1024 * 1024);
        assert_eq!(c.time_budget_ms, 29_000);
    }

    #[test]
    fn every_problem_is_named() {
        let err = Config::from_lookup(lookup(&[
            ("EMBED_BATCH_SIZE", "0"),
            ("CHUNK_MAX_TOKENS", "600"),
        ]))
        .unwrap_err();
        assert!(
            err.contains("CHUNK_MAX_TOKENS must be an integer in 128..=512"),
            "{err}"
        );
        assert!(err.contains("VECTOR_BUCKET is not set"), "{err}");
        assert!(err.contains("SAGEMAKER_ENDPOINT is not set"), "{err}");
        assert!(
            err.contains("EMBED_BATCH_SIZE must be an integer in 1..=256"),
            "{err}"
        );
    }
}
