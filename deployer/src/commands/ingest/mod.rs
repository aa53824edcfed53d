//! `ingest`: sends text/markdown files (one document each) or JSONL documents to the deployed
//! API, in batches with bounded concurrency, honouring 429/503 `Retry-After` (see
//! [`crate::api_client`]).
//!
//! A file's document id is its path as given (relative to a directory argument for the files
//! found in it), so two files never share an id and re-ingesting a file replaces its earlier
//! version; ids that repeat within one run are refused before anything is sent. Documents the
//! function would refuse (empty, too big, bad metadata or id) are skipped with a warning naming
//! them, and a batch the function refuses because of one document is sent again without it:
//! the others are still ingested, and the exit status says some failed.
//!
//! The function stops before API Gateway's 29 s and answers 202 with `chunks_done` /
//! `chunks_total` when a batch needs more time; the same batch is then sent again (the
//! function skips what it stored) until it answers 200. A 504 (API Gateway cut the request) or
//! a client timeout is treated the same way: re-sending is safe because ingest is resumable. A
//! batch that makes no progress in three rounds in a row is reported as failed, with the
//! request id and where the function's log is.

use crate::api_client::{
    Answer, ApiClient, Credentials, NoAnswer, REQUEST_TIMEOUT, STALE_HINT, check_url,
    escape_controls,
};
use crate::cli::IngestArgs;
use crate::printer::Printer;
use anyhow::bail;
use futures::StreamExt;
use serde::Serialize;
use shared::api::{IngestProgress, IngestRequest, IngestResponse};
use std::time::Instant;

pub mod s3;
pub mod sources;

use sources::{Read, Source, batches, problem, read_sources};

/// Rounds in a row without progress before a batch is given up.
const MAX_STALLED_ROUNDS: u32 = 3;

/// The summary.
#[derive(Debug, Default, Serialize)]
pub struct IngestReport {
    /// Documents indexed.
    pub documents: usize,
    /// Vectors written.
    pub chunks: usize,
    /// Documents (or batches) that failed or were skipped, with why.
    pub failures: Vec<String>,
    /// Seconds.
    pub seconds: f64,
}

impl IngestReport {
    /// Nothing was stored and something failed: the endpoint itself may be wrong.
    pub fn failed_entirely(&self) -> bool {
        self.documents == 0 && !self.failures.is_empty()
    }
}

impl std::fmt::Display for IngestReport {
    /// Nothing on stdout: progress and the summary go to stderr.
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        Ok(())
    }
}

