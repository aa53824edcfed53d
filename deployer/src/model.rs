//! The deployer's domain types: what a stack is made of, independent of the command line
//! (clap derives `ValueEnum` on them so flags can name them directly).

use clap::ValueEnum;

/// How the embedding endpoint is deployed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EndpointProfile {
    /// SageMaker Serverless Inference: request and answer ≤ 4 MiB.
    Serverless,
    /// A real-time (instance-backed) endpoint: request and answer ≤ 6 MiB.
    Realtime,
}

impl EndpointProfile {
    /// InvokeEndpoint's request and answer limit, bytes.
    pub fn max_payload(self) -> usize {
        match self {
            Self::Serverless => shared::limits::SERVERLESS_MAX_PAYLOAD,
            Self::Realtime => shared::limits::REALTIME_MAX_PAYLOAD,
        }
    }

    /// The profile whose limit is `bytes`, if any.
    pub fn from_max_payload(bytes: usize) -> Option<Self> {
        [Self::Serverless, Self::Realtime]
            .into_iter()
            .find(|p| p.max_payload() == bytes)
    }
}

/// Index distance metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Metric {
    /// Cosine distance
    Cosine,
    /// Euclidean distance
    Euclidean,
}

impl Metric {
    /// The S3 Vectors name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cosine => "cosine",
            Self::Euclidean => "euclidean",
        }
    }
}

/// Lambda architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Arch {
    /// x86_64
    #[value(name = "x86_64", alias = "x86-64")]
    X86_64,
    /// arm64 (Graviton)
    #[value(alias = "aarch64")]
    Arm64,
}

impl Arch {
    /// The machine this runs on.
    pub fn host() -> Self {
        if cfg!(target_arch = "aarch64") {
            Self::Arm64
        } else {
            Self::X86_64
        }
    }
    /// The Lambda API name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::X86_64 => "x86_64",
            Self::Arm64 => "arm64",
        }
    }
}

/// How an S3 Vectors index applies metadata filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum IndexMode {
    /// Filters during the vector search (may return fewer than k hits); no `$startsWith`.
    /// Only for indexes in buckets created before 2026-09-30.
    Classic,
    /// Filters before the vector search; supports `$startsWith`. The default for new buckets.
    Enhanced,
}

impl IndexMode {
    /// The S3 Vectors name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Classic => "CLASSIC",
            Self::Enhanced => "ENHANCED",
        }
    }
}

/// Whether `arn` is a KMS key ARN as S3 Vectors takes it (not an alias or a bare key id).
pub fn is_kms_key_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    matches!(parts.as_slice(), ["arn", partition, "kms", _, account, resource]
        if partition.starts_with("aws")
            && account.len() == 12
            && account.bytes().all(|b| b.is_ascii_digit())
            && resource.strip_prefix("key/").is_some_and(|id| !id.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_key_arns_are_kms_keys() {
        assert!(is_kms_key_arn(
            "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
        ));
        assert!(is_kms_key_arn(
            "arn:aws-cn:kms:cn-north-1:123456789012:key/k"
        ));
        assert!(!is_kms_key_arn(
            "arn:aws:kms:us-east-1:123456789012:alias/mine"
        ));
        assert!(!is_kms_key_arn("1234abcd-12ab-34cd-56ef-1234567890ab"));
        assert!(!is_kms_key_arn("arn:aws:kms:us-east-1:1234:key/k"));
    }
}
