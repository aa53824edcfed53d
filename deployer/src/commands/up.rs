//! `up`: build and package the function, check the embedding endpoint, then converge every
//! resource (independent ones concurrently). `plan` runs the same code with changes recorded
//! instead of made.

use crate::cli::StackArgs;
use crate::context::Ctx;
use crate::endpoint::{self, EndpointSettings};
use crate::package::{self, Artifact};
use crate::resources::Change;
use crate::resources::{
    api_key, function, log_group, permission, rest_api, role, usage_plan, vector_store,
};
use anyhow::bail;
use aws_smithy_types::Blob;
use serde::Serialize;
use shared::embedding::{EmbeddingError, decode_embeddings};
use std::collections::BTreeMap;

/// What `up` did.
#[derive(Debug, Serialize)]
pub struct UpReport {
    /// Stack name.
    pub stack: String,
    /// Region.
    pub region: String,
    /// Every change made, in order.
    pub changes: Vec<Change>,
}

impl std::fmt::Display for UpReport {
    /// Nothing on stdout: the changes were shown as they were made.
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        Ok(())
    }
}

impl crate::report::Report for UpReport {
    fn summary(&self) -> Option<String> {
        Some(format!(
            "stack `{}` is up in {} ({} change(s)); `deployer output` prints the endpoint and key",
            self.stack,
            self.region,
            self.changes.len()
        ))
    }
}

/// Builds (or reads `--zip`) and checks the artifact.
pub fn artifact(ctx: &Ctx, args: &StackArgs) -> anyhow::Result<Artifact> {
    match &args.zip {
        Some(path) => package::from_zip(path, args.arch),
        None => {
            ctx.progress.step(&format!(
                "build   function (release, {})",
                args.arch.as_str()
            ));
            let binary = package::build(args.arch, ctx.progress.is_quiet())?;
            package::package(&binary, args.arch)
        }
    }
}

/// A chunk as large as the function makes (256 tokens with `[CLS]`/`[SEP]`): the preflight
/// embeds it, so an endpoint whose answer for one chunk exceeds its payload limit is found
/// before deploying.
fn largest_chunk() -> anyhow::Result<String> {
    let long = "Quarterly revenue, margins and guidance for the semiconductor segment. ".repeat(60);
    let (text, _) =
        shared::tokenize::truncate(&long, shared::chunk::ChunkConfig::default().max_tokens)
            .map_err(|e| anyhow::anyhow!(e))?;
    Ok(text.to_string())
}

/// What one embedding of a maximum-size chunk showed.
#[derive(Debug, Clone, PartialEq)]
pub enum Probe {
    /// The answer's size and the embedding's dimension.
    Fits {
        /// Bytes of the answer.
        bytes: usize,
    },
    /// Something is wrong: stop (`true`) or warn (`false`), with why.
    Problem(bool, String),
    /// The endpoint is starting (a serverless endpoint scaled to zero answers
    /// `ModelNotReadyException` while it provisions): nothing is wrong, but it is not
    /// answering yet.
    Starting(String),
}

/// One InvokeEndpoint with a maximum-size chunk: the endpoint must exist, answer within its
/// payload limit and embed to the index's dimension.
pub async fn probe(
    ctx: &Ctx,
    args: &StackArgs,
    settings: EndpointSettings,
) -> anyhow::Result<Probe> {
    let body = serde_json::to_vec(&serde_json::json!({
        "inputs": [largest_chunk()?],
        "parameters": {"truncation": true},
        "truncate": true,
    }))?;
    let endpoint = &args.embedding_endpoint;
    let out = ctx
        .sagemaker
        .invoke_endpoint()
        .endpoint_name(endpoint)
        .content_type("application/json")
        .body(Blob::new(body))
        .send()
        .await;
    let bytes = match out {
        Ok(out) => out.body.map(Blob::into_inner).unwrap_or_default(),
        Err(e) if crate::aws_error::is(&e, &["ModelNotReadyException"]) => {
            return Ok(Probe::Starting(format!(
                "embedding endpoint {endpoint} is starting (an idle serverless endpoint scales to zero; a cold start takes seconds up to a minute): requests meanwhile wait or answer 503 EndpointStarting"
            )));
        }
        Err(e) => {
            return Ok(Probe::Problem(
                false,
                format!(
                    "could not invoke embedding endpoint {endpoint} ({}); the function fails until it answers",
                    crate::aws_error::describe(&e)
                ),
            ));
        }
    };
    let limit = settings.profile.max_payload();
    if bytes.len() > limit {
        return Ok(Probe::Problem(
            true,
            format!(
                "embedding endpoint {endpoint} answered {} bytes for one 256-token chunk, over the {limit}-byte limit of a {:?} endpoint\nhint: deploy the endpoint with the Text Embeddings Inference container (huggingface-tei-cpu; pooled answers, ~200x smaller)",
                bytes.len(),
                settings.profile
            ),
        ));
    }
    Ok(
        match decode_embeddings(&bytes, 1, args.dimension as usize) {
            Ok(_) => Probe::Fits { bytes: bytes.len() },
            Err(EmbeddingError::Dimension { got, expected }) => Probe::Problem(
                true,
                format!(
                    "embedding endpoint {endpoint} returns {got}-dimensional vectors, but the index is {expected}-dimensional\nhint: pass `--dimension {got}` for a new index, or deploy an endpoint with a {expected}-dimensional model"
                ),
            ),
            Err(e) => Probe::Problem(false, format!("embedding endpoint {endpoint}: {e}")),
        },
    )
}

