//! A usage plan bound to one [`Surface`]'s stage (throttle, quota) and its key: a key reaches
//! only the stages of the plans that hold it. Plans with API stages
//! cannot be deleted, so stages are removed first; UpdateUsagePlan is 1 per 20 s per account.
//! Read (by name, owned only) → [`diff`] (typed [`Edit`]s) → apply as one UpdateUsagePlan.

use crate::aws_error::{describe, is, is_not_found, with_quota_retry};
use crate::context::Ctx;
use crate::ownership::{Kind, Seen};
use crate::resources::apigw::Surface;
use crate::resources::{
    Action, Applier, Change, Gone, Planned, QUOTA_BUDGET, Resource, joined, tags,
};
use anyhow::{anyhow, bail};
use aws_sdk_apigateway::types::{
    ApiStage, PatchOperation, QuotaPeriodType, QuotaSettings, ThrottleSettings, UsagePlan,
};

mod diff;
pub use diff::{Current, Edit, Limits, diff};

/// The usage plan's entry in the stack's table.
pub const RESOURCE: Resource = Resource {
    kind: Kind::UsagePlan,
    holds_data: false,
    seen: |ctx| Box::pin(seen(ctx, Surface::Main)),
    tag: |a, id| Box::pin(tag(a, id)),
    delete: |a, id| Box::pin(delete_by_id(a, Surface::Main, id)),
};

/// The search-only key's usage plan's entry in the stack's table.
pub const SEARCH_RESOURCE: Resource = Resource {
    kind: Kind::SearchUsagePlan,
    holds_data: false,
    seen: |ctx| Box::pin(seen(ctx, Surface::Search)),
    tag: |a, id| Box::pin(tag(a, id)),
    delete: |a, id| Box::pin(delete_by_id(a, Surface::Search, id)),
};

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

/// Plans named like `surface`'s, oldest first (plans have no creation date: by id).
pub async fn find(ctx: &Ctx, surface: Surface) -> anyhow::Result<Vec<UsagePlan>> {
    let name = surface.usage_plan(&ctx.names);
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
        .filter(|p| p.name() == Some(name))
        .collect();
    all.sort_by(|a, b| a.id().cmp(&b.id()));
    Ok(all)
}

/// The stack's own plans (same-named plans without its tags are never touched).
pub async fn find_owned(ctx: &Ctx, surface: Surface) -> anyhow::Result<Vec<UsagePlan>> {
    Ok(find(ctx, surface)
        .await?
        .into_iter()
        .filter(|p| crate::ownership::owned(ctx, p.tags()))
        .collect())
}

/// The plans with `surface`'s name, judged by their tags.
pub async fn seen(ctx: &Ctx, surface: Surface) -> anyhow::Result<Vec<Seen>> {
    let name = surface.usage_plan(&ctx.names);
    Ok(find(ctx, surface)
        .await?
        .iter()
        .map(|p| Seen::new(ctx, surface.kinds()[2], name, p.id(), p.tags()))
        .collect())
}

/// Tags plan `id` as the stack's.
pub async fn tag(a: &Applier<'_>, id: &str) -> anyhow::Result<()> {
    crate::resources::apigw::tag_path(a, &format!("/usageplans/{id}")).await
}

