//! A REST API of the stack ([`Surface`]): the main one serves every route of
//! [`shared::routes::ROUTES`], the search-only one (`up --search-key`) only the routes that
//! read; each route authorized as its access says (the API key, or `AWS_IAM` for the
//! operator's routes), AWS_PROXY integrations, and the `prod` stage. REST API names are not
//! unique in AWS, so the API is found by name; when races or lost responses left duplicates,
//! every run keeps the same one (oldest, then lowest id) and deletes the others it manages.
//! The stage is redeployed only when the definition's hash (kept in the deployment's
//! description) differs from what the stage serves; stage variables, method settings and
//! tracing set by hand are drift, shown by `plan` and removed.

use crate::aws_error::{describe, is, is_not_found, with_quota_retry};
use crate::context::Ctx;
use crate::ownership::{Kind, Seen};
use crate::resources::apigw::{self, Named, Surface};
use crate::resources::{
    Action, Applier, Change, Planned, QUOTA_BUDGET, Resource, is_gone, is_incomplete, tags,
};
use anyhow::{anyhow, bail};
use aws_sdk_apigateway::types::{EndpointConfiguration, EndpointType};
use sha2::{Digest, Sha256};

/// The routes the stack serves (AWS_PROXY to the function).
pub use shared::routes::Route;

mod routes;
mod stage;

const DEPLOYMENT_PREFIX: &str = "alex-deployer definition ";

/// The REST API's entry in the stack's table.
pub const RESOURCE: Resource = Resource {
    kind: Kind::RestApi,
    holds_data: false,
    seen: |ctx| Box::pin(seen(ctx, Surface::Main)),
    tag: |a, id| Box::pin(tag(a, id)),
    delete: |a, id| Box::pin(delete_one(a, Surface::Main, id, "")),
};

/// The search-only REST API's entry in the stack's table.
pub const SEARCH_RESOURCE: Resource = Resource {
    kind: Kind::SearchApi,
    holds_data: false,
    seen: |ctx| Box::pin(seen(ctx, Surface::Search)),
    tag: |a, id| Box::pin(tag(a, id)),
    delete: |a, id| Box::pin(delete_one(a, Surface::Search, id, "")),
};

/// Every REST API named like `surface`'s, in keep-order (oldest first, then id).
pub async fn find(ctx: &Ctx, surface: Surface) -> anyhow::Result<Vec<Named>> {
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
    Ok(apigw::named(ctx, surface.api(&ctx.names), listed))
}

fn integration_uri(ctx: &Ctx, function_arn: &str) -> String {
    ctx.arn(
        "apigateway",
        &ctx.region,
        "lambda",
        &format!("path/2015-03-31/functions/{function_arn}/invocations"),
    )
}

/// The hash of the definition `surface`'s stage should serve.
pub fn definition_hash(ctx: &Ctx, surface: Surface, function_arn: &str) -> String {
    let mut h = Sha256::new();
    for route in surface.routes() {
        h.update(format!(
            "{} {} {} AWS_PROXY {}\n",
            route.method,
            route.path,
            routes::Auth::of(route.access),
            integration_uri(ctx, function_arn)
        ));
    }
    h.finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The REST APIs with `surface`'s name, judged by their tags.
pub async fn seen(ctx: &Ctx, surface: Surface) -> anyhow::Result<Vec<Seen>> {
    Ok(apigw::seen(
        ctx,
        surface.kinds()[0],
        surface.api(&ctx.names),
        &find(ctx, surface).await?,
    ))
}

/// Tags REST API `id` as the stack's.
pub async fn tag(a: &Applier<'_>, id: &str) -> anyhow::Result<()> {
    apigw::tag_path(a, &format!("/restapis/{id}")).await
}

/// Deletes one REST API (quota: 1 per 30 s).
pub async fn delete_one(
    a: &Applier<'_>,
    surface: Surface,
    id: &str,
    why: &str,
) -> anyhow::Result<()> {
    a.record(
        Action::Delete,
        format!("rest api {} ({id})", surface.api(&a.names)),
        why,
    );
    match with_quota_retry(QUOTA_BUDGET, || {
        a.apigw.delete_rest_api().rest_api_id(id).send()
    })
    .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => bail!("failed to delete rest api {id}: {}", describe(&e)),
    }
}

