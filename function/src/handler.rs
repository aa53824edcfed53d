//! The edge: routing, parsing each route's body into its typed request, and framing answers.
//! The only code that sees `lambda_http` types or HTTP statuses: domain functions take typed
//! requests and return an [`Outcome`] (mapped to 200 / 202 in [`answer`]) or a
//! [`DomainError`] (mapped to an error answer by `ApiError::from`, once, in [`handle`]).

use crate::backend::{Backend, Unconfigured};
use crate::config::{Config, ConfigError};
use crate::documents;
use crate::domain::{Ctx, Mirror, Outcome};
use crate::embed::{AnswerShape, Deadline};
use crate::error::{ApiError, DomainError};
use crate::ingest::{IngestStats, ingest};
use crate::mirror;
use crate::reindex::reindex;
use crate::search::{SearchStats, search};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use shared::api::{DeleteByFilterRequest, ErrorBody, IngestRequest, ReindexRequest, SearchRequest};
use shared::limits::{MAX_LAMBDA_PAYLOAD, MAX_SEARCH_BODY_BYTES};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

/// Everything the handler runs with, built once per environment: the AWS calls, the
/// configuration (or why there is none), and what the environment learns as it serves.
pub struct App<B> {
    /// AWS calls.
    pub backend: B,
    /// The same calls on the mirror index, while `MIRROR_INDEX` is set ([`crate::mirror`]).
    pub mirror: Option<B>,
    /// The configuration, or why it could not be read (every request then answers 500).
    pub config: Result<Config, ConfigError>,
    /// The embedding endpoint's answer shape, once an answer showed it.
    answers: AnswerShape,
    /// The mirror's model, when it is filled with another model's vectors (`MIRROR_ENDPOINT`).
    mirror_model: Option<Config>,
    /// The mirror's endpoint's answer shape, once an answer showed it.
    mirror_answers: AnswerShape,
    /// When this environment handled its first request (IAM may still be propagating then).
    first_request: OnceLock<Instant>,
}

impl<B> App<B> {
    /// An app calling `backend`, as `config` says.
    pub fn new(backend: B, config: Result<Config, ConfigError>) -> Self {
        Self {
            backend,
            mirror: None,
            mirror_model: config.as_ref().ok().and_then(Config::mirror_model),
            config,
            answers: AnswerShape::default(),
            mirror_answers: AnswerShape::default(),
            first_request: OnceLock::new(),
        }
    }

    /// The app, copying what it writes to `mirror` ([`crate::mirror`]), which calls the
    /// mirror's index (and `MIRROR_ENDPOINT`, when the configuration names one).
    pub fn with_mirror(self, mirror: B) -> Self {
        Self {
            mirror: Some(mirror),
            ..self
        }
    }

    /// Time since this environment handled its first request.
    fn age(&self) -> Duration {
        self.first_request.get_or_init(Instant::now).elapsed()
    }
}

