//! The REST API: POST /ingest and POST /search, `apiKeyRequired`, AWS_PROXY integrations, and
//! the `prod` stage. REST API names are not unique in AWS, so the API is found by name; when
//! races or lost responses left duplicates, every run keeps the same one (oldest, then lowest
//! id) and deletes the others it manages. The stage is redeployed only when the definition's
//! hash (kept in the deployment's description) differs from what the stage serves; stage
//! variables, method settings and tracing set by hand are drift, shown by `plan` and removed.

use crate::aws_error::{describe, is, is_not_found, with_quota_retry};
use crate::context::Ctx;
use crate::ownership::{Kind, Seen};
use crate::resources::{Gone, NEW, QUOTA_BUDGET, is_gone};
use anyhow::{anyhow, bail};
use aws_sdk_apigateway::types::{
    EndpointConfiguration, EndpointType, IntegrationType, Op, PatchOperation,
};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// The routes the API serves.
pub const ROUTES: [&str; 2] = ["ingest", "search"];
const DEPLOYMENT_PREFIX: &str = "alex-deployer definition ";

/// A REST API found by name.
#[derive(Debug, Clone)]
pub struct Found {
    /// Its id.
    pub id: String,
    /// Whether it carries this stack's tags ([`crate::ownership`]).
    pub managed: bool,
    /// Its tags.
    pub tags: HashMap<String, String>,
}

/// Every REST API named like the stack's, in keep-order (oldest first, then id).
pub async fn find(ctx: &Ctx) -> anyhow::Result<Vec<Found>> {
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
    let mut all = Vec::new();
    for api in &apis {
        if api.name() == Some(ctx.names.api.as_str())
            && let Some(id) = api.id()
        {
            let created = api.created_date().map(|d| d.secs()).unwrap_or(0);
            let managed = crate::ownership::owned(ctx, api.tags());
            let tags = api.tags().cloned().unwrap_or_default();
            all.push((created, id.to_string(), managed, tags));
        }
    }
    all.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    Ok(all
        .into_iter()
        .map(|(_, id, managed, tags)| Found { id, managed, tags })
        .collect())
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
            "POST /{route} apiKeyRequired=true AWS_PROXY {}\n",
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
    Ok(find(ctx)
        .await?
        .into_iter()
        .map(|f| {
            Seen::new(
                ctx,
                Kind::RestApi,
                &ctx.names.api,
                Some(&f.id),
                Some(&f.tags),
            )
        })
        .collect())
}

/// Tags REST API `id` as the stack's.
pub async fn tag(ctx: &Ctx, id: &str) -> anyhow::Result<()> {
    tag_path(ctx, &format!("/restapis/{id}")).await
}

/// Tags the API Gateway resource at `path` (`/restapis/{id}`, `/apikeys/{id}`, ...).
pub async fn tag_path(ctx: &Ctx, path: &str) -> anyhow::Result<()> {
    let mut req = ctx
        .apigw
        .tag_resource()
        .resource_arn(ctx.apigateway_arn(path));
    for (k, v) in ctx.tags() {
        req = req.tags(k, v);
    }
    req.send().await.map_err(|e| anyhow!(describe(&e)))?;
    Ok(())
}

