//! The API's routes: a resource per path (parents created first) with the route's method
//! (no authorizer, API key required) and an AWS_PROXY integration to the function (always
//! invoked with POST). Read the method → [`diff`] → apply.

use super::Route;
use crate::aws_error::{describe, is, is_not_found};
use crate::context::Ctx;
use crate::resources::{Action, Applier, Change, Gone};
use anyhow::{anyhow, bail};
use aws_sdk_apigateway::operation::get_method::GetMethodOutput;
use aws_sdk_apigateway::types::{IntegrationType, Op, PatchOperation};
use std::collections::HashMap;

/// A route's POST method as read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Method {
    /// `apiKeyRequired`.
    pub api_key_required: bool,
    /// The integration: whether it is AWS_PROXY, and its URI.
    pub integration: Option<(bool, Option<String>)>,
}

/// One change to a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edit {
    /// Put the POST method.
    CreateMethod,
    /// The method exists without `apiKeyRequired`.
    RequireApiKey,
    /// Put the integration (missing, or another type or target).
    Integration(Action),
}

/// What makes `method` (`None`: missing) the route the stack wants, integrated with `uri`.
pub fn diff(method: Option<&Method>, uri: &str) -> Vec<Edit> {
    let mut edits = Vec::new();
    match method {
        None => edits.push(Edit::CreateMethod),
        Some(m) if !m.api_key_required => edits.push(Edit::RequireApiKey),
        Some(_) => {}
    }
    match method.and_then(|m| m.integration.as_ref()) {
        None => edits.push(Edit::Integration(Action::Create)),
        Some((true, Some(u))) if u == uri => {}
        Some(_) => edits.push(Edit::Integration(Action::Update)),
    }
    edits
}

fn method(out: &GetMethodOutput) -> Method {
    Method {
        api_key_required: out.api_key_required() == Some(true),
        integration: out.method_integration().map(|i| {
            (
                i.r#type() == Some(&IntegrationType::AwsProxy),
                i.uri().map(str::to_string),
            )
        }),
    }
}

/// The API's resources: id by path. An API that vanished is [`Gone`].
pub async fn resources(ctx: &Ctx, api_id: &str) -> anyhow::Result<HashMap<String, String>> {
    match ctx
        .apigw
        .get_resources()
        .rest_api_id(api_id)
        .limit(500)
        .send()
        .await
    {
        Ok(out) => Ok(out
            .items()
            .iter()
            .filter_map(|r| Some((r.path()?.to_string(), r.id()?.to_string())))
            .collect()),
        Err(e) if is_not_found(&e) => {
            Err(anyhow!(Gone(format!("rest api {api_id}"))).context(describe(&e)))
        }
        Err(e) => bail!(
            "failed to read the resources of rest api {api_id}: {}",
            describe(&e)
        ),
    }
}

/// The paths of `route`'s resource and its parents that `by_path` lacks, parents first.
pub fn missing_paths(by_path: &HashMap<String, String>, route: &Route) -> Vec<String> {
    let segments: Vec<&str> = route.path.trim_start_matches('/').split('/').collect();
    (1..=segments.len())
        .map(|depth| format!("/{}", segments[..depth].join("/")))
        .filter(|path| !by_path.contains_key(path))
        .collect()
}

/// The id of `route`'s resource, created (with any missing parent) when missing.
pub async fn ensure_resource(
    a: &Applier<'_>,
    api_id: &str,
    by_path: &mut HashMap<String, String>,
    route: &Route,
) -> anyhow::Result<String> {
    if let Some(id) = by_path.get(route.path) {
        return Ok(id.clone());
    }
    let segments: Vec<&str> = route.path.trim_start_matches('/').split('/').collect();
    let mut parent = by_path
        .get("/")
        .cloned()
        .ok_or_else(|| anyhow!("rest api {api_id} has no root resource"))?;
    for depth in 1..=segments.len() {
        let path = format!("/{}", segments[..depth].join("/"));
        if let Some(id) = by_path.get(&path) {
            parent = id.clone();
            continue;
        }
        a.record(Action::Create, format!("api resource {path}"), "");
        let id = create_resource(a, api_id, &parent, segments[depth - 1], &path).await?;
        by_path.insert(path, id.clone());
        parent = id;
    }
    Ok(parent)
}

async fn create_resource(
    a: &Applier<'_>,
    api_id: &str,
    parent: &str,
    part: &str,
    path: &str,
) -> anyhow::Result<String> {
    let created = a
        .apigw
        .create_resource()
        .rest_api_id(api_id)
        .parent_id(parent)
        .path_part(part)
        .send()
        .await;
    match created {
        Ok(out) => out
            .id
            .ok_or_else(|| anyhow!("CreateResource returned no id")),
        Err(e) if is_not_found(&e) => {
            Err(anyhow!(Gone(format!("rest api {api_id}"))).context(describe(&e)))
        }
        // Created meanwhile by another run: use that one.
        Err(e) if is(&e, &["ConflictException"]) => resources(a, api_id)
            .await?
            .remove(path)
            .ok_or_else(|| anyhow!("resource {path} conflicted but cannot be found")),
        Err(e) => bail!("failed to create resource {path}: {}", describe(&e)),
    }
}

