//! The REST API: POST /ingest and POST /search, `apiKeyRequired`, AWS_PROXY integrations, and
//! the `prod` stage. REST API names are not unique in AWS, so the API is found by name; when
//! races or lost responses left duplicates, every run keeps the same one (oldest, then lowest
//! id) and deletes the others it manages. The stage is redeployed only when the definition's
//! hash (kept in the deployment's description) differs from what the stage serves; stage
//! variables, method settings and tracing set by hand are drift, shown by `plan` and removed.

use crate::aws_error::{describe, is, is_not_found, with_quota_retry};
use crate::context::Ctx;
use crate::ownership::{Kind, Seen};
use crate::resources::apigw::{self, Named};
use crate::resources::{Action, Planned, QUOTA_BUDGET, is_gone, is_incomplete, tags};
use anyhow::{anyhow, bail};
use aws_sdk_apigateway::types::{EndpointConfiguration, EndpointType};
use sha2::{Digest, Sha256};

/// The routes the API serves (every one API-key protected, AWS_PROXY to the function).
pub use shared::routes::{ROUTES, Route};

mod routes;
mod stage;

const DEPLOYMENT_PREFIX: &str = "alex-deployer definition ";

/// Every REST API named like the stack's, in keep-order (oldest first, then id).
pub async fn find(ctx: &Ctx) -> anyhow::Result<Vec<Named>> {
    let apis: Vec<aws_sdk_apigateway::types::RestApi> = ctx
        .apigw
        .get_rest_apis()
        .limit(500)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<_, _>>()
        .await
        .map_err(|e| anyhow!("failed to list REST APIs: {}", describe(&e)))?;
    let listed = apis.iter().map(|a| {
        let created = a.created_date().map_or(0, |d| d.secs());
        (a.name(), a.id(), created, true, a.tags())
    });
    Ok(apigw::named(ctx, &ctx.names.api, listed))
}

fn integration_uri(ctx: &Ctx, function_arn: &str) -> String {
    ctx.arn(
        "apigateway",
        &ctx.region,
        "lambda",
        &format!("path/2015-03-31/functions/{function_arn}/invocations"),
    )
}

/// The hash of the definition the stage should serve.
pub fn definition_hash(ctx: &Ctx, function_arn: &str) -> String {
    let mut h = Sha256::new();
    for route in ROUTES {
        h.update(format!(
            "{} {} apiKeyRequired=true AWS_PROXY {}\n",
            route.method,
            route.path,
            integration_uri(ctx, function_arn)
        ));
    }
    h.finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The REST APIs with the stack's name, judged by their tags.
pub async fn seen(ctx: &Ctx) -> anyhow::Result<Vec<Seen>> {
    Ok(apigw::seen(
        ctx,
        Kind::RestApi,
        &ctx.names.api,
        &find(ctx).await?,
    ))
}

/// Tags REST API `id` as the stack's.
pub async fn tag(ctx: &Ctx, id: &str) -> anyhow::Result<()> {
    apigw::tag_path(ctx, &format!("/restapis/{id}")).await
}

/// Deletes one REST API (quota: 1 per 30 s).
pub async fn delete_one(ctx: &Ctx, id: &str, why: &str) -> anyhow::Result<()> {
    if !ctx.change(
        Action::Delete,
        format!("rest api {} ({id})", ctx.names.api),
        why,
    ) {
        return Ok(());
    }
    match with_quota_retry(QUOTA_BUDGET, || {
        ctx.apigw.delete_rest_api().rest_api_id(id).send()
    })
    .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => bail!("failed to delete rest api {id}: {}", describe(&e)),
    }
}

/// Finds or creates the API and removes the stack's duplicates; returns its id. Same-named
/// APIs without the stack's tags are never used or changed ([`crate::ownership`]).
async fn ensure_api(ctx: &Ctx) -> anyhow::Result<Planned<String>> {
    let label = format!("rest api {}", ctx.names.api);
    loop {
        let found = find(ctx).await?;
        let mut owned = found.iter().filter(|f| f.managed);
        if let Some(keep) = owned.next() {
            for extra in owned {
                delete_one(ctx, &extra.id, "(duplicate)").await?;
            }
            return Ok(Planned::Existing(keep.id.clone()));
        }
        if let Some(foreign) = found.first() {
            bail!(
                "{label} ({}) exists without this stack's tags\nhint: run `deployer up --adopt` to take it over",
                foreign.id
            );
        }
        if !ctx.change(Action::Create, &label, "(REGIONAL)") {
            return Ok(Planned::ToCreate);
        }
        let created = ctx
            .apigw
            .create_rest_api()
            .name(&ctx.names.api)
            .description("alex document ingestion and search")
            .endpoint_configuration(
                EndpointConfiguration::builder()
                    .types(EndpointType::Regional)
                    .build(),
            )
            .set_tags(Some(tags(ctx)))
            .send()
            .await;
        match created {
            // List again: a concurrent run may have created one too, and every run must
            // settle on the same keeper.
            Ok(_) => continue,
            // CreateRestApi is 1 per 3 s per account: another run may have just created it.
            Err(e) if is(&e, &["TooManyRequestsException"]) => {
                tokio::time::sleep(std::time::Duration::from_secs(3)).await;
            }
            Err(e) => bail!("failed to create {label}: {}", describe(&e)),
        }
    }
}

/// Converges the API, its routes and its stage; returns the API id.
pub async fn ensure(ctx: &Ctx, function_arn: &str) -> anyhow::Result<Planned<String>> {
    // A concurrent run may delete the duplicate this run picked before it saw the other one:
    // start again from the listing when the API vanishes under us.
    // A deployment refused because a concurrent run has not finished defining a method: define
    // it again (its integration included) and deploy after a moment.
    let mut last = None;
    for attempt in 0..5 {
        let id = ensure_api(ctx).await?;
        match ensure_definition(ctx, &id, function_arn).await {
            Ok(()) => return Ok(id),
            Err(e) if is_gone(&e) && attempt < 3 => last = Some(e),
            Err(e) if is_incomplete(&e) => {
                last = Some(e);
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| anyhow!("rest api {} kept disappearing", ctx.names.api)))
}

async fn ensure_definition(
    ctx: &Ctx,
    api_id: &Planned<String>,
    function_arn: &str,
) -> anyhow::Result<()> {
    let hash = definition_hash(ctx, function_arn);
    let Planned::Existing(api_id) = api_id else {
        for route in ROUTES {
            ctx.change(
                Action::Create,
                route.label(),
                "(api key required, AWS_PROXY)",
            );
        }
        let label = format!("api stage {}", ctx.names.stage);
        ctx.change(Action::Create, label, format!("(deployment {hash})"));
        return Ok(());
    };
    let uri = integration_uri(ctx, function_arn);
    let mut resources = routes::resources(ctx, api_id).await?;
    for route in &ROUTES {
        let found = routes::ensure_resource(ctx, api_id, &mut resources, route).await?;
        if let Some(resource_id) = found {
            routes::ensure(ctx, api_id, &resource_id, route, &uri).await?;
        }
    }
    stage::ensure(ctx, api_id, &hash).await
}