/// Deletes one REST API (quota: 1 per 30 s).
pub async fn delete_one(ctx: &Ctx, id: &str, why: &str) -> anyhow::Result<()> {
    if !ctx.change("delete", format!("rest api {} ({id})", ctx.names.api), why) {
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
async fn ensure_api(ctx: &Ctx) -> anyhow::Result<String> {
    let label = format!("rest api {}", ctx.names.api);
    loop {
        let found = find(ctx).await?;
        let mut owned = found.iter().filter(|f| f.managed);
        if let Some(keep) = owned.next() {
            for extra in owned {
                delete_one(ctx, &extra.id, "(duplicate)").await?;
            }
            return Ok(keep.id.clone());
        }
        if let Some(foreign) = found.first() {
            bail!(
                "{label} ({}) exists without this stack's tags\nhint: run `deployer up --adopt` to take it over",
                foreign.id
            );
        }
        if !ctx.change("create", &label, "(REGIONAL)") {
            return Ok(NEW.to_string());
        }
        let mut req = ctx
            .apigw
            .create_rest_api()
            .name(&ctx.names.api)
            .description("alex document ingestion and search")
            .endpoint_configuration(
                EndpointConfiguration::builder()
                    .types(EndpointType::Regional)
                    .build(),
            );
        for (k, v) in ctx.tags() {
            req = req.tags(k, v);
        }
        match req.send().await {
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

/// Converges the API and its stage; returns the API id.
pub async fn ensure(ctx: &Ctx, function_arn: &str) -> anyhow::Result<String> {
    // A concurrent run may delete the duplicate this run picked before it saw the other one:
    // start again from the listing when the API vanishes under us.
    let mut last = None;
    for _ in 0..3 {
        let id = ensure_api(ctx).await?;
        match ensure_definition(ctx, &id, function_arn).await {
            Ok(()) => return Ok(id),
            Err(e) if is_gone(&e) => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| anyhow!("rest api {} kept disappearing", ctx.names.api)))
}

async fn ensure_definition(ctx: &Ctx, api_id: &str, function_arn: &str) -> anyhow::Result<()> {
    let hash = definition_hash(ctx, function_arn);
    if api_id == NEW {
        for route in ROUTES {
            ctx.change(
                "create",
                format!("api route POST /{route}"),
                "(api key required, AWS_PROXY)",
            );
        }
        ctx.change(
            "create",
            format!("api stage {}", ctx.names.stage),
            format!("(deployment {hash})"),
        );
        return Ok(());
    }
    let vanished = |e: &dyn std::fmt::Display| -> anyhow::Error {
        anyhow!(Gone(format!("rest api {api_id}"))).context(e.to_string())
    };
    let resources = match ctx
        .apigw
        .get_resources()
        .rest_api_id(api_id)
        .limit(500)
        .send()
        .await
    {
        Ok(out) => out.items.unwrap_or_default(),
        Err(e) if is_not_found(&e) => return Err(vanished(&describe(&e))),
        Err(e) => bail!(
            "failed to read the resources of rest api {api_id}: {}",
            describe(&e)
        ),
    };
    let by_path: HashMap<String, String> = resources
        .iter()
        .filter_map(|r| Some((r.path()?.to_string(), r.id()?.to_string())))
        .collect();
    let root = by_path
        .get("/")
        .cloned()
        .ok_or_else(|| anyhow!("rest api {api_id} has no root resource"))?;
    let uri = integration_uri(ctx, function_arn);
    for route in ROUTES {
        let label = format!("api route POST /{route}");
        let resource_id = match by_path.get(&format!("/{route}")) {
            Some(id) => id.clone(),
            None => {
                if !ctx.change("create", &label, "(api key required, AWS_PROXY)") {
                    continue;
                }
                match ctx
                    .apigw
                    .create_resource()
                    .rest_api_id(api_id)
                    .parent_id(&root)
                    .path_part(route)
                    .send()
                    .await
                {
                    Ok(out) => out
                        .id
                        .ok_or_else(|| anyhow!("CreateResource returned no id"))?,
                    Err(e) if is_not_found(&e) => return Err(vanished(&describe(&e))),
                    Err(e) if is(&e, &["ConflictException"]) => {
                        let out = ctx
                            .apigw
                            .get_resources()
                            .rest_api_id(api_id)
                            .limit(500)
                            .send()
                            .await
                            .map_err(|e| {
                                anyhow!("failed to read rest api {api_id}: {}", describe(&e))
                            })?;
                        out.items()
                            .iter()
                            .find(|r| r.path() == Some(&format!("/{route}")))
                            .and_then(|r| r.id().map(str::to_string))
                            .ok_or_else(|| {
                                anyhow!("resource /{route} conflicted but cannot be found")
                            })?
                    }
                    Err(e) => bail!("failed to create resource /{route}: {}", describe(&e)),
                }
            }
        };
        ensure_method(ctx, api_id, &resource_id, route, &uri).await?;
    }
    ensure_stage(ctx, api_id, &hash).await
}

async fn ensure_method(
    ctx: &Ctx,
    api_id: &str,
    resource_id: &str,
    route: &str,
    uri: &str,
) -> anyhow::Result<()> {
    let label = format!("api route POST /{route}");
    let method = match ctx
        .apigw
        .get_method()
        .rest_api_id(api_id)
        .resource_id(resource_id)
        .http_method("POST")
        .send()
        .await
    {
        Ok(m) => Some(m),
        Err(e) if is_not_found(&e) => None,
        Err(e) => bail!("failed to read {label}: {}", describe(&e)),
    };
    match &method {
        None => {
            if ctx.change(
                "create",
                format!("{label} method"),
                "(authorization NONE, api key required)",
            ) {
                ctx.apigw
                    .put_method()
                    .rest_api_id(api_id)
                    .resource_id(resource_id)
                    .http_method("POST")
                    .authorization_type("NONE")
                    .api_key_required(true)
                    .send()
                    .await
                    .map_err(|e| anyhow!("failed to create {label}: {}", describe(&e)))?;
            }
        }
        Some(m) if m.api_key_required() != Some(true) => {
            if ctx.change("update", &label, "apiKeyRequired: false -> true") {
                ctx.apigw
                    .update_method()
                    .rest_api_id(api_id)
                    .resource_id(resource_id)
                    .http_method("POST")
                    .patch_operations(
                        PatchOperation::builder()
                            .op(Op::Replace)
                            .path("/apiKeyRequired")
                            .value("true")
                            .build(),
                    )
                    .send()
                    .await
                    .map_err(|e| anyhow!("failed to update {label}: {}", describe(&e)))?;
            }
        }
        Some(_) => {}
    }
    let integration = method.as_ref().and_then(|m| m.method_integration());
    let ok = integration
        .is_some_and(|i| i.r#type() == Some(&IntegrationType::AwsProxy) && i.uri() == Some(uri));
    if !ok {
        let action = if integration.is_some() {
            "update"
        } else {
            "create"
        };
        if ctx.change(
            action,
            format!("{label} integration"),
            "(AWS_PROXY -> the function)",
        ) {
            ctx.apigw
                .put_integration()
                .rest_api_id(api_id)
                .resource_id(resource_id)
                .http_method("POST")
                .r#type(IntegrationType::AwsProxy)
                .integration_http_method("POST")
                .uri(uri)
                .send()
                .await
                .map_err(|e| {
                    anyhow!("failed to set the integration of {label}: {}", describe(&e))
                })?;
        }
    }
    Ok(())
}

/// A patch operation: op, path, value.
pub type Patch = (Op, String, Option<String>);

/// The settings of a stage that the stack wants at their defaults: none of its variables,
/// method settings (throttling, logging, caching per method) or tracing; `(op, path, value)`
/// patch operations that restore them, and a description of each difference.
pub fn stage_drift(
    variables: &[&str],
    method_settings: &[&str],
    tracing: bool,
) -> (Vec<String>, Vec<Patch>) {
    let mut details = Vec::new();
    let mut ops = Vec::new();
    let mut variables = variables.to_vec();
    variables.sort_unstable();
    for name in variables {
        details.push(format!("remove stage variable {name}"));
        ops.push((Op::Remove, format!("/variables/{name}"), None));
    }
    let mut methods = method_settings.to_vec();
    methods.sort_unstable();
    for key in methods {
        details.push(format!("remove method settings {key}"));
        ops.push((Op::Remove, format!("/{key}"), None));
    }
    if tracing {
        details.push("tracing: true -> false".to_string());
        ops.push((
            Op::Replace,
            "/tracingEnabled".to_string(),
            Some("false".to_string()),
        ));
    }
    (details, ops)
}

async fn ensure_stage(ctx: &Ctx, api_id: &str, hash: &str) -> anyhow::Result<()> {
    let stage = &ctx.names.stage;
    let label = format!("api stage {stage}");
    let current = match ctx
        .apigw
        .get_stage()
        .rest_api_id(api_id)
        .stage_name(stage)
        .send()
        .await
    {
        Ok(s) => Some(s),
        Err(e) if is_not_found(&e) => None,
        Err(e) => bail!("failed to read {label}: {}", describe(&e)),
    };
    let served = match current.as_ref().and_then(|s| s.deployment_id()) {
        Some(dep) => match ctx
            .apigw
            .get_deployment()
            .rest_api_id(api_id)
            .deployment_id(dep)
            .send()
            .await
        {
            Ok(d) => d
                .description()
                .and_then(|t| t.strip_prefix(DEPLOYMENT_PREFIX))
                .map(str::to_string),
            Err(e) if is_not_found(&e) => None,
            Err(e) => bail!("failed to read the deployment of {label}: {}", describe(&e)),
        },
        None => None,
    };
    if served.as_deref() != Some(hash) {
        // A stage that exists but serves another (or a foreign) deployment is updated.
        let action = if current.is_some() {
            "update"
        } else {
            "create"
        };
        if ctx.change(
            action,
            &label,
            format!(
                "deployment: {} -> {hash}",
                served.as_deref().unwrap_or("none")
            ),
        ) {
            with_quota_retry(QUOTA_BUDGET, || {
                ctx.apigw
                    .create_deployment()
                    .rest_api_id(api_id)
                    .stage_name(stage)
                    .description(format!("{DEPLOYMENT_PREFIX}{hash}"))
                    .send()
            })
            .await
            .map_err(|e| anyhow!("failed to deploy {label}: {}", describe(&e)))?;
        }
    }
    let Some(current) = current else {
        return Ok(());
    };
    let variables: Vec<&str> = current
        .variables()
        .map(|v| v.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let methods: Vec<&str> = current
        .method_settings()
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let (details, ops) = stage_drift(&variables, &methods, current.tracing_enabled());
    if ops.is_empty() || !ctx.change("update", &label, details.join("; ")) {
        return Ok(());
    }
    let ops: Vec<PatchOperation> = ops
        .into_iter()
        .map(|(op, path, value)| {
            PatchOperation::builder()
                .op(op)
                .path(path)
                .set_value(value)
                .build()
        })
        .collect();
    ctx.apigw
        .update_stage()
        .rest_api_id(api_id)
        .stage_name(stage)
        .set_patch_operations(Some(ops))
        .send()
        .await
        .map_err(|e| {
            anyhow!(
                "failed to restore the settings of {label}: {}",
                describe(&e)
            )
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_settings_set_by_hand_are_drift() {
        assert_eq!(stage_drift(&[], &[], false), (vec![], vec![]));
        let (details, ops) = stage_drift(&["b", "a"], &["*/*"], true);
        assert_eq!(
            details,
            [
                "remove stage variable a",
                "remove stage variable b",
                "remove method settings */*",
                "tracing: true -> false"
            ]
        );
        let paths: Vec<&str> = ops.iter().map(|(_, p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            ["/variables/a", "/variables/b", "/*/*", "/tracingEnabled"]
        );
        assert_eq!(ops[3].2.as_deref(), Some("false"));
    }
}
