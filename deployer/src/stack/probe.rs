//! Before a plan: the function's code (built, or read from `--zip`), and one InvokeEndpoint
//! with a maximum-size chunk, so an endpoint that cannot serve the stack is found before
//! anything changes.

use crate::cli::StackArgs;
use crate::context::Ctx;
use crate::endpoint::EndpointSettings;
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
            return Ok(Probe::Unchecked(format!(
                "could not invoke embedding endpoint {endpoint} ({}); the function fails until it answers",
                crate::aws_error::describe(&e)
            )));
        }
    };
    let limit = settings.profile.max_payload();
    if bytes.len() > limit {
        return Ok(Probe::Unfit(format!(
            "embedding endpoint {endpoint} answered {} bytes for one 256-token chunk, over the {limit}-byte limit of a {:?} endpoint\nhint: deploy the endpoint with the Text Embeddings Inference container (huggingface-tei-cpu; pooled answers, ~200x smaller)",
            bytes.len(),
            settings.profile
        )));
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
