//! The vector index (float32, dimension, metric, `text` non-filterable): created when
//! missing; an existing one is [`check`]ed and never replaced.

use super::access_hint;
use crate::aws_error::{describe, is, is_not_found};
use crate::context::Ctx;
use crate::model::{IndexMode, Metric};
use crate::resources::{Action, Applier, Change, tags};
use anyhow::{anyhow, bail};
use aws_sdk_s3vectors::types::{DataType, DistanceMetric, MetadataConfiguration};
use shared::metadata::NON_FILTERABLE_KEYS;

/// The desired index.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IndexSpec {
    /// Vector dimension.
    pub dimension: u32,
    /// Distance metric.
    pub metric: Metric,
    /// Index mode (`None`: whatever the bucket gives a new index).
    pub mode: Option<IndexMode>,
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
    /// Its mode (`CLASSIC`, `ENHANCED`).
    pub mode: Option<String>,
}

/// The mode to switch an existing index to, if `spec` asks for another one.
pub fn mode_change(current: &Current, spec: IndexSpec) -> Option<IndexMode> {
    spec.mode
        .filter(|want| current.mode.as_deref() != Some(want.as_str()))
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
        mode: index.index_mode.map(|m| m.as_str().to_string()),
    }))
}

/// What the index needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Edit {
    /// It is missing: create it.
    Create(IndexSpec),
    /// Switch its mode (`from` as read).
    Mode(Option<String>, IndexMode),
}

/// How the plan shows `edit`.
pub fn change(ctx: &Ctx, edit: &Edit) -> Change {
    let label = format!("vector index {}", ctx.names.index);
    match edit {
        Edit::Create(spec) => Change::new(Action::Create, label, detail(*spec)),
        Edit::Mode(from, to) => Change::new(
            Action::Update,
            label,
            format!(
                "mode: {} -> {}",
                from.as_deref().unwrap_or("unknown"),
                to.as_str()
            ),
        ),
    }
}

/// The spec of the stack's existing index (dimension, metric, mode): what a new index of a
/// blue/green `reindex --into` is created with. `None` when it does not exist.
pub async fn spec_of(ctx: &Ctx) -> anyhow::Result<Option<IndexSpec>> {
    let label = format!("vector index {}", ctx.names.index);
    let Some(current) = read(ctx, &label).await? else {
        return Ok(None);
    };
    let metric = match current.metric.as_str() {
        "euclidean" => Metric::Euclidean,
        _ => Metric::Cosine,
    };
    let mode = match current.mode.as_deref() {
        Some("CLASSIC") => Some(IndexMode::Classic),
        Some("ENHANCED") => Some(IndexMode::Enhanced),
        _ => None,
    };
    Ok(Some(IndexSpec {
        dimension: current.dimension,
        metric,
        mode,
    }))
}

/// The keys this stack declares non-filterable that the existing index does not (empty when
/// it does not exist).
pub async fn undeclared_non_filterable(ctx: &Ctx) -> anyhow::Result<Vec<&'static str>> {
    let label = format!("vector index {}", ctx.names.index);
    Ok(match read(ctx, &label).await? {
        Some(current) => NON_FILTERABLE_KEYS
            .iter()
            .copied()
            .filter(|k| !current.non_filterable.iter().any(|n| n == k))
            .collect(),
        None => Vec::new(),
    })
}

/// Reads the index (in an existing bucket) and diffs it with `spec`: an index `spec` cannot
/// use is an error (see [`check`]); what is worth knowing about it is warned about.
pub async fn plan(ctx: &Ctx, spec: IndexSpec) -> anyhow::Result<Option<Edit>> {
    let label = format!("vector index {}", ctx.names.index);
    match read(ctx, &label).await? {
        Some(current) => {
            let to = inspect(ctx, &label, &current, spec).await?;
            Ok(to.map(|to| Edit::Mode(current.mode.clone(), to)))
        }
        None => Ok(Some(Edit::Create(spec))),
    }
}

