//! The function's IAM role (trust: lambda.amazonaws.com) and its least-privilege inline policy,
//! which names exact ARNs only: its log group, its index, its embedding endpoint. The role
//! always carries the stack's permissions boundary (an administrator's managed policy), so the
//! deploying identity can never make a role that does more than the function needs.

use crate::aws_error::{describe, is};
use crate::context::Ctx;
mod boundary;
mod diff;
mod policy;

pub use boundary::{apply_boundary, boundary_change, boundary_missing};
pub use diff::{Current, Edit, diff};
pub use policy::{decode_policy, function_policy, trust_policy};

use crate::ownership::{Kind, Seen, tag_map};
use crate::resources::{Action, Applier, Change, Resource, iam_tags};
use anyhow::{anyhow, bail};
use serde_json::Value;

/// The role's entry in the stack's table.
pub const RESOURCE: Resource = Resource {
    kind: Kind::Role,
    holds_data: false,
    seen: |ctx| Box::pin(seen(ctx)),
    tag: |a, _| Box::pin(tag(a)),
    delete: |a, _| Box::pin(delete(a)),
};

/// Reads the role; `None` when it does not exist.
async fn read(ctx: &Ctx) -> anyhow::Result<Option<(String, Current)>> {
    let name = &ctx.names.role;
    let role = match ctx.iam.get_role().role_name(name).send().await {
        Ok(out) => out
            .role
            .ok_or_else(|| anyhow!("GetRole returned no role for {name}"))?,
        Err(e) if is(&e, &["NoSuchEntity"]) => return Ok(None),
        Err(e) => bail!("failed to read iam role {name}: {}", describe(&e)),
    };
    let policy = match ctx
        .iam
        .get_role_policy()
        .role_name(name)
        .policy_name(&ctx.names.policy)
        .send()
        .await
    {
        Ok(out) => decode_policy(&out.policy_document),
        Err(e) if is(&e, &["NoSuchEntity"]) => None,
        Err(e) => bail!(
            "failed to read iam role policy {}: {}",
            ctx.names.policy,
            describe(&e)
        ),
    };
    let current = Current {
        trust: role.assume_role_policy_document().and_then(decode_policy),
        boundary: role
            .permissions_boundary()
            .and_then(|b| b.permissions_boundary_arn())
            .map(str::to_string),
        policy,
    };
    Ok(Some((role.arn, current)))
}

/// What the role needs: created (with its boundary and trust) or not, then its edits.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Its ARN (as read, or the one it gets).
    pub arn: String,
    /// It is missing.
    pub create: bool,
    /// Edits to the role as read (or as created: only the policy is missing).
    pub edits: Vec<Edit>,
    /// The inline policy it should have.
    pub policy: Value,
}

/// Reads the role and diffs it with the one the function needs (`endpoint`: the embedding
/// endpoint it may invoke).
pub async fn plan(ctx: &Ctx, endpoint: &str) -> anyhow::Result<Plan> {
    let policy = function_policy(ctx, endpoint);
    let (arn, create, current) = match read(ctx).await? {
        Some((arn, current)) => (arn, false, current),
        // Created with its boundary and trust: only the policy is missing.
        None => (
            ctx.role_arn(),
            true,
            Current {
                trust: Some(trust_policy()),
                boundary: Some(ctx.boundary_arn()),
                policy: None,
            },
        ),
    };
    let edits = diff(&current, &ctx.boundary_arn(), &policy);
    Ok(Plan {
        arn,
        create,
        edits,
        policy,
    })
}

fn edit_change(ctx: &Ctx, edit: &Edit) -> Change {
    let role = format!("iam role {}", ctx.names.role);
    let policy_label = format!("iam role policy {}", ctx.names.policy);
    let want = ctx.boundary_arn();
    match edit {
        Edit::Boundary(from) => Change::new(
            Action::Update,
            role,
            format!(
                "permissions boundary: {} -> {want}",
                from.as_deref().unwrap_or("none")
            ),
        ),
        Edit::Trust => Change::new(Action::Update, role, "trust policy -> lambda.amazonaws.com"),
        Edit::Policy(action) => Change::new(
            *action,
            policy_label,
            "(logs, vectors, embeddings on exact ARNs)",
        ),
    }
}

/// How the plan shows `plan`.
pub fn changes(ctx: &Ctx, plan: &Plan) -> Vec<Change> {
    let create = plan.create.then(|| {
        Change::new(
            Action::Create,
            format!("iam role {}", ctx.names.role),
            "(trust: lambda.amazonaws.com)",
        )
    });
    create
        .into_iter()
        .chain(plan.edits.iter().map(|e| edit_change(ctx, e)))
        .collect()
}

/// Creates or repairs the role and its policy as planned; returns the role ARN.
pub async fn apply(a: &Applier<'_>, plan: &Plan) -> anyhow::Result<String> {
    let arn = if plan.create {
        create(a).await?
    } else {
        plan.arn.clone()
    };
    for edit in &plan.edits {
        apply_edit(a, edit, &plan.policy).await?;
    }
    Ok(arn)
}

