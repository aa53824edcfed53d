//! Function configuration, read once from the environment at cold start.

use shared::chunk::ChunkConfig;
use shared::names::{DEFAULT_DIMENSION, DEFAULT_INDEX};

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
    /// `CHUNK_MAX_CHARS` / `CHUNK_OVERLAP_CHARS`.
    pub chunk: ChunkConfig,
    /// `EMBED_BATCH_SIZE` (default 16): texts per InvokeEndpoint call.
    pub embed_batch_size: usize,
    /// `EMBED_CONCURRENCY` (default 2): InvokeEndpoint calls in flight.
    pub embed_concurrency: usize,
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
                max_chars: number("CHUNK_MAX_CHARS", defaults.max_chars, 50, 20_000),
                overlap_chars: number("CHUNK_OVERLAP_CHARS", defaults.overlap_chars, 0, 10_000),
            },
            embed_batch_size: number("EMBED_BATCH_SIZE", 16, 1, 256),
            embed_concurrency: number("EMBED_CONCURRENCY", 2, 1, 64),
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
    }

    #[test]
    fn every_problem_is_named() {
        let err = Config::from_lookup(lookup(&[("EMBED_BATCH_SIZE", "0")])).unwrap_err();
        assert!(err.contains("VECTOR_BUCKET is not set"), "{err}");
        assert!(err.contains("SAGEMAKER_ENDPOINT is not set"), "{err}");
        assert!(
            err.contains("EMBED_BATCH_SIZE must be an integer in 1..=256"),
            "{err}"
        );
    }
}