/// What to do about the API itself.
#[derive(Debug, Clone, PartialEq)]
pub enum Api {
    /// Keep this one (the oldest the stack owns) and delete the stack's other ones.
    Keep {
        /// The keeper.
        id: String,
        /// The stack's duplicates.
        duplicates: Vec<String>,
    },
    /// The stack has none: create it.
    Create,
}

/// The API's plan: the API, its routes and its stage.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Which of the stack's APIs.
    pub surface: Surface,
    /// The function the routes invoke.
    pub function_arn: String,
    /// The API itself.
    pub api: Api,
    /// Its definition (`None` while the API is to be created: everything is).
    pub definition: Option<Definition>,
}

impl Plan {
    /// The API's id, or that the plan creates it.
    pub fn id(&self) -> Planned<String> {
        match &self.api {
            Api::Keep { id, .. } => Planned::Existing(id.clone()),
            Api::Create => Planned::ToCreate,
        }
    }
}

/// The routes and stage of an existing API, as edits.
#[derive(Debug, Clone, PartialEq)]
pub struct Definition {
    /// Per route: the resource paths to create, and the method's edits.
    pub routes: Vec<(Route, Vec<String>, Vec<routes::Edit>)>,
    /// The stage's edits.
    pub stage: stage::Plan,
}

/// Reads the API (the oldest the stack owns, or one being adopted: `adopting` ids), its
/// routes and stage, and diffs them with the definition that invokes `function_arn`. A
/// same-named API without the stack's tags is never used or changed
/// ([`crate::ownership`]).
pub async fn plan(
    ctx: &Ctx,
    surface: Surface,
    function_arn: &str,
    adopting: &[String],
) -> anyhow::Result<Plan> {
    let label = format!("rest api {}", surface.api(&ctx.names));
    let found = find(ctx, surface).await?;
    let mut owned = found
        .iter()
        .filter(|f| f.managed || adopting.contains(&f.id));
    let api = match owned.next() {
        Some(keep) => Api::Keep {
            id: keep.id.clone(),
            duplicates: owned.map(|f| f.id.clone()).collect(),
        },
        None => {
            if let Some(foreign) = found.first() {
                bail!(
                    "{label} ({}) exists without this stack's tags\nhint: run `deployer up --adopt` to take it over",
                    foreign.id
                );
            }
            Api::Create
        }
    };
    let definition = match &api {
        Api::Keep { id, .. } => Some(plan_definition(ctx, surface, id, function_arn).await?),
        Api::Create => None,
    };
    Ok(Plan {
        surface,
        function_arn: function_arn.to_string(),
        api,
        definition,
    })
}

/// Reads the routes and stage of API `api_id` and diffs them.
async fn plan_definition(
    ctx: &Ctx,
    surface: Surface,
    api_id: &str,
    function_arn: &str,
) -> anyhow::Result<Definition> {
    let uri = integration_uri(ctx, function_arn);
    let resources = routes::resources(ctx, api_id).await?;
    let mut planned: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for route in surface.routes() {
        let missing: Vec<String> = routes::missing_paths(&resources, &route)
            .into_iter()
            .filter(|p| !planned.contains(p))
            .collect();
        planned.extend(missing.iter().cloned());
        let method = match resources.get(route.path) {
            Some(resource_id) => routes::read(ctx, api_id, resource_id, &route).await?,
            None => None,
        };
        out.push((
            route,
            missing,
            routes::diff(method.as_ref(), route.access, &uri),
        ));
    }
    let stage = stage::plan(ctx, api_id, &definition_hash(ctx, surface, function_arn)).await?;
    Ok(Definition { routes: out, stage })
}

/// How the plan shows `plan`.
pub fn changes(ctx: &Ctx, plan: &Plan) -> Vec<Change> {
    let name = plan.surface.api(&ctx.names);
    let mut out = Vec::new();
    match &plan.api {
        Api::Create => {
            out.push(Change::new(
                Action::Create,
                format!("rest api {name}"),
                "(REGIONAL)",
            ));
            for route in plan.surface.routes() {
                out.push(Change::new(
                    Action::Create,
                    route.label(),
                    format!(
                        "(authorization {}, AWS_PROXY)",
                        routes::Auth::of(route.access)
                    ),
                ));
            }
            let hash = definition_hash(ctx, plan.surface, &plan.function_arn);
            out.push(Change::new(
                Action::Create,
                format!("api stage {}", ctx.names.stage),
                format!("(deployment {hash})"),
            ));
        }
        Api::Keep { duplicates, .. } => {
            for id in duplicates {
                out.push(Change::new(
                    Action::Delete,
                    format!("rest api {name} ({id})"),
                    "(duplicate)",
                ));
            }
        }
    }
    if let Some(definition) = &plan.definition {
        for (route, missing, edits) in &definition.routes {
            for path in missing {
                out.push(Change::new(
                    Action::Create,
                    format!("api resource {path}"),
                    "",
                ));
            }
            out.extend(edits.iter().map(|e| routes::change(route, *e)));
        }
        out.extend(stage::changes(ctx, &definition.stage));
    }
    out
}

