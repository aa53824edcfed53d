//! The stage: it serves the deployment of the current definition (its hash kept in the
//! deployment's description, so a redeploy happens only when the definition changed), and
//! stage variables, method settings and tracing set by hand are drift that is removed.

use super::DEPLOYMENT_PREFIX;
use crate::aws_error::{describe, is_not_found, with_quota_retry};
use crate::context::Ctx;
use crate::resources::{Action, Applier, Change, QUOTA_BUDGET};
use anyhow::{anyhow, bail};
use aws_sdk_apigateway::operation::get_stage::GetStageOutput;
use aws_sdk_apigateway::types::{Op, PatchOperation};

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

/// The stage as read, and the definition hash its deployment serves.
async fn read(ctx: &Ctx, api_id: &str) -> anyhow::Result<(Option<GetStageOutput>, Option<String>)> {
    let label = format!("api stage {}", ctx.names.stage);
    let stage = match ctx
        .apigw
        .get_stage()
        .rest_api_id(api_id)
        .stage_name(&ctx.names.stage)
        .send()
        .await
    {
        Ok(s) => s,
        Err(e) if is_not_found(&e) => return Ok((None, None)),
        Err(e) => bail!("failed to read {label}: {}", describe(&e)),
    };
    let Some(deployment) = stage.deployment_id() else {
        return Ok((Some(stage), None));
    };
    let served = match ctx
        .apigw
        .get_deployment()
        .rest_api_id(api_id)
        .deployment_id(deployment)
        .send()
        .await
    {
        Ok(d) => d
            .description()
            .and_then(|t| t.strip_prefix(DEPLOYMENT_PREFIX))
            .map(str::to_string),
        Err(e) if is_not_found(&e) => None,
        Err(e) => bail!("failed to read the deployment of {label}: {}", describe(&e)),
    };
    Ok((Some(stage), served))
}

/// What the stage needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The definition it should serve.
    pub hash: String,
    /// Deploy it: create the stage, or update the one serving another (`from`).
    pub deploy: Option<(Action, Option<String>)>,
    /// Settings set by hand to remove: descriptions and patch operations.
    pub drift: (Vec<String>, Vec<Patch>),
}

/// Reads the stage of API `api_id` and diffs it with one serving definition `hash`.
pub async fn plan(ctx: &Ctx, api_id: &str, hash: &str) -> anyhow::Result<Plan> {
    let (current, served) = read(ctx, api_id).await?;
    // A stage that exists but serves another (or a foreign) deployment is updated.
    let deploy = (served.as_deref() != Some(hash)).then(|| {
        let action = if current.is_some() {
            Action::Update
        } else {
            Action::Create
        };
        (action, served)
    });
    let drift = match &current {
        Some(current) => {
            let variables: Vec<&str> = current
                .variables()
                .map(|v| v.keys().map(String::as_str).collect())
                .unwrap_or_default();
            let methods: Vec<&str> = current
                .method_settings()
                .map(|m| m.keys().map(String::as_str).collect())
                .unwrap_or_default();
            stage_drift(&variables, &methods, current.tracing_enabled())
        }
        None => (vec![], vec![]),
    };
    Ok(Plan {
        hash: hash.to_string(),
        deploy,
        drift,
    })
}

/// How the plan shows `plan`.
pub fn changes(ctx: &Ctx, plan: &Plan) -> Vec<Change> {
    let label = format!("api stage {}", ctx.names.stage);
    let deploy = plan.deploy.as_ref().map(|(action, served)| {
        let detail = format!(
            "deployment: {} -> {}",
            served.as_deref().unwrap_or("none"),
            plan.hash
        );
        Change::new(*action, &label, detail)
    });
    let drift = (!plan.drift.1.is_empty())
        .then(|| Change::new(Action::Update, &label, plan.drift.0.join("; ")));
    deploy.into_iter().chain(drift).collect()
}

/// Deploys the definition when the stage serves another one, then removes drift.
pub async fn apply(a: &Applier<'_>, api_id: &str, plan: &Plan) -> anyhow::Result<()> {
    let stage = &a.names.stage;
    let label = format!("api stage {stage}");
    let mut changes = changes(a, plan).into_iter();
    if plan.deploy.is_some() {
        if let Some(change) = changes.next() {
            a.made_now(change);
        }
        let hash = &plan.hash;
        with_quota_retry(QUOTA_BUDGET, || {
            a.apigw
                .create_deployment()
                .rest_api_id(api_id)
                .stage_name(stage)
                .description(format!("{DEPLOYMENT_PREFIX}{hash}"))
                .send()
        })
        .await
        .map_err(|e| match crate::aws_error::code(&e) {
            Some("BadRequestException") => anyhow!("failed to deploy {label}: {}", describe(&e))
                .context(super::super::Incomplete(format!("rest api {api_id}"))),
            _ => anyhow!("failed to deploy {label}: {}", describe(&e)),
        })?;
    }
    let Some(change) = changes.next() else {
        return Ok(());
    };
    a.made_now(change);
    let ops: Vec<PatchOperation> = plan
        .drift
        .1
        .iter()
        .cloned()
        .map(|(op, path, value)| {
            PatchOperation::builder()
                .op(op)
                .path(path)
                .set_value(value)
                .build()
        })
        .collect();
    a.apigw
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
