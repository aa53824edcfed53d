//! Model-based test of every write path (the protocol of `shared::document`).
//!
//! Random sequences of ingest (new, edited, grown, shrunk, metadata-only), writes of the
//! original stack's layout under the same ids, delete, delete by filter, reindex and search run
//! through the handler against the in-memory backend, with injected faults: an error before or
//! after any backend call takes effect, an invocation killed at any call, a throttled
//! embedding call, and two requests for one id interleaved call by call. After every step the
//! index is checked against a plain model:
//! - after an acknowledged write or delete (and no unfinished one since), a document's vectors
//!   are exactly its latest acknowledged version, and GET returns it (404 once deleted);
//! - while a write is unfinished, every stored vector still belongs to an acknowledged or an
//!   attempted version of its id: nothing is resurrected, nothing foreign appears;
//! - a search hit belongs to a live or attempted version and matches the filter;
//! - at the end every unfinished request is sent again until it is acknowledged, and then
//!   every document is exact and the listing equals the model.
//!
//! `MODEL_CASES=N` runs more or fewer cases (default 2,500, about a minute in a debug build; a failing case prints its seed and
//! proptest stores it under `proptest-regressions/` so it reproduces).

mod common;

use common::model_config as config;

use common::{DIM, Stub};
use function::backend::{
    Backend, BackendError, Hit, ListPage, ListRequest, NewVector, StoredVector,
};
use function::handler::{App, handle};
use lambda_http::Body;
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use shared::chunk::chunk_text;
use shared::document::{Key, parse_key};
use shared::filter::Filter;
use shared::metadata::{self, ChunkView};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

const IDS: [&str; 3] = ["a", "b/c", "d e"];
const WORDS: [&str; 24] = [
    "revenue", "margin", "growth", "battery", "cloud", "retail", "chips", "demand", "supply",
    "energy", "vehicle", "software", "market", "profit", "capital", "factory", "sales", "data",
    "server", "model", "price", "guidance", "quarter", "cash",
];
/// Filters of `POST /documents/delete` and `/search` (numbers compared by value).
const FILTERS: [&str; 5] = [
    r#"{"group": "g1"}"#,
    r#"{"v": 2.0}"#,
    r#"{"v": {"$in": [1, 3.0]}}"#,
    r#"{"group": {"$ne": "g0"}, "v": {"$gte": 2}}"#,
    r#"{"$or": [{"group": "g2"}, {"v": {"$lt": 1}}]}"#,
];

// ---------------------------------------------------------------- the faulty backend

#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    None,
    /// Call `k` fails before it takes effect.
    ErrBefore(usize),
    /// Call `k` takes effect, then its answer is lost.
    ErrAfter(usize),
    /// The invocation is killed at call `k` (it never returns).
    Kill(usize),
    /// InvokeEndpoint call `k` is throttled.
    Throttle(usize),
}

struct Faulty {
    inner: Stub,
    fault: Mutex<Fault>,
    calls: Mutex<usize>,
    /// Yields before each call's effect (cycled): how two requests interleave.
    yields: Mutex<Vec<u8>>,
}

impl Faulty {
    async fn before(&self, endpoint: bool) -> Result<usize, BackendError> {
        let k = {
            let mut calls = self.calls.lock().unwrap();
            *calls += 1;
            *calls
        };
        let n = {
            let y = self.yields.lock().unwrap();
            if y.is_empty() { 0 } else { y[k % y.len()] }
        };
        for _ in 0..n {
            tokio::task::yield_now().await;
        }
        let fault = *self.fault.lock().unwrap();
        match fault {
            Fault::ErrBefore(at) if at == k => Err(BackendError::Throttled {
                service: "S3 Vectors",
                detail: "injected before".into(),
            }),
            Fault::Kill(at) if at == k => std::future::pending().await,
            Fault::Throttle(at) if at == k && endpoint => Err(BackendError::Throttled {
                service: "SageMaker",
                detail: "injected".into(),
            }),
            _ => Ok(k),
        }
    }

