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
    Answer, ApiClient, NoAnswer, STALE_HINT, check_url, error_message, escape_controls,
};
use crate::cli::IngestArgs;
use crate::progress::Progress;
use anyhow::{Context as _, bail};
use futures::StreamExt;
use serde::Serialize;
use serde_json::{Map, Value, json};
use shared::api::{DocumentInput, document_id_problem};
use shared::limits::{MAX_DOCUMENT_BYTES, MAX_DOCUMENT_ID_LEN};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

/// Largest request body sent (Lambda's synchronous payload limit is 6 MB; smaller requests
/// also keep each round's re-reading of stored chunks short).
const MAX_REQUEST_BYTES: usize = 1024 * 1024;
/// Rounds in a row without progress before a batch is given up.
const MAX_STALLED_ROUNDS: u32 = 3;
/// The client's timeout per request: API Gateway cuts every request at 29 s, so an answer
/// comes within it unless the network fails.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(35);
/// Extensions read as one document each when a directory is given.
const TEXT_EXTENSIONS: [&str; 4] = ["md", "markdown", "txt", "text"];

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

/// A document to send, and where it came from (for messages).
#[derive(Debug, Clone)]
pub struct Source {
    /// The document.
    pub doc: DocumentInput,
    /// `notes/a.md`, `data.jsonl:3`, `stdin:2`.
    pub origin: String,
}

fn parse_jsonl(text: &str, origin: &str) -> anyhow::Result<Vec<Source>> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let origin = format!("{origin}:{}", i + 1);
            serde_json::from_str(l)
                .with_context(|| format!("{origin}: not a {{text, metadata?, id?}} object"))
                .map(|doc| Source { doc, origin })
        })
        .collect()
}

/// The id of a file's document: its path (`/`-separated, without `.` parts), or, when that
/// cannot be an id (too long, `#`, control characters), the file name and a hash of the path.
pub fn file_id(path: &Path) -> String {
    let parts: Vec<String> = path
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let id = parts.join("/").replace("//", "/");
    if document_id_problem(&id).is_none() {
        return id;
    }
    use sha2::Digest;
    let hash: String = sha2::Sha256::digest(id.as_bytes())[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let name: String = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .filter(|c| *c != '#' && !c.is_control())
        .take(MAX_DOCUMENT_ID_LEN - 13)
        .collect();
    format!("{name}-{hash}")
}

fn file_document(path: &Path, id_path: &Path, text: String) -> Source {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("document")
        .to_string();
    let mut metadata = Map::new();
    metadata.insert("source".into(), Value::from(name));
    Source {
        doc: DocumentInput {
            text,
            metadata: Some(metadata.into()),
            id: Some(file_id(id_path)),
        },
        origin: path.display().to_string(),
    }
}

/// The text files under `dir`, sorted, recursively.
fn files_under(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries =
            std::fs::read_dir(&d).with_context(|| format!("could not read `{}`", d.display()))?;
        for entry in entries {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| TEXT_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
            {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

fn read_file(path: &Path, id_path: &Path, docs: &mut Vec<Source>) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("could not read `{}`", path.display()))?;
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if matches!(ext, "jsonl" | "ndjson") {
        docs.extend(parse_jsonl(&text, &path.display().to_string())?);
    } else {
        docs.push(file_document(path, id_path, text));
    }
    Ok(())
}

/// Reads the documents named by `paths` (files, directories, `-` for JSONL on stdin) and
/// refuses ids that repeat.
pub fn read_documents(paths: &[PathBuf]) -> anyhow::Result<Vec<Source>> {
    let mut docs = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("could not read stdin")?;
            docs.extend(parse_jsonl(&text, "stdin")?);
        } else if path.is_dir() {
            for file in files_under(path)? {
                let rel = file.strip_prefix(path).unwrap_or(&file).to_path_buf();
                read_file(&file, &rel, &mut docs)?;
            }
        } else {
            read_file(path, path, &mut docs)?;
        }
    }
    let mut seen: HashMap<&str, &str> = HashMap::new();
    let mut repeated = Vec::new();
    for s in &docs {
        if let Some(id) = s.doc.id.as_deref()
            && let Some(first) = seen.insert(id, &s.origin)
        {
            repeated.push(format!("`{id}`: {first} and {}", s.origin));
        }
    }
    if !repeated.is_empty() {
        bail!(
            "document ids repeat, so one would replace the other:\n  {}\nhint: give each document its own `id` (files: pass them by distinct paths)",
            repeated.join("\n  ")
        );
    }
    Ok(docs)
}

