//! The client of the deployed HTTP API (`ingest`, `search`): the API key is a secret, so it is
//! sent only over https (or to a loopback address, the local AWS), never along a redirect, and
//! a server's `Retry-After` cannot park the client for longer than [`MAX_RETRY_AFTER`].

use anyhow::{anyhow, bail};
use serde_json::{Value, json};
use std::net::IpAddr;
use std::time::Duration;

/// Attempts per request while throttled.
const MAX_ATTEMPTS: u32 = 6;
/// Attempts to connect (a refused connection is reported after ~1.5 s, not retried for long).
const MAX_CONNECT_ATTEMPTS: u32 = 3;
/// The longest wait a `Retry-After` header can ask for.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// The hint for a 403/404 from an endpoint that may no longer be the stack's.
pub const STALE_HINT: &str = "hint: the endpoint or key may be stale (after `down` and `up` they change): run `deployer output --write-env .env`";

/// Whether `url` names a loopback host (the local AWS).
pub fn is_loopback_url(url: &str) -> bool {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(is_loopback_host))
        .unwrap_or(false)
}

/// No answer within the client's timeout: the request may still be running (and may have
/// taken effect), so whether to send it again is the caller's decision.
#[derive(Debug, thiserror::Error)]
#[error("no answer from {url} within {secs} s (the request may still be running)")]
pub struct NoAnswer {
    /// The URL.
    pub url: String,
    /// The timeout.
    pub secs: u64,
}

/// One answer of the API.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The JSON body (a non-JSON body becomes `{"error": text}`).
    pub body: Value,
    /// The request id: the function's (`request_id` in error bodies), else API Gateway's
    /// `x-amzn-RequestId`.
    pub request_id: Option<String>,
}

impl Answer {
    /// ` (request id …)`, or nothing.
    pub fn id_suffix(&self) -> String {
        self.request_id.as_deref().map_or(String::new(), |id| {
            format!(" (request id {})", escape_controls(id))
        })
    }
}

/// An HTTP client that carries the API key safely.
pub struct ApiClient {
    client: reqwest::Client,
    key: String,
    timeout: Duration,
}

/// Whether `host` (as in a URL) is a loopback name or address.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Checks that the key may be sent to `url`: https, or http to a loopback host.
pub fn check_url(url: &str) -> anyhow::Result<reqwest::Url> {
    let parsed = reqwest::Url::parse(url).map_err(|e| anyhow!("`{url}` is not a URL: {e}"))?;
    let host = parsed.host_str().unwrap_or("");
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if is_loopback_host(host) => Ok(parsed),
        scheme => bail!(
            "refusing to send the API key to `{url}` over {scheme}: only https (or http to 127.0.0.1/localhost) is allowed\nhint: use the https endpoint that `deployer output` prints"
        ),
    }
}

/// The wait a `Retry-After` value asks for (seconds), capped; `None` when absent or not a
/// number of seconds.
pub fn retry_after(value: Option<&str>) -> Option<Duration> {
    let secs = value?.trim().parse::<u64>().ok()?;
    Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER))
}

/// `text` with control characters (terminal escapes, bells, carriage returns) shown escaped,
/// so a stored document cannot drive the terminal that prints it.
pub fn escape_controls(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_string();
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

impl ApiClient {
    /// A client with a per-request `timeout` that never follows redirects.
    pub fn new(key: &str, timeout: Duration) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            client,
            key: key.to_string(),
            timeout,
        })
    }

    /// POSTs `body` to `url` with the key, retrying 429/503 (honouring a capped
    /// `Retry-After`) and failures to connect (the request was never sent). A request that
    /// timed out is not re-sent here: it may have taken effect, and the caller decides. A
    /// redirect is an error (the key is not sent on).
    pub async fn post(&self, url: &str, body: &Value) -> anyhow::Result<Answer> {
        let target = check_url(url)?;
        let mut backoff = Duration::from_millis(500);
        for attempt in 1..=MAX_ATTEMPTS {
            let sent = self
                .client
                .post(target.clone())
                .header("x-api-key", &self.key)
                .json(body)
                .send()
                .await;
            let resp = match sent {
                Ok(r) => r,
                Err(e) if attempt < MAX_CONNECT_ATTEMPTS && e.is_connect() => {
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                    continue;
                }
                Err(e) if e.is_timeout() => {
                    return Err(NoAnswer {
                        url: url.to_string(),
                        secs: self.timeout.as_secs(),
                    }
                    .into());
                }
                Err(e) if e.is_connect() => bail!(
                    "could not connect to {url}: {}\nhint: is the stack deployed (and the local AWS running)? `deployer output` prints the endpoint",
                    std::error::Error::source(&e).map_or(e.to_string(), |s| s.to_string())
                ),
                Err(e) => return Err(anyhow!("request to {url} failed: {e}")),
            };
            let status = resp.status();
            if status.is_redirection() {
                let location = resp
                    .headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("(no location)");
                bail!(
                    "{url} answered a redirect (HTTP {}) to {}; not following it with the API key\nhint: use the endpoint `deployer output` prints",
                    status.as_u16(),
                    escape_controls(location)
                );
            }
            if matches!(status.as_u16(), 429 | 503) && attempt < MAX_ATTEMPTS {
                let asked = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok());
                tokio::time::sleep(retry_after(asked).unwrap_or(backoff)).await;
                backoff = (backoff * 2).min(Duration::from_secs(20));
                continue;
            }
            let gateway_id = resp
                .headers()
                .get("x-amzn-requestid")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let text = resp.text().await.unwrap_or_default();
            let body: Value =
                serde_json::from_str(&text).unwrap_or_else(|_| json!({ "error": text }));
            let request_id = body["request_id"]
                .as_str()
                .map(str::to_string)
                .or(gateway_id);
            return Ok(Answer {
                status: status.as_u16(),
                body,
                request_id,
            });
        }
        bail!("request to {url} still throttled after {MAX_ATTEMPTS} attempts")
    }
}

/// The error message of an API answer, escaped for the terminal.
pub fn error_message(body: &Value) -> String {
    escape_controls(
        body["error"]
            .as_str()
            .or(body["message"].as_str())
            .unwrap_or("no message"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_goes_only_over_https_or_to_loopback() {
        for ok in [
            "https://abc.execute-api.us-east-1.amazonaws.com/prod/ingest",
            "http://127.0.0.1:4599/restapis/a/prod/_user_request_/ingest",
            "http://127.8.0.1/x",
            "http://localhost:1/x",
            "http://[::1]:8080/x",
        ] {
            assert!(check_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://abc.execute-api.us-east-1.amazonaws.com/prod/ingest",
            "http://10.0.0.1/x",
            "http://127.0.0.1.evil.example/x",
            "ftp://127.0.0.1/x",
            "not a url",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn retry_after_is_capped() {
        assert_eq!(retry_after(Some("2")), Some(Duration::from_secs(2)));
        assert_eq!(retry_after(Some("86400")), Some(MAX_RETRY_AFTER));
        assert_eq!(retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")), None);
        assert_eq!(retry_after(None), None);
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape_controls("plain · text"), "plain · text");
        assert_eq!(
            escape_controls("a\u{1b}[2Jb\rc\u{7}"),
            "a\\u{1b}[2Jb\\rc\\u{7}"
        );
    }
}
