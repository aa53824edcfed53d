//! Routing and HTTP framing: the only code that sees `lambda_http` types.

use crate::backend::Backend;
use crate::config::Config;
use crate::documents;
use crate::embed::Deadline;
use crate::error::{ACCESS_DENIED, ApiError};
use crate::ingest::{IngestStats, ingest};
use crate::search::{SearchStats, search};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use shared::api::{ErrorBody, IngestOutcome};
use shared::limits::MAX_LAMBDA_PAYLOAD;
use std::time::{Duration, Instant, SystemTime};

/// What the handler runs with: the AWS calls and the configuration (or why there is none).
pub struct App<B> {
    /// AWS calls.
    pub backend: B,
    /// The configuration, or the reason it could not be read.
    pub config: Result<Config, String>,
}

/// The routes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `POST /ingest`.
    Ingest,
    /// `POST /search`.
    Search,
    /// `GET /documents`.
    ListDocuments,
    /// `GET /documents/{id}`.
    GetDocument(String),
    /// `DELETE /documents/{id}`.
    DeleteDocument(String),
    /// `POST /documents/delete`.
    DeleteByFilter,
    /// `POST /documents/reindex`.
    Reindex,
}

impl Route {
    /// Its name in [`shared::routes::ROUTES`] (the log's `route`).
    pub fn name(&self) -> &'static str {
        use shared::routes::Operation;
        let operation = match self {
            Self::Ingest => Operation::Ingest,
            Self::Search => Operation::Search,
            Self::ListDocuments => Operation::ListDocuments,
            Self::GetDocument(_) => Operation::GetDocument,
            Self::DeleteDocument(_) => Operation::DeleteDocument,
            Self::DeleteByFilter => Operation::DeleteByFilter,
            Self::Reindex => Operation::Reindex,
        };
        operation.route().name
    }
}

/// The request path without a stage prefix (REST APIs send `/ingest`; HTTP APIs with a named
/// stage send `/prod/ingest`).
pub fn route_path(req: &Request) -> String {
    let raw = req.raw_http_path();
    let raw = if raw.is_empty() {
        req.uri().path()
    } else {
        raw
    };
    let stage = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(c)) => c.stage.clone(),
        Some(RequestContext::ApiGatewayV2(c)) => c.stage.clone(),
        _ => None,
    };
    if let Some(stage) = stage.filter(|s| s != "$default")
        && let Some(rest) = raw.strip_prefix(&format!("/{stage}"))
        && rest.starts_with('/')
    {
        return rest.to_string();
    }
    raw.to_string()
}

/// The Lambda request id, else API Gateway's.
pub fn request_id(req: &Request) -> String {
    if let Some(ctx) = req.lambda_context_ref() {
        return ctx.request_id.clone();
    }
    let id = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(c)) => c.request_id.clone(),
        Some(RequestContext::ApiGatewayV2(c)) => c.request_id.clone(),
        _ => None,
    };
    id.unwrap_or_else(|| "unknown".to_string())
}

fn json_response<T: Serialize>(status: u16, value: &T) -> Response<Body> {
    framed(status, value, None, None)
}

