//! The usage plan bound to the stage (throttle, quota) and its key. Plans with API stages
//! cannot be deleted, so stages are removed first; UpdateUsagePlan is 1 per 20 s per account.

use crate::aws_error::{describe, is, is_not_found, with_quota_retry};
use crate::context::Ctx;
use crate::ownership::{Kind, Seen};
use crate::resources::{Gone, NEW, QUOTA_BUDGET};
use anyhow::{anyhow, bail};
use aws_sdk_apigateway::types::{
    ApiStage, Op, PatchOperation, QuotaPeriodType, QuotaSettings, ThrottleSettings, UsagePlan,
};

/// The desired limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Requests per month.
    pub quota: i32,
    /// Steady rate per second.
    pub rate: f64,
    /// Burst.
    pub burst: i32,
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

/// The stack's own plans among `plans`.
fn owned_of(ctx: &Ctx, plans: Vec<UsagePlan>) -> Vec<UsagePlan> {
    plans
        .into_iter()
        .filter(|p| crate::ownership::owned(ctx, p.tags()))
        .collect()
}

/// The stack's own plans (same-named plans without its tags are never touched).
pub async fn find_owned(ctx: &Ctx) -> anyhow::Result<Vec<UsagePlan>> {
    Ok(owned_of(ctx, find(ctx).await?))
}

/// The plans with the stack's name, judged by their tags.
pub async fn seen(ctx: &Ctx) -> anyhow::Result<Vec<Seen>> {
    Ok(find(ctx)
        .await?
        .iter()
        .map(|p| {
            Seen::new(
                ctx,
                Kind::UsagePlan,
                &ctx.names.usage_plan,
                p.id(),
                p.tags(),
            )
        })
        .collect())
}

/// Tags plan `id` as the stack's.
pub async fn tag(ctx: &Ctx, id: &str) -> anyhow::Result<()> {
    crate::resources::rest_api::tag_path(ctx, &format!("/usageplans/{id}")).await
}

fn stage_value(s: &ApiStage) -> String {
    format!("{}:{}", s.api_id().unwrap_or(""), s.stage().unwrap_or(""))
}

/// Deletes one plan: its stages first.
pub async fn delete_one(ctx: &Ctx, plan: &UsagePlan, why: &str) -> anyhow::Result<()> {
    let Some(id) = plan.id() else { return Ok(()) };
    if !ctx.change(
        "delete",
        format!("usage plan {} ({id})", ctx.names.usage_plan),
        why,
    ) {
        return Ok(());
    }
    let ops: Vec<PatchOperation> = plan
        .api_stages()
        .iter()
        .map(|s| {
            PatchOperation::builder()
                .op(Op::Remove)
                .path("/apiStages")
                .value(stage_value(s))
                .build()
        })
        .collect();
    if !ops.is_empty() {
        let removed = with_quota_retry(QUOTA_BUDGET, || {
            ctx.apigw
                .update_usage_plan()
                .usage_plan_id(id)
                .set_patch_operations(Some(ops.clone()))
                .send()
        })
        .await;
        match removed {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => return Ok(()),
            Err(e) => bail!(
                "failed to remove the stages of usage plan {id}: {}",
                describe(&e)
            ),
        }
    }
    match ctx.apigw.delete_usage_plan().usage_plan_id(id).send().await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => bail!("failed to delete usage plan {id}: {}", describe(&e)),
    }
}

