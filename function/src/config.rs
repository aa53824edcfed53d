//! Function configuration, read once from the environment at cold start and validated into a
//! [`Config`]: the names of what the function calls are [`Name`]s, which cannot be empty, so a
//! [`crate::aws::AwsBackend`] (built only from a `Config`) never calls AWS with an empty name.

use shared::chunk::{ChunkConfig, MIN_MAX_TOKENS};
use shared::limits::SERVERLESS_MAX_PAYLOAD;
use shared::names::{DEFAULT_DIMENSION, DEFAULT_INDEX};
use shared::tokenize::MODEL_MAX_TOKENS;
use std::fmt;

/// The name of an AWS resource: never empty nor only whitespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(String);

/// Why a [`Name`] could not be made: the value was empty or only whitespace.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a name must not be empty")]
pub struct EmptyName;

impl Name {
    /// `value`, unless it is empty or only whitespace.
    pub fn new(value: impl Into<String>) -> Result<Self, EmptyName> {
        let value = value.into();
        if value.trim().is_empty() {
            Err(EmptyName)
        } else {
            Ok(Self(value))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for Name {
    type Err = EmptyName;
    fn from_str(s: &str) -> Result<Self, EmptyName> {
        Self::new(s)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why the configuration could not be read: every missing or invalid variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    problems: Vec<String>,
}

impl ConfigError {
    /// One problem per variable, in the order they were read.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.problems.join("; "))
    }
}

impl std::error::Error for ConfigError {}

/// Everything the handlers need to know about their deployment.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `VECTOR_BUCKET` (required).
    pub bucket: Name,
    /// `INDEX_NAME` (default `financial-research`).
    pub index: Name,
    /// `MIRROR_INDEX` (unset, or empty: none): the index a blue/green `reindex --into` is
    /// filling. While set, every document a write addresses is copied there after the write
    /// ([`crate::mirror`]), and writes that address documents by filter are refused.
    pub mirror: Option<Name>,
    /// `MIRROR_ENDPOINT` (unset, or empty: none): with a mirror, the endpoint of the model the
    /// mirror is filled with. Its vectors are then embedded again from each chunk's stored
    /// text through this endpoint instead of copied ([`crate::mirror`]): a model change.
    pub mirror_endpoint: Option<Name>,
    /// `MIRROR_DIMENSION` (default: `EMBEDDING_DIMENSION`): the mirror's dimension (another
    /// dimension needs `MIRROR_ENDPOINT`).
    pub mirror_dimension: usize,
    /// `SAGEMAKER_ENDPOINT` (required).
    pub endpoint: Name,
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
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `var`. The error names every missing or invalid
    /// variable.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut problems = Vec::new();
        let mut required = |name: &str| {
            let value = var(name).and_then(|v| Name::new(v).ok());
            if value.is_none() {
                problems.push(format!("{name} is not set"));
            }
            value
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
        let index = var("INDEX_NAME")
            .and_then(|v| Name::new(v).ok())
            .unwrap_or_else(|| Name(DEFAULT_INDEX.to_string()));
        let mirror = var("MIRROR_INDEX").and_then(|v| Name::new(v).ok());
        let mirror_endpoint = var("MIRROR_ENDPOINT").and_then(|v| Name::new(v).ok());
        let defaults = ChunkConfig::default();
        let dimension = number("EMBEDDING_DIMENSION", DEFAULT_DIMENSION as usize, 1, 4096);
        let chunk = ChunkConfig {
            max_tokens: number(
                "CHUNK_MAX_TOKENS",
                defaults.max_tokens,
                MIN_MAX_TOKENS,
                MODEL_MAX_TOKENS,
            ),
            overlap_tokens: number("CHUNK_OVERLAP_TOKENS", defaults.overlap_tokens, 0, 128),
            max_bytes: defaults.max_bytes,
        };
        let embed_batch_size = number("EMBED_BATCH_SIZE", 32, 1, 256);
        let embed_concurrency = number("EMBED_CONCURRENCY", 2, 1, 64);
        let embed_max_payload = number(
            "EMBED_MAX_PAYLOAD_BYTES",
            SERVERLESS_MAX_PAYLOAD,
            64 * 1024,
            64 * 1024 * 1024,
        );
        let mirror_dimension = number("MIRROR_DIMENSION", dimension, 1, 4096);
        let time_budget_ms = number("TIME_BUDGET_MS", 29_000, 1_000, 900_000) as u64;
        let deadline_margin_ms = number("DEADLINE_MARGIN_MS", 1_500, 0, 60_000) as u64;
        if mirror
            .as_ref()
            .is_some_and(|m| m.as_str() == index.as_str())
        {
            problems.push(format!(
                "MIRROR_INDEX must differ from INDEX_NAME (`{index}`)"
            ));
        }
        if mirror.is_none() && mirror_endpoint.is_some() {
            problems.push("MIRROR_ENDPOINT is set without MIRROR_INDEX".to_string());
        }
        if mirror_endpoint.is_none() && mirror_dimension != dimension {
            problems.push(format!(
                "MIRROR_DIMENSION ({mirror_dimension}) differs from EMBEDDING_DIMENSION ({dimension}) without MIRROR_ENDPOINT: vectors of one dimension cannot be copied into another"
            ));
        }
        match (bucket, endpoint) {
            (Some(bucket), Some(endpoint)) if problems.is_empty() => Ok(Self {
                bucket,
                index,
                mirror,
                mirror_endpoint,
                mirror_dimension,
                endpoint,
                dimension,
                chunk,
                embed_batch_size,
                embed_concurrency,
                embed_max_payload,
                time_budget_ms,
                deadline_margin_ms,
            }),
            _ => Err(ConfigError { problems }),
        }
    }
}

impl Config {
    /// What the mirror's vectors are embedded with, when they are embedded again rather than
    /// copied (`MIRROR_ENDPOINT` set): this configuration with the mirror's index, endpoint and
    /// dimension.
    pub fn mirror_model(&self) -> Option<Config> {
        let (index, endpoint) = (self.mirror.clone()?, self.mirror_endpoint.clone()?);
        Some(Config {
            index,
            mirror: None,
            mirror_endpoint: None,
            endpoint,
            dimension: self.mirror_dimension,
            ..self.clone()
        })
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
        assert_eq!(c.index.as_str(), "financial-research");
        assert_eq!(c.dimension, 384);
        assert_eq!(c.embed_concurrency, 2);
        assert_eq!(c.chunk.max_tokens, 256);
        assert_eq!(c.embed_max_payload, 4 * 1024 * 1024);
        assert_eq!(c.time_budget_ms, 29_000);
        assert_eq!(c.mirror, None);
    }

    #[test]
    fn a_mirror_is_another_index() {
        let vars = |mirror| {
            Config::from_lookup(lookup(&[
                ("VECTOR_BUCKET", "b"),
                ("SAGEMAKER_ENDPOINT", "e"),
                ("INDEX_NAME", "a"),
                ("MIRROR_INDEX", mirror),
            ]))
        };
        assert_eq!(vars("a-v2").unwrap().mirror.unwrap().as_str(), "a-v2");
        assert_eq!(vars("").unwrap().mirror, None);
        assert_eq!(
            vars("a").unwrap_err().problems(),
            ["MIRROR_INDEX must differ from INDEX_NAME (`a`)"]
        );
    }

    #[test]
    fn a_mirror_of_another_model_names_its_endpoint() {
        let vars = |pairs: &[(&str, &str)]| {
            let mut all = vec![
                ("VECTOR_BUCKET", "b"),
                ("SAGEMAKER_ENDPOINT", "e"),
                ("INDEX_NAME", "a"),
            ];
            all.extend_from_slice(pairs);
            Config::from_lookup(lookup(&all))
        };
        let copy = vars(&[("MIRROR_INDEX", "a-v2")]).unwrap();
        assert_eq!((copy.mirror_model(), copy.mirror_dimension), (None, 384));
        let model = vars(&[
            ("MIRROR_INDEX", "a-v2"),
            ("MIRROR_ENDPOINT", "e2"),
            ("MIRROR_DIMENSION", "256"),
        ])
        .unwrap()
        .mirror_model()
        .unwrap();
        assert_eq!(
            (
                model.index.as_str(),
                model.endpoint.as_str(),
                model.dimension
            ),
            ("a-v2", "e2", 256)
        );
        assert_eq!((model.mirror, model.mirror_endpoint), (None, None));
        assert_eq!(
            vars(&[("MIRROR_ENDPOINT", "e2")]).unwrap_err().problems(),
            ["MIRROR_ENDPOINT is set without MIRROR_INDEX"]
        );
        let err = vars(&[("MIRROR_INDEX", "a-v2"), ("MIRROR_DIMENSION", "256")]).unwrap_err();
        assert!(err.to_string().contains("without MIRROR_ENDPOINT"), "{err}");
    }

    #[test]
    fn every_problem_is_named() {
        let err = Config::from_lookup(lookup(&[
            ("EMBED_BATCH_SIZE", "0"),
            ("CHUNK_MAX_TOKENS", "600"),
        ]))
        .unwrap_err()
        .to_string();
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

    #[test]
    fn names_are_never_empty() {
        assert_eq!(Name::new(""), Err(EmptyName));
        assert_eq!(" \t".parse::<Name>(), Err(EmptyName));
        assert_eq!(Name::new("b").unwrap().as_str(), "b");
        let blank = Config::from_lookup(lookup(&[
            ("VECTOR_BUCKET", " "),
            ("SAGEMAKER_ENDPOINT", "e"),
            ("INDEX_NAME", ""),
        ]))
        .unwrap_err();
        assert_eq!(blank.problems(), ["VECTOR_BUCKET is not set"]);
        let c = Config::from_lookup(lookup(&[
            ("VECTOR_BUCKET", "b"),
            ("SAGEMAKER_ENDPOINT", "e"),
            ("INDEX_NAME", " "),
        ]))
        .unwrap();
        assert_eq!(c.index.as_str(), "financial-research");
    }
}
