//! The embedding endpoint the stack calls. The stack never creates or changes it; it reads
//! how it is deployed (DescribeEndpoint, then DescribeEndpointConfig) so the function's
//! embedding calls fit it: a serverless variant (`ServerlessConfig`) allows 4 MiB answers and
//! `MaxConcurrency` calls at once, a real-time one 6 MiB. Flags the user passes win and stick:
//! the function's `EMBED_PINNED` variable names the settings a flag set, so a later `up` or
//! `plan` without the flag keeps them (until `--unpin-endpoint-settings`). Without flags, pins
//! or read access the original setup's values apply (serverless, 2).

use crate::aws_error::describe;
use crate::cli::StackArgs;
use crate::context::Ctx;
use crate::model::EndpointProfile;
use serde::Serialize;

/// What DescribeEndpoint/DescribeEndpointConfig showed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Observed {
    /// `EndpointStatus` (`InService`, `Creating`, `Failed`, …).
    pub status: String,
    /// Serverless or real-time.
    pub profile: EndpointProfile,
    /// Serverless `MaxConcurrency`.
    pub max_concurrency: Option<u32>,
}

/// The settings the function gets for the endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EndpointSettings {
    /// Payload limits follow from it.
    pub profile: EndpointProfile,
    /// Embedding calls in flight at most.
    pub max_concurrency: u32,
    /// The profile came from a flag (now or at an earlier `up`).
    pub profile_pinned: bool,
    /// The concurrency came from a flag (now or at an earlier `up`).
    pub concurrency_pinned: bool,
}

/// The function variable naming the settings a flag pinned.
pub const PINNED_VAR: &str = "EMBED_PINNED";
const PAYLOAD_VAR: &str = "EMBED_MAX_PAYLOAD_BYTES";
const CONCURRENCY_VAR: &str = "EMBED_CONCURRENCY";

impl EndpointSettings {
    /// The function's environment variables for these settings.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let mut vars = vec![
            (PAYLOAD_VAR, self.profile.max_payload().to_string()),
            (CONCURRENCY_VAR, self.max_concurrency.to_string()),
        ];
        let pinned: Vec<&str> = [
            (self.profile_pinned, PAYLOAD_VAR),
            (self.concurrency_pinned, CONCURRENCY_VAR),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, var)| *var)
        .collect();
        if !pinned.is_empty() {
            vars.push((PINNED_VAR, pinned.join(",")));
        }
        vars
    }
}

/// What a flag pinned at an earlier `up`, read from the deployed function's environment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pinned {
    /// The pinned profile.
    pub profile: Option<EndpointProfile>,
    /// The pinned concurrency.
    pub max_concurrency: Option<u32>,
}

impl Pinned {
    /// From the function's variables (absent function: nothing pinned).
    pub fn from_env(vars: &std::collections::HashMap<String, String>) -> Self {
        let pinned = vars.get(PINNED_VAR).map_or("", String::as_str);
        let is = |var: &str| pinned.split(',').any(|p| p == var);
        Self {
            profile: if is(PAYLOAD_VAR) {
                vars.get(PAYLOAD_VAR)
                    .and_then(|v| v.parse().ok())
                    .and_then(EndpointProfile::from_max_payload)
            } else {
                None
            },
            max_concurrency: if is(CONCURRENCY_VAR) {
                vars.get(CONCURRENCY_VAR).and_then(|v| v.parse().ok())
            } else {
                None
            },
        }
    }
}

/// The original setup's endpoint: serverless, `max_concurrency = 2`.
const DEFAULT_CONCURRENCY: u32 = 2;

/// Flags first, then earlier flags (pins), then what the endpoint says, then the original
/// setup's values.
pub fn resolve(args: &StackArgs, pinned: Pinned, observed: Option<&Observed>) -> EndpointSettings {
    let pinned = if args.unpin_endpoint_settings {
        Pinned::default()
    } else {
        pinned
    };
    let flag_profile = args.endpoint_profile.or(pinned.profile);
    let flag_concurrency = args.endpoint_max_concurrency.or(pinned.max_concurrency);
    EndpointSettings {
        profile: flag_profile
            .or(observed.map(|o| o.profile))
            .unwrap_or(EndpointProfile::Serverless),
        max_concurrency: flag_concurrency
            .or(observed.and_then(|o| o.max_concurrency))
            .unwrap_or(DEFAULT_CONCURRENCY),
        profile_pinned: flag_profile.is_some(),
        concurrency_pinned: flag_concurrency.is_some(),
    }
}

/// What earlier flags pinned on the deployed function; nothing when it does not exist or
/// cannot be read (the read is repeated, and reported, by the function's own convergence).
async fn pinned(ctx: &Ctx) -> Pinned {
    let out = ctx
        .lambda
        .get_function_configuration()
        .function_name(&ctx.names.function)
        .send()
        .await;
    out.ok()
        .and_then(|f| f.environment().and_then(|e| e.variables().cloned()))
        .map(|vars| Pinned::from_env(&vars))
        .unwrap_or_default()
}

