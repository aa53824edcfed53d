//! The S3 Vectors bucket (SSE-S3, or SSE-KMS with `--kms-key`; fixed at creation) and, in
//! [`index`], its index.

mod encryption;
mod index;

use encryption::{encryption, encryption_conflict};

pub use index::IndexSpec;

use crate::aws_error::{describe, is, is_not_found};
use crate::context::Ctx;
use crate::ownership::{Kind, Seen};
use crate::resources::{Action, tags};
use anyhow::{anyhow, bail};
use shared::metadata::{EMBEDDING_KEY, EMBEDDING_MARKER};

/// Refuses, before anything changes, a stack an existing bucket or index cannot serve
/// (another encryption, dimension or metric: none of them can be changed).
pub async fn precheck(ctx: &Ctx, spec: IndexSpec, kms_key: Option<&str>) -> anyhow::Result<()> {
    let bucket = &ctx.names.bucket;
    let read = ctx
        .s3v
        .get_vector_bucket()
        .vector_bucket_name(bucket)
        .send()
        .await;
    let current = match read {
        Ok(out) => out.vector_bucket,
        Err(e) if is_not_found(&e) => return Ok(()),
        Err(e) => bail!(
            "failed to read vector bucket {bucket}: {}{}",
            describe(&e),
            access_hint(&e)
        ),
    };
    let encryption = current.as_ref().and_then(|b| b.encryption_configuration());
    if let Some(why) = encryption_conflict(encryption, kms_key) {
        bail!("vector bucket {bucket} {why}");
    }
    index::precheck(ctx, spec).await
}

/// Creates the bucket and index if missing; checks an existing bucket and index match.
pub async fn ensure(ctx: &Ctx, spec: IndexSpec, kms_key: Option<&str>) -> anyhow::Result<()> {
    let bucket = &ctx.names.bucket;
    let label = format!("vector bucket {bucket}");
    let read = ctx
        .s3v
        .get_vector_bucket()
        .vector_bucket_name(bucket)
        .send()
        .await;
    match read {
        Ok(out) => {
            let current = out
                .vector_bucket()
                .and_then(|b| b.encryption_configuration());
            if let Some(why) = encryption_conflict(current, kms_key) {
                bail!("{label} {why}");
            }
        }
        Err(e) if is_not_found(&e) => {
            let detail = kms_key.map_or("(SSE-S3)".to_string(), |k| format!("(SSE-KMS {k})"));
            if !ctx.change(Action::Create, &label, detail) {
                let index = format!("vector index {}", ctx.names.index);
                ctx.change(Action::Create, index, index::detail(spec));
                return Ok(());
            }
            let created = ctx
                .s3v
                .create_vector_bucket()
                .vector_bucket_name(bucket)
                .encryption_configuration(encryption(kms_key))
                .set_tags(Some(tags(ctx)))
                .send()
                .await;
            match created {
                Ok(_) => {}
                Err(e) if is(&e, &["ConflictException"]) => {}
                Err(e) => bail!(
                    "failed to create {label}: {}{}",
                    describe(&e),
                    access_hint(&e)
                ),
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

/// Vectors of an existing index that lack this version's embedding marker (the original
/// Python function stored token 0 of the token states, not their mean): not comparable with
/// new ones. One ListVectors page is sampled; a failure to list is not an error.
pub(super) async fn warn_unmarked(ctx: &Ctx, label: &str) {
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
            "{label} holds vectors made by another embedding ({unmarked} of {} sampled lack `{EMBEDDING_KEY}={EMBEDDING_MARKER}`; the original function stored token 0, not the mean-pooled sentence embedding), so they rank unreliably next to new ones\nhint: `deployer reindex` re-embeds them in place (resumable)",
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
            ctx.change(Action::Delete, &index_label, "(all its vectors)");
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