impl App<Unconfigured> {
    /// An app for a function without a valid configuration: every request answers 500
    /// naming `problem`.
    pub fn misconfigured(problem: ConfigError) -> Self {
        Self::new(Unconfigured, Err(problem))
    }
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

/// A request parsed for its route: the typed body (or the path's id, the query's token).
enum Call {
    Ingest(IngestRequest),
    Search(SearchRequest),
    ListDocuments {
        next_token: Option<String>,
        metadata: bool,
    },
    GetDocument(String),
    DeleteDocument(String),
    DeleteByFilter(DeleteByFilterRequest),
    Reindex(ReindexRequest),
}

/// What a request's query string may say (`GET /documents`).
#[derive(Debug, Default)]
struct Query {
    /// `next_token`: where a listing continues.
    next_token: Option<String>,
    /// `metadata=true`: list each document's user metadata too.
    metadata: bool,
}

/// A JSON body of at most `limit` bytes, or the 413 / 400 naming `what`.
fn json_body<T: DeserializeOwned>(
    body: &[u8],
    limit: usize,
    too_large: impl FnOnce() -> String,
    what: &str,
) -> Result<T, ApiError> {
    if body.len() > limit {
        return Err(ApiError::too_large(too_large()));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid {what} request: {e}")))
}

impl Call {
    /// Parses what `route` takes from the request; a body that is not its route's request is
    /// refused here, before any domain code runs.
    fn parse(route: Route, body: &[u8], query: Query) -> Result<Self, ApiError> {
        let Query {
            next_token,
            metadata,
        } = query;
        Ok(match route {
            Route::Ingest => {
                Self::Ingest(IngestRequest::parse(body).map_err(ApiError::bad_request)?)
            }
            Route::Search => Self::Search(json_body(
                body,
                MAX_SEARCH_BODY_BYTES,
                || {
                    format!(
                        "search request is {} bytes; the limit is {MAX_SEARCH_BODY_BYTES}",
                        body.len()
                    )
                },
                "search",
            )?),
            Route::ListDocuments => Self::ListDocuments {
                next_token,
                metadata,
            },
            Route::GetDocument(id) => Self::GetDocument(id),
            Route::DeleteDocument(id) => Self::DeleteDocument(id),
            Route::DeleteByFilter => Self::DeleteByFilter(json_body(
                body,
                MAX_SEARCH_BODY_BYTES,
                || {
                    format!(
                        "request is {} bytes; the limit is {MAX_SEARCH_BODY_BYTES}",
                        body.len()
                    )
                },
                "delete",
            )?),
            Route::Reindex => Self::Reindex(json_body(
                body,
                MAX_SEARCH_BODY_BYTES,
                || "reindex request too large".to_string(),
                "reindex",
            )?),
        })
    }
}

/// The one mapping of an [`Outcome`] to an answer: `Done` is 200, `Partial` 202.
fn answer<T: Serialize, P: Serialize>(outcome: Outcome<T, P>) -> Response<Body> {
    match outcome {
        Outcome::Done(value) => json_response(200, &value),
        Outcome::Partial(progress) => json_response(202, &progress),
    }
}

/// Runs the domain function of `call`.
async fn dispatch<B: Backend>(
    ctx: &Ctx<'_, B>,
    call: &Call,
    request_id: &str,
    body_bytes: usize,
) -> Result<Response<Body>, DomainError> {
    Ok(match call {
        Call::Ingest(request) => {
            let mut stats = IngestStats::default();
            let result = ingest(ctx, request, &mut stats).await;
            log_ingest(request_id, body_bytes, &stats);
            // Whatever the outcome: what it wrote is copied before the answer.
            let ids: Vec<&str> = match &result {
                Ok(Outcome::Done(done)) => done.document_ids.iter().map(String::as_str).collect(),
                Ok(Outcome::Partial(p)) => p.document_ids.iter().map(String::as_str).collect(),
                Err(_) => request.ids().collect(),
            };
            mirror::after_write(ctx, &ids).await?;
            answer(result?)
        }
        Call::Search(request) => {
            let mut stats = SearchStats::default();
            let result = search(ctx, request, &mut stats).await;
            tracing::info!(
                request_id,
                route = "search",
                body_bytes,
                results = stats.results,
                embed_ms = stats.embed_ms as u64,
                query_ms = stats.query_ms as u64,
                "search finished"
            );
            answer(Outcome::done(result?))
        }
        Call::ListDocuments {
            next_token,
            metadata,
        } => answer(Outcome::done(
            documents::list(ctx, next_token.clone(), *metadata).await?,
        )),
        Call::GetDocument(id) => answer(Outcome::done(documents::get(ctx, id).await?)),
        Call::DeleteDocument(id) => {
            let result = documents::delete(ctx, id).await;
            mirror::after_write(ctx, &[id.as_str()]).await?;
            answer(Outcome::done(result?))
        }
        Call::DeleteByFilter(request) => {
            mirror::refuse_while_copying(ctx, "delete by filter")?;
            answer(documents::delete_by_filter(ctx, request).await?)
        }
        Call::Reindex(request) => match request.copy {
            Some(pass) => answer(mirror::copy(ctx, request, pass).await?),
            None => {
                mirror::refuse_while_copying(ctx, "reindex")?;
                answer(reindex(ctx, request).await?)
            }
        },
    })
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
    app.first_request.get_or_init(|| started);
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
        (Err(problem), Ok(_)) => Err(ApiError::misconfigured(&problem.to_string())),
        (Ok(_), Ok(_)) if body_bytes > MAX_LAMBDA_PAYLOAD => Err(ApiError::too_large(format!(
            "request body is {body_bytes} bytes; the limit is {MAX_LAMBDA_PAYLOAD}"
        ))),
        (Ok(config), Ok(route)) => {
            let params = req.query_string_parameters();
            let query = Query {
                next_token: params.first("next_token").map(str::to_string),
                metadata: params.first("metadata") == Some("true"),
            };
            match Call::parse(route, body, query) {
                Err(e) => Err(e),
                Ok(call) => {
                    let ctx = Ctx {
                        backend: &app.backend,
                        mirror: app.mirror.as_ref().map(|backend| Mirror {
                            backend,
                            model: app.mirror_model.as_ref().map(|m| (m, &app.mirror_answers)),
                        }),
                        config,
                        answers: &app.answers,
                        deadline: Deadline::new(started, invocation_deadline(&req), config),
                    };
                    run(app, &ctx, &call, &request_id, route_name, body_bytes).await
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

/// Runs `call`, again while an access denial may be IAM still propagating to a new
/// environment (every route is safe to run again); its domain error becomes an answer here.
async fn run<B: Backend>(
    app: &App<B>,
    ctx: &Ctx<'_, B>,
    call: &Call,
    request_id: &str,
    route_name: &str,
    body_bytes: usize,
) -> Result<Response<Body>, ApiError> {
    let mut wait = Duration::from_millis(500);
    loop {
        match dispatch(ctx, call, request_id, body_bytes).await {
            Err(e)
                if e.is_access_denied()
                    && app.age() < YOUNG_ENVIRONMENT
                    && ctx.deadline.remaining() > wait =>
            {
                tracing::warn!(
                    request_id,
                    route = route_name,
                    detail = e.detail().as_deref().unwrap_or(""),
                    "access denied in a new environment (IAM may still be propagating); retrying"
                );
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(4));
            }
            Err(e) if e.is_access_denied() && app.age() >= YOUNG_ENVIRONMENT => {
                break Err(ApiError::from(e).not_propagating());
            }
            other => break other.map_err(ApiError::from),
        }
    }
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