    fn after(&self, k: usize) -> Result<(), BackendError> {
        match *self.fault.lock().unwrap() {
            Fault::ErrAfter(at) if at == k => Err(BackendError::Other("answer lost".into())),
            _ => Ok(()),
        }
    }
}

impl Backend for Faulty {
    async fn invoke_endpoint(&self, body: Vec<u8>) -> Result<Vec<u8>, BackendError> {
        let k = self.before(true).await?;
        let r = self.inner.invoke_endpoint(body).await;
        self.after(k)?;
        r
    }
    async fn put_vectors(&self, vectors: Vec<NewVector>) -> Result<(), BackendError> {
        let k = self.before(false).await?;
        self.inner.put_vectors(vectors).await?;
        self.after(k)
    }
    async fn get_vectors(&self, keys: Vec<String>) -> Result<Vec<StoredVector>, BackendError> {
        let k = self.before(false).await?;
        let r = self.inner.get_vectors(keys).await;
        self.after(k)?;
        r
    }
    async fn delete_vectors(&self, keys: Vec<String>) -> Result<(), BackendError> {
        let k = self.before(false).await?;
        self.inner.delete_vectors(keys).await?;
        self.after(k)
    }
    async fn list_vectors(&self, request: ListRequest) -> Result<ListPage, BackendError> {
        let k = self.before(false).await?;
        let r = self.inner.list_vectors(request).await;
        self.after(k)?;
        r
    }
    async fn query(
        &self,
        vector: Vec<f32>,
        top_k: u32,
        filter: Option<Value>,
        text_cap: usize,
    ) -> Result<Vec<Hit>, BackendError> {
        let k = self.before(false).await?;
        let r = self.inner.query(vector, top_k, filter, text_cap).await;
        self.after(k)?;
        r
    }
}

// ---------------------------------------------------------------- operations

#[derive(Debug, Clone, PartialEq)]
enum Layout {
    Chunked,
    Original,
}

#[derive(Debug, Clone, PartialEq)]
struct Version {
    layout: Layout,
    text: String,
    meta: Map<String, Value>,
}

#[derive(Debug, Clone)]
enum Op {
    Ingest(usize, Version, Fault),
    Delete(usize, Fault),
    DeleteByFilter(usize, Fault),
    /// The original stack writes `{id}` (one vector, token-0 embedding, no marker).
    Original(usize, Version),
    Reindex(Fault),
    Search(usize),
    /// Two requests for one id, interleaved by the yields.
    Pair(Box<Op>, Box<Op>, Vec<u8>),
}

fn text(words: usize, seed: usize) -> String {
    (0..words)
        .map(|i| WORDS[(seed * 7 + i * 13 + i / 5) % WORDS.len()])
        .collect::<Vec<_>>()
        .join(" ")
}

fn version(layout: Layout) -> impl Strategy<Value = Version> {
    (
        prop_oneof![Just(4usize), Just(160), Just(330), Just(520)],
        0usize..3,
        0usize..3,
        0u8..4,
    )
        .prop_map(move |(words, seed, group, v)| Version {
            layout: layout.clone(),
            text: text(words, seed),
            meta: json!({"group": format!("g{group}"), "v": v})
                .as_object()
                .cloned()
                .unwrap(),
        })
}

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        6 => Just(Fault::None),
        1 => (1usize..12).prop_map(Fault::ErrBefore),
        1 => (1usize..12).prop_map(Fault::ErrAfter),
        1 => (1usize..12).prop_map(Fault::Kill),
        1 => (1usize..6).prop_map(Fault::Throttle),
    ]
}