/// Reads the endpoint's deployment; `Err` says why it could not (a warning, not a failure:
/// the stack may be deployed before the endpoint, or the identity may lack the permission).
pub async fn observe(ctx: &Ctx, name: &str) -> Result<Observed, String> {
    let endpoint = ctx
        .sagemaker_api
        .describe_endpoint()
        .endpoint_name(name)
        .send()
        .await
        .map_err(|e| describe(&e))?;
    let status = endpoint
        .endpoint_status()
        .map_or_else(|| "unknown".to_string(), |s| s.as_str().to_string());
    let config_name = endpoint
        .endpoint_config_name()
        .ok_or("DescribeEndpoint returned no endpoint configuration name")?;
    let config = ctx
        .sagemaker_api
        .describe_endpoint_config()
        .endpoint_config_name(config_name)
        .send()
        .await
        .map_err(|e| describe(&e))?;
    let serverless = config
        .production_variants()
        .iter()
        .find_map(|v| v.serverless_config());
    Ok(Observed {
        status,
        profile: if serverless.is_some() {
            EndpointProfile::Serverless
        } else {
            EndpointProfile::Realtime
        },
        max_concurrency: serverless
            .and_then(|s| s.max_concurrency())
            .and_then(|n| u32::try_from(n).ok()),
    })
}

/// The settings for `args`, reading the endpoint when flags and pins leave something open.
pub async fn settings(ctx: &Ctx, args: &StackArgs) -> EndpointSettings {
    let pins = pinned(ctx).await;
    let settled = resolve(args, pins, None);
    if settled.profile_pinned && settled.concurrency_pinned {
        return settled;
    }
    let name = &args.embedding_endpoint;
    match observe(ctx, name).await {
        Ok(observed) => {
            if observed.status != "InService" {
                ctx.printer.warn(&format!(
                    "embedding endpoint {name} is {}; the function fails until it is InService",
                    observed.status
                ));
            }
            resolve(args, pins, Some(&observed))
        }
        Err(why) => {
            let fallback = settled;
            ctx.printer.warn(&format!(
                "could not read how embedding endpoint {name} is deployed ({why}); assuming {:?} with max concurrency {}\nhint: pass --endpoint-profile and --endpoint-max-concurrency, or allow sagemaker:DescribeEndpoint and sagemaker:DescribeEndpointConfig",
                fallback.profile, fallback.max_concurrency
            ));
            fallback
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(extra: &[&str]) -> StackArgs {
        #[derive(Parser)]
        struct Wrap {
            #[command(flatten)]
            stack: StackArgs,
        }
        let mut argv = vec!["x"];
        argv.extend_from_slice(extra);
        Wrap::parse_from(argv).stack
    }

    fn observed(profile: EndpointProfile, max_concurrency: Option<u32>) -> Observed {
        Observed {
            status: "InService".into(),
            profile,
            max_concurrency,
        }
    }

    #[test]
    fn flags_win_then_the_endpoint_then_the_original_setup() {
        let none = Pinned::default();
        let serverless = observed(EndpointProfile::Serverless, Some(8));
        let got = resolve(&args(&[]), none, Some(&serverless));
        assert_eq!(
            (got.profile, got.max_concurrency),
            (EndpointProfile::Serverless, 8)
        );
        assert!(!got.profile_pinned && !got.concurrency_pinned);
        let got = resolve(
            &args(&["--endpoint-max-concurrency", "3"]),
            none,
            Some(&serverless),
        );
        assert_eq!(got.max_concurrency, 3);
        assert!(got.concurrency_pinned && !got.profile_pinned);
        let realtime = observed(EndpointProfile::Realtime, None);
        let got = resolve(&args(&[]), none, Some(&realtime));
        assert_eq!(
            (got.profile, got.max_concurrency),
            (EndpointProfile::Realtime, 2)
        );
        let got = resolve(&args(&["--endpoint-profile", "realtime"]), none, None);
        assert_eq!(got.profile, EndpointProfile::Realtime);
        let got = resolve(&args(&[]), none, None);
        assert_eq!(
            (got.profile, got.max_concurrency),
            (EndpointProfile::Serverless, 2)
        );
    }

    #[test]
    fn pinned_settings_survive_until_unpinned_and_round_trip_through_the_environment() {
        let first = resolve(
            &args(&["--endpoint-max-concurrency", "4"]),
            Pinned::default(),
            None,
        );
        let vars: std::collections::HashMap<String, String> = first
            .env()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        assert_eq!(vars[PINNED_VAR], "EMBED_CONCURRENCY");
        let pins = Pinned::from_env(&vars);
        assert_eq!(
            pins,
            Pinned {
                profile: None,
                max_concurrency: Some(4)
            }
        );
        let realtime = observed(EndpointProfile::Realtime, None);
        let later = resolve(&args(&[]), pins, Some(&realtime));
        assert_eq!(
            (later.profile, later.max_concurrency),
            (EndpointProfile::Realtime, 4)
        );
        assert!(later.concurrency_pinned && !later.profile_pinned);
        let unpinned = resolve(&args(&["--unpin-endpoint-settings"]), pins, Some(&realtime));
        assert_eq!(unpinned.max_concurrency, 2);
        assert!(!unpinned.env().iter().any(|(k, _)| *k == PINNED_VAR));
    }
}
