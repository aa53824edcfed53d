//! Blue/green `reindex --into NEW`: the stack's steps around the copy, which runs through the
//! deployed API (`POST /documents/reindex {"copy": …}`, see the function's `mirror` module).
//!
//! 1. [`start`]: NEW is created like the stack's index (dimension, metric, mode; `text`
//!    non-filterable), tagged as the stack's; the function's role may use both indexes; the
//!    function gets `MIRROR_INDEX=NEW`, so every write by id is copied to NEW before it is
//!    answered. The caller then waits out the function's timeout: a write that began before
//!    the mirror was set finishes before the copy starts.
//! 2. The copy (the caller): every document of the index, then what NEW holds that the index
//!    does not.
//! 3. [`switch`]: the function gets `INDEX_NAME=NEW` and no mirror in one configuration update;
//!    the role is narrowed to NEW. The old index is kept (with its vectors) unless
//!    [`drop_index`] is asked for.
//!
//! Every step is idempotent: a run stopped anywhere is finished by running it again.

use crate::context::Ctx;
use crate::resources::{Applier, Change, function, role, vector_store};
use anyhow::bail;

/// What the deployed function says about the stack.
#[derive(Debug, Clone, PartialEq)]
pub struct Deployed {
    /// `INDEX_NAME`: the index it serves.
    pub index: String,
    /// `MIRROR_INDEX`: the index a copy is filling, if any.
    pub mirror: Option<String>,
    /// `SAGEMAKER_ENDPOINT`: the endpoint its role may invoke.
    pub endpoint: String,
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
        endpoint: var("SAGEMAKER_ENDPOINT").unwrap_or_default(),
        timeout: u64::try_from(timeout).unwrap_or(3),
    })
}

/// Step 1: creates `new`'s index like `old`'s, lets the role use both, sets the mirror.
/// `old` has `mirror_index` set to the new index. Returns the changes made.
pub async fn start(old: &Ctx, new: &Ctx, endpoint: &str) -> anyhow::Result<Vec<Change>> {
    let Some(spec) = vector_store::spec_of(old).await? else {
        bail!(
            "vector index {} (the one the function uses) does not exist\nhint: run `deployer up`",
            old.names.index
        );
    };
    let a_new = Applier::for_stack(new);
    vector_store::ensure_index(&a_new, spec).await?;
    let a_old = Applier::for_stack(old);
    let role = role::plan(old, endpoint).await?;
    role::apply(&a_old, &role).await?;
    function::set_env(&a_old, &[("MIRROR_INDEX", Some(new.names.index.as_str()))]).await?;
    Ok([a_new.made(), a_old.made()].concat())
}

/// Step 3: the function serves `new`'s index, with no mirror; the role is narrowed to it.
pub async fn switch(new: &Ctx, endpoint: &str) -> anyhow::Result<Vec<Change>> {
    let a = Applier::for_stack(new);
    function::set_env(
        &a,
        &[
            ("INDEX_NAME", Some(new.names.index.as_str())),
            ("MIRROR_INDEX", None),
        ],
    )
    .await?;
    let role = role::plan(new, endpoint).await?;
    role::apply(&a, &role).await?;
    Ok(a.made())
}

/// Deletes `old`'s index and its vectors (`--drop-old`, asked for by name).
pub async fn drop_index(old: &Ctx) -> anyhow::Result<Vec<Change>> {
    let a = Applier::for_stack(old);
    vector_store::delete_index(&a).await?;
    Ok(a.made())
}