fn writer(doc: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (version(Layout::Chunked), fault()).prop_map(move |(v, f)| Op::Ingest(doc, v, f)),
        1 => fault().prop_map(move |f| Op::Delete(doc, f)),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let doc = 0..IDS.len();
    prop_oneof![
        6 => (doc.clone(), version(Layout::Chunked), fault())
            .prop_map(|(d, v, f)| Op::Ingest(d, v, f)),
        2 => (doc.clone(), fault()).prop_map(|(d, f)| Op::Delete(d, f)),
        1 => (0..FILTERS.len(), fault()).prop_map(|(i, f)| Op::DeleteByFilter(i, f)),
        1 => (doc.clone(), version(Layout::Original)).prop_map(|(d, v)| Op::Original(d, v)),
        1 => fault().prop_map(Op::Reindex),
        1 => (0..FILTERS.len()).prop_map(Op::Search),
        2 => doc.prop_flat_map(|d| (writer(d), writer(d), prop::collection::vec(0u8..4, 1..8)))
            .prop_map(|(a, b, y)| Op::Pair(Box::new(a), Box::new(b), y)),
    ]
}

// ---------------------------------------------------------------- the model

#[derive(Debug, Clone)]
struct Doc {
    /// What the document may be: one acknowledged version, or either of two overlapping
    /// acknowledged requests (`None`: deleted).
    candidates: Vec<Option<Version>>,
    /// Versions whose vectors may also be stored: attempted writes not acknowledged since, and
    /// chunks the original stack's writes do not remove.
    leftovers: Vec<Version>,
    /// An unacknowledged request touched it since the last acknowledged one.
    pending: bool,
}

impl Default for Doc {
    fn default() -> Self {
        Self {
            candidates: vec![None],
            leftovers: Vec::new(),
            pending: false,
        }
    }
}

impl Doc {
    fn acked(&mut self, v: Option<Version>) {
        *self = Self {
            candidates: vec![v],
            ..Self::default()
        };
    }
    fn attempted(&mut self, v: Option<&Version>) {
        self.leftovers.extend(v.cloned());
        self.pending = true;
    }
    fn versions(&self) -> impl Iterator<Item = &Version> {
        self.candidates.iter().flatten().chain(&self.leftovers)
    }
}

struct Harness {
    app: App<Faulty>,
    reference: Stub,
    docs: Vec<Doc>,
    /// Requests not acknowledged, to send again at the end.
    unacked: Vec<Op>,
    clock: u32,
    /// Chunk texts and embeddings of each text seen, computed once.
    chunked: RefCell<HashMap<String, Vec<String>>>,
    vectors: RefCell<HashMap<String, Vec<f32>>>,
}

type Answer = Option<(u16, Value)>;

fn event(method: &str, path: &str, body: &str) -> lambda_http::Request {
    common::rest_event(method, path, body)
}

fn doc_path(id: &str) -> String {
    format!("/documents/{}", id.replace(' ', "%20"))
}

fn chunk_meta(v: &Version) -> Map<String, Value> {
    let mut m = v.meta.clone();
    m.insert(metadata::TEXT_KEY.into(), Value::from(v.text.as_str()));
    m
}

impl Harness {
    fn new() -> Self {
        Self {
            app: App::new(
                Faulty {
                    inner: Stub::default(),
                    fault: Mutex::new(Fault::None),
                    calls: Mutex::new(0),
                    yields: Mutex::new(Vec::new()),
                },
                Ok(config()),
            ),
            reference: Stub::default(),
            docs: vec![Doc::default(); IDS.len()],
            unacked: Vec::new(),
            clock: 0,
            chunked: RefCell::default(),
            vectors: RefCell::default(),
        }
    }

    fn arm(&self, fault: Fault, yields: Vec<u8>) {
        *self.app.backend.fault.lock().unwrap() = fault;
        *self.app.backend.calls.lock().unwrap() = 0;
        *self.app.backend.yields.lock().unwrap() = yields;
    }

    /// One request; `None` when it was killed.
    async fn send(&self, req: lambda_http::Request) -> Answer {
        let answer = tokio::time::timeout(Duration::from_secs(3600), handle(&self.app, req)).await;
        let resp = answer.ok()?.expect("the handler never fails");
        let body = match resp.body() {
            Body::Text(t) => serde_json::from_str(t).expect("JSON"),
            other => panic!("not a JSON text body: {other:?}"),
        };
        Some((resp.status().as_u16(), body))
    }

