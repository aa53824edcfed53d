//! `sync SOURCE…`: keeps the index in step with directories and files, like a knowledge
//! base's data-source sync. Each document is read as `ingest` reads it (same ids, same
//! extraction) and stamped with two metadata keys: `sync_source`, the source argument it came
//! from (its path under `--root`), and `sync_hash`, a hash of its text and metadata. One
//! listing of the index with metadata (`GET /documents?metadata=true`, up to 1,000 documents
//! a call) then tells, with no per-document read:
//! - **new** (not stored) and **modified** (stored with another hash): sent, as `ingest` sends;
//! - **unchanged**: not sent;
//! - **deleted**: stored with a `sync_source` of this run whose file is gone: deleted (the
//!   operator's signed `DELETE /documents/{id}`), unless `--no-delete`. Documents of other
//!   sources, or ingested without `sync`, are never touched.
//!
//! A document is listed only once every chunk is stored (its head is written last), so a sync
//! stopped anywhere is finished by running it again, and the function skips chunks it already
//! has. `--dry-run` prints the same plan with the chunks and tokens to embed and what they
//! would cost, and sends nothing.

use crate::api_client::{ApiClient, Credentials, REQUEST_TIMEOUT};
use crate::cli::SyncArgs;
use crate::commands::ingest::s3::S3Url;
use crate::commands::ingest::sources::{Source, read_sources as read_paths};
use crate::commands::ingest::{send, unread};
use crate::printer::{Printer, count};
use anyhow::bail;
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Instant;

/// The metadata key naming the source argument a document was synced from.
pub const SOURCE_KEY: &str = "sync_source";
/// The metadata key holding the hash of what was synced.
pub const HASH_KEY: &str = "sync_hash";

/// What a sync does (or did), document by document.
#[derive(Debug, Default, Serialize)]
pub struct SyncReport {
    /// Whether nothing was sent (`--dry-run`).
    pub dry_run: bool,
    /// Documents read from the sources.
    pub scanned: usize,
    /// Not stored yet.
    pub new: Vec<String>,
    /// Stored with other content.
    pub modified: Vec<String>,
    /// Stored as they are (not sent).
    pub unchanged: usize,
    /// Stored from these sources, their files gone.
    pub deleted: Vec<String>,
    /// Files or documents that failed, with why.
    pub failures: Vec<String>,
    /// Chunks and tokens the new and modified documents have (what may be embedded).
    pub estimate: Estimate,
    /// Vectors written.
    pub chunks_written: usize,
    /// API calls made to compare (listing pages).
    pub listing_calls: usize,
    /// Seconds.
    pub seconds: f64,
}

impl std::fmt::Display for SyncReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verb = |done: &'static str, planned: &'static str| match self.dry_run {
            true => planned,
            false => done,
        };
        for (label, ids) in [
            (verb("new", "to send (new)"), &self.new),
            (verb("modified", "to send (modified)"), &self.modified),
            (verb("deleted", "to delete"), &self.deleted),
        ] {
            for id in ids {
                writeln!(f, "{label:<18} {}", crate::api_client::escape_controls(id))?;
            }
        }
        if self.dry_run {
            write!(f, "{}", self.estimate)?;
        }
        Ok(())
    }
}

impl crate::report::Report for SyncReport {
    fn summary(&self) -> Option<String> {
        let failed = match self.failures.len() {
            0 => String::new(),
            n => format!(", {n} failed"),
        };
        Some(format!(
            "{}{} scanned: {} new, {} modified, {} unchanged, {} deleted{failed} ({} written, {}) in {:.1} s",
            if self.dry_run {
                "dry run: "
            } else {
                "synced: "
            },
            self.scanned,
            self.new.len(),
            self.modified.len(),
            self.unchanged,
            self.deleted.len(),
            count(self.chunks_written, "chunk"),
            count(self.listing_calls, "listing call"),
            self.seconds
        ))
    }

    fn errors(&self) -> Vec<String> {
        self.failures.clone()
    }

    fn status(&self) -> std::process::ExitCode {
        if self.failures.is_empty() {
            std::process::ExitCode::SUCCESS
        } else {
            std::process::ExitCode::FAILURE
        }
    }
}

/// The work a sync would send, and its cost at list prices.
#[derive(Debug, Default, Clone, Copy, Serialize, PartialEq)]
pub struct Estimate {
    /// Chunks the new and modified documents have (an upper bound of what is embedded: the
    /// function re-embeds only chunks whose text changed).
    pub chunks: usize,
    /// Their tokens, as the endpoint counts them.
    pub tokens: usize,
    /// Seconds of endpoint compute, at [`ENDPOINT_SECONDS_PER_TOKEN`].
    pub embedding_seconds: f64,
    /// US dollars: endpoint compute, Lambda, API Gateway and S3 Vectors writes.
    pub usd: f64,
}