async fn update(a: &Applier<'_>, id: &str, ops: Vec<PatchOperation>) -> anyhow::Result<()> {
    let updated = with_quota_retry(QUOTA_BUDGET, || {
        a.apigw
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

/// Deletes plan `id` (`down`): read for its stages, which go first.
pub async fn delete_by_id(a: &Applier<'_>, surface: Surface, id: &str) -> anyhow::Result<()> {
    match a.apigw.get_usage_plan().usage_plan_id(id).send().await {
        Ok(out) => {
            let plan = UsagePlan::builder()
                .id(id)
                .set_api_stages(out.api_stages)
                .build();
            delete_one(a, surface, &plan, "").await
        }
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => bail!("failed to read usage plan {id}: {}", describe(&e)),
    }
}

/// Deletes one plan: its stages first.
pub async fn delete_one(
    a: &Applier<'_>,
    surface: Surface,
    plan: &UsagePlan,
    why: &str,
) -> anyhow::Result<()> {
    let Some(id) = plan.id() else { return Ok(()) };
    let label = format!("usage plan {} ({id})", surface.usage_plan(&a.names));
    a.record(Action::Delete, label, why);
    let ops: Vec<PatchOperation> = current(plan)
        .stages
        .into_iter()
        .flat_map(|s| Edit::RemoveStage(s).patches())
        .collect();
    if !ops.is_empty() {
        match update(a, id, ops).await {
            Err(e) if crate::resources::is_gone(&e) => return Ok(()),
            other => other?,
        }
    }
    match a.apigw.delete_usage_plan().usage_plan_id(id).send().await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => bail!("failed to delete usage plan {id}: {}", describe(&e)),
    }
}

/// What the usage plan itself needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// The stack has none: create it.
    Create,
    /// Keep this one (the oldest the stack owns), delete the stack's others, make `edits`.
    Keep {
        /// The keeper's id.
        id: String,
        /// The stack's duplicates.
        duplicates: Vec<UsagePlan>,
        /// Its edits.
        edits: Vec<Edit>,
    },
}

/// The usage plan's plan: for API `api`'s stage and key `key`, with `limits`.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Which of the stack's APIs (and keys).
    pub surface: Surface,
    /// The API whose stage it serves.
    pub api: Planned<String>,
    /// The key it holds.
    pub key: Planned<String>,
    /// Its limits.
    pub limits: Limits,
    /// The plan itself.
    pub step: Step,
    /// The key must be added (known only when plan and key both exist).
    pub add_key: bool,
}

/// Reads the stack's plans (those being adopted, `adopting`, count as its own) and its keys,
/// and diffs them with one serving `api`'s stage with `limits` and holding `key`.
pub async fn plan(
    ctx: &Ctx,
    surface: Surface,
    api: &Planned<String>,
    key: &Planned<String>,
    limits: Limits,
    adopting: &[String],
) -> anyhow::Result<Plan> {
    let label = format!("usage plan {}", surface.usage_plan(&ctx.names));
    let all = find(ctx, surface).await?;
    let foreign = all.first().and_then(|p| p.id()).map(str::to_string);
    let mut owned: Vec<UsagePlan> = all
        .into_iter()
        .filter(|p| {
            crate::ownership::owned(ctx, p.tags())
                || p.id().is_some_and(|id| adopting.iter().any(|a| a == id))
        })
        .collect();
    let step = if owned.is_empty() {
        if let Some(foreign) = foreign {
            bail!(
                "{label} ({foreign}) exists without this stack's tags\nhint: run `deployer up --adopt` to take it over"
            );
        }
        Step::Create
    } else {
        let keep = owned.remove(0);
        let stage = api
            .existing()
            .map(|api| format!("{api}:{}", ctx.names.stage));
        Step::Keep {
            id: keep.id().unwrap_or_default().to_string(),
            edits: diff(&current(&keep), stage.as_deref(), limits),
            duplicates: owned,
        }
    };
    let add_key = match (&step, key) {
        (Step::Keep { id, .. }, Planned::Existing(key_id)) => !has_key(ctx, id, key_id).await?,
        _ => true,
    };
    Ok(Plan {
        surface,
        api: api.clone(),
        key: key.clone(),
        limits,
        step,
        add_key,
    })
}

/// How the plan shows `plan`.
pub fn changes(ctx: &Ctx, plan: &Plan) -> Vec<Change> {
    let name = plan.surface.usage_plan(&ctx.names);
    let label = format!("usage plan {name}");
    let mut out = Vec::new();
    let plan_id = match &plan.step {
        Step::Create => {
            let limits = plan.limits;
            out.push(Change::new(
                Action::Create,
                &label,
                format!(
                    "(stage {}, {}/MONTH, rate {}, burst {})",
                    ctx.names.stage, limits.quota, limits.rate, limits.burst
                ),
            ));
            None
        }
        Step::Keep {
            id,
            duplicates,
            edits,
        } => {
            for extra in duplicates {
                let extra = extra.id().unwrap_or_default();
                out.push(Change::new(
                    Action::Delete,
                    format!("usage plan {name} ({extra})"),
                    "(duplicate)",
                ));
            }
            if !edits.is_empty() {
                out.push(Change::new(Action::Update, &label, joined(edits)));
            }
            Some(id)
        }
    };
    if plan.add_key {
        out.push(key_change(
            ctx,
            plan.surface,
            plan_id.map(String::as_str),
            plan.key.existing().map(String::as_str),
        ));
    }
    out
}

