//! The function's IAM role (trust: lambda.amazonaws.com) and its least-privilege inline policy,
//! which names exact ARNs only: its log group, its index, its embedding endpoint. The role
//! always carries the stack's permissions boundary (an administrator's managed policy), so the
//! deploying identity can never make a role that does more than the function needs.

use crate::aws_error::{describe, is};
use crate::context::Ctx;
mod boundary;
mod diff;
mod policy;

pub use boundary::ensure_boundary_policy;
pub use diff::{Current, Edit, diff};
pub use policy::{decode_policy, function_policy, trust_policy};

use crate::ownership::{Kind, Seen, tag_map};
use crate::resources::{Action, iam_tags};
use anyhow::{anyhow, bail};
use serde_json::Value;

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

/// Creates or repairs the role and its policy; returns the role ARN.
pub async fn ensure(ctx: &Ctx, endpoint: &str) -> anyhow::Result<String> {
    let policy = function_policy(ctx, endpoint);
    let (arn, current) = match read(ctx).await? {
        Some(found) => found,
        None => {
            let arn = create(ctx).await?.unwrap_or_else(|| ctx.role_arn());
            // Created (or to be) with its boundary and trust: only the policy is missing.
            let current = Current {
                trust: Some(trust_policy()),
                boundary: Some(ctx.boundary_arn()),
                policy: None,
            };
            (arn, current)
        }
    };
    for edit in diff(&current, &ctx.boundary_arn(), &policy) {
        apply(ctx, &edit, &policy).await?;
    }
    Ok(arn)
}

/// Creates the role with its boundary; `None` under `plan`.
async fn create(ctx: &Ctx) -> anyhow::Result<Option<String>> {
    let name = &ctx.names.role;
    let label = format!("iam role {name}");
    if !ctx.change(Action::Create, &label, "(trust: lambda.amazonaws.com)") {
        return Ok(None);
    }
    let created = ctx
        .iam
        .create_role()
        .role_name(name)
        .permissions_boundary(ctx.boundary_arn())
        .assume_role_policy_document(trust_policy().to_string())
        .description(format!(
            "Execution role of the {} function",
            ctx.names.function
        ))
        .set_tags(Some(iam_tags(ctx)?))
        .send()
        .await;
    match created {
        Ok(out) => Ok(Some(
            out.role.map(|r| r.arn).unwrap_or_else(|| ctx.role_arn()),
        )),
        Err(e) if is(&e, &["EntityAlreadyExists"]) => Ok(Some(ctx.role_arn())),
        Err(e) => bail!("failed to create {label}: {}", describe(&e)),
    }
}

async fn apply(ctx: &Ctx, edit: &Edit, policy: &Value) -> anyhow::Result<()> {
    let name = &ctx.names.role;
    let role = format!("iam role {name}");
    let policy_label = format!("iam role policy {}", ctx.names.policy);
    let want = ctx.boundary_arn();
    let (action, label, detail) = match edit {
        Edit::Boundary(from) => (
            Action::Update,
            &role,
            format!(
                "permissions boundary: {} -> {want}",
                from.as_deref().unwrap_or("none")
            ),
        ),
        Edit::Trust => (
            Action::Update,
            &role,
            "trust policy -> lambda.amazonaws.com".into(),
        ),
        Edit::Policy(action) => (
            *action,
            &policy_label,
            "(logs, vectors, embeddings on exact ARNs)".into(),
        ),
    };
    if !ctx.change(action, label, detail) {
        return Ok(());
    }
    let result = match edit {
        Edit::Boundary(_) => ctx
            .iam
            .put_role_permissions_boundary()
            .role_name(name)
            .permissions_boundary(&want)
            .send()
            .await
            .map(drop)
            .map_err(|e| describe(&e)),
        Edit::Trust => ctx
            .iam
            .update_assume_role_policy()
            .role_name(name)
            .policy_document(trust_policy().to_string())
            .send()
            .await
            .map(drop)
            .map_err(|e| describe(&e)),
        Edit::Policy(_) => ctx
            .iam
            .put_role_policy()
            .role_name(name)
            .policy_name(&ctx.names.policy)
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
pub async fn tag(ctx: &Ctx) -> anyhow::Result<()> {
    let mut req = ctx.iam.tag_role().role_name(&ctx.names.role);
    req = req.set_tags(Some(iam_tags(ctx)?));
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
pub async fn delete(ctx: &Ctx) -> anyhow::Result<()> {
    let name = &ctx.names.role;
    let policies = match ctx.iam.list_role_policies().role_name(name).send().await {
        Ok(out) => out.policy_names,
        Err(e) if is(&e, &["NoSuchEntity"]) => return Ok(()),
        Err(e) => bail!(
            "failed to list the policies of iam role {name}: {}",
            describe(&e)
        ),
    };
    ctx.change(Action::Delete, format!("iam role {name}"), "");
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
