//! Blue/green `reindex --into NEW`: the stack's steps around the copy, which runs through the
//! deployed API (`POST /documents/reindex {"copy": …}`, see the function's `mirror` module).
//!
//! 1. [`start`]: NEW is created like the stack's index (metric, mode; `text` non-filterable;
//!    the new model's dimension), tagged as the stack's and with the endpoint whose vectors
//!    fill it ([`MODEL_TAG`]); the function's role may use both indexes (and both endpoints,
//!    for a model change); the function gets `MIRROR_INDEX=NEW` (and `MIRROR_ENDPOINT`,
//!    `MIRROR_DIMENSION` for a model change), so every write by id is copied to NEW before it
//!    is answered. The caller then waits out the function's timeout: a write that began
//!    before the mirror was set finishes before the copy starts.
//! 2. The copy (the caller): every document of the index, then what NEW holds that the index
//!    does not.
//! 3. [`switch`]: the function gets `INDEX_NAME=NEW` (with the new model's endpoint and
//!    dimension) and no mirror in one configuration update; the role is narrowed to NEW. The
//!    old index is kept (with its vectors) unless [`drop_index`] is asked for.
//!
//! Every step is idempotent: a run stopped anywhere is finished by running it again.

use crate::context::Ctx;
use crate::resources::{Applier, Change, function, role, vector_store};
use anyhow::bail;

/// The tag naming the endpoint whose vectors fill an index made by `reindex --into`: an index
/// is never filled with two models.
pub const MODEL_TAG: &str = "embedding-endpoint";

/// The model an index's vectors come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    /// The SageMaker endpoint serving it.
    pub endpoint: String,
    /// Its vectors' dimension.
    pub dimension: u32,
}

impl Model {
    /// Whether filling an index with `self` while `serving` embeds is a model change (its
    /// vectors are embedded again rather than copied).
    pub fn changes(&self, serving: &Model) -> bool {
        self.endpoint != serving.endpoint
    }
}

/// What the deployed function says about the stack.
#[derive(Debug, Clone, PartialEq)]
pub struct Deployed {
    /// `INDEX_NAME`: the index it serves.
    pub index: String,
    /// `MIRROR_INDEX`: the index a copy is filling, if any.
    pub mirror: Option<String>,
    /// `SAGEMAKER_ENDPOINT` and `EMBEDDING_DIMENSION`: the model it embeds with.
    pub model: Model,
    /// Its timeout, seconds.
    pub timeout: u64,
}

/// Reads the deployed function's configuration.
pub async fn deployed(ctx: &Ctx) -> anyhow::Result<Deployed> {
    let Some((env, timeout)) = function::deployed_env(ctx).await? else {
        bail!(
            "lambda function {} does not exist\nhint: run `deployer up` first",
            ctx.names.function
        );
    };
    let var = |k: &str| env.get(k).filter(|v| !v.trim().is_empty()).cloned();
    Ok(Deployed {
        index: var("INDEX_NAME").unwrap_or_else(|| shared::names::DEFAULT_INDEX.to_string()),
        mirror: var("MIRROR_INDEX"),
        model: Model {
            endpoint: var("SAGEMAKER_ENDPOINT").unwrap_or_default(),
            dimension: var("EMBEDDING_DIMENSION")
                .and_then(|d| d.parse().ok())
                .unwrap_or(shared::names::DEFAULT_DIMENSION),
        },
        timeout: u64::try_from(timeout).unwrap_or(3),
    })
}

/// The function's mirror variables for filling an index with `into` while `serving` embeds:
/// the endpoint and dimension only for a model change (else the vectors are copied).
pub fn mirror_env(
    index: &str,
    serving: &Model,
    into: &Model,
) -> [(&'static str, Option<String>); 3] {
    let change = into.changes(serving);
    [
        ("MIRROR_INDEX", Some(index.to_string())),
        ("MIRROR_ENDPOINT", change.then(|| into.endpoint.clone())),
        (
            "MIRROR_DIMENSION",
            change.then(|| into.dimension.to_string()),
        ),
    ]
}

/// Step 1: creates `new`'s index like `old`'s (with `into`'s dimension), lets the role use
/// both (and `into`'s endpoint), sets the mirror. `old` has `mirror_index` (and, for a model
/// change, `mirror_endpoint`) set. Returns the changes made.
pub async fn start(
    old: &Ctx,
    new: &Ctx,
    serving: &Model,
    into: &Model,
) -> anyhow::Result<Vec<Change>> {
    let Some(spec) = vector_store::spec_of(old).await? else {
        bail!(
            "vector index {} (the one the function uses) does not exist\nhint: run `deployer up`",
            old.names.index
        );
    };
    let spec = vector_store::IndexSpec {
        dimension: into.dimension,
        ..spec
    };
    let a_new = Applier::for_stack(new);
    let copied = !into.changes(serving);
    vector_store::ensure_index(&a_new, spec, (MODEL_TAG, &into.endpoint), copied).await?;
    let a_old = Applier::for_stack(old);
    let role = role::plan(old, &serving.endpoint).await?;
    role::apply(&a_old, &role).await?;
    let env = mirror_env(&new.names.index, serving, into);
    let edits: Vec<(&str, Option<&str>)> = env.iter().map(|(k, v)| (*k, v.as_deref())).collect();
    function::set_env(&a_old, &edits).await?;
    Ok([a_new.made(), a_old.made()].concat())
}

/// Step 3: the function serves `new`'s index with `model`, with no mirror; the role is
/// narrowed to them.
pub async fn switch(new: &Ctx, model: &Model) -> anyhow::Result<Vec<Change>> {
    let a = Applier::for_stack(new);
    let dimension = model.dimension.to_string();
    function::set_env(
        &a,
        &[
            ("INDEX_NAME", Some(new.names.index.as_str())),
            ("SAGEMAKER_ENDPOINT", Some(model.endpoint.as_str())),
            ("EMBEDDING_DIMENSION", Some(dimension.as_str())),
            ("MIRROR_INDEX", None),
            ("MIRROR_ENDPOINT", None),
            ("MIRROR_DIMENSION", None),
        ],
    )
    .await?;
    let role = role::plan(new, &model.endpoint).await?;
    role::apply(&a, &role).await?;
    Ok(a.made())
}

/// Deletes `old`'s index and its vectors (`--drop-old`, asked for by name).
pub async fn drop_index(old: &Ctx) -> anyhow::Result<Vec<Change>> {
    let a = Applier::for_stack(old);
    vector_store::delete_index(&a).await?;
    Ok(a.made())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_model_change_names_the_mirror_endpoint() {
        let minilm = Model {
            endpoint: "e".into(),
            dimension: 384,
        };
        let other = Model {
            endpoint: "e2".into(),
            dimension: 256,
        };
        assert_eq!(
            mirror_env("v2", &minilm, &minilm),
            [
                ("MIRROR_INDEX", Some("v2".to_string())),
                ("MIRROR_ENDPOINT", None),
                ("MIRROR_DIMENSION", None)
            ]
        );
        assert_eq!(
            mirror_env("v2", &minilm, &other),
            [
                ("MIRROR_INDEX", Some("v2".to_string())),
                ("MIRROR_ENDPOINT", Some("e2".to_string())),
                ("MIRROR_DIMENSION", Some("256".to_string()))
            ]
        );
    }
}
