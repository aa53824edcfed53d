//! The stage: it serves the deployment of the current definition (its hash kept in the
//! deployment's description, so a redeploy happens only when the definition changed), and
//! stage variables, method settings and tracing set by hand are drift that is removed.

use super::DEPLOYMENT_PREFIX;
use crate::aws_error::{describe, is_not_found, with_quota_retry};
use crate::context::Ctx;
use crate::resources::{Action, QUOTA_BUDGET};
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

/// Deploys the definition `hash` to the stage when it serves another one, then removes drift.
pub async fn ensure(ctx: &Ctx, api_id: &str, hash: &str) -> anyhow::Result<()> {
    let stage = &ctx.names.stage;
    let label = format!("api stage {stage}");
    let (current, served) = read(ctx, api_id).await?;
    if served.as_deref() != Some(hash) {
        // A stage that exists but serves another (or a foreign) deployment is updated.
        let action = if current.is_some() {
            Action::Update
        } else {
            Action::Create
        };
        let detail = format!(
            "deployment: {} -> {hash}",
            served.as_deref().unwrap_or("none")
        );
        if ctx.change(action, &label, detail) {
            with_quota_retry(QUOTA_BUDGET, || {
                ctx.apigw
                    .create_deployment()
                    .rest_api_id(api_id)
                    .stage_name(stage)
                    .description(format!("{DEPLOYMENT_PREFIX}{hash}"))
                    .send()
            })
            .await
            .map_err(|e| match crate::aws_error::code(&e) {
                Some("BadRequestException") => {
                    anyhow!("failed to deploy {label}: {}", describe(&e))
                        .context(super::super::Incomplete(format!("rest api {api_id}")))
                }
                _ => anyhow!("failed to deploy {label}: {}", describe(&e)),
            })?;
        }
    }
    match current {
        Some(current) => remove_drift(ctx, api_id, &current).await,
        None => Ok(()),
    }
}

async fn remove_drift(ctx: &Ctx, api_id: &str, current: &GetStageOutput) -> anyhow::Result<()> {
    let label = format!("api stage {}", ctx.names.stage);
    let variables: Vec<&str> = current
        .variables()
        .map(|v| v.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let methods: Vec<&str> = current
        .method_settings()
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let (details, ops) = stage_drift(&variables, &methods, current.tracing_enabled());
    if ops.is_empty() || !ctx.change(Action::Update, &label, details.join("; ")) {
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
        .stage_name(&ctx.names.stage)
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