/// Makes the plan: creates the API (or keeps the planned one, deleting the stack's
/// duplicates), then its routes and stage; returns the API's id. The routes of an API created
/// here are read once it exists; an API that vanishes (a concurrent run settled on another
/// duplicate) or a definition a concurrent run has not finished is planned again.
pub async fn apply(a: &Applier<'_>, plan: &Plan) -> anyhow::Result<String> {
    let mut plan = plan.clone();
    let mut last = None;
    for attempt in 0..5 {
        let id = apply_api(a, plan.surface, &plan.api).await?;
        let definition = match &plan.definition {
            Some(definition) if plan.id().existing() == Some(&id) => definition.clone(),
            _ => plan_definition(a, plan.surface, &id, &plan.function_arn).await?,
        };
        match apply_definition(a, &id, &plan.function_arn, &definition).await {
            Ok(()) => return Ok(id),
            Err(e) if is_gone(&e) && attempt < 3 => last = Some(e),
            Err(e) if is_incomplete(&e) => {
                last = Some(e);
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            Err(e) => return Err(e),
        }
        plan = self::plan(a, plan.surface, &plan.function_arn, &[]).await?;
    }
    let name = plan.surface.api(&a.names);
    Err(last.unwrap_or_else(|| anyhow!("rest api {name} kept disappearing")))
}

/// The API's id: the planned keeper (its duplicates deleted), or one created now.
async fn apply_api(a: &Applier<'_>, surface: Surface, api: &Api) -> anyhow::Result<String> {
    if let Api::Keep { id, duplicates } = api {
        for extra in duplicates {
            delete_one(a, surface, extra, "(duplicate)").await?;
        }
        return Ok(id.clone());
    }
    let name = surface.api(&a.names);
    let label = format!("rest api {name}");
    loop {
        // A concurrent run may have created one since the plan, and every run must settle on
        // the same keeper: list first, and again after creating.
        let found = find(a, surface).await?;
        let mut owned = found.iter().filter(|f| f.managed);
        if let Some(keep) = owned.next() {
            for extra in owned {
                delete_one(a, surface, &extra.id, "(duplicate)").await?;
            }
            return Ok(keep.id.clone());
        }
        if let Some(foreign) = found.first() {
            bail!(
                "{label} ({}) exists without this stack's tags\nhint: run `deployer up --adopt` to take it over",
                foreign.id
            );
        }
        a.record(Action::Create, &label, "(REGIONAL)");
        let created = a
            .apigw
            .create_rest_api()
            .name(name)
            .description(match surface {
                Surface::Main => "alex document ingestion and search",
                Surface::Search => "alex document search (read-only)",
            })
            .endpoint_configuration(
                EndpointConfiguration::builder()
                    .types(EndpointType::Regional)
                    .build(),
            )
            .set_tags(Some(tags(a)))
            .send()
            .await;
        match created {
            Ok(_) => {}
            // CreateRestApi is 1 per 3 s per account: another run may have just created it.
            Err(e) if is(&e, &["TooManyRequestsException"]) => {
                tokio::time::sleep(std::time::Duration::from_secs(3)).await;
            }
            Err(e) => bail!("failed to create {label}: {}", describe(&e)),
        }
    }
}

async fn apply_definition(
    a: &Applier<'_>,
    api_id: &str,
    function_arn: &str,
    definition: &Definition,
) -> anyhow::Result<()> {
    let uri = integration_uri(a, function_arn);
    let mut resources = routes::resources(a, api_id).await?;
    for (route, _, edits) in &definition.routes {
        let resource_id = routes::ensure_resource(a, api_id, &mut resources, route).await?;
        routes::apply(a, (api_id, &resource_id), route, &uri, edits).await?;
    }
    stage::apply(a, api_id, &definition.stage).await
}