/// Converges the plan and its key.
pub async fn ensure(ctx: &Ctx, api_id: &str, key_id: &str, limits: Limits) -> anyhow::Result<()> {
    let label = format!("usage plan {}", ctx.names.usage_plan);
    let stage = format!("{api_id}:{}", ctx.names.stage);
    let detail = format!(
        "(stage {stage}, {}/MONTH, rate {}, burst {})",
        limits.quota, limits.rate, limits.burst
    );
    let all = find(ctx).await?;
    let foreign = all.first().and_then(|p| p.id()).map(str::to_string);
    let mut found = owned_of(ctx, all);
    if let (true, Some(foreign)) = (found.is_empty(), foreign) {
        bail!(
            "{label} ({foreign}) exists without this stack's tags\nhint: run `deployer up --adopt` to take it over"
        );
    }
    let plan_id = match found.first() {
        None => {
            if !ctx.change("create", &label, detail) {
                ctx.change(
                    "create",
                    format!("usage plan key {}", ctx.names.api_key),
                    "",
                );
                return Ok(());
            }
            let mut req = ctx
                .apigw
                .create_usage_plan()
                .name(&ctx.names.usage_plan)
                .api_stages(
                    ApiStage::builder()
                        .api_id(api_id)
                        .stage(&ctx.names.stage)
                        .build(),
                )
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
                );
            for (k, v) in ctx.tags() {
                req = req.tags(k, v);
            }
            req.send()
                .await
                .map_err(|e| anyhow!("failed to create {label}: {}", describe(&e)))?;
            // List again so concurrent runs settle on the same keeper.
            found = find_owned(ctx).await?;
            let keeper = found
                .first()
                .and_then(|p| p.id())
                .map(str::to_string)
                .ok_or_else(|| anyhow!(Gone(label.clone())))?;
            for extra in found.iter().skip(1) {
                delete_one(ctx, extra, "(duplicate)").await?;
            }
            keeper
        }
        Some(plan) => {
            let id = plan.id().unwrap_or_default().to_string();
            for extra in found.iter().skip(1) {
                delete_one(ctx, extra, "(duplicate)").await?;
            }
            let mut ops = Vec::new();
            let mut diffs = Vec::new();
            let stages: Vec<String> = plan.api_stages().iter().map(stage_value).collect();
            for s in stages.iter().filter(|s| **s != stage) {
                diffs.push(format!("remove stage {s}"));
                ops.push(
                    PatchOperation::builder()
                        .op(Op::Remove)
                        .path("/apiStages")
                        .value(s)
                        .build(),
                );
            }
            if !stages.contains(&stage) && api_id != NEW {
                diffs.push(format!("add stage {stage}"));
                ops.push(
                    PatchOperation::builder()
                        .op(Op::Add)
                        .path("/apiStages")
                        .value(&stage)
                        .build(),
                );
            }
            let throttle = plan.throttle();
            if throttle.map(|t| t.rate_limit()) != Some(limits.rate) {
                diffs.push(format!(
                    "rate: {:?} -> {}",
                    throttle.map(|t| t.rate_limit()),
                    limits.rate
                ));
                ops.push(
                    PatchOperation::builder()
                        .op(Op::Replace)
                        .path("/throttle/rateLimit")
                        .value(limits.rate.to_string())
                        .build(),
                );
            }
            if throttle.map(|t| t.burst_limit()) != Some(limits.burst) {
                diffs.push(format!(
                    "burst: {:?} -> {}",
                    throttle.map(|t| t.burst_limit()),
                    limits.burst
                ));
                ops.push(
                    PatchOperation::builder()
                        .op(Op::Replace)
                        .path("/throttle/burstLimit")
                        .value(limits.burst.to_string())
                        .build(),
                );
            }
            let quota = plan.quota();
            if quota.map(|q| q.limit()) != Some(limits.quota)
                || quota.and_then(|q| q.period()) != Some(&QuotaPeriodType::Month)
            {
                diffs.push(format!(
                    "quota: {:?} -> {}/MONTH",
                    quota.map(|q| q.limit()),
                    limits.quota
                ));
                ops.push(
                    PatchOperation::builder()
                        .op(Op::Replace)
                        .path("/quota/limit")
                        .value(limits.quota.to_string())
                        .build(),
                );
                ops.push(
                    PatchOperation::builder()
                        .op(Op::Replace)
                        .path("/quota/period")
                        .value("MONTH")
                        .build(),
                );
            }
            if !ops.is_empty() && ctx.change("update", &label, diffs.join("; ")) {
                let updated = with_quota_retry(QUOTA_BUDGET, || {
                    ctx.apigw
                        .update_usage_plan()
                        .usage_plan_id(&id)
                        .set_patch_operations(Some(ops.clone()))
                        .send()
                })
                .await;
                match updated {
                    Ok(_) => {}
                    Err(e) if is_not_found(&e) => return Err(anyhow!(Gone(label.clone()))),
                    Err(e) => bail!("failed to update {label}: {}", describe(&e)),
                }
            }
            id
        }
    };
    if key_id == NEW {
        ctx.change(
            "create",
            format!("usage plan key {}", ctx.names.api_key),
            "",
        );
        return Ok(());
    }
    let keys = match ctx
        .apigw
        .get_usage_plan_keys()
        .usage_plan_id(&plan_id)
        .limit(500)
        .send()
        .await
    {
        Ok(out) => out.items.unwrap_or_default(),
        Err(e) if is_not_found(&e) && ctx.dry_run => Vec::new(),
        Err(e) if is_not_found(&e) => return Err(anyhow!(Gone(label.clone()))),
        Err(e) => bail!("failed to read the keys of {label}: {}", describe(&e)),
    };
    if !keys.iter().any(|k| k.id() == Some(key_id))
        && ctx.change(
            "create",
            format!("usage plan key {}", ctx.names.api_key),
            format!("({key_id} in {plan_id})"),
        )
    {
        match ctx
            .apigw
            .create_usage_plan_key()
            .usage_plan_id(&plan_id)
            .key_id(key_id)
            .key_type("API_KEY")
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if is(&e, &["ConflictException"]) => {}
            Err(e) if is_not_found(&e) => return Err(anyhow!(Gone(label.clone()))),
            Err(e) => bail!("failed to add the api key to {label}: {}", describe(&e)),
        }
    }
    Ok(())
}
