//! The API key. Key names are not unique in AWS: found by name, the stack's own duplicates
//! removed like the REST API's, untagged ones never touched. Its value is only ever printed by `output`, never logged.

use crate::aws_error::{describe, is_not_found};
use crate::context::Ctx;
use crate::ownership::{Kind, Seen};
use crate::resources::apigw::{self, Named};
use crate::resources::{Action, Applier, Change, Planned, Resource, tags};
use anyhow::{anyhow, bail};
use aws_sdk_apigateway::types::{Op, PatchOperation};

/// The API key's entry in the stack's table.
pub const RESOURCE: Resource = Resource {
    kind: Kind::ApiKey,
    holds_data: false,
    seen: |ctx| Box::pin(seen(ctx)),
    tag: |a, id| Box::pin(tag(a, id)),
    delete: |a, id| Box::pin(delete_one(a, id, "")),
};

/// Keys named like the stack's, oldest first.
pub async fn find(ctx: &Ctx) -> anyhow::Result<Vec<Named>> {
    let keys: Vec<aws_sdk_apigateway::types::ApiKey> = ctx
        .apigw
        .get_api_keys()
        .name_query(&ctx.names.api_key)
        .limit(500)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<_, _>>()
        .await
        .map_err(|e| anyhow!("failed to list API keys: {}", describe(&e)))?;
    let listed = keys.iter().map(|k| {
        let created = k.created_date().map_or(0, |d| d.secs());
        (k.name(), k.id(), created, k.enabled(), k.tags())
    });
    Ok(apigw::named(ctx, &ctx.names.api_key, listed))
}

/// The keys with the stack's name, judged by their tags.
pub async fn seen(ctx: &Ctx) -> anyhow::Result<Vec<Seen>> {
    Ok(apigw::seen(
        ctx,
        Kind::ApiKey,
        &ctx.names.api_key,
        &find(ctx).await?,
    ))
}

/// Tags key `id` as the stack's.
pub async fn tag(a: &Applier<'_>, id: &str) -> anyhow::Result<()> {
    apigw::tag_path(a, &format!("/apikeys/{id}")).await
}

/// Deletes one key.
pub async fn delete_one(a: &Applier<'_>, id: &str, why: &str) -> anyhow::Result<()> {
    a.record(
        Action::Delete,
        format!("api key {} ({id})", a.names.api_key),
        why,
    );
    match a.apigw.delete_api_key().api_key(id).send().await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        // A key deleted meanwhile (a concurrent run removing the same duplicate) has no tags
        // left for the policy's condition, so its delete is denied, not "not found": gone if
        // the listing no longer has it.
        Err(e)
            if crate::aws_error::code(&e) == Some("AccessDeniedException")
                && !find(a).await?.iter().any(|k| k.id == id) =>
        {
            Ok(())
        }
        Err(e) => bail!("failed to delete api key {id}: {}", describe(&e)),
    }
}

/// What the key needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// The stack has none: create it (enabled).
    Create,
    /// Keep this one (the oldest the stack owns), delete the stack's others, enable it.
    Keep {
        /// The keeper.
        id: String,
        /// The stack's duplicates.
        duplicates: Vec<String>,
        /// It is disabled.
        enable: bool,
    },
}

impl Plan {
    /// The key's id, or that the plan creates it.
    pub fn id(&self) -> Planned<String> {
        match self {
            Plan::Keep { id, .. } => Planned::Existing(id.clone()),
            Plan::Create => Planned::ToCreate,
        }
    }
}

/// Reads the keys named like the stack's (those being adopted, `adopting`, count as its own).
pub async fn plan(ctx: &Ctx, adopting: &[String]) -> anyhow::Result<Plan> {
    let label = format!("api key {}", ctx.names.api_key);
    let found = find(ctx).await?;
    if found.is_empty() {
        return Ok(Plan::Create);
    }
    let mut owned = found
        .iter()
        .filter(|f| f.managed || adopting.contains(&f.id));
    let Some(keep) = owned.next() else {
        if let Some(foreign) = found.first() {
            bail!(
                "{label} ({}) exists without this stack's tags\nhint: run `deployer up --adopt` to take it over",
                foreign.id
            );
        }
        return Err(anyhow!(crate::resources::Gone(label)));
    };
    Ok(Plan::Keep {
        id: keep.id.clone(),
        duplicates: owned.map(|f| f.id.clone()).collect(),
        enable: !keep.enabled,
    })
}

/// How the plan shows `plan`.
pub fn changes(ctx: &Ctx, plan: &Plan) -> Vec<Change> {
    let name = &ctx.names.api_key;
    let label = format!("api key {name}");
    match plan {
        Plan::Create => vec![Change::new(Action::Create, label, "(enabled)")],
        Plan::Keep {
            duplicates, enable, ..
        } => duplicates
            .iter()
            .map(|id| {
                Change::new(
                    Action::Delete,
                    format!("api key {name} ({id})"),
                    "(duplicate)",
                )
            })
            .chain(enable.then(|| Change::new(Action::Update, &label, "enabled: false -> true")))
            .collect(),
    }
}

/// Makes the plan; returns the key's id. A key created here is found again by listing, so
/// concurrent runs settle on the same keeper.
pub async fn apply(a: &Applier<'_>, plan: &Plan) -> anyhow::Result<String> {
    let label = format!("api key {}", a.names.api_key);
    let created;
    let plan = match plan {
        Plan::Create => {
            a.record(Action::Create, &label, "(enabled)");
            let mut req = a
                .apigw
                .create_api_key()
                .name(&a.names.api_key)
                .enabled(true);
            req = req.set_tags(Some(tags(a)));
            req.send()
                .await
                .map_err(|e| anyhow!("failed to create {label}: {}", describe(&e)))?;
            created = self::plan(a, &[]).await?;
            &created
        }
        keep => keep,
    };
    let Plan::Keep {
        id,
        duplicates,
        enable,
    } = plan
    else {
        return Err(anyhow!(crate::resources::Gone(label)));
    };
    for extra in duplicates {
        delete_one(a, extra, "(duplicate)").await?;
    }
    if *enable {
        a.record(Action::Update, &label, "enabled: false -> true");
        a.apigw
            .update_api_key()
            .api_key(id)
            .patch_operations(
                PatchOperation::builder()
                    .op(Op::Replace)
                    .path("/enabled")
                    .value("true")
                    .build(),
            )
            .send()
            .await
            .map_err(|e| anyhow!("failed to enable {label}: {}", describe(&e)))?;
    }
    Ok(id.clone())
}

/// The key's value (`apigateway:GET` with includeValue).
pub async fn value(ctx: &Ctx, id: &str) -> anyhow::Result<String> {
    let out = ctx
        .apigw
        .get_api_key()
        .api_key(id)
        .include_value(true)
        .send()
        .await
        .map_err(|e| anyhow!("failed to read the value of api key {id}: {}", describe(&e)))?;
    out.value
        .ok_or_else(|| anyhow!("api key {id} has no value"))
}
