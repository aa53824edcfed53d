//! The function's IAM role (trust: lambda.amazonaws.com) and its least-privilege inline policy,
//! which names exact ARNs only: its log group, its index, its embedding endpoint. The role
//! always carries the stack's permissions boundary (an administrator's managed policy), so the
//! deploying identity can never make a role that does more than the function needs.

use crate::aws_error::{describe, is};
use crate::context::Ctx;
use crate::ownership::{Kind, Seen, tag_map};
use anyhow::{anyhow, bail};
use serde_json::{Value, json};

/// The trust policy.
pub fn trust_policy() -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole"
        }]
    })
}

/// The inline policy for the function's work.
pub fn function_policy(ctx: &Ctx, endpoint: &str) -> Value {
    let log_group = ctx.log_group_arn();
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Logs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": [format!("{log_group}:*")]
            },
            {
                "Sid": "Vectors",
                "Effect": "Allow",
                "Action": [
                    "s3vectors:PutVectors", "s3vectors:GetVectors", "s3vectors:QueryVectors",
                    "s3vectors:DeleteVectors", "s3vectors:GetIndex"
                ],
                "Resource": [ctx.index_arn()]
            },
            {
                "Sid": "Embeddings",
                "Effect": "Allow",
                "Action": ["sagemaker:InvokeEndpoint"],
                "Resource": [ctx.arn(
                    "sagemaker",
                    &ctx.region,
                    &ctx.account,
                    &format!("endpoint/{}", endpoint.to_ascii_lowercase()),
                )]
            }
        ]
    })
}

/// IAM returns policy documents URL-encoded.
pub fn decode_policy(doc: &str) -> Option<Value> {
    let bytes = doc.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = doc.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    serde_json::from_slice(&out)
        .ok()
        .or_else(|| serde_json::from_str(doc).ok())
}

/// Creates or repairs the role and its policy; returns the role ARN.
pub async fn ensure(ctx: &Ctx, endpoint: &str) -> anyhow::Result<String> {
    let name = &ctx.names.role;
    let label = format!("iam role {name}");
    let trust = trust_policy();
    let arn = match ctx.iam.get_role().role_name(name).send().await {
        Ok(out) => {
            let role = out
                .role
                .ok_or_else(|| anyhow!("GetRole returned no role for {name}"))?;
            ensure_boundary(ctx, &role).await?;
            let current = role.assume_role_policy_document().and_then(decode_policy);
            if current.as_ref() != Some(&trust)
                && ctx.change("update", &label, "trust policy -> lambda.amazonaws.com")
            {
                ctx.iam
                    .update_assume_role_policy()
                    .role_name(name)
                    .policy_document(trust.to_string())
                    .send()
                    .await
                    .map_err(|e| {
                        anyhow!(
                            "failed to update the trust policy of {label}: {}",
                            describe(&e)
                        )
                    })?;
            }
            role.arn
        }
        Err(e) if is(&e, &["NoSuchEntity"]) => {
            if !ctx.change("create", &label, "(trust: lambda.amazonaws.com)") {
                ctx.change(
                    "create",
                    format!("iam role policy {}", ctx.names.policy),
                    "(exact ARNs)",
                );
                return Ok(ctx.role_arn());
            }
            let mut req = ctx
                .iam
                .create_role()
                .role_name(name)
                .permissions_boundary(ctx.boundary_arn())
                .assume_role_policy_document(trust.to_string())
                .description(format!(
                    "Execution role of the {} function",
                    ctx.names.function
                ));
            for (k, v) in ctx.tags() {
                req = req.tags(aws_sdk_iam::types::Tag::builder().key(k).value(v).build()?);
            }
            match req.send().await {
                Ok(out) => out.role.map(|r| r.arn).unwrap_or_else(|| ctx.role_arn()),
                Err(e) if is(&e, &["EntityAlreadyExists"]) => ctx.role_arn(),
                Err(e) => bail!("failed to create {label}: {}", describe(&e)),
            }
        }
        Err(e) => bail!("failed to read {label}: {}", describe(&e)),
    };
    let desired = function_policy(ctx, endpoint);
    let policy_label = format!("iam role policy {}", ctx.names.policy);
    let current = match ctx
        .iam
        .get_role_policy()
        .role_name(name)
        .policy_name(&ctx.names.policy)
        .send()
        .await
    {
        Ok(out) => decode_policy(&out.policy_document),
        Err(e) if is(&e, &["NoSuchEntity"]) => None,
        Err(e) => bail!("failed to read {policy_label}: {}", describe(&e)),
    };
    if current.as_ref() != Some(&desired) {
        let action = if current.is_some() {
            "update"
        } else {
            "create"
        };
        if ctx.change(
            action,
            &policy_label,
            "(logs, vectors, embeddings on exact ARNs)",
        ) {
            ctx.iam
                .put_role_policy()
                .role_name(name)
                .policy_name(&ctx.names.policy)
                .policy_document(desired.to_string())
                .send()
                .await
                .map_err(|e| anyhow!("failed to put {policy_label}: {}", describe(&e)))?;
        }
    }
    Ok(arn)
}

