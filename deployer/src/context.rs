//! One context for a command: SDK clients, account, region, resource names, the printer. It
//! carries no mode: what changes AWS takes an [`crate::resources::Applier`], which only
//! [`crate::stack`] makes.

use crate::cli::GlobalArgs;
use crate::printer::Printer;
use anyhow::{Context as _, anyhow};
use shared::names::StackNames;

/// Everything a command needs.
pub struct Ctx {
    /// IAM.
    pub iam: aws_sdk_iam::Client,
    /// Lambda.
    pub lambda: aws_sdk_lambda::Client,
    /// CloudWatch Logs.
    pub logs: aws_sdk_cloudwatchlogs::Client,
    /// API Gateway (REST).
    pub apigw: aws_sdk_apigateway::Client,
    /// S3 Vectors.
    pub s3v: aws_sdk_s3vectors::Client,
    /// SageMaker Runtime.
    pub sagemaker: aws_sdk_sagemakerruntime::Client,
    /// SageMaker (control plane; the endpoint is only described, never changed).
    pub sagemaker_api: aws_sdk_sagemaker::Client,
    /// The account id.
    pub account: String,
    /// The caller's partition (`aws`, `aws-cn`, `aws-us-gov`), from its ARN: every ARN the
    /// deployer writes uses it.
    pub partition: String,
    /// The caller's ARN (`…:user/NAME`, `…:assumed-role/ROLE/SESSION`).
    pub caller_arn: String,
    /// The region.
    pub region: String,
    /// `--endpoint-url` / `AWS_ENDPOINT_URL`, when set.
    pub endpoint_url: Option<String>,
    /// Resource names.
    pub names: StackNames,
    /// The index a blue/green `reindex --into` is filling, while it runs: the function's role
    /// may write it too.
    pub mirror_index: Option<String>,
    /// The endpoint of the model a blue/green `reindex --into` fills the new index with, when
    /// it is another model: the function's role may invoke it too.
    pub mirror_endpoint: Option<String>,
    /// Progress output.
    pub printer: Printer,
}

/// Why sts:GetCallerIdentity failed, with a hint: no credentials, an endpoint that cannot be
/// reached (the local AWS not running), or credentials AWS refused.
fn identity_error<E, R>(
    global: &GlobalArgs,
    e: &aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> anyhow::Error
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let profile = global
        .profile
        .clone()
        .or_else(|| std::env::var("AWS_PROFILE").ok())
        .map_or(String::new(), |p| format!(" (profile `{p}`)"));
    let endpoint = global.endpoint_url.as_deref().unwrap_or("AWS");
    let local = global
        .endpoint_url
        .as_deref()
        .is_some_and(crate::api_client::is_loopback_url);
    if crate::aws_error::is_missing_credentials(e) {
        anyhow!(
            "no AWS credentials found{profile}\nhint: configure credentials (`aws configure`, `aws sso login`, `--profile`); for the local AWS: eval \"$(localaws/ctl env)\""
        )
    } else if matches!(
        e,
        aws_smithy_runtime_api::client::result::SdkError::DispatchFailure(_)
    ) {
        let hint = if local {
            "is the local AWS running? `localaws/ctl start` (and `localaws/ctl status`)"
        } else {
            "check the network, a proxy, or `--endpoint-url`"
        };
        anyhow!(
            "could not reach {endpoint}: {}\nhint: {hint}",
            crate::aws_error::transport_cause(e)
        )
    } else {
        anyhow!(
            "could not identify the AWS account (sts:GetCallerIdentity){profile}: {}\nhint: check the credentials (`aws sts get-caller-identity`) or `--profile`",
            crate::aws_error::describe(e)
        )
    }
}

/// The HTTPS client of every SDK call: rustls on *ring*, with the platform's roots.
fn https_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls;
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

/// The SDK configuration of the global flags: credentials and region through the standard
/// chain (`--profile`, environment, SSO, …), `--region` (resolved before the command runs:
/// flag, `.env`, `DEFAULT_AWS_REGION`) else the chain's, `--endpoint-url`.
pub async fn sdk_config(global: &GlobalArgs) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(https_client())
        .retry_config(
            aws_config::retry::RetryConfig::standard()
                .with_max_attempts(5)
                .with_max_backoff(std::time::Duration::from_secs(10)),
        );
    if let Some(profile) = &global.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(url) = &global.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    // Resolved before the command runs (flag, `.env`, `DEFAULT_AWS_REGION`); else the
    // SDK's chain (`AWS_REGION`, the profile).
    if let Some(region) = &global.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    loader.load().await
}

