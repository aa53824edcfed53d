//! The client of the deployed HTTP API (ingest, search, documents, reindex), speaking [`shared::api`]'s
//! request and response types. The API key is a secret, so it is sent only over https (or to
//! a loopback address, the local AWS), never along a redirect, and a server's `Retry-After`
//! cannot park the client for longer than [`MAX_RETRY_AFTER`].

use anyhow::{anyhow, bail};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use shared::api::ErrorBody;
use shared::routes::Access;

mod endpoints;
mod signer;
mod url;

pub use signer::{Credentials, Signer};
use std::time::Duration;
pub use url::{check_url, escape_controls, is_loopback_url, retry_after};

/// The client's timeout per request to the API: API Gateway cuts every request at 29 s, so
/// an answer comes within it unless the network fails.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(35);

/// Attempts per request while throttled.
const MAX_ATTEMPTS: u32 = 6;
/// How long API Gateway's own 500 is retried: it is what a REST proxy integration answers when
/// Lambda throttled the invocation (many clients at once exceed the account's concurrency),
/// and also a permanent integration error, so the wait is bounded by time and said.
pub const MAX_GATEWAY_500_WAIT: Duration = Duration::from_secs(60);
/// Attempts to connect (a refused connection is reported after ~1.5 s, not retried for long).
const MAX_CONNECT_ATTEMPTS: u32 = 3;
/// The longest wait a `Retry-After` header can ask for.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// The hint for a 403/404 from an endpoint that may no longer be the stack's.
pub const STALE_HINT: &str = "hint: the endpoint or key may be stale (after `down` and `up` they change): run `deployer output --write-env .env`";

/// Rounds of a resumable route (delete by filter, reindex) sent again in a row after no
/// answer or API Gateway's 504, before giving up.
pub const MAX_CUT_ROUNDS: usize = 5;

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
    /// The body as received.
    pub body: String,
    /// The request id: the function's (`request_id` in error bodies), else API Gateway's
    /// `x-amzn-RequestId`.
    pub request_id: Option<String>,
}

/// An error answer: the function's [`ErrorBody`], or API Gateway's own `{"message": …}`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ErrorAnswer {
    Function(ErrorBody),
    Gateway { message: String },
}

impl Answer {
    /// The body decoded as `T` (one of [`shared::api`]'s answers).
    pub fn decode<T: DeserializeOwned>(&self) -> anyhow::Result<T> {
        serde_json::from_str(&self.body).map_err(|e| {
            anyhow!(
                "the API answered HTTP {} with an unexpected body ({e}){}",
                self.status,
                self.id_suffix()
            )
        })
    }

    /// The error message of an error answer, as sent (the raw body when it is not JSON).
    pub fn error_text(&self) -> String {
        match serde_json::from_str::<ErrorAnswer>(&self.body) {
            Ok(ErrorAnswer::Function(e)) => e.error,
            Ok(ErrorAnswer::Gateway { message }) => message,
            Err(_) if self.body.trim().is_empty() => "no message".to_string(),
            Err(_) => self.body.chars().take(500).collect(),
        }
    }

    /// Whether the body is the function's own error (not API Gateway's).
    pub fn is_function_error(&self) -> bool {
        matches!(
            serde_json::from_str::<ErrorAnswer>(&self.body),
            Ok(ErrorAnswer::Function(_))
        )
    }

    /// [`Answer::error_text`], escaped for the terminal.
    pub fn error_message(&self) -> String {
        escape_controls(&self.error_text())
    }

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
    /// The operator's signer, for the routes API Gateway authorizes with `AWS_IAM`.
    signer: Option<Signer>,
    timeout: Duration,
    /// Where the waits it announces are said.
    printer: crate::printer::Printer,
    /// Whether the "endpoint is starting" notice was printed (once per client).
    told_starting: std::sync::atomic::AtomicBool,
    told_throttled: std::sync::atomic::AtomicBool,
}

