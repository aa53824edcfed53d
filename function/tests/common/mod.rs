//! Test support: API Gateway event builders and an in-memory backend whose embedding endpoint
//! answers token-level hidden states like the HuggingFace pipeline (hashed bag of words).
#![allow(dead_code)]

pub mod local;

use function::backend::{
    Backend, BackendError, Hit, ListPage, ListRequest, NewVector, StoredVector,
};
use function::config::Config;
use function::handler::{App, handle};
use lambda_http::{Body, Response};
use serde_json::{Map, Value, json};
use shared::chunk::ChunkConfig;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

pub const DIM: usize = 32;

/// How the stub's embedding endpoint misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointMode {
    Normal,
    Throttled,
    Failing,
    WrongDimension,
    Garbage,
}

/// Stored vectors by key: data and metadata.
pub type Store = BTreeMap<String, (Vec<f32>, Map<String, Value>)>;

pub struct Stub {
    pub store: Mutex<Store>,
    pub mode: Mutex<EndpointMode>,
    pub invocations: AtomicUsize,
    /// Texts embedded, over all calls.
    pub embedded: AtomicUsize,
    pub writes: AtomicUsize,
    /// Milliseconds each InvokeEndpoint call takes.
    pub delay_ms: AtomicU64,
    /// Milliseconds each S3 Vectors call takes (its round trip).
    pub store_delay_ms: AtomicU64,
    /// The width of the endpoint's model and of the index ([`DIM`] unless made otherwise).
    pub dimension: usize,
}

impl Stub {
    async fn round_trip(&self) {
        let delay = self.store_delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
        }
    }
}

impl Default for Stub {
    fn default() -> Self {
        Self {
            store: Mutex::new(BTreeMap::new()),
            mode: Mutex::new(EndpointMode::Normal),
            invocations: AtomicUsize::new(0),
            embedded: AtomicUsize::new(0),
            writes: AtomicUsize::new(0),
            delay_ms: AtomicU64::new(0),
            store_delay_ms: AtomicU64::new(0),
            dimension: DIM,
        }
    }
}

impl Stub {
    /// A stub whose endpoint is another model, `dimension` wide (its words hash elsewhere).
    pub fn of_dimension(dimension: usize) -> Self {
        Self {
            dimension,
            ..Self::default()
        }
    }
}

fn word_vector(word: &str, dim: usize) -> Vec<f32> {
    let mut h: u64 = 1469598103934665603;
    for b in word.to_lowercase().bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(1099511628211);
    }
    let mut v = vec![0.0; dim];
    v[(h % dim as u64) as usize] = 1.0;
    v[((h >> 20) % dim as u64) as usize] += 0.5;
    v
}

fn tokens(text: &str, dim: usize) -> Vec<Vec<f32>> {
    let words: Vec<Vec<f32>> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() > 2)
        .map(|w| word_vector(w, dim))
        .collect();
    if words.is_empty() {
        vec![word_vector("empty", dim)]
    } else {
        words
    }
}

