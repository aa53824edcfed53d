//! The credentials a command brings to the API: the stack's API key, and the operator's AWS
//! identity for the routes API Gateway authorizes with `AWS_IAM` ([`shared::routes::Access`]):
//! each such request is signed with SigV4 for `execute-api`, with the credentials of the same
//! chain every other command uses (`--profile`, environment, SSO, …).

use anyhow::{Context as _, anyhow};
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use std::time::SystemTime;

/// What a command authenticates with.
#[derive(Clone)]
pub struct Credentials {
    /// The API key (`x-api-key`), for the routes that take it.
    pub key: String,
    /// The operator's signer, for the routes that take an AWS identity; `None` for a command
    /// that calls none of them, or when no AWS configuration could be loaded (then such a
    /// route fails with a hint).
    pub signer: Option<Signer>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("Credentials")
            .field("signer", &self.signer)
            .finish_non_exhaustive()
    }
}

/// Signs requests for `execute-api` in one region.
#[derive(Clone)]
pub struct Signer {
    credentials: SharedCredentialsProvider,
    region: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A signer from an SDK configuration: its credentials provider, and the region of the API
    /// (`{id}.execute-api.{region}.amazonaws.com`), else the configuration's region.
    pub fn from_config(sdk: &aws_config::SdkConfig, endpoint: &str) -> Option<Self> {
        let region = region_of(endpoint)
            .map(str::to_string)
            .or_else(|| sdk.region().map(|r| r.to_string()))?;
        Some(Self {
            credentials: sdk.credentials_provider()?,
            region,
        })
    }

    /// The headers that sign `method url` with `body` now (`authorization`, `x-amz-date`,
    /// `x-amz-security-token` for temporary credentials).
    pub async fn headers(
        &self,
        method: &str,
        url: &str,
        body: &[u8],
    ) -> anyhow::Result<Vec<(String, String)>> {
        let credentials = self.credentials.provide_credentials().await.map_err(|e| {
            anyhow!(
                "no AWS credentials to sign the request with: {e}\nhint: this route takes the operator's AWS identity, not the API key; configure credentials (`aws configure`, `--profile`) — for the local AWS: eval \"$(localaws/ctl env)\""
            )
        })?;
        let identity = credentials.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("execute-api")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .context("SigV4 signing parameters")?
            .into();
        let host = host_of(url)?;
        let request = SignableRequest::new(
            method,
            url,
            [("host", host.as_str())].into_iter(),
            SignableBody::Bytes(body),
        )?;
        let (instructions, _) = sign(request, &params)?.into_parts();
        Ok(instructions
            .headers()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect())
    }
}

/// `host[:port]` of `url`, as the request's `Host` header carries it.
fn host_of(url: &str) -> anyhow::Result<String> {
    let parsed = reqwest::Url::parse(url).with_context(|| format!("not a URL: {url}"))?;
    let host = parsed
        .host_str()
        .ok_or_else(|| anyhow!("no host in {url}"))?;
    Ok(match parsed.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    })
}

/// The region in an `execute-api` host name.
fn region_of(endpoint: &str) -> Option<&str> {
    let host = endpoint.split("://").nth(1)?.split(['/', ':']).next()?;
    let mut labels = host.split('.');
    let (_, service, region) = (labels.next()?, labels.next()?, labels.next()?);
    (service == "execute-api").then_some(region)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_region_comes_from_an_execute_api_host() {
        assert_eq!(
            region_of("https://abc123.execute-api.eu-west-1.amazonaws.com/prod/ingest"),
            Some("eu-west-1")
        );
        assert_eq!(
            region_of("http://127.0.0.1:4599/restapis/abc/prod/_user_request_/ingest"),
            None
        );
    }

    #[tokio::test]
    async fn a_signature_covers_method_path_host_and_body() {
        let signer = Signer {
            credentials: SharedCredentialsProvider::new(aws_credential_types::Credentials::new(
                "ANOTREAL",
                "notrealrnrELgWzOk3IfjzDKtFBhDby",
                None,
                None,
                "test",
            )),
            region: "us-east-1".into(),
        };
        let url = "http://127.0.0.1:4599/restapis/a/prod/_user_request_/documents/delete";
        let headers = signer.headers("POST", url, b"{}").await.unwrap();
        let auth = &headers
            .iter()
            .find(|(k, _)| k == "authorization")
            .unwrap()
            .1;
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=ANOTREAL/")
                && auth.contains("/us-east-1/execute-api/aws4_request")
                && auth.contains("SignedHeaders=host;x-amz-date"),
            "{auth}"
        );
        assert!(headers.iter().any(|(k, _)| k == "x-amz-date"));
        let other = signer.headers("POST", url, b"{ }").await.unwrap();
        let other_auth = &other.iter().find(|(k, _)| k == "authorization").unwrap().1;
        let signature = |a: &str| a.rsplit("Signature=").next().unwrap().to_string();
        // Another body is another signature (both signed within the same second).
        assert_ne!(signature(auth), signature(other_auth));
    }
}
