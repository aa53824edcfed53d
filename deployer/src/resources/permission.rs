//! The Lambda resource policy statements that let the stack's APIs invoke the function, one
//! per route of each [`Surface`], scoped to the API's execution ARN
//! (`arn:aws:execute-api:{region}:{account}:{api}/*/{method}/{path}`). A surface's statements
//! no route needs (a surface turned off, a route gone) are removed; statements the stack did
//! not name (other prefixes) are never touched.

use crate::aws_error::{describe, is, is_not_found};
use crate::context::Ctx;
use crate::resources::apigw::Surface;
use crate::resources::rest_api::Route;
use crate::resources::{Action, Applier, Change, Planned};
use anyhow::{anyhow, bail};
use serde_json::Value;

/// Statement id of `route` of `surface`.
pub fn statement_id(ctx: &Ctx, surface: Surface, route: &Route) -> String {
    format!("{}{}", surface.statement_prefix(&ctx.names), route.name)
}

/// The SourceArn condition for `route` of `api_id` (any stage, the route's method and path;
/// a path variable matches any value).
pub fn source_arn(ctx: &Ctx, api_id: &str, route: &Route) -> String {
    ctx.arn(
        "execute-api",
        &ctx.region,
        &ctx.account,
        &format!("{api_id}/*/{}/{}", route.method, route.arn_path()),
    )
}

/// The function's policy statements (none while the function or its policy does not exist).
pub async fn statements(ctx: &Ctx) -> anyhow::Result<Vec<Value>> {
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

/// What to do about statement `sid` that should allow invocations from `want`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    /// It is missing.
    Add,
    /// It allows another source (`None`: any): removed, then added again.
    Replace(Option<String>),
}

/// Compares the function policy's statements with the one statement `sid` should be.
pub fn diff(statements: &[Value], sid: &str, want: &str) -> Option<Edit> {
    let Some(found) = statements.iter().find(|s| s["Sid"].as_str() == Some(sid)) else {
        return Some(Edit::Add);
    };
    match statement_source(found) {
        Some(arn) if arn == want => None,
        other => Some(Edit::Replace(other.map(str::to_string))),
    }
}

/// The statements with `prefix` that none of `wanted` is: to remove.
pub fn unwanted(statements: &[Value], prefix: &str, wanted: &[String]) -> Vec<String> {
    statements
        .iter()
        .filter_map(|s| s["Sid"].as_str())
        .filter(|sid| sid.starts_with(prefix) && !wanted.iter().any(|w| w == sid))
        .map(str::to_string)
        .collect()
}

/// The statements to add, replace or remove so that exactly the routes of `routes` of one
/// surface's API `api` may invoke the function.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Which of the stack's APIs.
    pub surface: Surface,
    /// The API the statements name (to be created: every statement is added).
    pub api: Planned<String>,
    /// The routes that need a statement (none: the surface is turned off).
    pub routes: Vec<Route>,
    /// Per route, what its statement needs.
    pub edits: Vec<(Route, Edit)>,
    /// The surface's statements no route needs.
    pub remove: Vec<String>,
}

/// Diffs the function's `current` statements with one statement per route of `routes` of
/// `surface`'s API `api` (while the API is to be created, every statement is added).
pub fn plan(
    ctx: &Ctx,
    surface: Surface,
    api: &Planned<String>,
    routes: &[Route],
    current: &[Value],
) -> Plan {
    let id = api.existing().map_or("(new)", String::as_str);
    let known = if api.existing().is_some() {
        current
    } else {
        &[]
    };
    let edits = routes
        .iter()
        .filter_map(|route| {
            let edit = diff(
                known,
                &statement_id(ctx, surface, route),
                &source_arn(ctx, id, route),
            )?;
            Some((*route, edit))
        })
        .collect();
    let wanted: Vec<String> = routes
        .iter()
        .map(|r| statement_id(ctx, surface, r))
        .collect();
    Plan {
        surface,
        api: api.clone(),
        routes: routes.to_vec(),
        edits,
        remove: unwanted(current, &surface.statement_prefix(&ctx.names), &wanted),
    }
}

fn change(ctx: &Ctx, surface: Surface, api_id: &str, route: &Route, edit: &Edit) -> Change {
    let label = format!("lambda permission {}", statement_id(ctx, surface, route));
    let want = source_arn(ctx, api_id, route);
    match edit {
        Edit::Add => Change::new(
            Action::Create,
            label,
            format!("(apigateway.amazonaws.com from {want})"),
        ),
        Edit::Replace(from) => Change::new(
            Action::Update,
            label,
            format!("source: {} -> {want}", from.as_deref().unwrap_or("any")),
        ),
    }
}

fn removal(sid: &str) -> Change {
    Change::new(
        Action::Delete,
        format!("lambda permission {sid}"),
        "(no route needs it)",
    )
}