/// How long requests are re-sent while the embedding endpoint starts (a serverless cold start
/// takes seconds up to about a minute; the function answers 503 `EndpointStarting` meanwhile).
pub const MAX_STARTING_WAIT: Duration = Duration::from_secs(180);

/// Whether a body is API Gateway's own error (`{"message": …}`), not the function's.
fn is_gateway_error(body: &str) -> bool {
    matches!(
        serde_json::from_str::<ErrorAnswer>(body),
        Ok(ErrorAnswer::Gateway { .. })
    )
}

/// Whether an answer is the function's "the embedding endpoint is starting".
fn is_starting(status: u16, body: &str) -> bool {
    status == 503
        && matches!(
            serde_json::from_str::<ErrorAnswer>(body),
            Ok(ErrorAnswer::Function(ErrorBody { code: Some(code), .. }))
                if code == shared::api::ENDPOINT_STARTING
        )
}

/// Reads an answer: status, body, and the request id (the function's, else API Gateway's).
async fn answer(resp: reqwest::Response) -> Answer {
    let status = resp.status().as_u16();
    let gateway_id = resp
        .headers()
        .get("x-amzn-requestid")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = resp.text().await.unwrap_or_default();
    let function_id = match serde_json::from_str::<ErrorAnswer>(&body) {
        Ok(ErrorAnswer::Function(e)) => Some(e.request_id),
        _ => None,
    };
    Answer {
        status,
        body,
        request_id: function_id.or(gateway_id),
    }
}

/// A redirect is refused: the key is not sent on.
fn redirected(url: &str, resp: &reqwest::Response) -> anyhow::Error {
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("(no location)");
    anyhow!(
        "{url} answered a redirect (HTTP {}) to {}; not following it with the API key\nhint: use the endpoint `deployer output` prints",
        resp.status().as_u16(),
        escape_controls(location)
    )
}

/// A request that could not be sent (or failed on the way).
fn not_sent(url: &str, e: &reqwest::Error) -> anyhow::Error {
    if e.is_connect() {
        anyhow!(
            "could not connect to {url}: {}\nhint: is the stack deployed (and the local AWS running)? `deployer output` prints the endpoint",
            std::error::Error::source(e).map_or(e.to_string(), |s| s.to_string())
        )
    } else {
        anyhow!("request to {url} failed: {e}")
    }
}

