//! Property test of the blue/green copy (`MIRROR_INDEX`, `crate::mirror`).
//!
//! The index holds documents written before the mirror was set. Then random sequences of
//! ingests (new, edited, grown, shrunk) and deletes, with faults injected on either index (an
//! error before or after any call takes effect, an invocation killed at any call), interleave
//! call by call with each other and with the whole copy (`POST /documents/reindex
//! {"copy": …}` until done, itself faulted). At the end every request that was not
//! acknowledged is sent again until it is (what a client does), the copy is finished if no
//! run of it did, and then the mirror must hold exactly the index's vectors: nothing of a
//! deleted document resurrected, nothing written lost, no stray left.
//!
//! Half the cases fill the mirror with another model (`MIRROR_ENDPOINT`, another dimension):
//! the mirror must then hold the index's keys and metadata, and for each the other model's
//! embedding of its text (the mirror's endpoint faulted like the rest).
//!
//! Writes that address documents by filter are refused while a mirror is set (409).
//!
//! `MIRROR_CASES=N` runs more or fewer cases (default 600).

mod common;

use common::model_config as config;

use common::Stub;
use function::backend::{
    Backend, BackendError, Hit, ListPage, ListRequest, NewVector, StoredVector,
};
use function::config::Config;
use function::handler::{App, handle};
use lambda_http::Body;
use proptest::prelude::*;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const IDS: [&str; 3] = ["a", "b/c", "d e"];
/// The other model's width, when the mirror is filled with another model.
const OTHER_DIM: usize = 24;
const WORDS: [&str; 8] = [
    "revenue", "margin", "growth", "battery", "cloud", "retail", "chips", "demand",
];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    None,
    /// Call `k` (of either index) fails before it takes effect.
    ErrBefore(usize),
    /// Call `k` takes effect, then its answer is lost.
    ErrAfter(usize),
    /// The invocation is killed at call `k`.
    Kill(usize),
}

/// What both indexes' calls share: the armed fault, the call count.
#[derive(Default)]
struct Faults {
    fault: Mutex<Option<Fault>>,
    calls: Mutex<usize>,
}

tokio::task_local! {
    /// Yields before each call of this request (its own calls, cycled): how two requests
    /// interleave.
    static SCHEDULE: (Vec<u8>, std::cell::Cell<usize>);
}

struct Faulty {
    inner: Arc<Stub>,
    faults: Arc<Faults>,
}

impl Faulty {
    async fn before(&self) -> Result<usize, BackendError> {
        let k = {
            let mut calls = self.faults.calls.lock().unwrap();
            *calls += 1;
            *calls
        };
        let n = SCHEDULE
            .try_with(|(y, i)| {
                let n = y[i.get() % y.len()];
                i.set(i.get() + 1);
                n
            })
            .unwrap_or(0);
        for _ in 0..n {
            tokio::task::yield_now().await;
        }
        let fault = self.faults.fault.lock().unwrap().unwrap_or(Fault::None);
        match fault {
            Fault::ErrBefore(at) if at == k => Err(BackendError::Throttled {
                service: "S3 Vectors",
                detail: "injected before".into(),
            }),
            Fault::Kill(at) if at == k => std::future::pending().await,
            _ => Ok(k),
        }
    }

    fn after(&self, k: usize) -> Result<(), BackendError> {
        match *self.faults.fault.lock().unwrap() {
            Some(Fault::ErrAfter(at)) if at == k => Err(BackendError::Other("answer lost".into())),
            _ => Ok(()),
        }
    }
}