impl Backend for Stub {
    async fn invoke_endpoint(&self, body: Vec<u8>) -> Result<Vec<u8>, BackendError> {
        self.invocations.fetch_add(1, Ordering::SeqCst);
        let req: Value =
            serde_json::from_slice(&body).map_err(|e| BackendError::Endpoint(e.to_string()))?;
        assert_eq!(
            req["parameters"]["truncation"], true,
            "truncation must be requested"
        );
        let inputs: Vec<String> = serde_json::from_value(req["inputs"].clone()).unwrap();
        let delay = self.delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
        }
        let mode = *self.mode.lock().unwrap();
        if mode == EndpointMode::Normal {
            self.embedded.fetch_add(inputs.len(), Ordering::SeqCst);
        }
        let answer = match mode {
            EndpointMode::Throttled => {
                return Err(BackendError::Throttled {
                    service: "SageMaker",
                    detail: "ThrottlingException".into(),
                });
            }
            EndpointMode::Failing => return Err(BackendError::Endpoint("ModelError: boom".into())),
            EndpointMode::Garbage => json!({"unexpected": true}),
            EndpointMode::WrongDimension => json!(
                inputs
                    .iter()
                    .map(|_| vec![vec![vec![1.0; self.dimension + 1]]])
                    .collect::<Vec<_>>()
            ),
            EndpointMode::Normal => {
                json!(
                    inputs
                        .iter()
                        .map(|t| vec![tokens(t, self.dimension)])
                        .collect::<Vec<_>>()
                )
            }
        };
        Ok(serde_json::to_vec(&answer).unwrap())
    }

    async fn put_vectors(&self, vectors: Vec<NewVector>) -> Result<(), BackendError> {
        assert!(vectors.len() <= 500);
        self.round_trip().await;
        self.writes.fetch_add(1, Ordering::SeqCst);
        let mut store = self.store.lock().unwrap();
        for v in vectors {
            assert_eq!(v.data.len(), self.dimension);
            store.insert(v.key, (v.data, v.metadata));
        }
        Ok(())
    }

    async fn get_vectors(&self, keys: Vec<String>) -> Result<Vec<StoredVector>, BackendError> {
        assert!(keys.len() <= 100);
        self.round_trip().await;
        let store = self.store.lock().unwrap();
        Ok(keys
            .into_iter()
            .filter_map(|k| {
                store.get(&k).map(|(data, metadata)| StoredVector {
                    key: k.clone(),
                    data: data.clone(),
                    metadata: metadata.clone(),
                })
            })
            .collect())
    }

    async fn delete_vectors(&self, keys: Vec<String>) -> Result<(), BackendError> {
        self.round_trip().await;
        self.writes.fetch_add(1, Ordering::SeqCst);
        let mut store = self.store.lock().unwrap();
        for k in keys {
            store.remove(&k);
        }
        Ok(())
    }

    async fn list_vectors(&self, request: ListRequest) -> Result<ListPage, BackendError> {
        let ListRequest {
            next_token,
            max_results,
            metadata,
            segment,
        } = request;
        assert!((1..=1000).contains(&max_results));
        let store = self.store.lock().unwrap();
        // Segments split keys by length parity / count; continues after the last key listed.
        let in_segment = |k: &str| segment.is_none_or(|(i, n)| k.len() as u32 % n == i);
        let after = next_token.unwrap_or_default();
        let page: Vec<(String, Map<String, Value>)> = store
            .iter()
            .filter(|(k, _)| in_segment(k))
            .filter(|(k, _)| after.is_empty() || k.as_str() > after.as_str())
            .take(max_results as usize)
            .map(|(k, (_, m))| (k.clone(), if metadata { m.clone() } else { Map::new() }))
            .collect();
        let last_in_segment = store.keys().rev().find(|k| in_segment(k));
        let more = page.len() == max_results as usize
            && last_in_segment.map(String::as_str) != page.last().map(|(k, _)| k.as_str());
        Ok(ListPage {
            next_token: more.then(|| page.last().map(|(k, _)| k.clone())).flatten(),
            vectors: page,
        })
    }

    async fn query(
        &self,
        vector: Vec<f32>,
        top_k: u32,
        filter: Option<Value>,
        text_cap: usize,
    ) -> Result<Vec<Hit>, BackendError> {
        self.round_trip().await;
        let store = self.store.lock().unwrap();
        let mut hits: Vec<Hit> = store
            .iter()
            .filter(|(_, (_, m))| match &filter {
                Some(f) => {
                    shared::filter::Filter::parse(f.clone(), &[]).is_ok_and(|f| f.matches(m))
                }
                None => true,
            })
            .map(|(k, (v, m))| {
                let mut metadata = m.clone();
                let text_cut = function::backend::cap_text(&mut metadata, text_cap);
                Hit {
                    key: k.clone(),
                    distance: 1.0 - v.iter().zip(&vector).map(|(a, b)| a * b).sum::<f32>(),
                    metadata,
                    text_cut,
                }
            })
            .collect();
        hits.sort_by(|a, b| a.distance.total_cmp(&b.distance));
        hits.truncate(top_k as usize);
        Ok(hits)
    }
}