/// [`probe`] before `up` changes anything: a wrong dimension or an oversize answer stops it;
/// an unreachable endpoint is a warning (the stack may be deployed before the endpoint).
pub async fn preflight(
    ctx: &Ctx,
    args: &StackArgs,
    settings: EndpointSettings,
) -> anyhow::Result<()> {
    match probe(ctx, args, settings).await? {
        Probe::Fits { .. } => Ok(()),
        Probe::Problem(true, why) => bail!(why),
        Probe::Problem(false, why) | Probe::Starting(why) => {
            ctx.progress.warn(&why);
            Ok(())
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

/// Converges the stack: first settles ownership (refuses, or with `--adopt` tags, same-named
/// resources the stack did not create) and makes sure the permissions boundary exists.
pub async fn converge(
    ctx: &Ctx,
    args: &StackArgs,
    code: &Artifact,
    endpoint: EndpointSettings,
) -> anyhow::Result<()> {
    let spec = vector_store::IndexSpec {
        dimension: args.dimension,
        metric: args.metric,
        mode: args.index_mode,
    };
    // Bad input (a dimension, metric or key the existing data cannot take) changes nothing.
    vector_store::precheck(ctx, spec, args.kms_key.as_deref()).await?;
    crate::ownership::settle(ctx, args.adopt).await?;
    role::ensure_boundary_policy(ctx, &args.embedding_endpoint).await?;
    let (_, _, role_arn) = tokio::try_join!(
        vector_store::ensure(ctx, spec, args.kms_key.as_deref()),
        log_group::ensure(ctx, args.log_retention_days),
        role::ensure(ctx, &args.embedding_endpoint),
    )?;
    let fspec = function::FunctionSpec {
        role_arn,
        memory: args.memory as i32,
        timeout: args.timeout as i32,
        arch: args.arch,
        env: function_env(ctx, args, endpoint),
    };
    let function_arn = function::ensure(ctx, &fspec, code).await?;
    let (api_id, first_key) = tokio::try_join!(
        async {
            let api_id = rest_api::ensure(ctx, &function_arn).await?;
            permission::ensure(ctx, &api_id, &rest_api::ROUTES).await?;
            Ok::<_, anyhow::Error>(api_id)
        },
        api_key::ensure(ctx),
    )?;
    let limits = usage_plan::Limits {
        quota: args.quota,
        rate: args.rate,
        burst: args.burst,
    };
    // A concurrent run may delete the duplicate key or plan this run picked: start over.
    let mut key_id = first_key;
    let mut attempts = 0;
    loop {
        attempts += 1;
        match usage_plan::ensure(ctx, &api_id, &key_id, limits).await {
            Err(e) if crate::resources::is_gone(&e) && attempts < 4 => {
                key_id = api_key::ensure(ctx).await?
            }
            other => return other,
        }
    }
}

/// `up`.
pub async fn run(ctx: &Ctx, args: &StackArgs) -> anyhow::Result<UpReport> {
    let code = artifact(ctx, args)?;
    let endpoint = endpoint::settings(ctx, args).await;
    // Before anything changes: a wrong dimension is bad input and must change nothing.
    preflight(ctx, args, endpoint).await?;
    converge(ctx, args, &code, endpoint).await?;
    Ok(UpReport {
        stack: ctx.names.stack.clone(),
        region: ctx.region.clone(),
        changes: ctx.changes(),
    })
}