/// Checks an existing index against `spec`, warns about what cannot be changed, and returns
/// the mode to switch it to.
async fn inspect(
    ctx: &Ctx,
    label: &str,
    current: &Current,
    spec: IndexSpec,
) -> anyhow::Result<Option<IndexMode>> {
    let missing = check(current, spec).map_err(|e| anyhow!("{label} {e}"))?;
    for key in missing {
        ctx.printer.warn(&format!(
            "{label} does not declare `{key}` non-filterable (it cannot be changed after creation): chunks whose metadata exceeds 2 KB will be refused\nhint: `deployer reindex --into {}-v2` moves the documents to a new index that declares it",
            ctx.names.index
        ));
    }
    let change = mode_change(current, spec);
    if change.is_none() && spec.mode.is_none() && current.mode.as_deref() == Some("CLASSIC") {
        ctx.printer.warn(&format!(
            "{label} is CLASSIC: filters apply during the search (fewer than k hits with a selective filter) and `$startsWith` is refused\nhint: `deployer up --index-mode enhanced` switches it in place (no re-ingestion, no charge)"
        ));
    }
    super::warn_unmarked(ctx, label).await;
    Ok(change)
}

/// Makes `edit`: a created index is read again (another run may have created it with other
/// settings) and switched to the mode `spec` asks for.
pub async fn apply(a: &Applier<'_>, edit: &Edit) -> anyhow::Result<()> {
    let label = format!("vector index {}", a.names.index);
    let spec = match edit {
        Edit::Mode(from, to) => return switch_mode(a, &label, from.clone(), *to).await,
        Edit::Create(spec) => *spec,
    };
    for _ in 0..3 {
        if let Some(current) = read(a, &label).await? {
            if let Some(to) = inspect(a, &label, &current, spec).await? {
                switch_mode(a, &label, current.mode.clone(), to).await?;
            }
            return Ok(());
        }
        a.made_now(change(a, edit));
        // Created (or created meanwhile by another run): read it again, set its mode.
        create(a, spec).await?;
    }
    bail!("{label} changed while it was being created; run the command again")
}

/// Switches the index to `mode`.
async fn switch_mode(
    a: &Applier<'_>,
    label: &str,
    from: Option<String>,
    mode: IndexMode,
) -> anyhow::Result<()> {
    a.made_now(change(a, &Edit::Mode(from, mode)));
    a.s3v
        .update_index_mode()
        .vector_bucket_name(&a.names.bucket)
        .index_name(&a.names.index)
        .index_mode(aws_sdk_s3vectors::types::IndexMode::from(mode.as_str()))
        .send()
        .await
        .map_err(|e| {
            let hint = match mode {
                IndexMode::Classic => "\nhint: CLASSIC is only possible for indexes in buckets created before 2026-09-30",
                IndexMode::Enhanced => "",
            };
            anyhow!("failed to switch {label} to {}: {}{hint}", mode.as_str(), describe(&e))
        })?;
    Ok(())
}

/// Creates the index (another run creating it meanwhile is fine).
async fn create(a: &Applier<'_>, spec: IndexSpec) -> anyhow::Result<()> {
    let ctx: &Ctx = a;
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
        Ok(_) => Ok(()),
        Err(e) if is(&e, &["ConflictException"]) => Ok(()),
        Err(e) => bail!(
            "failed to create vector index {}: {}",
            ctx.names.index,
            describe(&e)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn current(dimension: u32, metric: &str, keys: &[&str]) -> Current {
        Current {
            dimension,
            metric: metric.into(),
            non_filterable: keys.iter().map(|k| k.to_string()).collect(),
            mode: Some("CLASSIC".into()),
        }
    }

    #[test]
    fn a_mode_is_changed_only_when_asked_for_and_different() {
        let mut spec = IndexSpec {
            dimension: 384,
            metric: Metric::Cosine,
            mode: None,
        };
        let classic = current(384, "cosine", &[]);
        assert_eq!(mode_change(&classic, spec), None);
        spec.mode = Some(IndexMode::Enhanced);
        assert_eq!(mode_change(&classic, spec), Some(IndexMode::Enhanced));
        spec.mode = Some(IndexMode::Classic);
        assert_eq!(mode_change(&classic, spec), None);
    }

    #[test]
    fn an_index_is_kept_warned_about_or_refused() {
        let spec = IndexSpec {
            dimension: 384,
            metric: Metric::Cosine,
            mode: None,
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