impl Ctx {
    /// Loads credentials and region through the standard chain and resolves the account.
    pub async fn load(global: &GlobalArgs, index: &str) -> anyhow::Result<Self> {
        let sdk = sdk_config(global).await;
        let region = sdk
            .region()
            .map(|r| r.to_string())
            .ok_or_else(|| anyhow!("no AWS region is configured\nhint: pass `--region us-east-1`, set `AWS_REGION`, or put `DEFAULT_AWS_REGION=` in `.env`"))?;
        let sts = aws_sdk_sts::Client::new(&sdk);
        let identity = sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| identity_error(global, &e))?;
        let account = identity
            .account()
            .context("sts:GetCallerIdentity returned no account id")?
            .to_string();
        let partition = identity
            .arn()
            .and_then(|arn| arn.split(':').nth(1))
            .filter(|p| !p.is_empty())
            .unwrap_or("aws")
            .to_string();
        Ok(Self {
            iam: aws_sdk_iam::Client::new(&sdk),
            lambda: aws_sdk_lambda::Client::new(&sdk),
            logs: aws_sdk_cloudwatchlogs::Client::new(&sdk),
            apigw: aws_sdk_apigateway::Client::new(&sdk),
            s3v: aws_sdk_s3vectors::Client::new(&sdk),
            sagemaker: aws_sdk_sagemakerruntime::Client::new(&sdk),
            sagemaker_api: aws_sdk_sagemaker::Client::new(&sdk),
            names: StackNames::new(&global.name, &account, index),
            mirror_index: None,
            mirror_endpoint: None,
            account,
            partition,
            caller_arn: identity.arn().unwrap_or_default().to_string(),
            region,
            endpoint_url: global.endpoint_url.clone(),
            printer: Printer::of(global),
        })
    }

    /// `arn:{partition}:{service}:{region}:{account}:{resource}`; `region` and `account` may
    /// be empty (IAM has no region, API Gateway paths neither).
    pub fn arn(&self, service: &str, region: &str, account: &str, resource: &str) -> String {
        format!(
            "arn:{}:{service}:{region}:{account}:{resource}",
            self.partition
        )
    }

    /// The function role's ARN.
    pub fn role_arn(&self) -> String {
        self.arn(
            "iam",
            "",
            &self.account,
            &format!("role/{}", self.names.role),
        )
    }

    /// The permissions boundary every role the stack creates carries.
    pub fn boundary_arn(&self) -> String {
        self.arn(
            "iam",
            "",
            &self.account,
            &format!("policy/{}", self.names.boundary),
        )
    }

    /// The function's ARN.
    pub fn function_arn(&self) -> String {
        self.arn(
            "lambda",
            &self.region,
            &self.account,
            &format!("function:{}", self.names.function),
        )
    }

    /// The log group's ARN (tagging form, without `:*`).
    pub fn log_group_arn(&self) -> String {
        self.arn(
            "logs",
            &self.region,
            &self.account,
            &format!("log-group:{}", self.names.log_group),
        )
    }

    /// The ARN of an API Gateway resource path (`/restapis/{id}`).
    pub fn apigateway_arn(&self, path: &str) -> String {
        self.arn("apigateway", &self.region, "", path)
    }

    /// The vector bucket's ARN.
    pub fn bucket_arn(&self) -> String {
        self.arn(
            "s3vectors",
            &self.region,
            &self.account,
            &format!("bucket/{}", self.names.bucket),
        )
    }

    /// The index's ARN.
    pub fn index_arn(&self) -> String {
        format!("{}/index/{}", self.bucket_arn(), self.names.index)
    }

    /// The ARNs of the indexes the function uses: the index, and the mirror while one is set.
    pub fn index_arns(&self) -> Vec<String> {
        let mirror = self.mirror_index.iter();
        std::iter::once(self.index_arn())
            .chain(mirror.map(|m| format!("{}/index/{m}", self.bucket_arn())))
            .collect()
    }

    /// The ARNs of the endpoints the function invokes: `endpoint`, and the mirror's own while
    /// one is set.
    pub fn endpoint_arns(&self, endpoint: &str) -> Vec<String> {
        std::iter::once(endpoint)
            .chain(self.mirror_endpoint.as_deref())
            .map(|e| {
                let resource = format!("endpoint/{}", e.to_ascii_lowercase());
                self.arn("sagemaker", &self.region, &self.account, &resource)
            })
            .collect()
    }

    /// What the command acts on: `account 123456789012, region us-east-1, endpoint …`.
    pub fn target(&self) -> String {
        let endpoint = match &self.endpoint_url {
            Some(url) if self.is_local() => format!("{url} (local AWS)"),
            Some(url) => url.clone(),
            None => "AWS (default endpoints)".to_string(),
        };
        format!(
            "account {}, region {}, endpoint {endpoint}",
            self.account, self.region
        )
    }

    /// Whether calls go to a loopback endpoint (the local AWS).
    pub fn is_local(&self) -> bool {
        self.endpoint_url
            .as_deref()
            .is_some_and(crate::api_client::is_loopback_url)
    }

    /// The invoke URL of `path` on the stage of REST API `api_id`.
    pub fn invoke_url(&self, api_id: &str, path: &str) -> String {
        let stage = &self.names.stage;
        match (&self.endpoint_url, self.is_local()) {
            (Some(base), true) => format!(
                "{}/restapis/{api_id}/{stage}/_user_request_/{path}",
                base.trim_end_matches('/')
            ),
            _ => format!(
                "https://{api_id}.execute-api.{}.amazonaws.com/{stage}/{path}",
                self.region
            ),
        }
    }
}