    fn request(op: &Op) -> lambda_http::Request {
        match op {
            Op::Ingest(d, v, _) => {
                let body = json!({"id": IDS[*d], "text": v.text, "metadata": v.meta});
                event("POST", "/ingest", &body.to_string())
            }
            Op::Delete(d, _) => event("DELETE", &doc_path(IDS[*d]), ""),
            _ => unreachable!("sent by their own loops"),
        }
    }

    /// The model after a single-id request answered `answer`.
    fn apply(&mut self, op: &Op, answer: &Answer, overlapped: bool) -> bool {
        let (d, version) = match op {
            Op::Ingest(d, v, _) => (*d, Some(v.clone())),
            Op::Delete(d, _) => (*d, None),
            _ => unreachable!(),
        };
        let status = answer.as_ref().map(|(s, _)| *s);
        let acked = match (op, status) {
            (Op::Ingest(..), Some(200)) => true,
            (Op::Delete(..), Some(200)) => true,
            (Op::Delete(..), Some(404)) => {
                let doc = &self.docs[d];
                // An unacknowledged request since (a delete that lost its answer) may have
                // removed it already.
                assert!(
                    overlapped || doc.pending || doc.candidates.iter().all(Option::is_none),
                    "404 for a stored document {}: {doc:?}",
                    IDS[d]
                );
                true
            }
            (_, None | Some(202 | 500 | 502 | 503)) => false,
            (_, Some(s)) => panic!("unexpected {s} for {op:?}: {answer:?}"),
        };
        let doc = &mut self.docs[d];
        if !acked {
            doc.attempted(version.as_ref());
            self.unacked.push(op.clone());
        } else if overlapped {
            doc.candidates.push(version);
        } else {
            doc.acked(version);
        }
        acked
    }

    async fn run(&mut self, op: &Op) {
        match op {
            Op::Ingest(.., fault) | Op::Delete(_, fault) => {
                self.arm(*fault, Vec::new());
                let answer = self.send(Self::request(op)).await;
                self.apply(op, &answer, false);
            }
            Op::Pair(a, b, yields) => {
                self.arm(Fault::None, yields.clone());
                let (ra, rb) =
                    futures::join!(self.send(Self::request(a)), self.send(Self::request(b)));
                let d = match **a {
                    Op::Ingest(d, ..) | Op::Delete(d, _) => d,
                    _ => unreachable!(),
                };
                // Both acknowledged: either may be last. Otherwise: the acknowledged one, with
                // what the other wrote still allowed.
                let before = self.docs[d].clone();
                self.docs[d].pending = false;
                self.docs[d].leftovers.clear();
                self.docs[d].candidates.clear();
                let acked_a = self.apply(a, &ra, true);
                let acked_b = self.apply(b, &rb, true);
                if !acked_a && !acked_b {
                    let mut doc = before;
                    doc.leftovers.append(&mut self.docs[d].leftovers);
                    doc.pending = true;
                    self.docs[d] = doc;
                } else if !(acked_a && acked_b) {
                    self.docs[d].leftovers.extend(before.versions().cloned());
                }
            }
            Op::Original(d, v) => self.write_original(*d, v),
            Op::DeleteByFilter(i, fault) => self.delete_by_filter(*i, *fault).await,
            Op::Reindex(fault) => self.reindex(*fault).await,
            Op::Search(i) => self.search(*i).await,
        }
        self.arm(Fault::None, Vec::new());
    }

    fn write_original(&mut self, d: usize, v: &Version) {
        self.clock += 1;
        let mut meta = chunk_meta(v);
        let stamp = format!(
            "2999-01-01T00:{:02}:{:02}Z",
            self.clock / 60,
            self.clock % 60
        );
        meta.insert(metadata::TIMESTAMP_KEY.into(), Value::from(stamp));
        let mut data = vec![0.0; DIM];
        data[0] = 1.0;
        let key = IDS[d].to_string();
        self.app
            .backend
            .inner
            .store
            .lock()
            .unwrap()
            .insert(key, (data, meta));
        let doc = &mut self.docs[d];
        let older: Vec<Version> = doc.versions().cloned().collect();
        doc.leftovers = older;
        doc.candidates = vec![Some(v.clone())];
    }