/// How the plan shows `plan`.
pub fn changes(ctx: &Ctx, plan: &Plan) -> Vec<Change> {
    let id = plan.api.existing().map_or("(new)", String::as_str);
    plan.edits
        .iter()
        .map(|(route, edit)| change(ctx, plan.surface, id, route, edit))
        .chain(plan.remove.iter().map(|sid| removal(sid)))
        .collect()
}

/// Makes the plan for API `api_id`: planned for another API (or one still to be created), the
/// statements are read and diffed again first.
pub async fn apply(a: &Applier<'_>, plan: &Plan, api_id: &str) -> anyhow::Result<()> {
    let replanned;
    let plan = if plan.api.existing().map(String::as_str) == Some(api_id) {
        plan
    } else {
        let api = Planned::Existing(api_id.to_string());
        replanned = self::plan(a, plan.surface, &api, &plan.routes, &statements(a).await?);
        &replanned
    };
    for (route, edit) in &plan.edits {
        let change = change(a, plan.surface, api_id, route, edit);
        let label = change.resource.clone();
        a.made_now(change);
        apply_edit(
            a,
            &statement_id(a, plan.surface, route),
            &source_arn(a, api_id, route),
            edit,
        )
        .await
        .map_err(|e| anyhow!("failed to set {label}: {e:#}"))?;
    }
    remove(a, plan).await
}

/// Removes the statements `plan` found no route needs (not-found is success).
pub async fn remove(a: &Applier<'_>, plan: &Plan) -> anyhow::Result<()> {
    for sid in &plan.remove {
        a.made_now(removal(sid));
        remove_statement(a, sid)
            .await
            .map_err(|e| anyhow!("failed to remove lambda permission {sid}: {e:#}"))?;
    }
    Ok(())
}

async fn remove_statement(ctx: &Ctx, sid: &str) -> anyhow::Result<()> {
    let removed = ctx
        .lambda
        .remove_permission()
        .function_name(&ctx.names.function)
        .statement_id(sid)
        .send()
        .await;
    match removed {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => bail!("{}", describe(&e)),
    }
}

async fn apply_edit(a: &Applier<'_>, sid: &str, want: &str, edit: &Edit) -> anyhow::Result<()> {
    let ctx: &Ctx = a;
    let function = &ctx.names.function;
    if let Edit::Replace(_) = edit {
        remove_statement(ctx, sid)
            .await
            .map_err(|e| anyhow!("removing the old statement: {e:#}"))?;
    }
    let added = ctx
        .lambda
        .add_permission()
        .function_name(function)
        .statement_id(sid)
        .action("lambda:InvokeFunction")
        .principal("apigateway.amazonaws.com")
        .source_arn(want)
        .send()
        .await;
    match added {
        Ok(_) => Ok(()),
        // Added meanwhile by another run: fine if it is the statement we want.
        Err(e) if is(&e, &["ResourceConflictException"]) => {
            match diff(&statements(ctx).await?, sid, want) {
                None => Ok(()),
                Some(_) => bail!("a different statement with this id exists"),
            }
        }
        Err(e) => bail!("{}", describe(&e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn statements_are_added_kept_or_replaced_by_their_source() {
        let want = "arn:aws:execute-api:us-east-1:1:api/*/POST/ingest";
        let stmt = |source: Option<&str>| {
            let mut s = json!({"Sid": "alex-apigateway-ingest"});
            if let Some(source) = source {
                s["Condition"] = json!({"ArnLike": {"AWS:SourceArn": source}});
            }
            s
        };
        assert_eq!(diff(&[], "alex-apigateway-ingest", want), Some(Edit::Add));
        assert_eq!(
            diff(&[stmt(Some(want))], "alex-apigateway-ingest", want),
            None
        );
        assert_eq!(
            diff(&[stmt(Some("arn:old"))], "alex-apigateway-ingest", want),
            Some(Edit::Replace(Some("arn:old".into())))
        );
        assert_eq!(
            diff(&[stmt(None)], "alex-apigateway-ingest", want),
            Some(Edit::Replace(None))
        );
    }

    #[test]
    fn only_the_surfaces_own_unneeded_statements_are_removed() {
        let stmts = [
            json!({"Sid": "alex-apigateway-ingest"}),
            json!({"Sid": "alex-search-apigateway-search"}),
            json!({"Sid": "alex-search-apigateway-documents-get"}),
            json!({"Sid": "someone-elses"}),
        ];
        // The search surface turned off: its two statements go, nothing else.
        assert_eq!(
            unwanted(&stmts, "alex-search-apigateway-", &[]),
            [
                "alex-search-apigateway-search",
                "alex-search-apigateway-documents-get"
            ]
        );
        // On, with its routes: nothing goes.
        let wanted = [
            "alex-search-apigateway-search".to_string(),
            "alex-search-apigateway-documents-get".to_string(),
        ];
        assert!(unwanted(&stmts, "alex-search-apigateway-", &wanted).is_empty());
        // The main surface never takes the search surface's statements for its own.
        assert!(
            unwanted(
                &stmts,
                "alex-apigateway-",
                &["alex-apigateway-ingest".into()]
            )
            .is_empty()
        );
    }
}