impl crate::report::Report for IngestReport {
    fn summary(&self) -> Option<String> {
        let failed = match self.failures.len() {
            0 => String::new(),
            n => format!("; {n} failure(s)"),
        };
        let chunks = crate::printer::count(self.chunks, "chunk");
        Some(format!(
            "ingested {} document(s) ({chunks}) in {:.1} s{failed}",
            self.documents, self.seconds
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

/// The document a batch was refused for (`documents[3]: …`), if that is why.
fn refused_document(answer: &Answer) -> Option<usize> {
    if !matches!(answer.status, 400 | 413) {
        return None;
    }
    let text = answer.error_text();
    let rest = text.strip_prefix("documents[")?;
    rest.split_once("]:")?.0.parse().ok()
}

/// Where the function's log is, for hints.
fn logs_hint(url: &str) -> String {
    format!(
        "hint: the function's log has the request id: `aws logs tail /aws/lambda/<function> --since 15m` (the stack's function, e.g. alex-ingest; endpoint {url})"
    )
}

/// Sends one batch until the function answers anything but 202 (resumable ingest), or until
/// it stalls. A 504 or a client timeout is re-sent like a 202: what the function stored stays.
async fn send_until_done(
    client: &ApiClient,
    url: &str,
    request: &IngestRequest,
    printer: &Printer,
) -> anyhow::Result<Answer> {
    let mut best = 0;
    let mut stalled = 0;
    loop {
        let (done, why) = match client.ingest(url, request).await {
            Ok(answer) if answer.status == 202 => {
                let p: IngestProgress = answer.decode()?;
                let (done, total) = (p.chunks_done, p.chunks_total);
                printer.step(&format!(
                    "ingest  {}: {done}/{total} chunks stored, continuing",
                    escape_controls(&p.document_id)
                ));
                (done, format!("{done}/{total} chunks stored"))
            }
            Ok(answer) if answer.status == 504 => {
                printer.warn(&format!(
                    "API Gateway cut the request at 29 s (HTTP 504){}; sending it again (stored chunks are skipped)",
                    answer.id_suffix()
                ));
                (best, format!("HTTP 504{}", answer.id_suffix()))
            }
            Ok(answer) => return Ok(answer),
            Err(e) if e.is::<NoAnswer>() => {
                printer.warn(&format!(
                    "{e:#}; sending it again (stored chunks are skipped)"
                ));
                (best, e.to_string())
            }
            Err(e) => return Err(e),
        };
        if done > best {
            best = done;
            stalled = 0;
        } else {
            stalled += 1;
            if stalled >= MAX_STALLED_ROUNDS {
                bail!(
                    "no progress after {MAX_STALLED_ROUNDS} rounds (last: {why})\nhint: the embedding endpoint may be too slow for one chunk inside 29 s; {}",
                    logs_hint(url).trim_start_matches("hint: ")
                );
            }
        }
    }
}

/// Why a whole batch failed: status, message, request id, and the hint that fits.
fn failure(batch: &[Source], url: &str, answer: &Answer) -> String {
    let mut line = format!(
        "{} document(s) from {}: HTTP {}: {}{}",
        batch.len(),
        batch.first().map_or("", |s| s.origin.as_str()),
        answer.status,
        answer.error_message(),
        answer.id_suffix()
    );
    match answer.status {
        502 | 500 => line.push_str(&format!("\n{}", logs_hint(url))),
        403 | 404 => line.push_str(&format!("\n{STALE_HINT}")),
        _ => {}
    }
    line
}

/// What became of one batch: the documents stored (a document the function refused is
/// dropped and the rest sent again), their chunks, the failures.
async fn send_batch(
    client: &ApiClient,
    url: &str,
    mut batch: Vec<Source>,
    printer: &Printer,
) -> Sent {
    let mut failures = Vec::new();
    let failed = |failures| Sent {
        failures,
        ..Sent::default()
    };
    loop {
        if batch.is_empty() {
            return failed(failures);
        }
        let request = IngestRequest::Batch {
            documents: batch.iter().map(|s| s.doc.clone()).collect(),
            total: batch.len(),
        };
        let answer = match send_until_done(client, url, &request, printer).await {
            Ok(answer) => answer,
            Err(e) => {
                let first = &batch[0].origin;
                failures.push(format!("{} document(s) from {first}: {e:#}", batch.len()));
                return failed(failures);
            }
        };
        if answer.status == 200 {
            return match answer.decode::<IngestResponse>() {
                Ok(done) => Sent {
                    documents: batch.len(),
                    chunks: done.chunks,
                    ids: batch.iter().filter_map(|s| s.doc.id.clone()).collect(),
                    failures,
                },
                Err(e) => {
                    failures.push(format!(
                        "{} document(s) from {}: {e:#}",
                        batch.len(),
                        batch[0].origin
                    ));
                    failed(failures)
                }
            };
        }
        // One document spoiled the batch: drop it, say so, send the rest.
        if let Some(i) = refused_document(&answer).filter(|&i| i < batch.len()) {
            let bad = batch.remove(i);
            let why = answer.error_message();
            let why = why.split_once("]: ").map_or(why.as_str(), |(_, w)| w);
            printer.warn(&format!("skipped {}: {why}", bad.origin));
            failures.push(format!("{}: {why}", bad.origin));
            continue;
        }
        failures.push(failure(&batch, url, &answer));
        return failed(failures);
    }
}

/// What sending documents achieved.
#[derive(Debug, Default)]
pub struct Sent {
    /// Documents indexed.
    pub documents: usize,
    /// Vectors written.
    pub chunks: usize,
    /// Ids indexed.
    pub ids: Vec<String>,
    /// Documents (or batches) that failed or were skipped, with why.
    pub failures: Vec<String>,
}

/// Sends `docs` (each checked first: what the function would refuse is skipped and named) in
/// batches of `batch`, `concurrency` at a time, with a progress bar.
pub async fn send(
    docs: Vec<Source>,
    endpoint: &str,
    credentials: &Credentials,
    printer: &Printer,
    (batch, concurrency): (usize, usize),
) -> anyhow::Result<Sent> {
    check_url(endpoint)?;
    let mut sent = Sent::default();
    let mut valid = Vec::with_capacity(docs.len());
    for s in docs {
        match problem(&s.doc) {
            Some(why) => {
                printer.warn(&format!("skipped {}: {why}", s.origin));
                sent.failures.push(format!("{}: {why}", s.origin));
            }
            None => valid.push(s),
        }
    }
    let total = valid.len() as u64;
    let client = ApiClient::new(credentials, REQUEST_TIMEOUT, printer)?;
    let bar = printer.bar(total, "ingesting");
    let mut results = futures::stream::iter(batches(valid, batch).into_iter().map(|batch| {
        let client = &client;
        let n = batch.len() as u64;
        async move { (n, send_batch(client, endpoint, batch, printer).await) }
    }))
    .buffer_unordered(concurrency.max(1));
    while let Some((n, batch)) = results.next().await {
        sent.documents += batch.documents;
        sent.chunks += batch.chunks;
        sent.ids.extend(batch.ids);
        sent.failures.extend(batch.failures);
        if let Some(bar) = &bar {
            bar.set_message(format!(
                "ingesting ({} stored)",
                crate::printer::count(sent.chunks, "chunk")
            ));
            bar.inc(n);
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(sent)
}

/// Warns about the files that were not read: those without text (failures, returned) and,
/// in one line, the directories' files of other kinds.
pub fn unread(read: &Read, printer: &Printer) -> Vec<String> {
    for p in &read.problems {
        printer.warn(&format!("skipped {p}"));
    }
    if !read.skipped.is_empty() {
        let shown: Vec<&str> = read.skipped.iter().take(5).map(String::as_str).collect();
        let more = read.skipped.len() - shown.len();
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        printer.warn(&format!(
            "skipped {}: not a kind of file that is read ({}): {}{more}",
            crate::printer::count(read.skipped.len(), "file"),
            crate::extract::Format::extensions(),
            shown.join(", ")
        ));
    }
    read.problems.clone()
}

/// `ingest`.
pub async fn run(
    args: &IngestArgs,
    endpoint: &str,
    credentials: &Credentials,
    printer: &Printer,
    s3: Option<&aws_sdk_s3::Client>,
) -> anyhow::Result<IngestReport> {
    let started = Instant::now();
    let read = read_sources(&args.paths, &args.root, s3).await?;
    let mut report = IngestReport {
        failures: unread(&read, printer),
        ..IngestReport::default()
    };
    if read.docs.is_empty() && report.failures.is_empty() {
        bail!("no documents in the given paths");
    }
    let sent = send(
        read.docs,
        endpoint,
        credentials,
        printer,
        (args.batch, args.concurrency),
    )
    .await?;
    report.documents = sent.documents;
    report.chunks = sent.chunks;
    report.failures.extend(sent.failures);
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn a_refused_document_is_found_in_the_answer() {
        let answer = |status, error: &str| Answer {
            status,
            body: serde_json::json!({ "error": error, "request_id": "r" }).to_string(),
            request_id: None,
        };
        assert_eq!(
            refused_document(&answer(400, "documents[3]: `text` must not be empty")),
            Some(3)
        );
        assert_eq!(refused_document(&answer(400, "bad JSON")), None);
        assert_eq!(refused_document(&answer(502, "documents[1]: x")), None);
    }
}
