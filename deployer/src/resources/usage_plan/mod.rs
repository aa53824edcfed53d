//! The usage plan bound to the stage (throttle, quota) and its key. Plans with API stages
//! cannot be deleted, so stages are removed first; UpdateUsagePlan is 1 per 20 s per account.
//! Read (by name, owned only) → [`diff`] (typed [`Edit`]s) → apply as one UpdateUsagePlan.

use crate::aws_error::{describe, is, is_not_found, with_quota_retry};
use crate::context::Ctx;
use crate::ownership::{Kind, Seen};
use crate::resources::{Action, Gone, Planned, QUOTA_BUDGET, joined, tags};
use anyhow::{anyhow, bail};
use aws_sdk_apigateway::types::{
    ApiStage, PatchOperation, QuotaPeriodType, QuotaSettings, ThrottleSettings, UsagePlan,
};

mod diff;
pub use diff::{Current, Edit, Limits, diff};

fn stage_value(s: &ApiStage) -> String {
    format!("{}:{}", s.api_id().unwrap_or(""), s.stage().unwrap_or(""))
}

/// The settings [`diff`] compares, from a plan as read.
fn current(plan: &UsagePlan) -> Current {
    Current {
        stages: plan.api_stages().iter().map(stage_value).collect(),
        rate: plan.throttle().map(|t| t.rate_limit()),
        burst: plan.throttle().map(|t| t.burst_limit()),
        quota: plan.quota().map(|q| q.limit()),
        monthly: plan.quota().and_then(|q| q.period()) == Some(&QuotaPeriodType::Month),
    }
}

/// Plans named like the stack's, oldest first (plans have no creation date: by id).
pub async fn find(ctx: &Ctx) -> anyhow::Result<Vec<UsagePlan>> {
    let plans: Vec<UsagePlan> = ctx
        .apigw
        .get_usage_plans()
        .limit(500)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<_, _>>()
        .await
        .map_err(|e| anyhow!("failed to list usage plans: {}", describe(&e)))?;
    let mut all: Vec<UsagePlan> = plans
        .into_iter()
        .filter(|p| p.name() == Some(ctx.names.usage_plan.as_str()))
        .collect();
    all.sort_by(|a, b| a.id().cmp(&b.id()));
    Ok(all)
}

/// The stack's own plans (same-named plans without its tags are never touched).
pub async fn find_owned(ctx: &Ctx) -> anyhow::Result<Vec<UsagePlan>> {
    Ok(find(ctx)
        .await?
        .into_iter()
        .filter(|p| crate::ownership::owned(ctx, p.tags()))
        .collect())
}

/// The plans with the stack's name, judged by their tags.
pub async fn seen(ctx: &Ctx) -> anyhow::Result<Vec<Seen>> {
    let name = &ctx.names.usage_plan;
    Ok(find(ctx)
        .await?
        .iter()
        .map(|p| Seen::new(ctx, Kind::UsagePlan, name, p.id(), p.tags()))
        .collect())
}

/// Tags plan `id` as the stack's.
pub async fn tag(ctx: &Ctx, id: &str) -> anyhow::Result<()> {
    crate::resources::apigw::tag_path(ctx, &format!("/usageplans/{id}")).await
}

async fn update(ctx: &Ctx, id: &str, ops: Vec<PatchOperation>) -> anyhow::Result<()> {
    let updated = with_quota_retry(QUOTA_BUDGET, || {
        ctx.apigw
            .update_usage_plan()
            .usage_plan_id(id)
            .set_patch_operations(Some(ops.clone()))
            .send()
    })
    .await;
    match updated {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Err(anyhow!(Gone(format!("usage plan {id}")))),
        Err(e) => bail!("failed to update usage plan {id}: {}", describe(&e)),
    }
}

/// Deletes one plan: its stages first.
pub async fn delete_one(ctx: &Ctx, plan: &UsagePlan, why: &str) -> anyhow::Result<()> {
    let Some(id) = plan.id() else { return Ok(()) };
    let label = format!("usage plan {} ({id})", ctx.names.usage_plan);
    if !ctx.change(Action::Delete, label, why) {
        return Ok(());
    }
    let ops: Vec<PatchOperation> = current(plan)
        .stages
        .into_iter()
        .flat_map(|s| Edit::RemoveStage(s).patches())
        .collect();
    if !ops.is_empty() {
        match update(ctx, id, ops).await {
            Err(e) if crate::resources::is_gone(&e) => return Ok(()),
            other => other?,
        }
    }
    match ctx.apigw.delete_usage_plan().usage_plan_id(id).send().await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => bail!("failed to delete usage plan {id}: {}", describe(&e)),
    }
}