fn framed<T: Serialize>(
    status: u16,
    value: &T,
    retry_after: Option<u32>,
    allow: Option<&str>,
) -> Response<Body> {
    let body = serde_json::to_string(value)
        .unwrap_or_else(|_| r#"{"error":"could not encode the response"}"#.to_string());
    let mut builder = Response::builder()
        .status(status)
        .header("content-type", "application/json");
    if let Some(secs) = retry_after {
        builder = builder.header("retry-after", secs.to_string());
    }
    if let Some(allow) = allow {
        builder = builder.header("allow", allow);
    }
    builder.body(Body::from(body)).unwrap_or_else(|_| {
        let mut r = Response::new(Body::from(r#"{"error":"internal error"}"#));
        *r.status_mut() = lambda_http::http::StatusCode::INTERNAL_SERVER_ERROR;
        r
    })
}

fn error_response(err: &ApiError, request_id: &str) -> Response<Body> {
    let body = ErrorBody {
        error: err.message.clone(),
        request_id: request_id.to_string(),
        code: err.code.map(str::to_string),
    };
    framed(err.status, &body, err.retry_after, err.allow.as_deref())
}

/// The document id in `/documents/{id}` (percent-decoded: ids may hold `/`, `#`, spaces).
fn document_id(rest: &str) -> Result<String, ApiError> {
    let id = percent_encoding::percent_decode_str(rest)
        .decode_utf8()
        .map_err(|_| ApiError::bad_request("the document id in the path is not UTF-8"))?;
    match shared::api::document_id_problem(&id) {
        Some(why) => Err(ApiError::bad_request(why)),
        None => Ok(id.into_owned()),
    }
}

/// Picks the route for a method and path ([`shared::routes::resolve`]).
pub fn select_route(method: &str, path: &str) -> Result<Route, ApiError> {
    use shared::routes::{Operation, Resolved, resolve};
    let (route, id) = match resolve(method, path) {
        Resolved::Route { route, id } => (route, id),
        Resolved::MethodNotAllowed(allow) => {
            return Err(ApiError::method_not_allowed(method, path, allow));
        }
        Resolved::NotFound => return Err(ApiError::not_found(path)),
    };
    let id = || document_id(id.unwrap_or_default());
    Ok(match route.operation {
        Operation::Ingest => Route::Ingest,
        Operation::Search => Route::Search,
        Operation::ListDocuments => Route::ListDocuments,
        Operation::DeleteByFilter => Route::DeleteByFilter,
        Operation::Reindex => Route::Reindex,
        Operation::GetDocument => Route::GetDocument(id()?),
        Operation::DeleteDocument => Route::DeleteDocument(id()?),
    })
}

/// How long after an environment starts an access denial is taken for IAM propagation.
const YOUNG_ENVIRONMENT: Duration = Duration::from_secs(60);

/// Time since this environment handled its first request.
fn environment_age() -> Duration {
    static FIRST: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    FIRST.get_or_init(Instant::now).elapsed()
}

/// What a route handler gets from the request.
struct Call<'a> {
    request_id: &'a str,
    body: &'a [u8],
    deadline: Deadline,
    next_token: Option<String>,
}

/// Runs `route`; every outcome is an answer or an [`ApiError`].
async fn dispatch<B: Backend>(
    backend: &B,
    config: &Config,
    route: Route,
    call: Call<'_>,
) -> Result<Response<Body>, ApiError> {
    let Call {
        request_id,
        body,
        deadline,
        next_token,
    } = call;
    match route {
        Route::Ingest => {
            let mut stats = IngestStats::default();
            let result = ingest(backend, config, deadline, body, &mut stats).await;
            log_ingest(request_id, body.len(), &stats);
            result.map(|outcome| match outcome {
                IngestOutcome::Done(r) => json_response(200, &r),
                IngestOutcome::Partial(p) => json_response(202, &p),
            })
        }
        Route::Search => {
            let mut stats = SearchStats::default();
            let result = search(backend, config, deadline, body, &mut stats).await;
            tracing::info!(
                request_id,
                route = "search",
                body_bytes = body.len(),
                results = stats.results,
                embed_ms = stats.embed_ms as u64,
                query_ms = stats.query_ms as u64,
                "search finished"
            );
            result.map(|r| json_response(200, &r))
        }
        Route::ListDocuments => documents::list(backend, &deadline, next_token)
            .await
            .map(|r| json_response(200, &r)),
        Route::GetDocument(id) => documents::get(backend, &deadline, &id)
            .await
            .map(|r| json_response(200, &r)),
        Route::DeleteDocument(id) => documents::delete(backend, &deadline, &id)
            .await
            .map(|r| json_response(200, &r)),
        Route::DeleteByFilter => {
            documents::delete_by_filter(backend, config.dimension, deadline, body)
                .await
                .map(|(r, done)| json_response(if done { 200 } else { 202 }, &r))
        }
        Route::Reindex => crate::reindex::reindex(backend, config, deadline, body)
            .await
            .map(|r| json_response(if r.done { 200 } else { 202 }, &r)),
    }
}

fn log_ingest(request_id: &str, body_bytes: usize, stats: &IngestStats) {
    tracing::info!(
        request_id,
        route = "ingest",
        body_bytes,
        documents = stats.documents,
        chunks = stats.chunks,
        embedded = stats.embedded,
        rewritten = stats.rewritten,
        unchanged = stats.unchanged,
        embed_calls = stats.embed.calls,
        throttled = stats.embed.throttled,
        splits = stats.embed.splits,
        largest_answer = stats.embed.largest_answer,
        embed_ms = stats.embed_ms as u64,
        store_ms = stats.store_ms as u64,
        "ingest finished"
    );
}

/// The invocation's deadline (`Lambda-Runtime-Deadline-Ms`), when running in Lambda.
fn invocation_deadline(req: &Request) -> Option<SystemTime> {
    req.lambda_context_ref()
        .filter(|ctx| ctx.deadline > 0)
        .map(|ctx| SystemTime::UNIX_EPOCH + Duration::from_millis(ctx.deadline))
}

/// Handles one request; never fails and never panics on input: every outcome is a JSON answer.
pub async fn handle<B: Backend>(
    app: &App<B>,
    req: Request,
) -> Result<Response<Body>, lambda_http::Error> {
    let started = Instant::now();
    let request_id = request_id(&req);
    let path = route_path(&req);
    let method = req.method().as_str().to_string();
    let body: &[u8] = match req.body() {
        Body::Empty => b"",
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => b"",
    };
    let body_bytes = body.len();
    let route = select_route(&method, &path);
    let route_name = route.as_ref().map_or("none", |r| r.name());
    let outcome = match (&app.config, route) {
        (_, Err(e)) => Err(e),
        (Err(problem), Ok(_)) => Err(ApiError::misconfigured(problem)),
        (Ok(_), Ok(_)) if body_bytes > MAX_LAMBDA_PAYLOAD => Err(ApiError::too_large(format!(
            "request body is {body_bytes} bytes; the limit is {MAX_LAMBDA_PAYLOAD}"
        ))),
        (Ok(config), Ok(route)) => {
            let deadline = Deadline::new(started, invocation_deadline(&req), config);
            let next_token = req
                .query_string_parameters()
                .first("next_token")
                .map(str::to_string);
            let mut wait = Duration::from_millis(500);
            loop {
                let call = Call {
                    request_id: &request_id,
                    body,
                    deadline,
                    next_token: next_token.clone(),
                };
                match dispatch(&app.backend, config, route.clone(), call).await {
                    // IAM is eventually consistent: an environment started right after `up`
                    // may be denied for seconds. Every route is safe to run again.
                    Err(e)
                        if e.code == Some(ACCESS_DENIED)
                            && environment_age() < YOUNG_ENVIRONMENT
                            && deadline.remaining() > wait =>
                    {
                        tracing::warn!(
                            request_id,
                            route = route_name,
                            detail = e.detail.as_deref().unwrap_or(""),
                            "access denied in a new environment (IAM may still be propagating); retrying"
                        );
                        tokio::time::sleep(wait).await;
                        wait = (wait * 2).min(Duration::from_secs(4));
                    }
                    Err(e)
                        if e.code == Some(ACCESS_DENIED)
                            && environment_age() >= YOUNG_ENVIRONMENT =>
                    {
                        break Err(e.not_propagating());
                    }
                    other => break other,
                }
            }
        }
    };
    let elapsed_ms = started.elapsed().as_millis() as u64;
    Ok(match outcome {
        Ok(resp) => {
            tracing::info!(
                request_id,
                route = route_name,
                status = resp.status().as_u16(),
                elapsed_ms,
                "request done"
            );
            resp
        }
        Err(err) => {
            if err.status >= 500 {
                tracing::error!(
                    request_id, route = route_name, status = err.status, elapsed_ms,
                    error = %err.message, detail = err.detail.as_deref().unwrap_or(""),
                    "request failed"
                );
            } else {
                tracing::warn!(
                    request_id, route = route_name, status = err.status, elapsed_ms,
                    error = %err.message, "request rejected"
                );
            }
            error_response(&err, &request_id)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every route of the shared table dispatches to its own handler, and every other method
    /// on its path answers 405 with the table's methods.
    #[test]
    fn every_route_in_the_table_dispatches() {
        for r in &shared::routes::ROUTES {
            let path = format!("/{}", r.operation.path(Some("notes/a b")));
            let route = select_route(r.method, &path).unwrap();
            assert_eq!(route.name(), r.name, "{} {path}", r.method);
            let err = select_route("PATCH", &path).unwrap_err();
            assert_eq!(err.status, 405);
            let allow = err.allow.unwrap();
            assert!(allow.contains(r.method), "{path}: {allow}");
        }
        assert_eq!(select_route("GET", "/elsewhere").unwrap_err().status, 404);
    }
}