fn key_change(ctx: &Ctx, surface: Surface, plan_id: Option<&str>, key_id: Option<&str>) -> Change {
    let label = format!("usage plan key {}", surface.key(&ctx.names));
    let detail = match (plan_id, key_id) {
        (Some(plan_id), Some(key_id)) => format!("({key_id} in {plan_id})"),
        _ => String::new(),
    };
    Change::new(Action::Create, label, detail)
}

/// Makes the plan for API `api_id` and key `key_id`: planned for others (or for ones still to
/// be created), the plans are read and diffed again first.
pub async fn apply(a: &Applier<'_>, plan: &Plan, api_id: &str, key_id: &str) -> anyhow::Result<()> {
    let (api, key) = (
        Planned::Existing(api_id.to_string()),
        Planned::Existing(key_id.to_string()),
    );
    let replanned;
    let plan = if plan.api == api && plan.key == key {
        plan
    } else {
        replanned = self::plan(a, plan.surface, &api, &key, plan.limits, &[]).await?;
        &replanned
    };
    let plan_id = match &plan.step {
        Step::Create => create(a, plan.surface, api_id, plan.limits).await?,
        Step::Keep {
            id,
            duplicates,
            edits,
        } => {
            for extra in duplicates {
                delete_one(a, plan.surface, extra, "(duplicate)").await?;
            }
            if !edits.is_empty() {
                let label = format!("usage plan {}", plan.surface.usage_plan(&a.names));
                a.record(Action::Update, &label, joined(edits));
                update(a, id, edits.iter().flat_map(Edit::patches).collect()).await?;
            }
            id.clone()
        }
    };
    add_key(a, plan.surface, &plan_id, key_id).await
}

async fn create(
    a: &Applier<'_>,
    surface: Surface,
    api_id: &str,
    limits: Limits,
) -> anyhow::Result<String> {
    let name = surface.usage_plan(&a.names);
    let label = format!("usage plan {name}");
    let detail = format!(
        "(stage {}, {}/MONTH, rate {}, burst {})",
        a.names.stage, limits.quota, limits.rate, limits.burst
    );
    a.record(Action::Create, &label, detail);
    a.apigw
        .create_usage_plan()
        .name(name)
        .api_stages(
            ApiStage::builder()
                .api_id(api_id)
                .stage(&a.names.stage)
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
        )
        .set_tags(Some(tags(a)))
        .send()
        .await
        .map_err(|e| anyhow!("failed to create {label}: {}", describe(&e)))?;
    // List again so concurrent runs settle on the same keeper.
    let found = find_owned(a, surface).await?;
    for extra in found.iter().skip(1) {
        delete_one(a, surface, extra, "(duplicate)").await?;
    }
    found
        .first()
        .and_then(|p| p.id())
        .map(str::to_string)
        .ok_or_else(|| anyhow!(Gone(label)))
}

/// Whether plan `plan_id` holds key `key_id`. A plan that vanished is [`Gone`].
async fn has_key(ctx: &Ctx, plan_id: &str, key_id: &str) -> anyhow::Result<bool> {
    let keys = match ctx
        .apigw
        .get_usage_plan_keys()
        .usage_plan_id(plan_id)
        .limit(500)
        .send()
        .await
    {
        Ok(out) => out.items.unwrap_or_default(),
        Err(e) if is_not_found(&e) => return Err(anyhow!(Gone(format!("usage plan {plan_id}")))),
        Err(e) => bail!(
            "failed to read the keys of usage plan {plan_id}: {}",
            describe(&e)
        ),
    };
    Ok(keys.iter().any(|k| k.id() == Some(key_id)))
}

/// Adds key `key_id` to plan `plan_id` unless it holds it.
async fn add_key(
    a: &Applier<'_>,
    surface: Surface,
    plan_id: &str,
    key_id: &str,
) -> anyhow::Result<()> {
    if has_key(a, plan_id, key_id).await? {
        return Ok(());
    }
    a.made_now(key_change(a, surface, Some(plan_id), Some(key_id)));
    match a
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
        Err(e) if is_not_found(&e) => Err(anyhow!(Gone(format!("usage plan {plan_id}")))),
        Err(e) => bail!(
            "failed to add the api key to usage plan {plan_id}: {}",
            describe(&e)
        ),
    }
}
