//! The Lambda function: created with the role-propagation retry, then every change waits for
//! `State=Active` and `LastUpdateStatus` to settle; configuration drift is repaired field by
//! field ([`diff`]) and code is uploaded only when `CodeSha256` (or the architecture) differs.

mod diff;
mod settle;

pub use settle::wait_settled;

use crate::aws_error::{describe, is, is_not_found};
use crate::context::Ctx;
use crate::model::Arch;
use crate::ownership::{Kind, Seen};
use crate::package::Artifact;
use crate::resources::{Action, joined, tags};
use anyhow::{anyhow, bail};
use aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationOutput;
use aws_sdk_lambda::types::{Architecture, Environment, FunctionCode, Runtime};
use aws_smithy_types::Blob;
use diff::{Current, Diff, HANDLER};
use settle::{failed, is_settled, retry_transient};
use std::collections::BTreeMap;

/// The desired function configuration.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    /// Execution role ARN.
    pub role_arn: String,
    /// MB.
    pub memory: i32,
    /// Seconds.
    pub timeout: i32,
    /// Architecture.
    pub arch: Arch,
    /// Environment variables.
    pub env: BTreeMap<String, String>,
}

fn architecture(arch: Arch) -> Architecture {
    match arch {
        Arch::X86_64 => Architecture::X8664,
        Arch::Arm64 => Architecture::Arm64,
    }
}

fn label(ctx: &Ctx) -> String {
    format!("lambda function {}", ctx.names.function)
}

/// Reads the function's configuration; `None` when it does not exist.
async fn read(ctx: &Ctx) -> anyhow::Result<Option<GetFunctionConfigurationOutput>> {
    match ctx
        .lambda
        .get_function_configuration()
        .function_name(&ctx.names.function)
        .send()
        .await
    {
        Ok(out) => Ok(Some(out)),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => bail!("failed to read {}: {}", label(ctx), describe(&e)),
    }
}