/// Why the function would refuse `doc`, checked before sending.
pub fn problem(doc: &DocumentInput) -> Option<String> {
    if doc.text.trim().is_empty() {
        return Some("`text` is empty".into());
    }
    if doc.text.len() > MAX_DOCUMENT_BYTES {
        return Some(format!(
            "`text` is {} bytes; the limit is {MAX_DOCUMENT_BYTES}",
            doc.text.len()
        ));
    }
    if let Some(why) = doc.id.as_deref().and_then(document_id_problem) {
        return Some(why);
    }
    doc.metadata
        .as_ref()
        .and_then(|m| shared::metadata::validate_user_metadata(m).err())
        .map(|e| e.to_string())
}

/// Splits into batches of at most `size` documents and `MAX_REQUEST_BYTES`.
pub fn batches(docs: Vec<Source>, size: usize) -> Vec<Vec<Source>> {
    let mut out: Vec<Vec<Source>> = Vec::new();
    let mut bytes = 0;
    for doc in docs {
        let len = doc.doc.text.len() + 256;
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

/// The document a batch was refused for (`documents[3]: …`), if that is why.
fn refused_document(answer: &Answer) -> Option<usize> {
    if !matches!(answer.status, 400 | 413) {
        return None;
    }
    let rest = answer.body["error"].as_str()?.strip_prefix("documents[")?;
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
    body: &Value,
    progress: &Progress,
) -> anyhow::Result<Answer> {
    let mut best = 0;
    let mut stalled = 0;
    loop {
        let (done, why) = match client.post(url, body).await {
            Ok(answer) if answer.status == 202 => {
                let done = answer.body["chunks_done"].as_u64().unwrap_or(0);
                let total = answer.body["chunks_total"].as_u64().unwrap_or(0);
                progress.step(&format!(
                    "ingest  {}: {done}/{total} chunks stored, continuing",
                    escape_controls(answer.body["document_id"].as_str().unwrap_or("batch"))
                ));
                (done, format!("{done}/{total} chunks stored"))
            }
            Ok(answer) if answer.status == 504 => {
                progress.warn(&format!(
                    "API Gateway cut the request at 29 s (HTTP 504){}; sending it again (stored chunks are skipped)",
                    answer.id_suffix()
                ));
                (best, format!("HTTP 504{}", answer.id_suffix()))
            }
            Ok(answer) => return Ok(answer),
            Err(e) if e.is::<NoAnswer>() => {
                progress.warn(&format!(
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

/// What became of one batch: documents and chunks stored, failures.
async fn send_batch(
    client: &ApiClient,
    url: &str,
    mut batch: Vec<Source>,
    progress: &Progress,
) -> (usize, usize, Vec<String>) {
    let mut failures = Vec::new();
    loop {
        if batch.is_empty() {
            return (0, 0, failures);
        }
        let docs: Vec<&DocumentInput> = batch.iter().map(|s| &s.doc).collect();
        let answer =
            match send_until_done(client, url, &json!({ "documents": docs }), progress).await {
                Ok(answer) => answer,
                Err(e) => {
                    let first = &batch[0].origin;
                    failures.push(format!("{} document(s) from {first}: {e:#}", batch.len()));
                    return (0, 0, failures);
                }
            };
        if answer.status == 200 {
            let chunks = answer.body["chunks"].as_u64().unwrap_or(0) as usize;
            return (batch.len(), chunks, failures);
        }
        // One document spoiled the batch: drop it, say so, send the rest.
        if let Some(i) = refused_document(&answer).filter(|&i| i < batch.len()) {
            let bad = batch.remove(i);
            let why = error_message(&answer.body);
            let why = why.split_once("]: ").map_or(why.as_str(), |(_, w)| w);
            progress.warn(&format!("skipped {}: {why}", bad.origin));
            failures.push(format!("{}: {why}", bad.origin));
            continue;
        }
        let first = &batch[0].origin;
        let mut line = format!(
            "{} document(s) from {first}: HTTP {}: {}{}",
            batch.len(),
            answer.status,
            error_message(&answer.body),
            answer.id_suffix()
        );
        match answer.status {
            502 | 500 => line.push_str(&format!("\n{}", logs_hint(url))),
            403 | 404 => line.push_str(&format!("\n{STALE_HINT}")),
            _ => {}
        }
        failures.push(line);
        return (0, 0, failures);
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
    let sources = read_documents(&args.paths)?;
    if sources.is_empty() {
        bail!("no documents in the given paths");
    }
    check_url(endpoint)?;
    let mut report = IngestReport::default();
    let mut valid = Vec::with_capacity(sources.len());
    for s in sources {
        match problem(&s.doc) {
            Some(why) => {
                progress.warn(&format!("skipped {}: {why}", s.origin));
                report.failures.push(format!("{}: {why}", s.origin));
            }
            None => valid.push(s),
        }
    }
    let total = valid.len() as u64;
    let client = ApiClient::new(key, REQUEST_TIMEOUT)?;
    let bar = progress.bar(total, "ingesting");
    let mut results = futures::stream::iter(batches(valid, args.batch).into_iter().map(|batch| {
        let client = &client;
        let n = batch.len() as u64;
        async move { (n, send_batch(client, endpoint, batch, progress).await) }
    }))
    .buffer_unordered(args.concurrency.max(1));
    while let Some((n, (documents, chunks, failures))) = results.next().await {
        report.documents += documents;
        report.chunks += chunks;
        report.failures.extend(failures);
        if let Some(bar) = &bar {
            bar.inc(n);
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(text: &str, id: Option<&str>) -> Source {
        Source {
            doc: DocumentInput {
                text: text.into(),
                metadata: None,
                id: id.map(str::to_string),
            },
            origin: "o".into(),
        }
    }

    #[test]
    fn file_ids_are_paths_and_never_collide() {
        assert_eq!(file_id(Path::new("./a/notes.md")), "a/notes.md");
        assert_ne!(
            file_id(Path::new("a/notes.md")),
            file_id(Path::new("b/notes.md"))
        );
        let odd = file_id(Path::new("dir#1/notes.md"));
        assert!(odd.starts_with("notes.md-") && !odd.contains('#'), "{odd}");
        assert_ne!(odd, file_id(Path::new("dir#2/notes.md")));
        let long = format!("{}/x.md", "d".repeat(300));
        assert!(file_id(Path::new(&long)).chars().count() <= MAX_DOCUMENT_ID_LEN);
    }

    #[test]
    fn repeated_ids_are_refused_before_sending() {
        let dir = std::env::temp_dir().join(format!("ingest-ids-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("a")).unwrap();
        std::fs::create_dir_all(dir.join("b")).unwrap();
        std::fs::write(dir.join("a/notes.md"), "first").unwrap();
        std::fs::write(dir.join("b/notes.md"), "second").unwrap();
        let docs = read_documents(&[dir.join("a/notes.md"), dir.join("b/notes.md")]).unwrap();
        assert_eq!(docs.len(), 2);
        assert_ne!(docs[0].doc.id, docs[1].doc.id);
        // A directory: ids relative to it.
        let docs = read_documents(std::slice::from_ref(&dir)).unwrap();
        let ids: Vec<_> = docs.iter().filter_map(|d| d.doc.id.as_deref()).collect();
        assert_eq!(ids, ["a/notes.md", "b/notes.md"]);
        let jsonl = dir.join("d.jsonl");
        std::fs::write(
            &jsonl,
            "{\"text\":\"x\",\"id\":\"same\"}\n{\"text\":\"y\",\"id\":\"same\"}\n",
        )
        .unwrap();
        let err = read_documents(&[jsonl]).unwrap_err().to_string();
        assert!(
            err.contains("`same`") && err.contains("d.jsonl:1 and"),
            "{err}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn documents_the_function_would_refuse_are_found_before_sending() {
        assert!(problem(&source("text", Some("ok")).doc).is_none());
        assert!(
            problem(&source("  \n", None).doc)
                .unwrap()
                .contains("empty")
        );
        assert!(problem(&source("t", Some("a#b")).doc).is_some());
        let big = "x".repeat(MAX_DOCUMENT_BYTES + 1);
        assert!(problem(&source(&big, None).doc).is_some());
    }

    #[test]
    fn a_refused_document_is_found_in_the_answer() {
        let answer = |status, error: &str| Answer {
            status,
            body: json!({ "error": error }),
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
