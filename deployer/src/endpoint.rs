//! The embedding endpoint the stack calls. The stack never creates or changes it; it reads
//! how it is deployed (DescribeEndpoint, then DescribeEndpointConfig) so the function's
//! embedding calls fit it: a serverless variant (`ServerlessConfig`) allows 4 MiB answers and
//! `MaxConcurrency` calls at once, a real-time one 6 MiB. Flags the user passes win; without
//! flags and without read access the original setup's values apply (serverless, 2).

use crate::aws_error::describe;
use crate::cli::{EndpointProfile, StackArgs};
use crate::context::Ctx;
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
}

/// The original setup's endpoint: serverless, `max_concurrency = 2`.
const DEFAULT_CONCURRENCY: u32 = 2;

/// Flags first, then what the endpoint says, then the original setup's values.
pub fn resolve(args: &StackArgs, observed: Option<&Observed>) -> EndpointSettings {
    let profile = args
        .endpoint_profile
        .or(observed.map(|o| o.profile))
        .unwrap_or(EndpointProfile::Serverless);
    let max_concurrency = args
        .endpoint_max_concurrency
        .or(observed.and_then(|o| o.max_concurrency))
        .unwrap_or(DEFAULT_CONCURRENCY);
    EndpointSettings {
        profile,
        max_concurrency,
    }
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

/// The settings for `args`, reading the endpoint when a flag leaves something open.
pub async fn settings(ctx: &Ctx, args: &StackArgs) -> EndpointSettings {
    if args.endpoint_profile.is_some() && args.endpoint_max_concurrency.is_some() {
        return resolve(args, None);
    }
    let name = &args.embedding_endpoint;
    match observe(ctx, name).await {
        Ok(observed) => {
            if observed.status != "InService" {
                ctx.progress.warn(&format!(
                    "embedding endpoint {name} is {}; the function fails until it is InService",
                    observed.status
                ));
            }
            resolve(args, Some(&observed))
        }
        Err(why) => {
            let fallback = resolve(args, None);
            ctx.progress.warn(&format!(
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

    #[test]
    fn flags_win_then_the_endpoint_then_the_original_setup() {
        let observed = Observed {
            status: "InService".into(),
            profile: EndpointProfile::Serverless,
            max_concurrency: Some(8),
        };
        let got = resolve(&args(&[]), Some(&observed));
        assert_eq!(
            (got.profile, got.max_concurrency),
            (EndpointProfile::Serverless, 8)
        );
        let got = resolve(&args(&["--endpoint-max-concurrency", "3"]), Some(&observed));
        assert_eq!(got.max_concurrency, 3);
        let realtime = Observed {
            profile: EndpointProfile::Realtime,
            max_concurrency: None,
            ..observed
        };
        let got = resolve(&args(&[]), Some(&realtime));
        assert_eq!(
            (got.profile, got.max_concurrency),
            (EndpointProfile::Realtime, 2)
        );
        let got = resolve(&args(&["--endpoint-profile", "realtime"]), None);
        assert_eq!(got.profile, EndpointProfile::Realtime);
        let got = resolve(&args(&[]), None);
        assert_eq!(
            (got.profile, got.max_concurrency),
            (EndpointProfile::Serverless, 2)
        );
    }
}