    fn matches(filter: &Filter, v: &Version) -> bool {
        filter.matches(&chunk_meta(v))
    }

    async fn delete_by_filter(&mut self, i: usize, fault: Fault) {
        let filter = Filter::parse(serde_json::from_str(FILTERS[i]).unwrap(), &[]).unwrap();
        self.arm(fault, Vec::new());
        let mut token = Value::Null;
        let done = loop {
            let body = json!({"filter": filter.as_value(), "next_token": token}).to_string();
            match self.send(event("POST", "/documents/delete", &body)).await {
                Some((200, _)) => break true,
                Some((202, b)) => token = b["next_token"].clone(),
                Some((500 | 502 | 503, _)) | None => break false,
                other => panic!("delete by filter answered {other:?}"),
            }
        };
        for doc in &mut self.docs {
            let all = doc.versions().all(|v| Self::matches(&filter, v));
            let any = doc.versions().any(|v| Self::matches(&filter, v));
            if done && all && doc.versions().next().is_some() {
                doc.acked(None);
            } else if any {
                // What is stored decides: deleted, or left as it was.
                doc.candidates.push(None);
                doc.pending = true;
            }
        }
        if !done {
            self.unacked.push(Op::DeleteByFilter(i, Fault::None));
        }
    }

    async fn reindex(&mut self, fault: Fault) {
        self.arm(fault, Vec::new());
        let mut token = Value::Null;
        let done = loop {
            let body = json!({"segment": 0, "segments": 1, "next_token": token}).to_string();
            match self.send(event("POST", "/documents/reindex", &body)).await {
                Some((200, b)) => {
                    assert!(b["problems"].as_array().unwrap().is_empty(), "{b}");
                    break true;
                }
                Some((202, b)) => token = b["next_token"].clone(),
                Some((500 | 502 | 503, _)) | None => break false,
                other => panic!("reindex answered {other:?}"),
            }
        };
        for doc in &mut self.docs {
            let originals: Vec<Version> = doc
                .versions()
                .filter(|v| v.layout == Layout::Original)
                .map(|v| Version {
                    layout: Layout::Chunked,
                    ..v.clone()
                })
                .collect();
            let single = doc.candidates.len() == 1 && !doc.pending;
            match doc.candidates.first() {
                Some(Some(v)) if done && single && v.layout == Layout::Original => {
                    let migrated = Version {
                        layout: Layout::Chunked,
                        ..v.clone()
                    };
                    doc.acked(Some(migrated));
                }
                _ if !originals.is_empty() => {
                    doc.leftovers.extend(originals);
                    doc.pending = true;
                }
                _ => {}
            }
        }
        if !done {
            self.unacked.push(Op::Reindex(Fault::None));
        }
    }

    async fn search(&mut self, i: usize) {
        let filter: Value = serde_json::from_str(FILTERS[i]).unwrap();
        let body = json!({"query": "revenue growth", "k": 50, "filter": filter}).to_string();
        let (status, body) = self.send(event("POST", "/search", &body)).await.unwrap();
        assert_eq!(status, 200, "{body}");
        let parsed = Filter::parse(filter, &[]).unwrap();
        for hit in body["results"].as_array().unwrap() {
            let id = hit["document_id"].as_str().unwrap();
            let d = IDS.iter().position(|x| *x == id).expect("a known id");
            let meta = hit["metadata"].as_object().unwrap();
            assert!(
                parsed.matches(meta),
                "hit {hit} does not match {}",
                FILTERS[i]
            );
            assert!(
                self.docs[d].versions().next().is_some(),
                "search returned {id}, which is deleted: {hit}"
            );
        }
    }

    // ------------------------------------------------------------ checks

