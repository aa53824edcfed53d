//! The only code that changes the stack: a [`Plan`] made in dependency order (independent
//! resources at once), and a [`Teardown`].

use super::{Plan, SearchPlan, SurfacePlan, Teardown, resource};
use crate::context::Ctx;
use crate::resources::{
    Action, Applier, Change, api_key, function, is_gone, log_group, permission, rest_api, role,
    usage_plan, vector_store,
};
use anyhow::bail;

/// Makes `plan`: adopts (tags) what it takes over, makes sure the permissions boundary
/// exists, then converges every resource; returns the changes made, in order.
pub async fn apply(ctx: &Ctx, plan: Plan) -> anyhow::Result<Vec<Change>> {
    let a = Applier::for_stack(ctx);
    for s in &plan.adopt {
        a.record(
            Action::Update,
            s.describe(),
            "tags: adopt into the stack (--adopt)",
        );
        let id = s.id.as_deref().unwrap_or(&s.name);
        if let Err(e) = (resource(s.kind)?.tag)(&a, id).await {
            bail!("failed to adopt {}: {e:#}", s.describe());
        }
    }
    if plan.boundary {
        role::apply_boundary(&a, &plan.spec.embedding_endpoint).await?;
    }
    let (_, _, role_arn) = tokio::try_join!(
        vector_store::apply(&a, &plan.vectors),
        async {
            match plan.log_group {
                Some(edit) => log_group::apply(&a, edit).await,
                None => Ok(()),
            }
        },
        role::apply(&a, &plan.role),
    )?;
    // The role the function was planned with is the one it gets (its ARN is known in advance).
    let mut function_plan = plan.function.clone();
    function_plan.spec.role_arn = role_arn;
    let function_arn = function::apply(&a, &function_plan, &plan.spec.code).await?;
    tokio::try_join!(apply_surface(&a, &plan.api, &function_arn), async {
        match &plan.search {
            SearchPlan::On(surface) => apply_surface(&a, surface, &function_arn).await,
            SearchPlan::Off { retire, permission } => {
                for s in retire {
                    let id = s.id.as_deref().unwrap_or(&s.name);
                    (resource(s.kind)?.delete)(&a, id).await?;
                }
                permission::remove(&a, permission).await
            }
        }
    },)?;
    Ok(a.made())
}

/// Makes one REST API's plan for the function `function_arn`: the API and its permissions,
/// the key, then the usage plan that binds them.
async fn apply_surface(
    a: &Applier<'_>,
    plan: &SurfacePlan,
    function_arn: &str,
) -> anyhow::Result<()> {
    let surface = plan.rest_api.surface;
    let mut rest_api_plan = plan.rest_api.clone();
    if rest_api_plan.function_arn != function_arn {
        // Planned for another ARN: the definition is read and diffed again.
        rest_api_plan.function_arn = function_arn.to_string();
        rest_api_plan.definition = None;
    }
    let (api_id, first_key) = tokio::try_join!(
        async {
            let api_id = rest_api::apply(a, &rest_api_plan).await?;
            permission::apply(a, &plan.permission, &api_id).await?;
            Ok::<_, anyhow::Error>(api_id)
        },
        api_key::apply(a, surface, &plan.api_key),
    )?;
    // A concurrent run may delete the duplicate key or plan this run picked: start over from
    // their listings.
    let mut key_id = first_key;
    let mut attempts = 0;
    loop {
        attempts += 1;
        match usage_plan::apply(a, &plan.usage_plan, &api_id, &key_id).await {
            Err(e) if is_gone(&e) && attempts < 4 => {
                let replanned = api_key::plan(a, surface, &[]).await?;
                key_id = api_key::apply(a, surface, &replanned).await?;
            }
            Err(e) => return Err(e),
            Ok(()) => return Ok(()),
        }
    }
}

/// Deletes what `teardown` lists, in its order; returns the deletions made.
pub async fn destroy(ctx: &Ctx, teardown: &Teardown) -> anyhow::Result<Vec<Change>> {
    let a = Applier::for_stack(ctx);
    for s in &teardown.delete {
        let id = s.id.as_deref().unwrap_or(&s.name);
        (resource(s.kind)?.delete)(&a, id).await?;
    }
    Ok(a.made())
}