/// Sets the stack's permissions boundary on an existing role that lacks it (a role adopted
/// from the original stack, or made before boundaries).
async fn ensure_boundary(ctx: &Ctx, role: &aws_sdk_iam::types::Role) -> anyhow::Result<()> {
    let want = ctx.boundary_arn();
    let have = role
        .permissions_boundary()
        .and_then(|b| b.permissions_boundary_arn());
    if have == Some(want.as_str()) {
        return Ok(());
    }
    let label = format!("iam role {}", ctx.names.role);
    if ctx.change(
        "update",
        &label,
        format!("permissions boundary: {} -> {want}", have.unwrap_or("none")),
    ) {
        ctx.iam
            .put_role_permissions_boundary()
            .role_name(&ctx.names.role)
            .permissions_boundary(&want)
            .send()
            .await
            .map_err(|e| {
                anyhow!(
                    "failed to set the permissions boundary of {label}: {}",
                    describe(&e)
                )
            })?;
    }
    Ok(())
}

/// The permissions boundary document (`deployer/boundary-policy.json`) for this stack: its
/// names, account and partition.
pub fn boundary_document(ctx: &Ctx, endpoint: &str) -> String {
    include_str!("../../boundary-policy.json")
        .replace("/aws/lambda/alex-ingest", &ctx.names.log_group)
        .replace("alex-vectors-ACCOUNT_ID", &ctx.names.bucket)
        .replace(
            "endpoint/alex-embedding-endpoint",
            &format!("endpoint/{}", endpoint.to_ascii_lowercase()),
        )
        .replace("ACCOUNT_ID", &ctx.account)
        .replace("PARTITION", &ctx.partition)
}

/// Makes sure the permissions boundary exists before a role is made with it. An identity
/// allowed `iam:CreatePolicy` (an administrator) creates it; the least-privileged deploying
/// identity cannot, and is told who must. An existing boundary is never changed.
pub async fn ensure_boundary_policy(ctx: &Ctx, endpoint: &str) -> anyhow::Result<()> {
    let arn = ctx.boundary_arn();
    match ctx.iam.get_policy().policy_arn(&arn).send().await {
        Ok(_) => return Ok(()),
        Err(e) if is(&e, &["NoSuchEntity"]) => {}
        Err(e) => bail!(
            "failed to read the permissions boundary {arn}: {}",
            describe(&e)
        ),
    }
    let label = format!("iam policy {}", ctx.names.boundary);
    if !ctx.change(
        "create",
        &label,
        "(permissions boundary of the function role)",
    ) {
        return Ok(());
    }
    let mut req = ctx
        .iam
        .create_policy()
        .policy_name(&ctx.names.boundary)
        .description("Permissions boundary of the alex function role: the most it may ever do")
        .policy_document(boundary_document(ctx, endpoint));
    for (k, v) in ctx.tags() {
        req = req.tags(aws_sdk_iam::types::Tag::builder().key(k).value(v).build()?);
    }
    match req.send().await {
        Ok(_) => Ok(()),
        Err(e) if is(&e, &["EntityAlreadyExists"]) => Ok(()),
        Err(e) if is(&e, &["AccessDenied", "AccessDeniedException"]) => bail!(
            "the permissions boundary {arn} does not exist, and this identity may not create it; every role the stack creates must carry it\nhint: an administrator creates it once: `aws iam create-policy --policy-name {} --policy-document file://deployer/boundary-policy.json` (replace PARTITION and ACCOUNT_ID in the file first; see README, \"Deploying with least privilege\")",
            ctx.names.boundary
        ),
        Err(e) => bail!("failed to create {label}: {}", describe(&e)),
    }
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
    for (k, v) in ctx.tags() {
        req = req.tags(aws_sdk_iam::types::Tag::builder().key(k).value(v).build()?);
    }
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
    ctx.change("delete", format!("iam role {name}"), "");
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