/// Reads the method of `route` (resource `resource_id`) on API `api_id`; `None` when missing.
pub async fn read(
    ctx: &Ctx,
    api_id: &str,
    resource_id: &str,
    route: &Route,
) -> anyhow::Result<Option<Method>> {
    let read = ctx
        .apigw
        .get_method()
        .rest_api_id(api_id)
        .resource_id(resource_id)
        .http_method(route.method)
        .send()
        .await;
    match read {
        Ok(m) => Ok(Some(method(&m))),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => bail!("failed to read {}: {}", route.label(), describe(&e)),
    }
}

/// How the plan shows `edit` of `route`.
pub fn change(route: &Route, edit: Edit) -> Change {
    let label = route.label();
    match edit {
        Edit::CreateMethod => Change::new(
            Action::Create,
            format!("{label} method"),
            "(authorization NONE, api key required)",
        ),
        Edit::RequireApiKey => Change::new(Action::Update, label, "apiKeyRequired: false -> true"),
        Edit::Integration(action) => Change::new(
            action,
            format!("{label} integration"),
            "(AWS_PROXY -> the function)",
        ),
    }
}

/// Makes `edits` of `route`'s method (resource `resource_id` of API `api_id`).
pub async fn apply(
    a: &Applier<'_>,
    (api_id, resource_id): (&str, &str),
    route: &Route,
    uri: &str,
    edits: &[Edit],
) -> anyhow::Result<()> {
    for edit in edits {
        a.made_now(change(route, *edit));
        apply_edit(a, (api_id, resource_id, route.method), uri, *edit)
            .await
            .map_err(|e| anyhow!("failed to configure {}: {e}", route.label()))?;
    }
    Ok(())
}

async fn apply_edit(
    a: &Applier<'_>,
    (api_id, resource_id, method): (&str, &str, &str),
    uri: &str,
    edit: Edit,
) -> Result<(), String> {
    let ctx: &Ctx = a;
    match edit {
        Edit::CreateMethod => match ctx
            .apigw
            .put_method()
            .rest_api_id(api_id)
            .resource_id(resource_id)
            .http_method(method)
            .authorization_type("NONE")
            .api_key_required(true)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            // Created meanwhile by a concurrent run (PutMethod never replaces one): its
            // settings are converged on the next run, its integration by the next edit.
            Err(e) if is(&e, &["ConflictException"]) => Ok(()),
            Err(e) => Err(describe(&e)),
        },
        Edit::RequireApiKey => ctx
            .apigw
            .update_method()
            .rest_api_id(api_id)
            .resource_id(resource_id)
            .http_method(method)
            .patch_operations(
                PatchOperation::builder()
                    .op(Op::Replace)
                    .path("/apiKeyRequired")
                    .value("true")
                    .build(),
            )
            .send()
            .await
            .map(drop)
            .map_err(|e| describe(&e)),
        Edit::Integration(_) => ctx
            .apigw
            .put_integration()
            .rest_api_id(api_id)
            .resource_id(resource_id)
            .http_method(method)
            .r#type(IntegrationType::AwsProxy)
            .integration_http_method("POST")
            .uri(uri)
            .send()
            .await
            .map(drop)
            .map_err(|e| describe(&e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URI: &str = "arn:aws:apigateway:us-east-1:lambda:path/f/invocations";

    #[test]
    fn missing_resources_are_listed_parents_first() {
        let by_path: HashMap<String, String> =
            [("/".to_string(), "r".to_string())].into_iter().collect();
        let nested = shared::routes::ROUTES
            .iter()
            .find(|r| r.path.matches('/').count() == 2)
            .unwrap();
        let missing = missing_paths(&by_path, nested);
        assert_eq!(missing.len(), 2, "{missing:?}");
        assert_eq!(missing[1], nested.path);
        assert!(nested.path.starts_with(&missing[0]));
        let mut by_path = by_path;
        by_path.insert(missing[0].clone(), "p".into());
        assert_eq!(missing_paths(&by_path, nested), [nested.path]);
    }

    #[test]
    fn a_missing_route_is_created_whole() {
        assert_eq!(
            diff(None, URI),
            [Edit::CreateMethod, Edit::Integration(Action::Create)]
        );
    }

    #[test]
    fn a_route_without_key_or_with_another_target_is_repaired() {
        let good = Method {
            api_key_required: true,
            integration: Some((true, Some(URI.into()))),
        };
        assert_eq!(diff(Some(&good), URI), []);
        let open = Method {
            api_key_required: false,
            ..good.clone()
        };
        assert_eq!(diff(Some(&open), URI), [Edit::RequireApiKey]);
        let elsewhere = Method {
            integration: Some((true, Some("arn:other".into()))),
            ..good.clone()
        };
        assert_eq!(
            diff(Some(&elsewhere), URI),
            [Edit::Integration(Action::Update)]
        );
        let mock = Method {
            integration: Some((false, Some(URI.into()))),
            ..good
        };
        assert_eq!(diff(Some(&mock), URI), [Edit::Integration(Action::Update)]);
    }
}
