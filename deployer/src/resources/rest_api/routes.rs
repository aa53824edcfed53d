//! The API's routes: a resource per path (parents created first) with the route's method,
//! authorized as its [`Access`] says (the API key, or the operator's AWS identity: `AWS_IAM`),
//! and an AWS_PROXY integration to the function (always invoked with POST). Read the method →
//! [`diff`] → apply.

use super::Route;
use crate::aws_error::{describe, is, is_not_found};
use crate::context::Ctx;
use crate::resources::{Action, Applier, Change, Gone};
use anyhow::{anyhow, bail};
use aws_sdk_apigateway::operation::get_method::GetMethodOutput;
use aws_sdk_apigateway::types::{IntegrationType, Op, PatchOperation};
use shared::routes::Access;
use std::collections::HashMap;

/// How a method is authorized: its `authorizationType` and `apiKeyRequired`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Auth {
    /// `AWS_IAM` (else `NONE`, or an authorizer the stack never sets).
    pub iam: Authorization,
    /// `apiKeyRequired`.
    pub api_key_required: bool,
}

/// A method's `authorizationType`, as far as the stack tells them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Authorization {
    /// `NONE`.
    #[default]
    None,
    /// `AWS_IAM`: a SigV4 signature and `execute-api:Invoke`.
    AwsIam,
    /// An authorizer (`CUSTOM`, `COGNITO_USER_POOLS`) someone set by hand.
    Other,
}

impl Authorization {
    fn as_str(self) -> &'static str {
        match self {
            Self::None => "NONE",
            Self::AwsIam => "AWS_IAM",
            Self::Other => "an authorizer",
        }
    }
}

impl Auth {
    /// What `access` needs: the API key alone, or `AWS_IAM` alone.
    pub fn of(access: Access) -> Self {
        match access {
            Access::Read | Access::ApiKey => Self {
                iam: Authorization::None,
                api_key_required: true,
            },
            Access::Operator => Self {
                iam: Authorization::AwsIam,
                api_key_required: false,
            },
        }
    }
}

impl std::fmt::Display for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let key = if self.api_key_required {
            " + api key"
        } else {
            ""
        };
        write!(f, "{}{key}", self.iam.as_str())
    }
}

/// A route's method as read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Method {
    /// How it is authorized.
    pub auth: Auth,
    /// The integration: whether it is AWS_PROXY, and its URI.
    pub integration: Option<(bool, Option<String>)>,
}

/// One change to a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edit {
    /// Put the method.
    CreateMethod,
    /// The method exists with other authorization (`was`): set the route's.
    Authorize {
        /// What it had.
        was: Auth,
    },
    /// Put the integration (missing, or another type or target).
    Integration(Action),
}

/// What makes `method` (`None`: missing) the route the stack wants (authorized for `access`),
/// integrated with `uri`.
pub fn diff(method: Option<&Method>, access: Access, uri: &str) -> Vec<Edit> {
    let mut edits = Vec::new();
    match method {
        None => edits.push(Edit::CreateMethod),
        Some(m) if m.auth != Auth::of(access) => edits.push(Edit::Authorize { was: m.auth }),
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
        auth: Auth {
            iam: match out.authorization_type() {
                None | Some("NONE") => Authorization::None,
                Some("AWS_IAM") => Authorization::AwsIam,
                Some(_) => Authorization::Other,
            },
            api_key_required: out.api_key_required() == Some(true),
        },
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
    let auth = Auth::of(route.access);
    match edit {
        Edit::CreateMethod => Change::new(
            Action::Create,
            format!("{label} method"),
            format!("(authorization {auth})"),
        ),
        Edit::Authorize { was } => Change::new(
            Action::Update,
            label,
            format!("authorization: {was} -> {auth}"),
        ),
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
        apply_edit(a, (api_id, resource_id, route), uri, *edit)
            .await
            .map_err(|e| anyhow!("failed to configure {}: {e}", route.label()))?;
    }
    Ok(())
}

async fn apply_edit(
    a: &Applier<'_>,
    (api_id, resource_id, route): (&str, &str, &Route),
    uri: &str,
    edit: Edit,
) -> Result<(), String> {
    let ctx: &Ctx = a;
    let (method, auth) = (route.method, Auth::of(route.access));
    match edit {
        Edit::CreateMethod => match ctx
            .apigw
            .put_method()
            .rest_api_id(api_id)
            .resource_id(resource_id)
            .http_method(method)
            .authorization_type(auth.iam.as_str())
            .api_key_required(auth.api_key_required)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            // Created meanwhile by a concurrent run (PutMethod never replaces one): its
            // settings are converged on the next run, its integration by the next edit.
            Err(e) if is(&e, &["ConflictException"]) => Ok(()),
            Err(e) => Err(describe(&e)),
        },
        Edit::Authorize { .. } => ctx
            .apigw
            .update_method()
            .rest_api_id(api_id)
            .resource_id(resource_id)
            .http_method(method)
            .patch_operations(replace("/authorizationType", auth.iam.as_str()))
            .patch_operations(replace(
                "/apiKeyRequired",
                if auth.api_key_required {
                    "true"
                } else {
                    "false"
                },
            ))
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

fn replace(path: &str, value: &str) -> PatchOperation {
    PatchOperation::builder()
        .op(Op::Replace)
        .path(path)
        .value(value)
        .build()
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
            diff(None, Access::ApiKey, URI),
            [Edit::CreateMethod, Edit::Integration(Action::Create)]
        );
    }

    #[test]
    fn a_route_with_other_authorization_or_another_target_is_repaired() {
        let good = Method {
            auth: Auth::of(Access::ApiKey),
            integration: Some((true, Some(URI.into()))),
        };
        assert_eq!(diff(Some(&good), Access::ApiKey, URI), []);
        let open = Method {
            auth: Auth::default(),
            ..good.clone()
        };
        assert_eq!(
            diff(Some(&open), Access::ApiKey, URI),
            [Edit::Authorize { was: open.auth }]
        );
        let elsewhere = Method {
            integration: Some((true, Some("arn:other".into()))),
            ..good.clone()
        };
        assert_eq!(
            diff(Some(&elsewhere), Access::ApiKey, URI),
            [Edit::Integration(Action::Update)]
        );
        let mock = Method {
            integration: Some((false, Some(URI.into()))),
            ..good.clone()
        };
        assert_eq!(
            diff(Some(&mock), Access::ApiKey, URI),
            [Edit::Integration(Action::Update)]
        );
    }

    #[test]
    fn an_operator_route_moves_from_the_api_key_to_aws_iam() {
        // A stack deployed before operator routes existed: its admin route takes the key.
        let before = Method {
            auth: Auth::of(Access::ApiKey),
            integration: Some((true, Some(URI.into()))),
        };
        let edits = diff(Some(&before), Access::Operator, URI);
        assert_eq!(edits, [Edit::Authorize { was: before.auth }]);
        let route = shared::routes::Operation::Reindex.route();
        assert_eq!(
            change(route, edits[0]).to_string(),
            "update  api route POST /documents/reindex authorization: NONE + api key -> AWS_IAM"
        );
        let after = Method {
            auth: Auth::of(Access::Operator),
            ..before
        };
        assert_eq!(diff(Some(&after), Access::Operator, URI), []);
        // An authorizer set by hand is drift too.
        let custom = Method {
            auth: Auth {
                iam: Authorization::Other,
                api_key_required: false,
            },
            ..after
        };
        assert_eq!(diff(Some(&custom), Access::Operator, URI).len(), 1);
    }
}
