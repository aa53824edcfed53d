//! The Lambda resource policy statements that let this API's stage invoke the function, one per
//! route, scoped to the API's execution ARN (`arn:aws:execute-api:{region}:{account}:{api}/*/POST/{route}`).

use crate::aws_error::{describe, is, is_not_found};
use crate::context::Ctx;
use crate::resources::NEW;
use anyhow::{anyhow, bail};
use serde_json::Value;

/// Statement id of `route`.
pub fn statement_id(ctx: &Ctx, route: &str) -> String {
    format!("{}-apigateway-{route}", ctx.names.stack)
}

/// The SourceArn condition for `route` of `api_id`.
pub fn source_arn(ctx: &Ctx, api_id: &str, route: &str) -> String {
    ctx.arn(
        "execute-api",
        &ctx.region,
        &ctx.account,
        &format!("{api_id}/*/POST/{route}"),
    )
}

async fn statements(ctx: &Ctx) -> anyhow::Result<Vec<Value>> {
    match ctx
        .lambda
        .get_policy()
        .function_name(&ctx.names.function)
        .send()
        .await
    {
        Ok(out) => {
            let policy: Value = out
                .policy()
                .and_then(|p| serde_json::from_str(p).ok())
                .unwrap_or(Value::Null);
            Ok(policy["Statement"].as_array().cloned().unwrap_or_default())
        }
        Err(e) if is_not_found(&e) => Ok(Vec::new()),
        Err(e) => bail!(
            "failed to read the policy of lambda function {}: {}",
            ctx.names.function,
            describe(&e)
        ),
    }
}

fn statement_source(stmt: &Value) -> Option<&str> {
    stmt["Condition"]["ArnLike"]["AWS:SourceArn"].as_str()
}

/// Ensures one statement per route with the right SourceArn.
pub async fn ensure(ctx: &Ctx, api_id: &str, routes: &[&str]) -> anyhow::Result<()> {
    let current =
        if api_id == NEW || ctx.dry_run && crate::resources::function::arn(ctx).await?.is_none() {
            Vec::new()
        } else {
            statements(ctx).await?
        };
    for route in routes {
        let sid = statement_id(ctx, route);
        let want = source_arn(ctx, api_id, route);
        let label = format!("lambda permission {sid}");
        let existing = current
            .iter()
            .find(|s| s["Sid"].as_str() == Some(sid.as_str()));
        match existing.map(statement_source) {
            Some(Some(arn)) if arn == want => continue,
            Some(found) => {
                if !ctx.change(
                    "update",
                    &label,
                    format!("source: {} -> {want}", found.unwrap_or("any")),
                ) {
                    continue;
                }
                match ctx
                    .lambda
                    .remove_permission()
                    .function_name(&ctx.names.function)
                    .statement_id(&sid)
                    .send()
                    .await
                {
                    Ok(_) => {}
                    Err(e) if is_not_found(&e) => {}
                    Err(e) => bail!("failed to remove {label}: {}", describe(&e)),
                }
            }
            None => {
                if !ctx.change(
                    "create",
                    &label,
                    format!("(apigateway.amazonaws.com from {want})"),
                ) {
                    continue;
                }
            }
        }
        let added = ctx
            .lambda
            .add_permission()
            .function_name(&ctx.names.function)
            .statement_id(&sid)
            .action("lambda:InvokeFunction")
            .principal("apigateway.amazonaws.com")
            .source_arn(&want)
            .send()
            .await;
        match added {
            Ok(_) => {}
            // Added meanwhile by another run: fine if it is the statement we want.
            Err(e) if is(&e, &["ResourceConflictException"]) => {
                let now = statements(ctx).await?;
                let same = now.iter().any(|s| {
                    s["Sid"].as_str() == Some(sid.as_str())
                        && statement_source(s) == Some(want.as_str())
                });
                if !same {
                    return Err(anyhow!(
                        "failed to add {label}: a different statement with this id exists"
                    ));
                }
            }
            Err(e) => bail!("failed to add {label}: {}", describe(&e)),
        }
    }
    Ok(())
}
