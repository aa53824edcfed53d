//! `ingest`: sends text/markdown files (one document each, `source` = file name, id = file
//! name so re-ingesting replaces) or JSONL documents to the deployed API, in batches with
//! bounded concurrency, honouring 429/503 `Retry-After` (see [`crate::api_client`]).
//!
//! The function stops before API Gateway's 29 s and answers 202 with `chunks_done` /
//! `chunks_total` when a batch needs more time; the same batch is then sent again (the
//! function skips what it stored) until it answers 200. A batch that makes no progress in
//! three rounds in a row is reported as failed.

use crate::api_client::{ApiClient, check_url, error_message, escape_controls};
use crate::cli::IngestArgs;
use crate::progress::Progress;
use anyhow::{Context as _, bail};
use futures::StreamExt;
use serde::Serialize;
use serde_json::{Map, Value, json};
use shared::api::DocumentInput;
use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

/// Largest request body sent (Lambda's synchronous payload limit is 6 MB; smaller requests
/// also keep each round's re-reading of stored chunks short).
const MAX_REQUEST_BYTES: usize = 1024 * 1024;
/// Rounds in a row without progress before a batch is given up.
const MAX_STALLED_ROUNDS: u32 = 3;
/// The client's timeout per request: the function answers within API Gateway's 29 s.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(35);

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
        metadata: Some(metadata.into()),
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

/// Sends one batch until the function answers anything but 202 (resumable ingest), or until
/// it stalls.
async fn send_until_done(
    client: &ApiClient,
    url: &str,
    body: &Value,
    progress: &Progress,
) -> anyhow::Result<(u16, Value)> {
    let mut best = 0;
    let mut stalled = 0;
    loop {
        let (status, answer) = client.post(url, body).await?;
        if status != 202 {
            return Ok((status, answer));
        }
        let done = answer["chunks_done"].as_u64().unwrap_or(0);
        let total = answer["chunks_total"].as_u64().unwrap_or(0);
        progress.step(&format!(
            "ingest  {}: {done}/{total} chunks stored, continuing",
            escape_controls(answer["document_id"].as_str().unwrap_or("batch"))
        ));
        if done > best {
            best = done;
            stalled = 0;
        } else {
            stalled += 1;
            if stalled >= MAX_STALLED_ROUNDS {
                bail!(
                    "no progress after {MAX_STALLED_ROUNDS} rounds ({done}/{total} chunks stored)\nhint: the embedding endpoint may be too slow for one chunk inside 29 s; check `aws logs tail /aws/lambda/<function>`"
                );
            }
        }
    }
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
    check_url(endpoint)?;
    let client = ApiClient::new(key, REQUEST_TIMEOUT)?;
    let bar = progress.bar(total, "ingesting");
    let mut report = IngestReport::default();
    let mut results = futures::stream::iter(batches(docs, args.batch).into_iter().map(|batch| {
        let client = &client;
        async move {
            let n = batch.len();
            let first = batch.first().and_then(|d| d.id.clone()).unwrap_or_default();
            let out =
                send_until_done(client, endpoint, &json!({ "documents": batch }), progress).await;
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
                error_message(&body)
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