impl ApiClient {
    /// A client with a per-request `timeout` that never follows redirects; the waits it
    /// announces go to `printer`.
    pub fn new(
        credentials: &Credentials,
        timeout: Duration,
        printer: &crate::printer::Printer,
    ) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            client,
            key: credentials.key.clone(),
            signer: credentials.signer.clone(),
            timeout,
            printer: printer.clone(),
            told_starting: false.into(),
            told_throttled: false.into(),
        })
    }

    /// POSTs `body` to `url` with the key, retrying 429/503, API Gateway's own 500 (a throttled
    /// Lambda), a starting embedding endpoint (for [`MAX_STARTING_WAIT`]), honouring a capped
    /// `Retry-After`, and failures to connect (the request was never sent). A request that
    /// timed out is not re-sent here: it may have taken effect, and the caller decides. A
    /// redirect is an error (the key is not sent on).
    pub async fn post(&self, url: &str, body: Vec<u8>) -> anyhow::Result<Answer> {
        self.send(reqwest::Method::POST, url, Some(body)).await
    }

    /// Sends `method` to `url` (with `body` when given) as [`ApiClient::post`] does.
    pub async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<Vec<u8>>,
    ) -> anyhow::Result<Answer> {
        self.send_as(Access::ApiKey, method, url, body).await
    }

    /// Sends as [`ApiClient::send`] does, with the credential `access` names: the API key, or
    /// a SigV4 signature by the operator's AWS identity (made again for every attempt). A 403
    /// on an operator route says which permission the identity needs.
    pub async fn send_as(
        &self,
        access: Access,
        method: reqwest::Method,
        url: &str,
        body: Option<Vec<u8>>,
    ) -> anyhow::Result<Answer> {
        let answer = self.attempts(access, method.clone(), url, body).await?;
        if access == Access::Operator && answer.status == 403 {
            return Err(operator_refused(&method, url, &answer));
        }
        Ok(answer)
    }

    async fn attempts(
        &self,
        access: Access,
        method: reqwest::Method,
        url: &str,
        body: Option<Vec<u8>>,
    ) -> anyhow::Result<Answer> {
        let target = check_url(url)?;
        let mut backoff = Duration::from_millis(500);
        let started = std::time::Instant::now();
        let mut attempt = 0;
        while attempt < MAX_ATTEMPTS {
            attempt += 1;
            let mut request = self.client.request(method.clone(), target.clone());
            request = match (access, &self.signer) {
                (Access::Read | Access::ApiKey, _) => request.header("x-api-key", &self.key),
                (Access::Operator, Some(signer)) => {
                    let payload = body.as_deref().unwrap_or_default();
                    let signed = signer.headers(method.as_str(), target.as_str(), payload);
                    signed
                        .await?
                        .into_iter()
                        .fold(request, |r, (k, v)| r.header(k, v))
                }
                (Access::Operator, None) => bail!(
                    "{method} {} takes the operator's AWS identity, and no AWS configuration could be loaded\nhint: configure credentials and a region (`aws configure`, `--profile`, `--region`)",
                    target.path()
                ),
            };
            if let Some(body) = &body {
                request = request
                    .header("content-type", "application/json")
                    .body(body.clone());
            }
            let sent_at = std::time::Instant::now();
            let sent = request.send().await;
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
                Err(e) => return Err(not_sent(url, &e)),
            };
            let status = resp.status();
            // `-v`: every request, as sent and answered (never the key).
            tracing::debug!(
                "{method} {} → {} in {} ms ({} bytes sent, attempt {attempt}{})",
                target.path(),
                status.as_u16(),
                sent_at.elapsed().as_millis(),
                body.as_ref().map_or(0, Vec::len),
                resp.headers()
                    .get("x-amzn-requestid")
                    .and_then(|v| v.to_str().ok())
                    .map(|id| format!(", request id {}", escape_controls(id)))
                    .unwrap_or_default(),
            );
            if status.is_redirection() {
                return Err(redirected(url, &resp));
            }
            if !matches!(status.as_u16(), 429 | 500 | 503) {
                return Ok(answer(resp).await);
            }
            let asked = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let wait = retry_after(asked.as_deref()).unwrap_or(backoff);
            let answer = answer(resp).await;
            // A state that passes is waited out for its own bounded time, not by attempts, and
            // said once: Lambda throttled — API Gateway's own 500 (not the function's error
            // body), which a REST proxy integration answers when the function never ran, so
            // sending again is safe — or the embedding endpoint starting.
            let passing = if answer.status == 500 {
                is_gateway_error(&answer.body).then_some((
                    MAX_GATEWAY_500_WAIT,
                    &self.told_throttled,
                    "API Gateway answered 500 without running the function (Lambda throttled: too many requests at once)",
                ))
            } else if is_starting(answer.status, &answer.body) {
                Some((
                    MAX_STARTING_WAIT,
                    &self.told_starting,
                    "the embedding endpoint is starting (an idle serverless endpoint scales to zero)",
                ))
            } else {
                None
            };
            match passing {
                Some((limit, told, what)) => {
                    if started.elapsed() + wait > limit {
                        return Ok(answer);
                    }
                    if !told.swap(true, std::sync::atomic::Ordering::Relaxed) {
                        self.printer
                            .step(&format!("{what}; retrying for up to {} s", limit.as_secs()));
                    }
                    attempt -= 1;
                }
                // The function's own 500 is final.
                None if answer.status == 500 || attempt >= MAX_ATTEMPTS => return Ok(answer),
                None => {}
            }
            // Without a `Retry-After`, waits are jittered so that clients throttled together do
            // not come back together.
            let wait = if asked.is_some() {
                wait
            } else {
                jittered(wait)
            };
            tracing::debug!("waiting {} ms before sending again", wait.as_millis());
            tokio::time::sleep(wait).await;
            backoff = (backoff * 2).min(Duration::from_secs(20));
        }
        bail!("request to {url} still throttled after {MAX_ATTEMPTS} attempts")
    }
}

