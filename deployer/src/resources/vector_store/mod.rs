//! The S3 Vectors bucket (SSE-S3, or SSE-KMS with `--kms-key`; fixed at creation) and, in
//! [`index`], its index.

mod encryption;
mod index;

use encryption::{encryption, encryption_conflict};

pub use index::{IndexSpec, spec_of};

use crate::aws_error::{describe, is, is_not_found};
use crate::context::Ctx;
use crate::ownership::{Kind, Seen};
use crate::resources::{Action, Applier, Change, Resource, tags};
use anyhow::{anyhow, bail};
use shared::metadata::{EMBEDDING_KEY, EMBEDDING_MARKER};

/// What the bucket and index need.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The bucket is missing: create it (with this KMS key, else SSE-S3).
    pub create_bucket: Option<Option<String>>,
    /// The index's edit, if any.
    pub index: Option<index::Edit>,
}

/// Reads the bucket and index and diffs them with `spec`; an existing bucket or index the
/// stack cannot use (another encryption, dimension or metric: none can be changed) is an
/// error, so bad input changes nothing.
pub async fn plan(ctx: &Ctx, spec: IndexSpec, kms_key: Option<&str>) -> anyhow::Result<Plan> {
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
            Ok(Plan {
                create_bucket: None,
                index: index::plan(ctx, spec).await?,
            })
        }
        Err(e) if is_not_found(&e) => Ok(Plan {
            create_bucket: Some(kms_key.map(str::to_string)),
            index: Some(index::Edit::Create(spec)),
        }),
        Err(e) => bail!(
            "failed to read {label}: {}{}",
            describe(&e),
            access_hint(&e)
        ),
    }
}

/// How the plan shows `plan`.
pub fn changes(ctx: &Ctx, plan: &Plan) -> Vec<Change> {
    let bucket = plan.create_bucket.as_ref().map(|kms_key| {
        let detail = kms_key
            .as_ref()
            .map_or("(SSE-S3)".to_string(), |k| format!("(SSE-KMS {k})"));
        Change::new(
            Action::Create,
            format!("vector bucket {}", ctx.names.bucket),
            detail,
        )
    });
    bucket
        .into_iter()
        .chain(plan.index.as_ref().map(|e| index::change(ctx, e)))
        .collect()
}

