//! The vector index (float32, dimension, metric, `text` non-filterable): created when
//! missing; an existing one is [`check`]ed and never replaced.

use super::access_hint;
use crate::aws_error::{describe, is, is_not_found};
use crate::context::Ctx;
use crate::model::Metric;
use crate::resources::{Action, tags};
use anyhow::{anyhow, bail};
use aws_sdk_s3vectors::types::{DataType, DistanceMetric, MetadataConfiguration};
use shared::metadata::{EMBEDDING_KEY, EMBEDDING_MARKER, NON_FILTERABLE_KEYS};

/// The desired index.
#[derive(Debug, Clone, Copy)]
pub struct IndexSpec {
    /// Vector dimension.
    pub dimension: u32,
    /// Distance metric.
    pub metric: Metric,
}

/// An existing index as read.
#[derive(Debug, Clone, PartialEq)]
pub struct Current {
    /// Its dimension.
    pub dimension: u32,
    /// Its metric (`cosine`, `euclidean`).
    pub metric: String,
    /// Its non-filterable metadata keys.
    pub non_filterable: Vec<String>,
}

/// Whether an existing index can serve `spec`: `Err` when its dimension or metric differs
/// (that cannot be changed), else the non-filterable keys it lacks (a warning: chunks with
/// large metadata will be refused).
pub fn check(current: &Current, spec: IndexSpec) -> Result<Vec<&'static str>, String> {
    if current.dimension != spec.dimension || current.metric != spec.metric.as_str() {
        return Err(format!(
            "exists with dimension {} and metric {}, but the stack wants dimension {} and metric {}; an index is never replaced\nhint: pass `--dimension {} --metric {}` to keep it, or `--index-name` to create another index",
            current.dimension,
            current.metric,
            spec.dimension,
            spec.metric.as_str(),
            current.dimension,
            current.metric
        ));
    }
    Ok(NON_FILTERABLE_KEYS
        .iter()
        .copied()
        .filter(|k| !current.non_filterable.iter().any(|x| x == k))
        .collect())
}

/// How `plan` describes a new index.
pub fn detail(spec: IndexSpec) -> String {
    format!(
        "(float32, {} dims, {}, non-filterable: text)",
        spec.dimension,
        spec.metric.as_str()
    )
}

async fn read(ctx: &Ctx, label: &str) -> anyhow::Result<Option<Current>> {
    let found = ctx
        .s3v
        .get_index()
        .vector_bucket_name(&ctx.names.bucket)
        .index_name(&ctx.names.index)
        .send()
        .await;
    let index = match found {
        Ok(out) => out
            .index
            .ok_or_else(|| anyhow!("GetIndex returned no index for {label}"))?,
        Err(e) if is_not_found(&e) => return Ok(None),
        Err(e) => bail!(
            "failed to read {label}: {}{}",
            describe(&e),
            access_hint(&e)
        ),
    };
    Ok(Some(Current {
        dimension: index.dimension as u32,
        metric: index.distance_metric.as_str().to_string(),
        non_filterable: index
            .metadata_configuration
            .as_ref()
            .map(|m| m.non_filterable_metadata_keys().to_vec())
            .unwrap_or_default(),
    }))
}

/// Creates the index when missing, else checks it matches `spec`.
pub async fn ensure(ctx: &Ctx, spec: IndexSpec) -> anyhow::Result<()> {
    let label = format!("vector index {}", ctx.names.index);
    for _ in 0..2 {
        if let Some(current) = read(ctx, &label).await? {
            let missing = check(&current, spec).map_err(|e| anyhow!("{label} {e}"))?;
            for key in missing {
                ctx.progress.warn(&format!(
                    "{label} does not declare `{key}` non-filterable (it cannot be changed after creation): chunks whose metadata exceeds 2 KB will be refused"
                ));
            }
            warn_unmarked(ctx, &label).await;
            return Ok(());
        }
        if !ctx.change(Action::Create, &label, detail(spec)) || create(ctx, spec).await? {
            return Ok(());
        }
        // Created meanwhile by another run: read it again and compare.
    }
    bail!("{label} changed while it was being created; run the command again")
}

/// Creates the index; `false` when another run created it meanwhile.
async fn create(ctx: &Ctx, spec: IndexSpec) -> anyhow::Result<bool> {
    let metric = match spec.metric {
        Metric::Cosine => DistanceMetric::Cosine,
        Metric::Euclidean => DistanceMetric::Euclidean,
    };
    let mut config = MetadataConfiguration::builder();
    for key in NON_FILTERABLE_KEYS {
        config = config.non_filterable_metadata_keys(key);
    }
    let created = ctx
        .s3v
        .create_index()
        .vector_bucket_name(&ctx.names.bucket)
        .index_name(&ctx.names.index)
        .data_type(DataType::Float32)
        .dimension(spec.dimension as i32)
        .distance_metric(metric)
        .metadata_configuration(config.build()?)
        .set_tags(Some(tags(ctx)))
        .send()
        .await;
    match created {
        Ok(_) => Ok(true),
        Err(e) if is(&e, &["ConflictException"]) => Ok(false),
        Err(e) => bail!(
            "failed to create vector index {}: {}",
            ctx.names.index,
            describe(&e)
        ),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn current(dimension: u32, metric: &str, keys: &[&str]) -> Current {
        Current {
            dimension,
            metric: metric.into(),
            non_filterable: keys.iter().map(|k| k.to_string()).collect(),
        }
    }

    #[test]
    fn an_index_is_kept_warned_about_or_refused() {
        let spec = IndexSpec {
            dimension: 384,
            metric: Metric::Cosine,
        };
        assert_eq!(
            check(&current(384, "cosine", &NON_FILTERABLE_KEYS), spec),
            Ok(vec![])
        );
        assert_eq!(
            check(&current(384, "cosine", &[]), spec),
            Ok(NON_FILTERABLE_KEYS.to_vec())
        );
        let refused = check(&current(768, "cosine", &[]), spec).unwrap_err();
        assert!(refused.contains("dimension 768"), "{refused}");
        assert!(check(&current(384, "euclidean", &[]), spec).is_err());
    }
}