/// The fields [`diff::diff`] compares, from a configuration as read.
fn current(config: &GetFunctionConfigurationOutput) -> Current {
    Current {
        runtime: config.runtime().map(|r| r.as_str().to_string()),
        handler: config.handler().map(str::to_string),
        role: config.role().map(str::to_string),
        memory: config.memory_size(),
        timeout: config.timeout(),
        env: config
            .environment()
            .and_then(|e| e.variables())
            .map(|v| v.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
        arch: config
            .architectures()
            .first()
            .map(|a| a.as_str().to_string()),
        code_sha256: config.code_sha256().map(str::to_string),
    }
}

fn environment(spec: &FunctionSpec) -> Environment {
    Environment::builder()
        .set_variables(Some(spec.env.clone().into_iter().collect()))
        .build()
}

/// Creates or converges the function; returns its ARN.
pub async fn ensure(ctx: &Ctx, spec: &FunctionSpec, code: &Artifact) -> anyhow::Result<String> {
    let Some(first) = read(ctx).await? else {
        return create(ctx, spec, code).await;
    };
    let config = if is_settled(&first) {
        first
    } else {
        wait_settled(ctx).await?
    };
    apply(
        ctx,
        spec,
        code,
        diff::diff(&current(&config), spec, &code.sha256),
    )
    .await?;
    Ok(config.function_arn.unwrap_or_else(|| ctx.function_arn()))
}

async fn create(ctx: &Ctx, spec: &FunctionSpec, code: &Artifact) -> anyhow::Result<String> {
    let detail = format!(
        "({}, {} MB, {} s, {})",
        diff::RUNTIME,
        spec.memory,
        spec.timeout,
        spec.arch.as_str()
    );
    if !ctx.change(Action::Create, label(ctx), detail) {
        return Ok(ctx.function_arn());
    }
    let created = retry_transient(false, || {
        ctx.lambda
            .create_function()
            .function_name(&ctx.names.function)
            .runtime(Runtime::Providedal2023)
            .handler(HANDLER)
            .role(&spec.role_arn)
            .memory_size(spec.memory)
            .timeout(spec.timeout)
            .architectures(architecture(spec.arch))
            .environment(environment(spec))
            .description("alex document ingest and search")
            .code(
                FunctionCode::builder()
                    .zip_file(Blob::new(code.zip.clone()))
                    .build(),
            )
            .set_tags(Some(tags(ctx)))
            .send()
    })
    .await;
    match created {
        Ok(out) => {
            wait_settled(ctx).await?;
            Ok(out.function_arn.unwrap_or_else(|| ctx.function_arn()))
        }
        // Created meanwhile by another run, or a retried create whose first attempt
        // succeeded: converge the existing function instead.
        Err(e) if is(&e, &["ResourceConflictException"]) => Box::pin(ensure(ctx, spec, code)).await,
        Err(e) => Err(failed(&format!("create {}", label(ctx)), &e)),
    }
}

/// Makes the changes of `diff`: the configuration first, then the code.
async fn apply(ctx: &Ctx, spec: &FunctionSpec, code: &Artifact, diff: Diff) -> anyhow::Result<()> {
    let label = label(ctx);
    let name = &ctx.names.function;
    if !diff.configuration.is_empty()
        && ctx.change(Action::Update, &label, joined(&diff.configuration))
    {
        retry_transient(true, || {
            ctx.lambda
                .update_function_configuration()
                .function_name(name)
                .runtime(Runtime::Providedal2023)
                .handler(HANDLER)
                .role(&spec.role_arn)
                .memory_size(spec.memory)
                .timeout(spec.timeout)
                .environment(environment(spec))
                .send()
        })
        .await
        .map_err(|e| failed(&format!("update the configuration of {label}"), &e))?;
        wait_settled(ctx).await?;
    }
    let Some((from, to)) = diff.code else {
        return Ok(());
    };
    let detail = format!("code: {} -> {to}", from.as_deref().unwrap_or("none"));
    if ctx.change(Action::Update, &label, detail) {
        retry_transient(true, || {
            ctx.lambda
                .update_function_code()
                .function_name(name)
                .zip_file(Blob::new(code.zip.clone()))
                .architectures(architecture(spec.arch))
                .send()
        })
        .await
        .map_err(|e| failed(&format!("upload the code of {label}"), &e))?;
        wait_settled(ctx).await?;
    }
    Ok(())
}

/// The function with the stack's name, if any, judged by its tags (GetFunction returns them
/// only to callers allowed `lambda:ListTags`).
pub async fn seen(ctx: &Ctx) -> anyhow::Result<Vec<Seen>> {
    let name = &ctx.names.function;
    match ctx.lambda.get_function().function_name(name).send().await {
        Ok(out) => {
            if let Some(err) = out.tags_error() {
                bail!(
                    "could not read the tags of lambda function {name}: {}\nhint: the deploying identity needs lambda:ListTags on it (see deployer/deployer-policy.json)",
                    err.message()
                );
            }
            Ok(vec![Seen::new(ctx, Kind::Function, name, None, out.tags())])
        }
        Err(e) if is_not_found(&e) => Ok(vec![]),
        Err(e) => bail!("failed to read lambda function {name}: {}", describe(&e)),
    }
}

/// Tags the function as the stack's.
pub async fn tag(ctx: &Ctx) -> anyhow::Result<()> {
    ctx.lambda
        .tag_resource()
        .resource(ctx.function_arn())
        .set_tags(Some(tags(ctx)))
        .send()
        .await
        .map_err(|e| anyhow!(describe(&e)))?;
    Ok(())
}

/// The function's ARN, if it exists.
pub async fn arn(ctx: &Ctx) -> anyhow::Result<Option<String>> {
    Ok(read(ctx)
        .await?
        .map(|c| c.function_arn.unwrap_or_else(|| ctx.function_arn())))
}

/// Deletes the function.
pub async fn delete(ctx: &Ctx) -> anyhow::Result<()> {
    if read(ctx).await?.is_none() {
        return Ok(());
    }
    ctx.change(Action::Delete, label(ctx), "");
    match ctx
        .lambda
        .delete_function()
        .function_name(&ctx.names.function)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => bail!("failed to delete {}: {}", label(ctx), describe(&e)),
    }
}