    fn expected_vector(&self, text: &str) -> Vec<f32> {
        if let Some(v) = self.vectors.borrow().get(text) {
            return v.clone();
        }
        let body = json!({"inputs": [text], "parameters": {"truncation": true}});
        let answer = futures::executor::block_on(
            self.reference
                .invoke_endpoint(serde_json::to_vec(&body).unwrap()),
        )
        .unwrap();
        let v = shared::embedding::decode_answer(&answer, 1, DIM)
            .unwrap()
            .vectors
            .remove(0);
        self.vectors
            .borrow_mut()
            .insert(text.to_string(), v.clone());
        v
    }

    fn chunks(&self, v: &Version) -> Vec<String> {
        let mut cache = self.chunked.borrow_mut();
        let texts = cache.entry(v.text.clone()).or_insert_with(|| {
            chunk_text(&v.text, config().chunk)
                .unwrap()
                .into_iter()
                .map(|c| c.text.to_string())
                .collect()
        });
        texts.clone()
    }

    /// Whether the stored vector `key` is one of version `v`'s.
    fn belongs(
        &self,
        id: &str,
        key: &str,
        data: &[f32],
        meta: &Map<String, Value>,
        v: &Version,
    ) -> bool {
        let view = ChunkView(meta);
        match (parse_key(key), &v.layout) {
            (Key::Original(_), Layout::Original) => {
                view.text() == Some(v.text.as_str()) && view.user() == v.meta
            }
            (Key::Chunk { index, .. }, Layout::Chunked) => {
                let texts = self.chunks(v);
                let Some(t) = texts.get(index) else {
                    return false;
                };
                view.text() == Some(t.as_str())
                    && view.chunk_count() == Some(texts.len())
                    && meta.get(metadata::CHUNK_INDEX_KEY) == Some(&Value::from(index))
                    && view.document_id() == Some(id)
                    && view.is_current()
                    && meta.get(metadata::CONTENT_HASH_KEY)
                        == Some(&Value::from(metadata::content_hash(t)))
                    && view.user() == v.meta
                    && data == self.expected_vector(t).as_slice()
            }
            _ => false,
        }
    }

