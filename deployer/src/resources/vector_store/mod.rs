//! The S3 Vectors bucket (SSE-S3) and, in [`index`], its index.

mod index;

pub use index::{IndexSpec, delete_index};

use crate::aws_error::{describe, is, is_not_found};
use crate::context::Ctx;
use crate::ownership::{Kind, Seen};
use crate::resources::{Action, tags};
use anyhow::{anyhow, bail};
use aws_sdk_s3vectors::types::{EncryptionConfiguration, SseType};

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
            if ctx.change(Action::Create, &label, "(SSE-S3)") {
                let mut req = ctx
                    .s3v
                    .create_vector_bucket()
                    .vector_bucket_name(bucket)
                    .encryption_configuration(
                        EncryptionConfiguration::builder()
                            .sse_type(SseType::Aes256)
                            .build(),
                    );
                req = req.set_tags(Some(tags(ctx)));
                match req.send().await {
                    Ok(_) => {}
                    Err(e) if is(&e, &["ConflictException"]) => {}
                    Err(e) => bail!("failed to create {label}: {}", describe(&e)),
                }
            } else {
                ctx.change(
                    Action::Create,
                    format!("vector index {}", ctx.names.index),
                    index::detail(spec),
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
    index::ensure(ctx, spec).await
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
    req = req.set_tags(Some(tags(ctx)));
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

pub(crate) fn access_hint<E: aws_smithy_types::error::metadata::ProvideErrorMetadata, R>(
    e: &aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> &'static str {
    if is(e, &["AccessDeniedException", "AccessDenied"]) {
        "\nhint: the deploying identity needs the permissions in `deployer/deployer-policy.json`"
    } else {
        ""
    }
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
            ctx.change(Action::Delete, &label, "");
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
