//! The function's IAM role (trust: lambda.amazonaws.com) and its least-privilege inline policy,
//! which names exact ARNs only: its log group, its index, its embedding endpoint.

use crate::aws_error::{describe, is};
use crate::context::Ctx;
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
    let log_group = format!(
        "arn:aws:logs:{}:{}:log-group:{}",
        ctx.region, ctx.account, ctx.names.log_group
    );
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
                "Resource": [format!(
                    "arn:aws:sagemaker:{}:{}:endpoint/{}",
                    ctx.region,
                    ctx.account,
                    endpoint.to_ascii_lowercase()
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