pub fn config() -> Config {
    Config {
        bucket: "b".parse().unwrap(),
        index: "i".parse().unwrap(),
        mirror: None,
        mirror_endpoint: None,
        mirror_dimension: DIM,
        endpoint: "e".parse().unwrap(),
        dimension: DIM,
        chunk: ChunkConfig {
            max_tokens: 128,
            overlap_tokens: 16,
            ..ChunkConfig::default()
        },
        embed_batch_size: 4,
        embed_concurrency: 2,
        embed_max_payload: 4 * 1024 * 1024,
        // Short, so throttling gives up (503) after about a second of backoff.
        time_budget_ms: 3_000,
        deadline_margin_ms: 1_500,
    }
}

/// The model tests' configuration: small chunks (documents of a few hundred words have
/// several), two texts per embedding call, a long time budget.
pub fn model_config() -> Config {
    Config {
        chunk: ChunkConfig {
            max_tokens: 128,
            overlap_tokens: 16,
            ..ChunkConfig::default()
        },
        embed_batch_size: 2,
        time_budget_ms: 20_000,
        deadline_margin_ms: 1_000,
        ..config()
    }
}

pub fn app() -> App<Stub> {
    app_with(config())
}

pub fn app_with(config: Config) -> App<Stub> {
    App::new(Stub::default(), Ok(config))
}

/// A REST v1 proxy event (stage `prod`) with the given method, path and body.
pub fn rest_event(method: &str, path: &str, body: &str) -> lambda_http::Request {
    let mut event: Value = serde_json::from_str(include_str!("../fixtures/rest_v1.json")).unwrap();
    event["httpMethod"] = json!(method);
    event["path"] = json!(path);
    event["resource"] = json!(path);
    event["requestContext"]["path"] = json!(format!("/prod{path}"));
    event["requestContext"]["httpMethod"] = json!(method);
    event["body"] = json!(body);
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

/// An HTTP API v2 event whose rawPath carries the stage.
pub fn http_event(method: &str, path: &str, body: &str) -> lambda_http::Request {
    let mut event: Value = serde_json::from_str(include_str!("../fixtures/http_v2.json")).unwrap();
    event["rawPath"] = json!(format!("/prod{path}"));
    event["requestContext"]["http"]["method"] = json!(method);
    event["requestContext"]["http"]["path"] = json!(format!("/prod{path}"));
    event["body"] = json!(body);
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

pub async fn call(app: &App<Stub>, req: lambda_http::Request) -> (u16, Value, Response<Body>) {
    let resp = handle(app, req).await.unwrap();
    let status = resp.status().as_u16();
    let body: Value = match resp.body() {
        Body::Text(t) => serde_json::from_str(t).unwrap(),
        other => panic!("expected a JSON text body, got {other:?}"),
    };
    (status, body, resp)
}

pub async fn post(app: &App<Stub>, path: &str, body: Value) -> (u16, Value) {
    let (s, b, _) = call(app, rest_event("POST", path, &body.to_string())).await;
    (s, b)
}

/// Ingests one document by id and expects 200.
pub async fn ingest_ok(app: &App<Stub>, id: &str, text: &str, meta: Value) {
    let (s, body) = post(
        app,
        "/ingest",
        json!({"id": id, "text": text, "metadata": meta}),
    )
    .await;
    assert_eq!(s, 200, "{body}");
}

/// A text of `sentences` sentences: several chunks from about 40 on.
pub fn long_text(sentences: usize) -> String {
    (0..sentences)
        .map(|i| format!("Sentence {i} about quarterly revenue and margins."))
        .collect::<Vec<_>>()
        .join(" ")
}