    fn stored(&self, id: &str) -> BTreeMap<String, (Vec<f32>, Map<String, Value>)> {
        let store = self.app.backend.inner.store.lock().unwrap();
        store
            .iter()
            .filter(|(k, _)| parse_key(k).id() == id)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Whether the stored vectors are exactly `candidate` (leftovers allowed beside an
    /// original-layout version, whose writer never removed chunks).
    fn exactly(&self, id: &str, candidate: &Option<Version>, doc: &Doc) -> bool {
        let stored = self.stored(id);
        match candidate {
            None => stored.is_empty(),
            Some(v) if v.layout == Layout::Original => {
                stored
                    .get(id)
                    .is_some_and(|(d, m)| self.belongs(id, id, d, m, v))
                    && stored.iter().filter(|(k, _)| *k != id).all(|(k, (d, m))| {
                        doc.leftovers.iter().any(|l| self.belongs(id, k, d, m, l))
                    })
            }
            Some(v) => {
                let n = self.chunks(v).len();
                stored.len() == n
                    && stored
                        .iter()
                        .all(|(k, (d, m))| self.belongs(id, k, d, m, v))
            }
        }
    }

    async fn check(&mut self) {
        for (d, id) in IDS.iter().enumerate() {
            let doc = self.docs[d].clone();
            if doc.pending {
                for (key, (data, meta)) in self.stored(id) {
                    assert!(
                        doc.versions()
                            .any(|v| self.belongs(id, &key, &data, &meta, v)),
                        "{key} = {:?} belongs to no acknowledged or attempted version of {id}: {doc:#?}",
                        ChunkView(&meta).text().map(|t| &t[..t.len().min(40)])
                    );
                }
                continue;
            }
            let exact: Vec<&Option<Version>> = doc
                .candidates
                .iter()
                .filter(|c| self.exactly(id, c, &doc))
                .collect();
            assert!(
                !exact.is_empty(),
                "{id} is not exactly any acknowledged version: stored {:#?}\nmodel {doc:#?}",
                self.stored(id).keys().collect::<Vec<_>>()
            );
            let decided = exact[0].clone();
            self.docs[d].candidates = vec![decided.clone()];
            self.check_get(id, &decided).await;
        }
    }

    async fn check_get(&self, id: &str, expected: &Option<Version>) {
        let (status, body) = self.send(event("GET", &doc_path(id), "")).await.unwrap();
        match expected {
            None => assert_eq!(status, 404, "GET {id}: {body}"),
            Some(v) => {
                assert_eq!(status, 200, "GET {id}: {body}");
                let texts: Vec<&str> = body["chunks"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c["text"].as_str().unwrap())
                    .collect();
                let want = match v.layout {
                    Layout::Chunked => self.chunks(v),
                    Layout::Original => vec![v.text.clone()],
                };
                assert_eq!(texts, want, "GET {id}");
                assert_eq!(body["metadata"], Value::Object(v.meta.clone()), "GET {id}");
            }
        }
    }

    /// Sends every unacknowledged request again (no faults) until it is acknowledged; then
    /// deletes what is still undecided, and checks everything exactly.
    async fn quiesce(&mut self) {
        for op in std::mem::take(&mut self.unacked) {
            for _ in 0..20 {
                let before = self.unacked.len();
                match &op {
                    Op::Ingest(..) | Op::Delete(..) => {
                        let answer = self.send(Self::request(&op)).await;
                        if self.apply(&op, &answer, false) {
                            break;
                        }
                    }
                    Op::DeleteByFilter(i, _) => self.delete_by_filter(*i, Fault::None).await,
                    Op::Reindex(_) => self.reindex(Fault::None).await,
                    _ => unreachable!(),
                }
                if self.unacked.len() == before {
                    break;
                }
                self.unacked.truncate(before);
            }
            self.check().await;
        }
        for d in 0..IDS.len() {
            if self.docs[d].pending {
                let op = Op::Delete(d, Fault::None);
                let answer = self.send(Self::request(&op)).await;
                assert!(self.apply(&op, &answer, false), "{answer:?}");
            }
        }
        self.check().await;
        let (status, list) = self.send(event("GET", "/documents", "")).await.unwrap();
        assert_eq!(status, 200);
        let listed: BTreeSet<&str> = list["document_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let live: BTreeSet<&str> = IDS
            .iter()
            .zip(&self.docs)
            .filter(|(_, doc)| doc.candidates.iter().any(Option::is_some))
            .map(|(id, _)| *id)
            .collect();
        assert_eq!(listed, live, "the listing");
    }
}

fn run_case(ops: &[Op]) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let mut h = Harness::new();
        for op in ops {
            h.run(op).await;
            h.check().await;
        }
        h.quiesce().await;
    });
}

fn cases() -> u32 {
    std::env::var("MODEL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_500)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        max_shrink_iters: 2_000,
        ..ProptestConfig::default()
    })]

    #[test]
    fn no_operation_deletes_resurrects_or_orphans_the_wrong_vectors(
        ops in prop::collection::vec(op(), 1..14)
    ) {
        run_case(&ops);
    }
}

/// Found by the model: a writer that deletes the strays it read while another writer rewrites
/// them leaves the other's later chunks behind a gap; readers probe across gaps, and the
/// writer reads back as far as it first read, so the next write of the id removes them.
#[test]
fn interleaved_writers_leave_nothing_behind_a_gap() {
    let v = |words, seed| Version {
        layout: Layout::Chunked,
        text: text(words, seed),
        meta: json!({"group": "g0", "v": 0}).as_object().cloned().unwrap(),
    };
    run_case(&[
        Op::Pair(
            Box::new(Op::Ingest(1, v(330, 0), Fault::None)),
            Box::new(Op::Ingest(1, v(4, 0), Fault::None)),
            vec![1, 0, 0],
        ),
        Op::Pair(
            Box::new(Op::Ingest(1, v(4, 1), Fault::None)),
            Box::new(Op::Ingest(1, v(520, 0), Fault::None)),
            vec![0, 0, 1, 1, 1],
        ),
    ]);
}
