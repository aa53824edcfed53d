//! `ingest`: sends text/markdown files (one document each, `source` = file name, id = file
//! name so re-ingesting replaces) or JSONL documents to the deployed API, in batches with
//! bounded concurrency, honouring 429/503 `Retry-After`.

use crate::cli::IngestArgs;
use crate::progress::Progress;
use anyhow::{Context as _, anyhow, bail};
use futures::StreamExt;
use serde::Serialize;
use serde_json::{Map, Value, json};
use shared::api::DocumentInput;
use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

/// Largest request body sent (Lambda's synchronous payload limit is 6 MB).
const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;
const MAX_ATTEMPTS: u32 = 6;

/// The summary.
#[derive(Debug, Default, Serialize)]
pub struct IngestReport {
    /// Documents indexed.
    pub documents: usize,
    /// Vectors written.
    pub chunks: usize,
    /// Documents that failed, with why.
    pub failures: Vec<String>,
    /// Seconds.
    pub seconds: f64,
}

fn parse_jsonl(text: &str, origin: &str) -> anyhow::Result<Vec<DocumentInput>> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).with_context(|| {
                format!("{origin}:{}: not a {{text, metadata?, id?}} object", i + 1)
            })
        })
        .collect()
}

/// Reads the documents named by `paths`.
pub fn read_documents(paths: &[std::path::PathBuf]) -> anyhow::Result<Vec<DocumentInput>> {
    let mut docs = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("could not read stdin")?;
            docs.extend(parse_jsonl(&text, "stdin")?);
            continue;
        }
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("could not read `{}`", path.display()))?;
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if matches!(ext, "jsonl" | "ndjson") {
            docs.extend(parse_jsonl(&text, &path.display().to_string())?);
        } else {
            docs.push(file_document(path, text));
        }
    }
    Ok(docs)
}

fn file_document(path: &Path, text: String) -> DocumentInput {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("document")
        .to_string();
    let mut metadata = Map::new();
    metadata.insert("source".into(), Value::from(name.clone()));
    DocumentInput {
        text,
        metadata: Some(metadata),
        id: Some(name.replace('#', "-")),
    }
}

/// Splits into batches of at most `size` documents and `MAX_REQUEST_BYTES`.
pub fn batches(docs: Vec<DocumentInput>, size: usize) -> Vec<Vec<DocumentInput>> {
    let mut out: Vec<Vec<DocumentInput>> = Vec::new();
    let mut bytes = 0;
    for doc in docs {
        let len = doc.text.len() + 256;
        match out.last_mut() {
            Some(batch) if batch.len() < size.max(1) && bytes + len <= MAX_REQUEST_BYTES => {
                bytes += len;
                batch.push(doc);
            }
            _ => {
                bytes = len;
                out.push(vec![doc]);
            }
        }
    }
    out
}

/// POSTs `body` to `url` with the key, retrying 429/503 (honouring `Retry-After`) and
/// connection failures. Returns the status and JSON body of the final answer.
pub async fn post(
    client: &reqwest::Client,
    url: &str,
    key: &str,
    body: &Value,
) -> anyhow::Result<(u16, Value)> {
    let mut backoff = Duration::from_millis(500);
    for attempt in 1..=MAX_ATTEMPTS {
        let sent = client
            .post(url)
            .header("x-api-key", key)
            .json(body)
            .send()
            .await;
        let resp = match sent {
            Ok(r) => r,
            Err(e) if attempt < MAX_ATTEMPTS && (e.is_connect() || e.is_timeout()) => {
                tokio::time::sleep(backoff).await;
                backoff *= 2;
                continue;
            }
            Err(e) => return Err(anyhow!("request to {url} failed: {e}")),
        };
        let status = resp.status().as_u16();
        if matches!(status, 429 | 503) && attempt < MAX_ATTEMPTS {
            let wait = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map_or(backoff, Duration::from_secs);
            tokio::time::sleep(wait).await;
            backoff = (backoff * 2).min(Duration::from_secs(20));
            continue;
        }
        let text = resp.text().await.unwrap_or_default();
        let value = serde_json::from_str(&text).unwrap_or_else(|_| json!({ "error": text }));
        return Ok((status, value));
    }
    bail!("request to {url} still throttled after {MAX_ATTEMPTS} attempts")
}

/// `ingest`.
pub async fn run(
    args: &IngestArgs,
    endpoint: &str,
    key: &str,
    progress: &Progress,
) -> anyhow::Result<IngestReport> {
    let started = Instant::now();
    let docs = read_documents(&args.paths)?;
    if docs.is_empty() {
        bail!("no documents in the given paths");
    }
    let total = docs.len() as u64;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()?;
    let bar = progress.bar(total, "ingesting");
    let mut report = IngestReport::default();
    let mut results = futures::stream::iter(batches(docs, args.batch).into_iter().map(|batch| {
        let client = &client;
        async move {
            let n = batch.len();
            let first = batch.first().and_then(|d| d.id.clone()).unwrap_or_default();
            let out = post(client, endpoint, key, &json!({ "documents": batch })).await;
            (n, first, out)
        }
    }))
    .buffer_unordered(args.concurrency.max(1));
    while let Some((n, first, out)) = results.next().await {
        match out {
            Ok((200, body)) => {
                report.documents += n;
                report.chunks += body["chunks"].as_u64().unwrap_or(0) as usize;
            }
            Ok((status, body)) => report.failures.push(format!(
                "{n} document(s) from `{first}`: HTTP {status}: {}",
                body["error"]
                    .as_str()
                    .or(body["message"].as_str())
                    .unwrap_or("no message")
            )),
            Err(e) => report
                .failures
                .push(format!("{n} document(s) from `{first}`: {e}")),
        }
        if let Some(bar) = &bar {
            bar.inc(n as u64);
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}
