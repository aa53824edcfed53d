//! Before a plan: the function's code (built, or read from `--zip`), and one InvokeEndpoint
//! with a maximum-size chunk, so an endpoint that cannot serve the stack is found before
//! anything changes.

use crate::cli::StackArgs;
use crate::context::Ctx;
use crate::endpoint::EndpointSettings;
use crate::model::EndpointProfile;
use crate::package::{self, Artifact};
use anyhow::bail;
use aws_smithy_types::Blob;
use shared::embedding::{EmbeddingError, decode_embeddings};

/// Builds (or reads `--zip`) and checks the artifact.
pub fn artifact(ctx: &Ctx, args: &StackArgs) -> anyhow::Result<Artifact> {
    match &args.zip {
        Some(path) => package::from_zip(path, args.arch),
        None => {
            ctx.printer.step(&format!(
                "build   function (release, {})",
                args.arch.as_str()
            ));
            let binary = package::build(args.arch, ctx.printer.is_quiet())?;
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
    /// The endpoint cannot serve the stack (another dimension, answers over its limit): stop.
    Unfit(String),
    /// The endpoint could not be asked, or answered what cannot be read: warn.
    Unchecked(String),
    /// The endpoint is starting (a serverless endpoint scaled to zero answers
    /// `ModelNotReadyException` while it provisions): nothing is wrong, but it is not
    /// answering yet.
    Starting(String),
}
/// One InvokeEndpoint of `endpoint` with a maximum-size chunk: the answer, or what to say
/// about an endpoint that did not give one.
async fn ask(ctx: &Ctx, endpoint: &str) -> anyhow::Result<Result<Vec<u8>, Probe>> {
    let body = serde_json::to_vec(&serde_json::json!({
        "inputs": [largest_chunk()?],
        "parameters": {"truncation": true},
        "truncate": true,
    }))?;
    let out = ctx
        .sagemaker
        .invoke_endpoint()
        .endpoint_name(endpoint)
        .content_type("application/json")
        .body(Blob::new(body))
        .send()
        .await;
    Ok(match out {
        Ok(out) => Ok(out.body.map(Blob::into_inner).unwrap_or_default()),
        Err(e) if crate::aws_error::is(&e, &["ModelNotReadyException"]) => {
            Err(Probe::Starting(format!(
                "embedding endpoint {endpoint} is starting (an idle serverless endpoint scales to zero; a cold start takes seconds up to a minute): requests meanwhile wait or answer 503 EndpointStarting"
            )))
        }
        Err(e) => Err(Probe::Unchecked(format!(
            "could not invoke embedding endpoint {endpoint} ({}); the function fails until it answers",
            crate::aws_error::describe(&e)
        ))),
    })
}

/// Why an answer of `bytes` is over the endpoint's payload limit, if it is.
fn oversize(endpoint: &str, bytes: usize, profile: EndpointProfile) -> Option<String> {
    let limit = profile.max_payload();
    (bytes > limit).then(|| format!(
        "embedding endpoint {endpoint} answered {bytes} bytes for one 256-token chunk, over the {limit}-byte limit of a {profile:?} endpoint\nhint: deploy the endpoint with the Text Embeddings Inference container (huggingface-tei-cpu; pooled answers, ~200x smaller)"
    ))
}

/// One InvokeEndpoint with a maximum-size chunk: the endpoint must exist, answer within its
/// payload limit and embed to the index's dimension.
pub async fn probe(
    ctx: &Ctx,
    args: &StackArgs,
    settings: EndpointSettings,
) -> anyhow::Result<Probe> {
    let endpoint = &args.embedding_endpoint;
    let bytes = match ask(ctx, endpoint).await? {
        Ok(bytes) => bytes,
        Err(probe) => return Ok(probe),
    };
    if let Some(why) = oversize(endpoint, bytes.len(), settings.profile) {
        return Ok(Probe::Unfit(why));
    }
    Ok(
        match decode_embeddings(&bytes, 1, args.dimension as usize) {
            Ok(_) => Probe::Fits { bytes: bytes.len() },
            Err(EmbeddingError::Dimension { got, expected }) => Probe::Unfit(format!(
                "embedding endpoint {endpoint} returns {got}-dimensional vectors, but the index is {expected}-dimensional\nhint: pass `--dimension {got}` for a new index, or deploy an endpoint with a {expected}-dimensional model"
            )),
            Err(e) => Probe::Unchecked(format!("embedding endpoint {endpoint}: {e}")),
        },
    )
}

/// The new model of `reindex --into NEW --embedding-endpoint ENDPOINT`: it must answer a
/// maximum-size chunk within `profile`'s limit; its dimension is the one it answers, which
/// `dimension`, when given, must be.
pub async fn new_model(
    ctx: &Ctx,
    endpoint: &str,
    dimension: Option<u32>,
    profile: EndpointProfile,
) -> anyhow::Result<u32> {
    let bytes = match ask(ctx, endpoint).await? {
        Ok(bytes) => bytes,
        Err(Probe::Starting(why)) => bail!("{why}\nhint: run the command again in a minute"),
        Err(Probe::Unchecked(why) | Probe::Unfit(why)) => bail!(
            "{why}\nhint: a model change needs `sagemaker:InvokeEndpoint` on {endpoint} for the deploying identity (`deployer/deployer-policy.json`) and in the permissions boundary (`deployer/boundary-policy.json`); see README, \"Changing the model\""
        ),
        Err(Probe::Fits { .. }) => unreachable!("ask never answers Fits"),
    };
    if let Some(why) = oversize(endpoint, bytes.len(), profile) {
        bail!(why);
    }
    let asked = dimension.unwrap_or(1) as usize;
    let got = match decode_embeddings(&bytes, 1, asked) {
        Ok(_) => asked,
        Err(EmbeddingError::Dimension { got, .. }) if dimension.is_none() => {
            decode_embeddings(&bytes, 1, got)
                .map_err(|e| anyhow::anyhow!("embedding endpoint {endpoint}: {e}"))?;
            got
        }
        Err(EmbeddingError::Dimension { got, expected }) => bail!(
            "embedding endpoint {endpoint} returns {got}-dimensional vectors, not {expected}\nhint: leave out `--dimension` to use what it returns"
        ),
        Err(e) => bail!("embedding endpoint {endpoint}: {e}"),
    };
    match u32::try_from(got) {
        Ok(d) if (1..=4096).contains(&d) => Ok(d),
        _ => bail!(
            "embedding endpoint {endpoint} returns {got}-dimensional vectors; an index holds 1 to 4,096"
        ),
    }
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
        Probe::Unfit(why) => bail!(why),
        Probe::Unchecked(why) | Probe::Starting(why) => {
            ctx.printer.warn(&why);
            Ok(())
        }
    }
}