/// Endpoint compute per token: all-MiniLM-L6-v2 on a 2 GB serverless endpoint, ~64 ms for a
/// 256-token chunk (the local endpoint measured 48 ms a document on 2 cores; BENCHMARKS.md).
pub const ENDPOINT_SECONDS_PER_TOKEN: f64 = 0.00025;
/// List prices, us-east-1 (December 2026): SageMaker Serverless Inference at 2 GB per second
/// of compute; Lambda per GB-second and per request; API Gateway REST per request; S3
/// Vectors PUT per GB of logical data (vector, key and metadata).
const PRICE_ENDPOINT_SECOND: f64 = 0.00004;
const PRICE_LAMBDA_GB_SECOND: f64 = 0.000_016_666_7;
const PRICE_REQUEST: f64 = 0.000_000_2 + 0.000_003_5;
const PRICE_PUT_GB: f64 = 0.20;

impl Estimate {
    /// The estimate for `chunks` chunks of `tokens` tokens in `texts` bytes of text, sent in
    /// `requests` requests to a function of `memory_mb` that waits on the endpoint.
    fn new(chunks: usize, tokens: usize, text_bytes: usize, requests: usize) -> Self {
        let embedding_seconds = tokens as f64 * ENDPOINT_SECONDS_PER_TOKEN;
        // Each vector: 384 float32, its key and metadata (its text and ~300 bytes of keys).
        let put_bytes = chunks * (4 * 384 + 300) + text_bytes;
        let lambda_gb_seconds = embedding_seconds * 128.0 / 1024.0;
        let usd = embedding_seconds * PRICE_ENDPOINT_SECOND
            + lambda_gb_seconds * PRICE_LAMBDA_GB_SECOND
            + requests as f64 * PRICE_REQUEST
            + put_bytes as f64 / 1e9 * PRICE_PUT_GB;
        Self {
            chunks,
            tokens,
            embedding_seconds,
            usd,
        }
    }
}

impl std::fmt::Display for Estimate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "to embed           at most {} ({} tokens): ~{:.0} s of endpoint time, ~${:.4} (endpoint, Lambda, API Gateway, S3 Vectors writes at us-east-1 list prices)",
            count(self.chunks, "chunk"),
            self.tokens,
            self.embedding_seconds,
            self.usd
        )
    }
}

/// The source label of argument `path`: its path under `root` (`.` for the root itself).
fn source_label(path: &Path, root: &Path) -> anyhow::Result<String> {
    let resolve = |p: &Path| {
        p.canonicalize()
            .map_err(|e| anyhow::anyhow!("could not resolve `{}`: {e}", p.display()))
    };
    let (path_abs, root_abs) = (resolve(path)?, resolve(root)?);
    let Ok(rel) = path_abs.strip_prefix(&root_abs) else {
        bail!(
            "`{}` is outside `{}`, which ids and sources are relative to\nhint: pass `--root DIR` with a directory that holds every source",
            path.display(),
            root.display()
        );
    };
    let label = rel.to_string_lossy().replace('\\', "/");
    Ok(if label.is_empty() { ".".into() } else { label })
}

/// The hash stamped on a document: its text and its metadata (without the sync keys).
pub fn content_hash(text: &str, metadata: &Map<String, Value>) -> String {
    let mut h = Sha256::new();
    h.update(text.as_bytes());
    h.update([0]);
    let user: BTreeMap<&String, &Value> = metadata
        .iter()
        .filter(|(k, _)| *k != SOURCE_KEY && *k != HASH_KEY)
        .collect();
    h.update(serde_json::to_vec(&user).unwrap_or_default());
    h.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What to do, document by document.
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    /// Ids to send because they are not stored.
    pub new: Vec<String>,
    /// Ids to send because they are stored with another hash.
    pub modified: Vec<String>,
    /// Ids stored as they are.
    pub unchanged: Vec<String>,
    /// Ids to delete.
    pub delete: Vec<String>,
}

/// Compares the documents read (`id → hash`) with the stored ones (`id → user metadata`):
/// stored documents of `sources` that were not read are deleted unless `keep`.
pub fn diff(
    read: &BTreeMap<String, String>,
    stored: &BTreeMap<String, Map<String, Value>>,
    sources: &BTreeSet<String>,
    keep: bool,
) -> Plan {
    let mut plan = Plan::default();
    for (id, hash) in read {
        match stored.get(id).and_then(|m| m.get(HASH_KEY)) {
            None if !stored.contains_key(id) => plan.new.push(id.clone()),
            Some(Value::String(h)) if h == hash => plan.unchanged.push(id.clone()),
            _ => plan.modified.push(id.clone()),
        }
    }
    if !keep {
        plan.delete = stored
            .iter()
            .filter(|(id, m)| {
                !read.contains_key(*id)
                    && m.get(SOURCE_KEY)
                        .and_then(Value::as_str)
                        .is_some_and(|s| sources.contains(s))
            })
            .map(|(id, _)| id.clone())
            .collect();
    }
    plan
}

