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
use crate::resources::{Action, Applier, Change, Resource, joined, tags};
use anyhow::{anyhow, bail};
use aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationOutput;
use aws_sdk_lambda::types::{Architecture, Environment, FunctionCode, Runtime};
use aws_smithy_types::Blob;
use diff::{Current, HANDLER};

pub use diff::Diff;
use settle::{Transient, failed, is_settled, retry_transient};
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

/// The function's entry in the stack's table.
pub const RESOURCE: Resource = Resource {
    kind: Kind::Function,
    holds_data: false,
    seen: |ctx| Box::pin(seen(ctx)),
    tag: |a, _| Box::pin(tag(a)),
    delete: |a, _| Box::pin(delete(a)),
};

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

/// The code the function should run.
#[derive(Debug, Clone)]
pub enum Code {
    /// This artifact (its sha256 is compared with the deployed code's).
    Artifact(Artifact),
    /// Whatever is deployed (`doctor`: the code is not compared; cannot create the function).
    Deployed,
}

/// What the function needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Edit {
    /// It is missing: create it.
    Create,
    /// Repair its configuration and/or upload its code.
    Update(Diff),
}

/// The function's plan: the spec it is compared with, its ARN, and its edit.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The desired configuration.
    pub spec: FunctionSpec,
    /// Its ARN (as read, or the one it gets).
    pub arn: String,
    /// What to do, if anything.
    pub edit: Option<Edit>,
}

/// Reads the function (waiting for an update in progress to settle) and diffs it with `spec`
/// and `code`.
pub async fn plan(ctx: &Ctx, spec: FunctionSpec, code: &Code) -> anyhow::Result<Plan> {
    let Some(first) = read(ctx).await? else {
        return Ok(Plan {
            spec,
            arn: ctx.function_arn(),
            edit: Some(Edit::Create),
        });
    };
    let config = if is_settled(&first) {
        first
    } else {
        wait_settled(ctx).await?
    };
    let current = current(&config);
    let sha256 = match code {
        Code::Artifact(artifact) => artifact.sha256.clone(),
        Code::Deployed => current.code_sha256.clone().unwrap_or_default(),
    };
    let diff = diff::diff(&current, &spec, &sha256);
    let edit = (diff != Diff::default()).then_some(Edit::Update(diff));
    Ok(Plan {
        spec,
        arn: config.function_arn.unwrap_or_else(|| ctx.function_arn()),
        edit,
    })
}

fn create_change(ctx: &Ctx, spec: &FunctionSpec) -> Change {
    let detail = format!(
        "({}, {} MB, {} s, {})",
        diff::RUNTIME,
        spec.memory,
        spec.timeout,
        spec.arch.as_str()
    );
    Change::new(Action::Create, label(ctx), detail)
}

fn configuration_change(ctx: &Ctx, diff: &Diff) -> Option<Change> {
    (!diff.configuration.is_empty())
        .then(|| Change::new(Action::Update, label(ctx), joined(&diff.configuration)))
}

fn code_change(ctx: &Ctx, diff: &Diff) -> Option<Change> {
    diff.code.as_ref().map(|(from, to)| {
        let detail = format!("code: {} -> {to}", from.as_deref().unwrap_or("none"));
        Change::new(Action::Update, label(ctx), detail)
    })
}

/// How the plan shows `plan`.
pub fn changes(ctx: &Ctx, plan: &Plan) -> Vec<Change> {
    match &plan.edit {
        None => vec![],
        Some(Edit::Create) => vec![create_change(ctx, &plan.spec)],
        Some(Edit::Update(diff)) => configuration_change(ctx, diff)
            .into_iter()
            .chain(code_change(ctx, diff))
            .collect(),
    }
}

/// Makes the plan's edit with `code`; returns the function's ARN.
pub async fn apply(a: &Applier<'_>, plan: &Plan, code: &Code) -> anyhow::Result<String> {
    match &plan.edit {
        None => Ok(plan.arn.clone()),
        Some(Edit::Create) => create(a, &plan.spec, code).await,
        Some(Edit::Update(diff)) => {
            update(a, &plan.spec, code, diff).await?;
            Ok(plan.arn.clone())
        }
    }
}

fn artifact(code: &Code) -> anyhow::Result<&Artifact> {
    match code {
        Code::Artifact(artifact) => Ok(artifact),
        Code::Deployed => bail!("no code to deploy: the function's code was not built"),
    }
}

