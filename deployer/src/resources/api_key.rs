//! The API key. Key names are not unique in AWS: found by name, the stack's own duplicates
//! removed like the REST API's, untagged ones never touched. Its value is only ever printed by `output`, never logged.

use crate::aws_error::{describe, is_not_found};
use crate::context::Ctx;
use crate::ownership::{Kind, Seen};
use crate::resources::apigw::{self, Named};
use crate::resources::{Action, Planned, tags};
use anyhow::{anyhow, bail};
use aws_sdk_apigateway::types::{Op, PatchOperation};

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
pub async fn tag(ctx: &Ctx, id: &str) -> anyhow::Result<()> {
    apigw::tag_path(ctx, &format!("/apikeys/{id}")).await
}

/// Deletes one key.
pub async fn delete_one(ctx: &Ctx, id: &str, why: &str) -> anyhow::Result<()> {
    if !ctx.change(
        Action::Delete,
        format!("api key {} ({id})", ctx.names.api_key),
        why,
    ) {
        return Ok(());
    }
    match ctx.apigw.delete_api_key().api_key(id).send().await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        // A key deleted meanwhile (a concurrent run removing the same duplicate) has no tags
        // left for the policy's condition, so its delete is denied, not "not found": gone if
        // the listing no longer has it.
        Err(e)
            if crate::aws_error::code(&e) == Some("AccessDeniedException")
                && !find(ctx).await?.iter().any(|k| k.id == id) =>
        {
            Ok(())
        }
        Err(e) => bail!("failed to delete api key {id}: {}", describe(&e)),
    }
}

/// Finds or creates the key (enabled); returns its id.
pub async fn ensure(ctx: &Ctx) -> anyhow::Result<Planned<String>> {
    let label = format!("api key {}", ctx.names.api_key);
    let mut found = find(ctx).await?;
    if found.is_empty() {
        if !ctx.change(Action::Create, &label, "(enabled)") {
            return Ok(Planned::ToCreate);
        }
        let mut req = ctx
            .apigw
            .create_api_key()
            .name(&ctx.names.api_key)
            .enabled(true);
        req = req.set_tags(Some(tags(ctx)));
        req.send()
            .await
            .map_err(|e| anyhow!("failed to create {label}: {}", describe(&e)))?;
        // List again so concurrent runs settle on the same keeper.
        found = find(ctx).await?;
    }
    let mut owned = found.iter().filter(|f| f.managed);
    let Some(keep) = owned.next() else {
        if let Some(foreign) = found.first() {
            bail!(
                "{label} ({}) exists without this stack's tags\nhint: run `deployer up --adopt` to take it over",
                foreign.id
            );
        }
        return Err(anyhow!(crate::resources::Gone(label)));
    };
    for extra in owned {
        delete_one(ctx, &extra.id, "(duplicate)").await?;
    }
    if !keep.enabled && ctx.change(Action::Update, &label, "enabled: false -> true") {
        ctx.apigw
            .update_api_key()
            .api_key(&keep.id)
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
    Ok(Planned::Existing(keep.id.clone()))
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