/// Reads every source, stamps each document with its source and hash; refuses ids that
/// repeat across sources and JSONL documents without an id (they could not be compared).
async fn read_sources(
    args: &SyncArgs,
    printer: &Printer,
    report: &mut SyncReport,
    s3: Option<&aws_sdk_s3::Client>,
) -> anyhow::Result<(Vec<Source>, BTreeSet<String>)> {
    let mut docs: Vec<Source> = Vec::new();
    let mut labels = BTreeSet::new();
    let mut origins: BTreeMap<String, String> = BTreeMap::new();
    for path in &args.paths {
        if path.as_os_str() == "-" {
            bail!(
                "`sync` reads files and directories, not stdin\nhint: use `deployer ingest -` for JSONL on stdin"
            );
        }
        let label = match S3Url::parse(path) {
            Some(url) => url?.to_string(),
            None => source_label(path, &args.root)?,
        };
        let read = read_paths(std::slice::from_ref(path), &args.root, s3).await?;
        report.failures.extend(unread(&read, printer));
        for mut s in read.docs {
            let Some(id) = s.doc.id.clone() else {
                report.failures.push(format!(
                    "{}: `sync` needs an `id` for every JSONL document",
                    s.origin
                ));
                continue;
            };
            if let Some(first) = origins.insert(id.clone(), s.origin.clone()) {
                bail!(
                    "document id `{id}` comes from both {first} and {}\nhint: sync each file through one source",
                    s.origin
                );
            }
            let mut metadata: Map<String, Value> = s
                .doc
                .metadata
                .take()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default();
            let hash = content_hash(&s.doc.text, &metadata);
            metadata.insert(SOURCE_KEY.into(), Value::from(label.clone()));
            metadata.insert(HASH_KEY.into(), Value::from(hash));
            s.doc.metadata = Some(metadata.into());
            docs.push(s);
        }
        labels.insert(label);
    }
    Ok((docs, labels))
}

/// Every stored document with its user metadata, and the listing calls it took.
async fn stored(
    client: &ApiClient,
    endpoint: &str,
) -> anyhow::Result<(BTreeMap<String, Map<String, Value>>, usize)> {
    let mut all = BTreeMap::new();
    let (mut token, mut calls) = (None, 0);
    loop {
        let page = client
            .list_documents_with_metadata(endpoint, token.as_deref())
            .await?;
        calls += 1;
        let Some(metadata) = page.metadata else {
            bail!(
                "the deployed function does not list metadata (an older version)\nhint: run `deployer up` to update it"
            );
        };
        all.extend(metadata);
        match page.next_token {
            Some(next) => token = Some(next),
            None => return Ok((all, calls)),
        }
    }
}

/// The estimate for the documents `ids` of `docs`.
fn estimate(docs: &[Source], ids: &BTreeSet<&String>, batch: usize) -> anyhow::Result<Estimate> {
    let (mut chunks, mut tokens, mut bytes, mut n) = (0, 0, 0, 0usize);
    for s in docs
        .iter()
        .filter(|s| s.doc.id.as_ref().is_some_and(|id| ids.contains(id)))
    {
        let parts = shared::chunk::chunk_text(&s.doc.text, shared::chunk::ChunkConfig::default())
            .map_err(|e| anyhow::anyhow!("{}: {e}", s.origin))?;
        chunks += parts.len();
        tokens += parts.iter().map(|c| c.tokens).sum::<usize>();
        bytes += s.doc.text.len();
        n += 1;
    }
    Ok(Estimate::new(
        chunks,
        tokens,
        bytes,
        n.div_ceil(batch.max(1)),
    ))
}