/// Creates the bucket and index as planned, or changes the index's mode.
pub async fn apply(a: &Applier<'_>, plan: &Plan) -> anyhow::Result<()> {
    let bucket = &a.names.bucket;
    let label = format!("vector bucket {bucket}");
    if let Some(kms_key) = &plan.create_bucket {
        let detail = kms_key
            .as_ref()
            .map_or("(SSE-S3)".to_string(), |k| format!("(SSE-KMS {k})"));
        a.record(Action::Create, &label, detail);
        let created = a
            .s3v
            .create_vector_bucket()
            .vector_bucket_name(bucket)
            .encryption_configuration(encryption(kms_key.as_deref()))
            .set_tags(Some(tags(a)))
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
    match &plan.index {
        Some(edit) => index::apply(a, edit).await,
        None => Ok(()),
    }
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

/// The bucket's entry in the stack's table.
pub const BUCKET: Resource = Resource {
    kind: Kind::Bucket,
    holds_data: true,
    seen: |ctx| Box::pin(seen_bucket(ctx)),
    tag: |a, _| Box::pin(tag_bucket(a)),
    delete: |a, _| Box::pin(delete_bucket(a)),
};

/// The index's entry in the stack's table.
pub const INDEX: Resource = Resource {
    kind: Kind::Index,
    holds_data: true,
    seen: |ctx| Box::pin(seen_index(ctx)),
    tag: |a, _| Box::pin(tag_index(a)),
    delete: |a, _| Box::pin(delete_index(a)),
};

/// The bucket with the stack's name, if any, judged by its tags.
pub async fn seen_bucket(ctx: &Ctx) -> anyhow::Result<Vec<Seen>> {
    let tags = tags_of(ctx, &ctx.bucket_arn()).await?;
    Ok(tags
        .map(|tags| Seen::new(ctx, Kind::Bucket, &ctx.names.bucket, None, Some(&tags)))
        .into_iter()
        .collect())
}

/// The index with the stack's name (in the stack's bucket), if any, judged by its tags.
pub async fn seen_index(ctx: &Ctx) -> anyhow::Result<Vec<Seen>> {
    if tags_of(ctx, &ctx.bucket_arn()).await?.is_none() {
        return Ok(vec![]);
    }
    let tags = tags_of(ctx, &ctx.index_arn()).await?;
    Ok(tags
        .map(|tags| Seen::new(ctx, Kind::Index, &ctx.names.index, None, Some(&tags)))
        .into_iter()
        .collect())
}

async fn tag(
    a: &Applier<'_>,
    arn: String,
    tags: std::collections::HashMap<String, String>,
) -> anyhow::Result<()> {
    let req = a.s3v.tag_resource().resource_arn(arn).set_tags(Some(tags));
    req.send().await.map_err(|e| anyhow!(describe(&e)))?;
    Ok(())
}

/// Tags the bucket as the stack's.
pub async fn tag_bucket(a: &Applier<'_>) -> anyhow::Result<()> {
    tag(a, a.bucket_arn(), tags(a)).await
}

/// Creates the index `a` names like `spec` (the new index of a blue/green `reindex --into`),
/// tagged as the stack's and with `model` (the tag naming whose vectors fill it); whether it
/// was created. An existing index is used only when the stack created it and it fits `spec`;
/// unless its vectors are `copied` (every vector that differs is overwritten), also only when
/// its tag names the same model: vectors that are embedded again are compared by their
/// metadata, so another model's vectors would stay.
pub async fn ensure_index(
    a: &Applier<'_>,
    spec: IndexSpec,
    (key, model): (&str, &str),
    copied: bool,
) -> anyhow::Result<bool> {
    let label = format!("vector index {}", a.names.index);
    if let Some(tags) = tags_of(a, &a.index_arn()).await? {
        if !crate::ownership::owned(a, Some(&tags)) {
            bail!(
                "{label} exists and this stack did not create it (it lacks the tags managed-by, stack); it is left as it is\nhint: choose another name for `--into`"
            );
        }
        let filled_with = tags.get(key).map(String::as_str);
        if !copied && filled_with != Some(model) {
            bail!(
                "{label} exists and holds vectors of {}; filling it with {model}'s would mix two models in one index\nhint: choose a new name for `--into`",
                filled_with.map_or("an unrecorded model".to_string(), |m| format!(
                    "endpoint {m}"
                ))
            );
        }
    }
    let undeclared = index::undeclared_non_filterable(a).await?;
    if !undeclared.is_empty() {
        bail!(
            "{label} exists but does not declare `{}` non-filterable: it would refuse what the copy writes\nhint: choose a new name for `--into`",
            undeclared.join("`, `")
        );
    }
    let edit = index::plan(a, spec).await?;
    let created = matches!(edit, Some(index::Edit::Create(_)));
    if let Some(edit) = &edit {
        index::apply(a, edit).await?;
    }
    let mut tags = tags(a);
    tags.insert(key.to_string(), model.to_string());
    tag(a, a.index_arn(), tags).await?;
    Ok(created)
}

/// Tags the index as the stack's.
pub async fn tag_index(a: &Applier<'_>) -> anyhow::Result<()> {
    tag(a, a.index_arn(), tags(a)).await
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
pub async fn delete_bucket(a: &Applier<'_>) -> anyhow::Result<()> {
    let ctx: &Ctx = a;
    let label = format!("vector bucket {}", ctx.names.bucket);
    match ctx
        .s3v
        .get_vector_bucket()
        .vector_bucket_name(&ctx.names.bucket)
        .send()
        .await
    {
        Ok(_) => {
            a.record(Action::Delete, &label, "");
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
        ctx.printer.warn(&format!(
            "{label} holds vectors made by another embedding ({unmarked} of {} sampled lack `{EMBEDDING_KEY}={EMBEDDING_MARKER}`; the original function stored token 0, not the mean-pooled sentence embedding), so they rank unreliably next to new ones\nhint: `deployer reindex` re-embeds them in place (resumable)",
            page.vectors().len()
        ));
    }
}

/// Deletes the index and all its vectors.
pub async fn delete_index(a: &Applier<'_>) -> anyhow::Result<()> {
    let ctx: &Ctx = a;
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
            a.record(Action::Delete, &index_label, "(all its vectors)");
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
