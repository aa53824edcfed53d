//! The S3 Vectors bucket (SSE-S3) and index (float32, dimension, metric, `text` non-filterable).
//! An existing index with another dimension or metric is an error: it is never replaced.

use crate::aws_error::{describe, is, is_not_found};
use crate::cli::Metric;
use crate::context::Ctx;
use crate::ownership::{Kind, Seen};
use anyhow::{anyhow, bail};
use aws_sdk_s3vectors::types::{
    DataType, DistanceMetric, EncryptionConfiguration, MetadataConfiguration, SseType,
};
use shared::metadata::{EMBEDDING_KEY, EMBEDDING_MARKER, NON_FILTERABLE_KEYS};

/// The desired index.
#[derive(Debug, Clone, Copy)]
pub struct IndexSpec {
    /// Vector dimension.
    pub dimension: u32,
    /// Distance metric.
    pub metric: Metric,
}

/// Creates the bucket and index if missing; checks an existing index matches.
pub async fn ensure(ctx: &Ctx, spec: IndexSpec) -> anyhow::Result<()> {
    let bucket = &ctx.names.bucket;
    let label = format!("vector bucket {bucket}");
    match ctx
        .s3v
        .get_vector_bucket()
        .vector_bucket_name(bucket)
        .send()
        .await
    {
        Ok(_) => {}
        Err(e) if is_not_found(&e) => {
            if ctx.change("create", &label, "(SSE-S3)") {
                let mut req = ctx
                    .s3v
                    .create_vector_bucket()
                    .vector_bucket_name(bucket)
                    .encryption_configuration(
                        EncryptionConfiguration::builder()
                            .sse_type(SseType::Aes256)
                            .build(),
                    );
                for (k, v) in ctx.tags() {
                    req = req.tags(k, v);
                }
                match req.send().await {
                    Ok(_) => {}
                    Err(e) if is(&e, &["ConflictException"]) => {}
                    Err(e) => bail!("failed to create {label}: {}", describe(&e)),
                }
            } else {
                ctx.change(
                    "create",
                    format!("vector index {}", ctx.names.index),
                    index_detail(spec),
                );
                return Ok(());
            }
        }
        Err(e) => bail!(
            "failed to read {label}: {}{}",
            describe(&e),
            access_hint(&e)
        ),
    }
    ensure_index(ctx, spec).await
}

/// The tags of an S3 Vectors resource; `None` when it does not exist.
async fn tags_of(
    ctx: &Ctx,
    arn: &str,
) -> anyhow::Result<Option<std::collections::HashMap<String, String>>> {
    match ctx
        .s3v
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
    {
        Ok(out) => Ok(Some(out.tags().clone())),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => bail!(
            "failed to read the tags of {arn}: {}{}",
            describe(&e),
            access_hint(&e)
        ),
    }
}

/// The bucket and index with the stack's names, if any, judged by their tags.
pub async fn seen(ctx: &Ctx) -> anyhow::Result<Vec<Seen>> {
    let mut seen = Vec::new();
    if let Some(tags) = tags_of(ctx, &ctx.bucket_arn()).await? {
        seen.push(Seen::new(
            ctx,
            Kind::Bucket,
            &ctx.names.bucket,
            None,
            Some(&tags),
        ));
        if let Some(tags) = tags_of(ctx, &ctx.index_arn()).await? {
            seen.push(Seen::new(
                ctx,
                Kind::Index,
                &ctx.names.index,
                None,
                Some(&tags),
            ));
        }
    }
    Ok(seen)
}

async fn tag(ctx: &Ctx, arn: String) -> anyhow::Result<()> {
    let mut req = ctx.s3v.tag_resource().resource_arn(arn);
    for (k, v) in ctx.tags() {
        req = req.tags(k, v);
    }
    req.send().await.map_err(|e| anyhow!(describe(&e)))?;
    Ok(())
}

/// Tags the bucket as the stack's.
pub async fn tag_bucket(ctx: &Ctx) -> anyhow::Result<()> {
    tag(ctx, ctx.bucket_arn()).await
}

/// Tags the index as the stack's.
pub async fn tag_index(ctx: &Ctx) -> anyhow::Result<()> {
    tag(ctx, ctx.index_arn()).await
}

fn index_detail(spec: IndexSpec) -> String {
    format!(
        "(float32, {} dims, {}, non-filterable: text)",
        spec.dimension,
        spec.metric.as_str()
    )
}

fn access_hint<E: aws_smithy_types::error::metadata::ProvideErrorMetadata, R>(
    e: &aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> &'static str {
    if is(e, &["AccessDeniedException", "AccessDenied"]) {
        "\nhint: the deploying identity needs the permissions in `deployer/deployer-policy.json`"
    } else {
        ""
    }
}

