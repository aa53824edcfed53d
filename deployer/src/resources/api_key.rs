//! An API key: the stack's (`{stack}-api-key`) or the search-only one (`{stack}-search-key`,
//! `up --search-key`), one per [`Surface`]. Key names are not unique in AWS: found by name,
//! the stack's own duplicates removed like the REST API's, untagged ones never touched. Its value is only ever printed by `output`, never logged.

use crate::aws_error::{describe, is_not_found};
use crate::context::Ctx;
use crate::ownership::{Kind, Seen};
use crate::resources::apigw::{self, Named, Surface};
use crate::resources::{Action, Applier, Change, Planned, Resource, tags};
use anyhow::{anyhow, bail};
use aws_sdk_apigateway::types::{Op, PatchOperation};

/// The API key's entry in the stack's table.
pub const RESOURCE: Resource = Resource {
    kind: Kind::ApiKey,
    holds_data: false,
    seen: |ctx| Box::pin(seen(ctx, Surface::Main)),
    tag: |a, id| Box::pin(tag(a, id)),
    delete: |a, id| Box::pin(delete_one(a, Surface::Main, id, "")),
};

/// The search-only key's entry in the stack's table.
pub const SEARCH_RESOURCE: Resource = Resource {
    kind: Kind::SearchApiKey,
    holds_data: false,
    seen: |ctx| Box::pin(seen(ctx, Surface::Search)),
    tag: |a, id| Box::pin(tag(a, id)),
    delete: |a, id| Box::pin(delete_one(a, Surface::Search, id, "")),
};

/// Keys named like `surface`'s, oldest first.
pub async fn find(ctx: &Ctx, surface: Surface) -> anyhow::Result<Vec<Named>> {
    let name = surface.key(&ctx.names);
    let keys: Vec<aws_sdk_apigateway::types::ApiKey> = ctx
        .apigw
        .get_api_keys()
        .name_query(name)
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
    Ok(apigw::named(ctx, name, listed))
}

/// The keys with `surface`'s name, judged by their tags.
pub async fn seen(ctx: &Ctx, surface: Surface) -> anyhow::Result<Vec<Seen>> {
    Ok(apigw::seen(
        ctx,
        surface.kinds()[1],
        surface.key(&ctx.names),
        &find(ctx, surface).await?,
    ))
}

/// Tags key `id` as the stack's.
pub async fn tag(a: &Applier<'_>, id: &str) -> anyhow::Result<()> {
    apigw::tag_path(a, &format!("/apikeys/{id}")).await
}

/// Deletes one key.
pub async fn delete_one(
    a: &Applier<'_>,
    surface: Surface,
    id: &str,
    why: &str,
) -> anyhow::Result<()> {
    a.record(
        Action::Delete,
        format!("api key {} ({id})", surface.key(&a.names)),
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
                && !find(a, surface).await?.iter().any(|k| k.id == id) =>
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

/// Reads the keys named like `surface`'s (those being adopted, `adopting`, count as the
/// stack's own).
pub async fn plan(ctx: &Ctx, surface: Surface, adopting: &[String]) -> anyhow::Result<Plan> {
    let label = format!("api key {}", surface.key(&ctx.names));
    let found = find(ctx, surface).await?;
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
pub fn changes(ctx: &Ctx, surface: Surface, plan: &Plan) -> Vec<Change> {
    let name = surface.key(&ctx.names);
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
pub async fn apply(a: &Applier<'_>, surface: Surface, plan: &Plan) -> anyhow::Result<String> {
    let name = surface.key(&a.names);
    let label = format!("api key {name}");
    let created;
    let plan = match plan {
        Plan::Create => {
            a.record(Action::Create, &label, "(enabled)");
            let mut req = a.apigw.create_api_key().name(name).enabled(true);
            req = req.set_tags(Some(tags(a)));
            req.send()
                .await
                .map_err(|e| anyhow!("failed to create {label}: {}", describe(&e)))?;
            created = self::plan(a, surface, &[]).await?;
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
        delete_one(a, surface, extra, "(duplicate)").await?;
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