async fn create(a: &Applier<'_>, spec: &FunctionSpec, code: &Code) -> anyhow::Result<String> {
    let zip = artifact(code)?.zip.clone();
    a.made_now(create_change(a, spec));
    let created = retry_transient(Transient::RoleNotReady, || {
        a.lambda
            .create_function()
            .function_name(&a.names.function)
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
                    .zip_file(Blob::new(zip.clone()))
                    .build(),
            )
            .set_tags(Some(tags(a)))
            .send()
    })
    .await;
    match created {
        Ok(out) => {
            wait_settled(a).await?;
            Ok(out.function_arn.unwrap_or_else(|| a.function_arn()))
        }
        // Created meanwhile by another run, or a retried create whose first attempt
        // succeeded: converge the existing function instead.
        Err(e) if is(&e, &["ResourceConflictException"]) => {
            let again = plan(a, spec.clone(), code).await?;
            Box::pin(apply(a, &again, code)).await
        }
        Err(e) => Err(failed(&format!("create {}", label(a)), &e)),
    }
}

/// Makes the changes of `diff`: the configuration first, then the code.
async fn update(
    a: &Applier<'_>,
    spec: &FunctionSpec,
    code: &Code,
    diff: &Diff,
) -> anyhow::Result<()> {
    let label = label(a);
    let name = &a.names.function;
    if let Some(change) = configuration_change(a, diff) {
        a.made_now(change);
        retry_transient(Transient::RoleNotReadyOrUpdating, || {
            a.lambda
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
        wait_settled(a).await?;
    }
    let Some(change) = code_change(a, diff) else {
        return Ok(());
    };
    let zip = artifact(code)?.zip.clone();
    a.made_now(change);
    retry_transient(Transient::RoleNotReadyOrUpdating, || {
        a.lambda
            .update_function_code()
            .function_name(name)
            .zip_file(Blob::new(zip.clone()))
            .architectures(architecture(spec.arch))
            .send()
    })
    .await
    .map_err(|e| failed(&format!("upload the code of {label}"), &e))?;
    wait_settled(a).await?;
    Ok(())
}

/// The deployed function's environment and timeout (seconds); `None` when it does not exist.
pub async fn deployed_env(ctx: &Ctx) -> anyhow::Result<Option<(BTreeMap<String, String>, i32)>> {
    Ok(read(ctx).await?.map(|config| {
        let timeout = config.timeout().unwrap_or(3);
        (current(&config).env, timeout)
    }))
}

/// Sets (`Some`) or removes (`None`) environment variables of the deployed function, keeping
/// the rest of its configuration, and waits for the update to settle. Nothing is sent when the
/// environment already is so.
pub async fn set_env(a: &Applier<'_>, edits: &[(&str, Option<&str>)]) -> anyhow::Result<()> {
    let Some((mut env, _)) = deployed_env(a).await? else {
        bail!("{} does not exist\nhint: run `deployer up`", label(a));
    };
    let before = env.clone();
    for (key, value) in edits {
        match value {
            Some(v) => env.insert(key.to_string(), v.to_string()),
            None => env.remove(*key),
        };
    }
    if env == before {
        return Ok(());
    }
    let shown: Vec<String> = edits
        .iter()
        .map(|(k, v)| format!("{k}={}", v.unwrap_or("(removed)")))
        .collect();
    a.record(
        Action::Update,
        label(a),
        format!("environment: {}", shown.join(", ")),
    );
    retry_transient(Transient::RoleNotReadyOrUpdating, || {
        a.lambda
            .update_function_configuration()
            .function_name(&a.names.function)
            .environment(
                Environment::builder()
                    .set_variables(Some(env.clone().into_iter().collect()))
                    .build(),
            )
            .send()
    })
    .await
    .map_err(|e| failed(&format!("update the environment of {}", label(a)), &e))?;
    wait_settled(a).await?;
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
pub async fn tag(a: &Applier<'_>) -> anyhow::Result<()> {
    a.lambda
        .tag_resource()
        .resource(a.function_arn())
        .set_tags(Some(tags(a)))
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
pub async fn delete(a: &Applier<'_>) -> anyhow::Result<()> {
    let ctx: &Ctx = a;
    if read(ctx).await?.is_none() {
        return Ok(());
    }
    a.record(Action::Delete, label(ctx), "");
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
