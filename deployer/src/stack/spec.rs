//! What the stack should be: the flags resolved into one desired state, with the function's
//! code and the embedding endpoint's settings.

use crate::cli::StackArgs;
use crate::context::Ctx;
use crate::endpoint::EndpointSettings;
use crate::model::Arch;
use crate::resources::function::{Code, FunctionSpec};
use crate::resources::usage_plan::Limits;
use crate::resources::vector_store::IndexSpec;
use std::collections::BTreeMap;

/// The desired stack.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The index.
    pub index: IndexSpec,
    /// A KMS key for a new bucket.
    pub kms_key: Option<String>,
    /// Take over same-named resources without the stack's tags.
    pub adopt: bool,
    /// The embedding endpoint the function invokes.
    pub embedding_endpoint: String,
    /// Days the function's logs are kept.
    pub log_retention_days: i32,
    /// MB.
    pub memory: i32,
    /// Seconds.
    pub timeout: i32,
    /// Architecture.
    pub arch: Arch,
    /// The function's environment.
    pub env: BTreeMap<String, String>,
    /// The function's code.
    pub code: Code,
    /// The usage plan's limits.
    pub limits: Limits,
    /// A search-only API and key besides the main ones.
    pub search_key: bool,
}

impl Spec {
    /// The stack `args` describe, with `code` and the endpoint's `settings`.
    pub fn new(ctx: &Ctx, args: &StackArgs, endpoint: EndpointSettings, code: Code) -> Self {
        Self {
            index: IndexSpec {
                dimension: args.dimension,
                metric: args.metric,
                mode: args.index_mode,
            },
            kms_key: args.kms_key.clone(),
            adopt: args.adopt,
            embedding_endpoint: args.embedding_endpoint.clone(),
            log_retention_days: args.log_retention_days,
            memory: args.memory as i32,
            timeout: args.timeout as i32,
            arch: args.arch,
            env: function_env(ctx, args, endpoint),
            code,
            limits: Limits {
                quota: args.quota,
                rate: args.rate,
                burst: args.burst,
            },
            search_key: args.search_key,
        }
    }

    /// The function's configuration, run by role `role_arn`.
    pub fn function(&self, role_arn: &str) -> FunctionSpec {
        FunctionSpec {
            role_arn: role_arn.to_string(),
            memory: self.memory,
            timeout: self.timeout,
            arch: self.arch,
            env: self.env.clone(),
        }
    }
}

/// The function's environment: its resources' names, the endpoint's limits, its time budget.
fn function_env(
    ctx: &Ctx,
    args: &StackArgs,
    endpoint: EndpointSettings,
) -> BTreeMap<String, String> {
    [
        ("VECTOR_BUCKET", ctx.names.bucket.clone()),
        ("INDEX_NAME", ctx.names.index.clone()),
        ("SAGEMAKER_ENDPOINT", args.embedding_endpoint.clone()),
        ("EMBEDDING_DIMENSION", args.dimension.to_string()),
        // The function stops before its own timeout (and API Gateway's 29 s).
        (
            "TIME_BUDGET_MS",
            (u64::from(args.timeout.min(29)) * 1000).to_string(),
        ),
    ]
    .into_iter()
    .chain(endpoint.env())
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}