/// An operator route's 403: API Gateway refused the signature or the identity.
fn operator_refused(method: &reqwest::Method, url: &str, answer: &Answer) -> anyhow::Error {
    let said = serde_json::from_str::<serde_json::Value>(&answer.body)
        .ok()
        .and_then(|v| {
            ["Message", "message"]
                .iter()
                .find_map(|k| v.get(k)?.as_str().map(str::to_string))
        })
        .unwrap_or_else(|| answer.body.clone());
    let path = reqwest::Url::parse(url).map_or_else(|_| url.to_string(), |u| u.path().to_string());
    anyhow!(
        "{method} {} was refused (HTTP 403): {}{}\nhint: this route takes the operator's AWS identity (a SigV4 signature), not the API key; the identity needs execute-api:Invoke on this method's ARN (README, \"Deploying with least privilege\": deployer/deployer-policy.json names it)",
        escape_controls(&path),
        escape_controls(&said),
        answer.id_suffix()
    )
}

/// Between half and all of `wait`, at random ("equal jitter").
fn jittered(wait: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    // A fresh RandomState is seeded differently each time: random enough for a backoff.
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let half = wait / 2;
    half + half.mul_f64((random % 1_000_000) as f64 / 1_000_000.0)
}

/// Why a request failed: status, message, request id, and the stale-`.env` hint for a
/// 403/404 from API Gateway itself.
pub fn failed(what: &str, answer: &Answer) -> anyhow::Error {
    let hint = match (
        answer.status,
        serde_json::from_str::<ErrorAnswer>(&answer.body),
    ) {
        (403 | 404, Ok(ErrorAnswer::Gateway { .. }) | Err(_)) => format!("\n{STALE_HINT}"),
        _ => String::new(),
    };
    anyhow!(
        "{what} failed: HTTP {}: {}{}{hint}",
        answer.status,
        answer.error_message(),
        answer.id_suffix()
    )
}

/// `…/prod/{path}` from an endpoint (`…/prod/ingest`); `path` may hold a document id, whose
/// characters other than `/` are percent-encoded.
pub fn api_url(endpoint: &str, path: &str) -> String {
    const KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'/')
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    let base = endpoint
        .strip_suffix(shared::routes::Operation::Ingest.route().path)
        .unwrap_or(endpoint);
    format!(
        "{base}/{}",
        percent_encoding::utf8_percent_encode(path, KEEP)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn backoff_is_jittered_between_half_and_all_of_the_wait() {
        let wait = Duration::from_secs(2);
        let waits: std::collections::HashSet<Duration> = (0..20).map(|_| jittered(wait)).collect();
        assert!(
            waits.iter().all(|w| *w >= wait / 2 && *w <= wait),
            "{waits:?}"
        );
        assert!(waits.len() > 10, "{waits:?}");
    }

    #[test]
    fn error_answers_of_the_function_and_of_api_gateway_are_read() {
        let answer = |body: &str| Answer {
            status: 400,
            body: body.to_string(),
            request_id: None,
        };
        assert_eq!(
            answer(r#"{"error":"bad \u001b id","request_id":"r1"}"#).error_message(),
            "bad \\u{1b} id"
        );
        assert_eq!(
            answer(r#"{"message":"Forbidden"}"#).error_text(),
            "Forbidden"
        );
        assert_eq!(answer("upstream died").error_text(), "upstream died");
        assert_eq!(answer("").error_text(), "no message");
        assert!(
            answer("{}")
                .decode::<shared::api::SearchResponse>()
                .is_err()
        );
    }
}