impl Backend for Faulty {
    async fn invoke_endpoint(&self, body: Vec<u8>) -> Result<Vec<u8>, BackendError> {
        let k = self.before().await?;
        let r = self.inner.invoke_endpoint(body).await;
        self.after(k)?;
        r
    }
    async fn put_vectors(&self, vectors: Vec<NewVector>) -> Result<(), BackendError> {
        let k = self.before().await?;
        self.inner.put_vectors(vectors).await?;
        self.after(k)
    }
    async fn get_vectors(&self, keys: Vec<String>) -> Result<Vec<StoredVector>, BackendError> {
        let k = self.before().await?;
        let r = self.inner.get_vectors(keys).await;
        self.after(k)?;
        r
    }
    async fn delete_vectors(&self, keys: Vec<String>) -> Result<(), BackendError> {
        let k = self.before().await?;
        self.inner.delete_vectors(keys).await?;
        self.after(k)
    }
    async fn list_vectors(&self, request: ListRequest) -> Result<ListPage, BackendError> {
        let k = self.before().await?;
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
        let k = self.before().await?;
        let r = self.inner.query(vector, top_k, filter, text_cap).await;
        self.after(k)?;
        r
    }
}

#[derive(Debug, Clone)]
enum Op {
    /// Ingest document `.0` with text `(words, seed)`.
    Ingest(usize, (usize, usize), Fault),
    Delete(usize, Fault),
    /// The whole copy, both passes, until done or failed.
    Copy(Fault),
    /// Two operations interleaved by their schedules (no injected fault).
    Pair(Box<Op>, Box<Op>, Vec<u8>, Vec<u8>),
}

fn text((words, seed): (usize, usize)) -> String {
    (0..words)
        .map(|i| WORDS[(seed * 3 + i * 5 + i / 7) % WORDS.len()])
        .collect::<Vec<_>>()
        .join(" ")
}

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        5 => Just(Fault::None),
        1 => (1usize..16).prop_map(Fault::ErrBefore),
        1 => (1usize..16).prop_map(Fault::ErrAfter),
        1 => (1usize..16).prop_map(Fault::Kill),
    ]
}

fn shape() -> impl Strategy<Value = (usize, usize)> {
    (prop_oneof![Just(4usize), Just(160), Just(330)], 0usize..3)
}

fn single() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..IDS.len(), shape(), fault()).prop_map(|(d, t, f)| Op::Ingest(d, t, f)),
        2 => (0..IDS.len(), fault()).prop_map(|(d, f)| Op::Delete(d, f)),
        1 => fault().prop_map(Op::Copy),
    ]
}

fn schedule() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop_oneof![3 => Just(0u8), 1 => 1u8..12], 1..10)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => single(),
        2 => (single(), single(), schedule(), schedule())
            .prop_map(|(a, b, ya, yb)| Op::Pair(Box::new(a), Box::new(b), ya, yb)),
    ]
}

struct Harness {
    app: App<Faulty>,
    index: Arc<Stub>,
    mirror: Arc<Stub>,
    faults: Arc<Faults>,
    /// Writes not acknowledged, to send again at the end.
    unacked: Vec<Op>,
    /// Whether a run of the copy finished.
    copied: bool,
    /// Whether the mirror is filled with another model.
    other_model: bool,
}

fn path(id: &str) -> String {
    format!("/documents/{}", id.replace(' ', "%20"))
}

impl Harness {
    /// The index already holds `seed` (written with no mirror set); the mirror is filled with
    /// another model when `other_model`.
    async fn new(seed: &[(usize, (usize, usize))], other_model: bool) -> Self {
        let mirror = match other_model {
            true => Stub::of_dimension(OTHER_DIM),
            false => Stub::default(),
        };
        let (index, mirror) = (Arc::new(Stub::default()), Arc::new(mirror));
        let faults = Arc::new(Faults::default());
        let backend = |stub: &Arc<Stub>| Faulty {
            inner: stub.clone(),
            faults: faults.clone(),
        };
        let before = App::new(backend(&index), Ok(config()));
        for &(d, t) in seed {
            let body = json!({"id": IDS[d], "text": text(t)}).to_string();
            let resp = handle(&before, common::rest_event("POST", "/ingest", &body))
                .await
                .unwrap();
            assert_eq!(resp.status(), 200);
        }
        let config = Config {
            mirror: Some("i-v2".parse().unwrap()),
            mirror_endpoint: other_model.then(|| "e2".parse().unwrap()),
            mirror_dimension: if other_model { OTHER_DIM } else { common::DIM },
            ..config()
        };
        Self {
            app: App::new(backend(&index), Ok(config)).with_mirror(backend(&mirror)),
            index,
            mirror,
            faults,
            unacked: Vec::new(),
            copied: false,
            other_model,
        }
    }