/// Converges the plan and its key.
pub async fn ensure(
    ctx: &Ctx,
    api_id: &Planned<String>,
    key_id: &Planned<String>,
    limits: Limits,
) -> anyhow::Result<()> {
    let plan_id = ensure_plan(ctx, api_id, limits).await?;
    ensure_key(ctx, &plan_id, key_id).await
}

async fn ensure_plan(
    ctx: &Ctx,
    api_id: &Planned<String>,
    limits: Limits,
) -> anyhow::Result<Planned<String>> {
    let label = format!("usage plan {}", ctx.names.usage_plan);
    let all = find(ctx).await?;
    let foreign = all.first().and_then(|p| p.id()).map(str::to_string);
    let owned: Vec<UsagePlan> = all
        .into_iter()
        .filter(|p| crate::ownership::owned(ctx, p.tags()))
        .collect();
    let Some(plan) = owned.first() else {
        if let Some(foreign) = foreign {
            bail!(
                "{label} ({foreign}) exists without this stack's tags\nhint: run `deployer up --adopt` to take it over"
            );
        }
        return create(ctx, api_id, limits).await;
    };
    for extra in owned.iter().skip(1) {
        delete_one(ctx, extra, "(duplicate)").await?;
    }
    let id = plan.id().unwrap_or_default().to_string();
    let stage = api_id
        .existing()
        .map(|api| format!("{api}:{}", ctx.names.stage));
    let edits = diff(&current(plan), stage.as_deref(), limits);
    if !edits.is_empty() && ctx.change(Action::Update, &label, joined(&edits)) {
        update(ctx, &id, edits.iter().flat_map(Edit::patches).collect()).await?;
    }
    Ok(Planned::Existing(id))
}

async fn create(
    ctx: &Ctx,
    api_id: &Planned<String>,
    limits: Limits,
) -> anyhow::Result<Planned<String>> {
    let label = format!("usage plan {}", ctx.names.usage_plan);
    let detail = format!(
        "(stage {}, {}/MONTH, rate {}, burst {})",
        ctx.names.stage, limits.quota, limits.rate, limits.burst
    );
    if !ctx.change(Action::Create, &label, detail) {
        return Ok(Planned::ToCreate);
    }
    let stages = api_id.existing().map(|api| {
        vec![
            ApiStage::builder()
                .api_id(api)
                .stage(&ctx.names.stage)
                .build(),
        ]
    });
    ctx.apigw
        .create_usage_plan()
        .name(&ctx.names.usage_plan)
        .set_api_stages(stages)
        .throttle(
            ThrottleSettings::builder()
                .rate_limit(limits.rate)
                .burst_limit(limits.burst)
                .build(),
        )
        .quota(
            QuotaSettings::builder()
                .limit(limits.quota)
                .period(QuotaPeriodType::Month)
                .build(),
        )
        .set_tags(Some(tags(ctx)))
        .send()
        .await
        .map_err(|e| anyhow!("failed to create {label}: {}", describe(&e)))?;
    // List again so concurrent runs settle on the same keeper.
    let found = find_owned(ctx).await?;
    for extra in found.iter().skip(1) {
        delete_one(ctx, extra, "(duplicate)").await?;
    }
    found
        .first()
        .and_then(|p| p.id())
        .map(|id| Planned::Existing(id.to_string()))
        .ok_or_else(|| anyhow!(Gone(label)))
}

async fn ensure_key(
    ctx: &Ctx,
    plan_id: &Planned<String>,
    key_id: &Planned<String>,
) -> anyhow::Result<()> {
    let label = format!("usage plan key {}", ctx.names.api_key);
    let (Planned::Existing(plan_id), Planned::Existing(key_id)) = (plan_id, key_id) else {
        ctx.change(Action::Create, label, "");
        return Ok(());
    };
    let gone = || anyhow!(Gone(format!("usage plan {plan_id}")));
    let keys = match ctx
        .apigw
        .get_usage_plan_keys()
        .usage_plan_id(plan_id)
        .limit(500)
        .send()
        .await
    {
        Ok(out) => out.items.unwrap_or_default(),
        Err(e) if is_not_found(&e) => return Err(gone()),
        Err(e) => bail!(
            "failed to read the keys of usage plan {plan_id}: {}",
            describe(&e)
        ),
    };
    if keys.iter().any(|k| k.id() == Some(key_id))
        || !ctx.change(Action::Create, label, format!("({key_id} in {plan_id})"))
    {
        return Ok(());
    }
    match ctx
        .apigw
        .create_usage_plan_key()
        .usage_plan_id(plan_id)
        .key_id(key_id)
        .key_type("API_KEY")
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is(&e, &["ConflictException"]) => Ok(()),
        Err(e) if is_not_found(&e) => Err(gone()),
        Err(e) => bail!(
            "failed to add the api key to usage plan {plan_id}: {}",
            describe(&e)
        ),
    }
}