async fn ensure_index(ctx: &Ctx, spec: IndexSpec) -> anyhow::Result<()> {
    let label = format!("vector index {}", ctx.names.index);
    for _ in 0..2 {
        let found = ctx
            .s3v
            .get_index()
            .vector_bucket_name(&ctx.names.bucket)
            .index_name(&ctx.names.index)
            .send()
            .await;
        match found {
            Ok(out) => {
                let index = out
                    .index
                    .ok_or_else(|| anyhow!("GetIndex returned no index for {label}"))?;
                let metric = index.distance_metric.as_str().to_string();
                if index.dimension as u32 != spec.dimension || metric != spec.metric.as_str() {
                    bail!(
                        "{label} exists with dimension {} and metric {metric}, but the stack wants dimension {} and metric {}; an index is never replaced\nhint: pass `--dimension {} --metric {metric}` to keep it, or `--index-name` to create another index",
                        index.dimension,
                        spec.dimension,
                        spec.metric.as_str(),
                        index.dimension
                    );
                }
                let keys = index
                    .metadata_configuration
                    .as_ref()
                    .map(|m| m.non_filterable_metadata_keys().to_vec())
                    .unwrap_or_default();
                if let Some(missing) = NON_FILTERABLE_KEYS
                    .iter()
                    .find(|k| !keys.iter().any(|x| x == *k))
                {
                    ctx.progress.warn(&format!(
                        "{label} does not declare `{missing}` non-filterable (it cannot be changed after creation): chunks whose metadata exceeds 2 KB will be refused"
                    ));
                }
                warn_unmarked(ctx, &label).await;
                return Ok(());
            }
            Err(e) if is_not_found(&e) => {
                if !ctx.change("create", &label, index_detail(spec)) {
                    return Ok(());
                }
                let metric = match spec.metric {
                    Metric::Cosine => DistanceMetric::Cosine,
                    Metric::Euclidean => DistanceMetric::Euclidean,
                };
                let mut config = MetadataConfiguration::builder();
                for key in NON_FILTERABLE_KEYS {
                    config = config.non_filterable_metadata_keys(key);
                }
                let mut req = ctx
                    .s3v
                    .create_index()
                    .vector_bucket_name(&ctx.names.bucket)
                    .index_name(&ctx.names.index)
                    .data_type(DataType::Float32)
                    .dimension(spec.dimension as i32)
                    .distance_metric(metric)
                    .metadata_configuration(config.build()?);
                for (k, v) in ctx.tags() {
                    req = req.tags(k, v);
                }
                let result = req.send().await;
                match result {
                    Ok(_) => return Ok(()),
                    // Created meanwhile by another run: read it again and compare.
                    Err(e) if is(&e, &["ConflictException"]) => continue,
                    Err(e) => bail!("failed to create {label}: {}", describe(&e)),
                }
            }
            Err(e) => bail!(
                "failed to read {label}: {}{}",
                describe(&e),
                access_hint(&e)
            ),
        }
    }
    bail!("{label} changed while it was being created; run the command again")
}

/// Vectors of an existing index that lack this version's embedding marker (the original
/// Python function stored token 0 of the token states, not their mean): not comparable with
/// new ones. One ListVectors page is sampled; a failure to list is not an error.
async fn warn_unmarked(ctx: &Ctx, label: &str) {
    let page = ctx
        .s3v
        .list_vectors()
        .vector_bucket_name(&ctx.names.bucket)
        .index_name(&ctx.names.index)
        .max_results(50)
        .return_metadata(true)
        .send()
        .await;
    let Ok(page) = page else { return };
    let unmarked = page
        .vectors()
        .iter()
        .filter(|v| {
            !matches!(
                v.metadata.as_ref().and_then(|m| m.as_object()).and_then(|m| m.get(EMBEDDING_KEY)),
                Some(aws_smithy_types::Document::String(s)) if s == EMBEDDING_MARKER
            )
        })
        .count();
    if unmarked > 0 {
        ctx.progress.warn(&format!(
            "{label} holds vectors made by another embedding ({unmarked} of {} sampled lack `{EMBEDDING_KEY}={EMBEDDING_MARKER}`; the original function stored token 0, not the mean-pooled sentence embedding), so they rank unreliably next to new ones\nhint: ingest those documents again with the same ids to re-embed them",
            page.vectors().len()
        ));
    }
}

/// Deletes the index and all its vectors.
pub async fn delete_index(ctx: &Ctx) -> anyhow::Result<()> {
    let index_label = format!("vector index {}", ctx.names.index);
    match ctx
        .s3v
        .get_index()
        .vector_bucket_name(&ctx.names.bucket)
        .index_name(&ctx.names.index)
        .send()
        .await
    {
        Ok(_) => {
            ctx.change("delete", &index_label, "(all its vectors)");
            match ctx
                .s3v
                .delete_index()
                .vector_bucket_name(&ctx.names.bucket)
                .index_name(&ctx.names.index)
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => bail!("failed to delete {index_label}: {}", describe(&e)),
            }
        }
        Err(e) if is_not_found(&e) => {}
        Err(e) => bail!("failed to read {index_label}: {}", describe(&e)),
    }
    Ok(())
}

/// Deletes the bucket (refused by S3 Vectors while it holds indexes).
pub async fn delete_bucket(ctx: &Ctx) -> anyhow::Result<()> {
    let label = format!("vector bucket {}", ctx.names.bucket);
    match ctx
        .s3v
        .get_vector_bucket()
        .vector_bucket_name(&ctx.names.bucket)
        .send()
        .await
    {
        Ok(_) => {
            ctx.change("delete", &label, "");
            match ctx
                .s3v
                .delete_vector_bucket()
                .vector_bucket_name(&ctx.names.bucket)
                .send()
                .await
            {
                Ok(_) => Ok(()),
                Err(e) if is_not_found(&e) => Ok(()),
                Err(e) if is(&e, &["ConflictException"]) => bail!(
                    "failed to delete {label}: it still holds other indexes\nhint: delete them first, or keep the bucket"
                ),
                Err(e) => bail!("failed to delete {label}: {}", describe(&e)),
            }
        }
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => bail!("failed to read {label}: {}", describe(&e)),
    }
}
