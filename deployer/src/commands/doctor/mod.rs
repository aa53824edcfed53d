//! `doctor`: checks what the stack depends on, each problem with a hint, and exits 0 only when
//! nothing failed. Read-only: it invokes the embedding endpoint once and makes the stack's
//! plan ([`crate::stack::plan`], which cannot change anything) with the deployed code (the
//! function's code is not compared: `plan` builds it for that).
//!
//! Checks: credentials and partition; region; the embedding endpoint (status, profile, the
//! answer's shape and size for a maximum chunk); the index (dimension, metric, mode,
//! embedding of its vectors); the stack's drift; and, where IAM lets it ask, whether the
//! deploying identity and the function's role have the permissions the stack needs.

mod checks;
mod permissions;

use crate::cli::DoctorArgs;
use crate::context::Ctx;
use crate::report::Report;
use crate::stack::Probe;
use serde::Serialize;
use std::process::ExitCode;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Fine.
    Ok,
    /// Works, but worth attention.
    Warn,
    /// Broken: the stack (or a command) will fail.
    Fail,
}

/// One check.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What was checked.
    pub name: &'static str,
    /// How it came out.
    pub status: Status,
    /// What was found.
    pub detail: String,
}

/// Every check.
#[derive(Debug, Serialize)]
pub struct DoctorReport {
    /// In order.
    pub checks: Vec<Check>,
}

impl std::fmt::Display for DoctorReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for c in &self.checks {
            let status = match c.status {
                Status::Ok => "ok",
                Status::Warn => "warn",
                Status::Fail => "FAIL",
            };
            let mut lines = c.detail.lines();
            writeln!(
                f,
                "{status:<5} {:<12} {}",
                c.name,
                lines.next().unwrap_or("")
            )?;
            for line in lines {
                writeln!(f, "{:<18} {line}", "")?;
            }
        }
        Ok(())
    }
}

impl Report for DoctorReport {
    fn summary(&self) -> Option<String> {
        let count = |s| self.checks.iter().filter(|c| c.status == s).count();
        Some(format!(
            "{} ok, {} warning(s), {} failure(s)",
            count(Status::Ok),
            count(Status::Warn),
            count(Status::Fail)
        ))
    }

    fn status(&self) -> ExitCode {
        if self.checks.iter().any(|c| c.status == Status::Fail) {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        }
    }
}

pub(super) fn check(name: &'static str, status: Status, detail: impl Into<String>) -> Check {
    Check {
        name,
        status,
        detail: detail.into(),
    }
}

/// `doctor`.
pub async fn run(ctx: &Ctx, args: &DoctorArgs) -> anyhow::Result<DoctorReport> {
    let stack = &args.stack;
    let mut checks = vec![
        check(
            "identity",
            Status::Ok,
            format!(
                "{} (account {}, partition {})",
                ctx.caller_arn, ctx.account, ctx.partition
            ),
        ),
        check("region", Status::Ok, ctx.target()),
    ];
    let settings = crate::endpoint::settings(ctx, stack).await;
    checks.push(checks::endpoint(ctx, stack).await);
    checks.push(match crate::stack::probe(ctx, stack, settings).await? {
        Probe::Fits { bytes } => check(
            "embedding",
            Status::Ok,
            format!(
                "a 256-token chunk embeds to {} dimensions in a {bytes}-byte answer (limit {})",
                stack.dimension,
                settings.profile.max_payload()
            ),
        ),
        Probe::Starting(why) => check("embedding", Status::Warn, why),
        Probe::Unfit(why) | Probe::Unchecked(why) => check("embedding", Status::Fail, why),
    });
    checks.push(checks::index(ctx, stack).await);
    checks.push(checks::drift(ctx, stack, settings).await);
    checks.extend(permissions(ctx, &stack.embedding_endpoint).await);
    Ok(DoctorReport { checks })
}

async fn permissions(ctx: &Ctx, endpoint: &str) -> Vec<Check> {
    let deployer_policy = include_str!("../../../deployer-policy.json")
        .replace("PARTITION", &ctx.partition)
        .replace("ACCOUNT_ID", &ctx.account);
    let deployer_policy: serde_json::Value =
        serde_json::from_str(&deployer_policy).unwrap_or_default();
    let function_policy = crate::resources::role::function_policy(ctx, endpoint);
    let mut out = Vec::new();
    let targets = [
        (
            "deploying",
            permissions::principal_arn(&ctx.caller_arn),
            deployer_policy,
        ),
        ("function", Some(ctx.role_arn()), function_policy),
    ];
    for (name, principal, policy) in targets {
        let Some(principal) = principal else {
            out.push(check(
                name,
                Status::Warn,
                format!(
                    "{} cannot be simulated (not a user or role)",
                    ctx.caller_arn
                ),
            ));
            continue;
        };
        out.push(match permissions::denied(ctx, &principal, &policy).await {
            Ok(denied) if denied.is_empty() => check(name, Status::Ok, format!("{principal} has every permission the stack needs")),
            Ok(denied) => {
                let hint = if name == "function" {
                    "hint: the role's permissions boundary (an administrator's policy) may predate this version: compare it with deployer/boundary-policy.json"
                } else {
                    "hint: attach the permissions in deployer/deployer-policy.json"
                };
                check(name, Status::Fail, format!("{principal} is denied:\n{}\n{hint}", denied.join("\n")))
            }
            Err(why) => check(name, Status::Warn, format!("not checked: {why}")),
        });
    }
    out
}