    fn arm(&self, fault: Fault) {
        *self.faults.fault.lock().unwrap() = Some(fault);
        *self.faults.calls.lock().unwrap() = 0;
    }

    /// One request: its status and body, `None` when it was killed.
    async fn send(&self, method: &str, path: &str, body: &str) -> Option<(u16, Value)> {
        let req = common::rest_event(method, path, body);
        let answer = tokio::time::timeout(Duration::from_secs(3600), handle(&self.app, req)).await;
        let resp = answer.ok()?.expect("the handler never fails");
        let body = match resp.body() {
            Body::Text(t) => serde_json::from_str(t).expect("JSON"),
            other => panic!("not a JSON text body: {other:?}"),
        };
        Some((resp.status().as_u16(), body))
    }

    /// Runs `op`; whether it was acknowledged.
    async fn attempt(&self, op: &Op) -> bool {
        match op {
            Op::Ingest(d, t, _) => {
                let body = json!({"id": IDS[*d], "text": text(*t)}).to_string();
                let answer = self.send("POST", "/ingest", &body).await;
                acked(op, answer, &[200])
            }
            Op::Delete(d, _) => {
                let answer = self.send("DELETE", &path(IDS[*d]), "").await;
                acked(op, answer, &[200, 404])
            }
            Op::Copy(_) => {
                for pass in ["index", "mirror"] {
                    let mut token: Option<String> = None;
                    loop {
                        let body =
                            json!({"segment": 0, "segments": 1, "copy": pass, "next_token": token})
                                .to_string();
                        match self.send("POST", "/documents/reindex", &body).await {
                            Some((200, b)) if b["done"] == true => break,
                            Some((200 | 202, b)) => {
                                token = b["next_token"].as_str().map(Into::into)
                            }
                            answer => return acked(op, answer, &[]),
                        }
                    }
                }
                true
            }
            Op::Pair(..) => unreachable!(),
        }
    }

    async fn run(&mut self, op: &Op) {
        let done = match op {
            Op::Ingest(.., f) | Op::Delete(_, f) | Op::Copy(f) => {
                self.arm(*f);
                vec![(op.clone(), self.attempt(op).await)]
            }
            Op::Pair(a, b, ya, yb) => {
                self.arm(Fault::None);
                let (ra, rb) = futures::join!(
                    SCHEDULE.scope((ya.clone(), Default::default()), self.attempt(a)),
                    SCHEDULE.scope((yb.clone(), Default::default()), self.attempt(b))
                );
                vec![((**a).clone(), ra), ((**b).clone(), rb)]
            }
        };
        self.arm(Fault::None);
        for (op, ok) in done {
            match (&op, ok) {
                (Op::Copy(_), true) => self.copied = true,
                (_, false) => self.unacked.push(op),
                _ => {}
            }
        }
    }