/// `sync`.
pub async fn run(
    args: &SyncArgs,
    endpoint: &str,
    credentials: &Credentials,
    printer: &Printer,
    s3: Option<&aws_sdk_s3::Client>,
) -> anyhow::Result<SyncReport> {
    let started = Instant::now();
    let mut report = SyncReport {
        dry_run: args.dry_run,
        ..SyncReport::default()
    };
    let (docs, labels) = read_sources(args, printer, &mut report, s3).await?;
    report.scanned = docs.len();
    let client = ApiClient::new(credentials, REQUEST_TIMEOUT, printer)?;
    let (stored, calls) = stored(&client, endpoint).await?;
    report.listing_calls = calls;
    let hashes: BTreeMap<String, String> = docs
        .iter()
        .filter_map(|s| {
            let id = s.doc.id.clone()?;
            let hash = s
                .doc
                .metadata
                .as_ref()?
                .get(HASH_KEY)?
                .as_str()?
                .to_string();
            Some((id, hash))
        })
        .collect();
    let plan = diff(&hashes, &stored, &labels, args.no_delete);
    let send_ids: BTreeSet<&String> = plan.new.iter().chain(&plan.modified).collect();
    report.estimate = estimate(&docs, &send_ids, args.batch)?;
    report.unchanged = plan.unchanged.len();
    if args.dry_run {
        report.new = plan.new;
        report.modified = plan.modified;
        report.deleted = plan.delete;
        report.seconds = started.elapsed().as_secs_f64();
        return Ok(report);
    }
    let to_send: Vec<Source> = docs
        .into_iter()
        .filter(|s| s.doc.id.as_ref().is_some_and(|id| send_ids.contains(id)))
        .collect();
    let sent = send(
        to_send,
        endpoint,
        credentials,
        printer,
        (args.batch, args.concurrency),
    )
    .await?;
    report.chunks_written = sent.chunks;
    report.failures.extend(sent.failures);
    let done: BTreeSet<&String> = sent.ids.iter().collect();
    report.new = plan
        .new
        .into_iter()
        .filter(|id| done.contains(id))
        .collect();
    report.modified = plan
        .modified
        .into_iter()
        .filter(|id| done.contains(id))
        .collect();
    for id in plan.delete {
        match client.delete_document(endpoint, &id).await {
            // Gone already (a concurrent delete, or an earlier run stopped after it).
            Ok(_) => report.deleted.push(id),
            Err(e) => report.failures.push(format!("deleting `{id}`: {e:#}")),
        }
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn meta(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn new_modified_unchanged_and_gone_are_told_apart_by_source() {
        let read = BTreeMap::from([
            ("notes/a.md".to_string(), "h1".to_string()),
            ("notes/b.md".to_string(), "h2-new".to_string()),
            ("notes/c.md".to_string(), "h3".to_string()),
        ]);
        let stored = BTreeMap::from([
            (
                "notes/a.md".to_string(),
                meta(json!({"sync_source": "notes", "sync_hash": "h1"})),
            ),
            (
                "notes/b.md".to_string(),
                meta(json!({"sync_source": "notes", "sync_hash": "h2"})),
            ),
            (
                "notes/gone.md".to_string(),
                meta(json!({"sync_source": "notes", "sync_hash": "x"})),
            ),
            // Another source's document, and one ingested without sync: never deleted.
            (
                "other/x.md".to_string(),
                meta(json!({"sync_source": "other", "sync_hash": "y"})),
            ),
            ("by-hand".to_string(), meta(json!({"ticker": "TSLA"}))),
        ]);
        let sources = BTreeSet::from(["notes".to_string()]);
        let plan = diff(&read, &stored, &sources, false);
        assert_eq!(plan.new, ["notes/c.md"]);
        assert_eq!(plan.modified, ["notes/b.md"]);
        assert_eq!(plan.unchanged, ["notes/a.md"]);
        assert_eq!(plan.delete, ["notes/gone.md"]);
        assert!(diff(&read, &stored, &sources, true).delete.is_empty());
        // A document stored without a hash (ingested by hand under the same id) is re-sent.
        let hand = BTreeMap::from([("notes/a.md".to_string(), meta(json!({})))]);
        assert_eq!(diff(&read, &hand, &sources, false).modified, ["notes/a.md"]);
    }

    #[test]
    fn the_hash_covers_text_and_metadata_but_not_the_sync_keys() {
        let m = meta(json!({"source": "a.md"}));
        let h = content_hash("text", &m);
        assert_eq!(h.len(), 32);
        assert_ne!(h, content_hash("text!", &m));
        assert_ne!(h, content_hash("text", &meta(json!({"source": "b.md"}))));
        let stamped = meta(json!({"source": "a.md", "sync_source": "x", "sync_hash": "y"}));
        assert_eq!(h, content_hash("text", &stamped));
    }

    #[test]
    fn the_estimate_grows_with_the_work() {
        let none = Estimate::new(0, 0, 0, 0);
        assert_eq!(none.usd, 0.0);
        let some = Estimate::new(10, 2_000, 8_000, 1);
        assert!(some.usd > 0.0 && some.embedding_seconds == 0.5);
        assert!(Estimate::new(20, 4_000, 16_000, 2).usd > some.usd);
    }
}