/// Creates the role with its boundary.
async fn create(a: &Applier<'_>) -> anyhow::Result<String> {
    let name = &a.names.role;
    let label = format!("iam role {name}");
    a.record(Action::Create, &label, "(trust: lambda.amazonaws.com)");
    let created = a
        .iam
        .create_role()
        .role_name(name)
        .permissions_boundary(a.boundary_arn())
        .assume_role_policy_document(trust_policy().to_string())
        .description(format!(
            "Execution role of the {} function",
            a.names.function
        ))
        .set_tags(Some(iam_tags(a)?))
        .send()
        .await;
    match created {
        Ok(out) => Ok(out.role.map(|r| r.arn).unwrap_or_else(|| a.role_arn())),
        Err(e) if is(&e, &["EntityAlreadyExists"]) => Ok(a.role_arn()),
        Err(e) => bail!("failed to create {label}: {}", describe(&e)),
    }
}

async fn apply_edit(a: &Applier<'_>, edit: &Edit, policy: &Value) -> anyhow::Result<()> {
    let name = &a.names.role;
    let change = edit_change(a, edit);
    let label = change.resource.clone();
    a.made_now(change);
    let want = a.boundary_arn();
    let result = match edit {
        Edit::Boundary(_) => a
            .iam
            .put_role_permissions_boundary()
            .role_name(name)
            .permissions_boundary(&want)
            .send()
            .await
            .map(drop)
            .map_err(|e| describe(&e)),
        Edit::Trust => a
            .iam
            .update_assume_role_policy()
            .role_name(name)
            .policy_document(trust_policy().to_string())
            .send()
            .await
            .map(drop)
            .map_err(|e| describe(&e)),
        Edit::Policy(_) => a
            .iam
            .put_role_policy()
            .role_name(name)
            .policy_name(&a.names.policy)
            .policy_document(policy.to_string())
            .send()
            .await
            .map(drop)
            .map_err(|e| describe(&e)),
    };
    result.map_err(|e| anyhow!("failed to update {label}: {e}"))
}

/// The role with the stack's name, if any, judged by its tags.
pub async fn seen(ctx: &Ctx) -> anyhow::Result<Vec<Seen>> {
    let name = &ctx.names.role;
    match ctx.iam.get_role().role_name(name).send().await {
        Ok(out) => {
            let tags = out
                .role
                .as_ref()
                .map(|r| tag_map(r.tags().iter().map(|t| (t.key(), t.value()))));
            Ok(vec![Seen::new(ctx, Kind::Role, name, None, tags.as_ref())])
        }
        Err(e) if is(&e, &["NoSuchEntity"]) => Ok(vec![]),
        Err(e) => bail!("failed to read iam role {name}: {}", describe(&e)),
    }
}

/// Tags the role as the stack's.
pub async fn tag(a: &Applier<'_>) -> anyhow::Result<()> {
    let mut req = a.iam.tag_role().role_name(&a.names.role);
    req = req.set_tags(Some(iam_tags(a)?));
    req.send().await.map_err(|e| anyhow!(describe(&e)))?;
    Ok(())
}

/// The role's ARN, if it exists.
pub async fn arn(ctx: &Ctx) -> anyhow::Result<Option<String>> {
    match ctx.iam.get_role().role_name(&ctx.names.role).send().await {
        Ok(out) => Ok(out.role.map(|r| r.arn)),
        Err(e) if is(&e, &["NoSuchEntity"]) => Ok(None),
        Err(e) => bail!(
            "failed to read iam role {}: {}",
            ctx.names.role,
            describe(&e)
        ),
    }
}

/// Deletes the inline policies and the role.
pub async fn delete(a: &Applier<'_>) -> anyhow::Result<()> {
    let ctx: &Ctx = a;
    let name = &ctx.names.role;
    let policies = match ctx.iam.list_role_policies().role_name(name).send().await {
        Ok(out) => out.policy_names,
        Err(e) if is(&e, &["NoSuchEntity"]) => return Ok(()),
        Err(e) => bail!(
            "failed to list the policies of iam role {name}: {}",
            describe(&e)
        ),
    };
    a.record(Action::Delete, format!("iam role {name}"), "");
    for policy in policies {
        match ctx
            .iam
            .delete_role_policy()
            .role_name(name)
            .policy_name(&policy)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if is(&e, &["NoSuchEntity"]) => {}
            Err(e) => bail!(
                "failed to delete policy {policy} of iam role {name}: {}",
                describe(&e)
            ),
        }
    }
    match ctx.iam.delete_role().role_name(name).send().await {
        Ok(_) => Ok(()),
        Err(e) if is(&e, &["NoSuchEntity"]) => Ok(()),
        Err(e) => bail!("failed to delete iam role {name}: {}", describe(&e)),
    }
}