    /// Every unacknowledged write sent again until acknowledged (the copy only when no run of
    /// it finished); then the mirror must equal the index.
    async fn finish(&mut self) {
        self.arm(Fault::None);
        for op in std::mem::take(&mut self.unacked) {
            if matches!(op, Op::Copy(_)) {
                continue;
            }
            let mut tries = 0;
            while !self.attempt(&op).await {
                tries += 1;
                assert!(tries < 5, "{op:?} is never acknowledged");
            }
        }
        if !self.copied {
            assert!(
                self.attempt(&Op::Copy(Fault::None)).await,
                "the copy finishes"
            );
        }
        let index = self.index.store.lock().unwrap().clone();
        let mirror = self.mirror.store.lock().unwrap().clone();
        let keys = |s: &common::Store| s.keys().cloned().collect::<Vec<_>>();
        assert_eq!(
            keys(&mirror),
            keys(&index),
            "the mirror holds the index's keys"
        );
        if !self.other_model {
            assert!(mirror == index, "the mirror holds the index's vectors");
            return;
        }
        for ((key, (data, meta)), (_, (_, want))) in mirror.iter().zip(&index) {
            assert_eq!(meta, want, "{key}: the mirror holds the index's metadata");
            let text = meta["text"].as_str().unwrap();
            let expected = other_model_vector(text).await;
            let far = data.iter().zip(&expected).map(|(a, b)| (a - b).abs());
            assert!(
                far.fold(0.0, f32::max) < 1e-5,
                "{key}: the other model's vector of its text"
            );
        }
    }
}

/// The other model's embedding of `text`, as the function makes it from the endpoint's answer.
async fn other_model_vector(text: &str) -> Vec<f32> {
    let body = json!({"inputs": [text], "parameters": {"truncation": true}});
    let answer = Stub::of_dimension(OTHER_DIM)
        .invoke_endpoint(serde_json::to_vec(&body).unwrap())
        .await
        .unwrap();
    shared::embedding::decode_embeddings(&answer, 1, OTHER_DIM)
        .unwrap()
        .remove(0)
}

/// Whether `answer` acknowledges `op`; anything but a failure the client retries is a bug.
fn acked(op: &Op, answer: Option<(u16, Value)>, ok: &[u16]) -> bool {
    match answer {
        Some((s, _)) if ok.contains(&s) => true,
        None | Some((202 | 500 | 502 | 503, _)) => false,
        Some((s, body)) => panic!("unexpected {s} for {op:?}: {body}"),
    }
}

fn run_case(seed: &[(usize, (usize, usize))], ops: &[Op], other_model: bool) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let mut h = Harness::new(seed, other_model).await;
        for op in ops {
            h.run(op).await;
        }
        h.finish().await;
    });
}

fn cases() -> u32 {
    std::env::var("MIRROR_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        max_shrink_iters: 2_000,
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_mirror_ends_holding_exactly_the_index(
        seed in prop::collection::vec((0..IDS.len(), shape()), 0..3),
        ops in prop::collection::vec(op(), 1..10),
        other_model in any::<bool>()
    ) {
        run_case(&seed, &ops, other_model);
    }
}

/// A write that addresses documents by filter is refused while a mirror is set: its retry
/// could not find what its first attempt changed.
#[test]
fn writes_by_filter_wait_for_the_copy() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let h = Harness::new(&[(0, (4, 0))], false).await;
        for (path, body) in [
            ("/documents/delete", json!({"filter": {"x": 1}})),
            ("/documents/reindex", json!({"segment": 0, "segments": 1})),
        ] {
            let (status, body) = h.send("POST", path, &body.to_string()).await.unwrap();
            assert_eq!(status, 409, "{path}: {body}");
            assert_eq!(body["code"], shared::api::COPY_IN_PROGRESS);
            assert!(body["error"].as_str().unwrap().contains("`i-v2`"), "{body}");
        }
        assert_eq!(
            h.index.store.lock().unwrap().len(),
            1,
            "nothing was deleted"
        );
    });
}

/// Without a mirror, a copy round is a clear 400.
#[test]
fn a_copy_needs_a_mirror() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let app = common::app();
        let (status, body) = common::post(
            &app,
            "/documents/reindex",
            json!({"segment": 0, "segments": 1, "copy": "index"}),
        )
        .await;
        assert_eq!(status, 400, "{body}");
        assert!(
            body["error"].as_str().unwrap().contains("MIRROR_INDEX"),
            "{body}"
        );
    });
}
