//! Reading the documents to send: files (one document each, its text extracted by
//! [`crate::extract`]: text, Markdown, PDF, HTML, DOCX; the id is the path under the root),
//! directories (walked for those files; others are named as skipped), JSONL and stdin; checks
//! made before sending (what the function would refuse, ids that repeat) and batching. A file
//! whose text cannot be extracted is a problem reported by name, never an empty document.

use crate::extract::{Extracted, Format, extract};
use anyhow::{Context as _, bail};
use serde_json::{Map, Value};
use shared::api::{DocumentInput, document_id_problem};
use shared::limits::{MAX_DOCUMENT_BYTES, MAX_DOCUMENT_ID_LEN};
use std::collections::HashMap;
use std::io::Read as _;
use std::path::{Component, Path, PathBuf};

/// Largest request body sent (Lambda's synchronous payload limit is 6 MB; smaller requests
/// also keep each round's re-reading of stored chunks short).
const MAX_REQUEST_BYTES: usize = 1024 * 1024;

/// A document to send, and where it came from (for messages).
#[derive(Debug, Clone)]
pub struct Source {
    /// The document.
    pub doc: DocumentInput,
    /// `notes/a.md`, `data.jsonl:3`, `stdin:2`.
    pub origin: String,
}

pub(super) fn parse_jsonl(text: &str, origin: &str) -> anyhow::Result<Vec<Source>> {
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

/// The metadata key naming the file a part document belongs to.
pub const PART_OF_KEY: &str = "part_of";
/// The metadata key holding a part's number (1-based).
pub const PART_KEY: &str = "part";
/// The metadata key holding how many parts the file has.
pub const PARTS_KEY: &str = "parts";
/// The largest part of a split file: under the function's 1 MiB document limit, with room.
const MAX_PART_BYTES: usize = MAX_DOCUMENT_BYTES - 48 * 1024;

/// A file's document, or, when its text is over the function's 1 MiB limit, its parts: split
/// at section boundaries ([`split_sections`]), ids `{id}/part-001…`, each with `part_of`,
/// `part` and `parts` in its metadata (`documents get|delete {id}` find them by `part_of`).
pub(super) fn file_documents(path: &Path, id_path: &Path, extracted: Extracted) -> Vec<Source> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("document")
        .to_string();
    let mut metadata = Map::new();
    metadata.insert("source".into(), Value::from(name));
    if extracted.format != Format::Text {
        metadata.insert("format".into(), Value::from(extracted.format.as_str()));
    }
    if !extracted.pages.is_empty() {
        metadata.insert("pages".into(), Value::from(extracted.pages.len()));
    }
    let (id, origin) = (file_id(id_path), path.display().to_string());
    if extracted.pages.len() > 1 {
        return page_documents(&id, &origin, &metadata, extracted.pages);
    }
    if extracted.text.len() <= MAX_DOCUMENT_BYTES {
        return vec![Source {
            doc: DocumentInput {
                text: extracted.text,
                metadata: Some(metadata.into()),
                id: Some(id),
            },
            origin,
        }];
    }
    let parts = split_sections(&extracted.text, MAX_PART_BYTES);
    let n = parts.len();
    parts
        .into_iter()
        .enumerate()
        .map(|(i, text)| {
            let mut metadata = metadata.clone();
            metadata.insert(PART_OF_KEY.into(), Value::from(id.clone()));
            metadata.insert(PART_KEY.into(), Value::from(i + 1));
            metadata.insert(PARTS_KEY.into(), Value::from(n));
            Source {
                doc: DocumentInput {
                    text: text.to_string(),
                    metadata: Some(metadata.into()),
                    id: Some(format!("{id}/part-{:03}", i + 1)),
                },
                origin: format!("{origin} (part {} of {n})", i + 1),
            }
        })
        .collect()
}

/// The metadata key holding a PDF page's number (1-based).
pub const PAGE_KEY: &str = "page";

/// A PDF of several pages as one document per page, `{id}/page-001…` with `page` (and
/// `part_of`, `part`, `parts`, so `documents get|delete {id}` reach them all): a search hit
/// cites its page. Pages without text are left out.
fn page_documents(
    id: &str,
    origin: &str,
    metadata: &Map<String, Value>,
    pages: Vec<String>,
) -> Vec<Source> {
    let n = pages.len();
    pages
        .into_iter()
        .enumerate()
        .filter(|(_, text)| !text.trim().is_empty())
        .map(|(i, text)| {
            let mut metadata = metadata.clone();
            metadata.insert(PART_OF_KEY.into(), Value::from(id));
            metadata.insert(PART_KEY.into(), Value::from(i + 1));
            metadata.insert(PARTS_KEY.into(), Value::from(n));
            metadata.insert(PAGE_KEY.into(), Value::from(i + 1));
            Source {
                doc: DocumentInput {
                    text,
                    metadata: Some(metadata.into()),
                    id: Some(format!("{id}/page-{:03}", i + 1)),
                },
                origin: format!("{origin} (page {} of {n})", i + 1),
            }
        })
        .collect()
}

/// `text` in parts of at most `limit` bytes, each cut at the last section boundary before the
/// limit: a Markdown heading, else a blank line, else a line break, else a space (a cut in the
/// first half of the window is not taken), else at a character boundary.
pub fn split_sections(text: &str, limit: usize) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = text;
    while rest.len() > limit {
        let mut end = limit;
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let window = &rest[..end];
        let half = end / 2;
        let cut = [
            window.rfind("\n#").map(|i| i + 1),
            window.rfind("\n\n").map(|i| i + 2),
            window.rfind('\n').map(|i| i + 1),
            window.rfind(' ').map(|i| i + 1),
        ]
        .into_iter()
        .flatten()
        .find(|&i| i > half)
        .unwrap_or(end);
        parts.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    if !rest.trim().is_empty() || parts.is_empty() {
        parts.push(rest);
    }
    parts
}

/// The files under `dir` that are read ([`Format::of`]), sorted, recursively; the others
/// (hidden files aside) are added to `skipped`.
fn files_under(dir: &Path, skipped: &mut Vec<String>) -> anyhow::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries =
            std::fs::read_dir(&d).with_context(|| format!("could not read `{}`", d.display()))?;
        for entry in entries {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if Format::of(&path).is_some() || is_jsonl(&path) {
                found.push(path);
            } else if !path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            {
                skipped.push(path.display().to_string());
            }
        }
    }
    found.sort();
    Ok(found)
}

pub(super) fn is_jsonl(path: &Path) -> bool {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    matches!(ext.to_ascii_lowercase().as_str(), "jsonl" | "ndjson")
}

/// A JSONL file's documents (their ids are their own), or a file's text as one document
/// whose id is its path under `root` (a file named directly with another extension is read
/// as text). A file without text is added to `problems`.
fn read_file(path: &Path, root: &Path, read: &mut Read) -> anyhow::Result<()> {
    let bytes =
        std::fs::read(path).with_context(|| format!("could not read `{}`", path.display()))?;
    if is_jsonl(path) {
        let text = String::from_utf8(bytes)
            .with_context(|| format!("`{}` is not UTF-8 text", path.display()))?;
        read.docs
            .extend(parse_jsonl(&text, &path.display().to_string())?);
        return Ok(());
    }
    let id_path = relative_to(root, path)?;
    match extract(Format::of(path).unwrap_or(Format::Text), &bytes) {
        Ok(extracted) => read.docs.extend(file_documents(path, &id_path, extracted)),
        Err(why) => read.problems.push(format!("{}: {why}", path.display())),
    }
    Ok(())
}

/// `file`'s path under `root` (both resolved), which makes its id: the same file has the same
/// id whichever argument named it, and files of two directories never share one.
fn relative_to(root: &Path, file: &Path) -> anyhow::Result<PathBuf> {
    let resolve = |p: &Path| {
        p.canonicalize()
            .with_context(|| format!("could not resolve `{}`", p.display()))
    };
    let (root_abs, file_abs) = (resolve(root)?, resolve(file)?);
    match file_abs.strip_prefix(&root_abs) {
        Ok(rel) => Ok(rel.to_path_buf()),
        Err(_) => bail!(
            "`{}` is outside `{}`, which file ids are relative to\nhint: pass `--root DIR` with a directory that holds every file",
            file.display(),
            root.display()
        ),
    }
}

/// What reading the arguments found.
#[derive(Debug, Default)]
pub struct Read {
    /// The documents.
    pub docs: Vec<Source>,
    /// Files whose text could not be extracted, with why (`path: reason`).
    pub problems: Vec<String>,
    /// Files in the directories that are not read (by extension).
    pub skipped: Vec<String>,
}

/// Reads one argument (a file, a directory, `-` for JSONL on stdin) into `read`.
fn read_local(path: &Path, root: &Path, read: &mut Read) -> anyhow::Result<()> {
    if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("could not read stdin")?;
        read.docs.extend(parse_jsonl(&text, "stdin")?);
    } else if path.is_dir() {
        for file in files_under(path, &mut read.skipped)? {
            read_file(&file, root, read)?;
        }
    } else {
        read_file(path, root, read)?;
    }
    Ok(())
}

/// Refuses ids that repeat (one document would replace the other).
fn refuse_repeats(read: &Read) -> anyhow::Result<()> {
    let mut seen: HashMap<&str, &str> = HashMap::new();
    let mut repeated = Vec::new();
    for s in &read.docs {
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
    Ok(())
}

/// Reads the documents named by local `paths` (files, directories, `-` for JSONL on stdin) and
/// refuses ids that repeat. A file's id is its path relative to `root`. (The tests' way in:
/// commands go through [`read_sources`].)
#[cfg(test)]
pub fn read_documents(paths: &[PathBuf], root: &Path) -> anyhow::Result<Read> {
    let mut read = Read::default();
    for path in paths {
        read_local(path, root, &mut read)?;
    }
    refuse_repeats(&read)?;
    Ok(read)
}

/// [`read_documents`], and `s3://bucket/prefix` sources through `s3` ([`super::s3`]).
pub async fn read_sources(
    paths: &[PathBuf],
    root: &Path,
    s3: Option<&aws_sdk_s3::Client>,
) -> anyhow::Result<Read> {
    let mut read = Read::default();
    for path in paths {
        match (super::s3::S3Url::parse(path), s3) {
            (None, _) => read_local(path, root, &mut read)?,
            (Some(url), Some(client)) => super::s3::read(client, &url?, &mut read).await?,
            (Some(_), None) => bail!("`{}` needs an S3 client", path.display()),
        }
    }
    refuse_repeats(&read)?;
    Ok(read)
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
        let docs = read_documents(&[dir.join("a/notes.md"), dir.join("b/notes.md")], &dir)
            .unwrap()
            .docs;
        assert_eq!(docs.len(), 2);
        assert_ne!(docs[0].doc.id, docs[1].doc.id);
        // Ids are relative to the root, not to the argument: the same file through its
        // directory or its path has one id, and two directories' files never share one.
        let ids = |paths: &[PathBuf]| -> Vec<String> {
            read_documents(paths, &dir)
                .unwrap()
                .docs
                .into_iter()
                .filter_map(|d| d.doc.id)
                .collect()
        };
        assert_eq!(
            ids(std::slice::from_ref(&dir)),
            ["a/notes.md", "b/notes.md"]
        );
        assert_eq!(ids(&[dir.join("a")]), ["a/notes.md"]);
        assert_eq!(ids(&[dir.join("b")]), ["b/notes.md"]);
        assert_eq!(ids(&[dir.join("b/../a/./notes.md")]), ["a/notes.md"]);
        let outside = read_documents(&[dir.join("a")], &dir.join("b")).unwrap_err();
        assert!(outside.to_string().contains("--root"), "{outside}");
        let jsonl = dir.join("d.jsonl");
        std::fs::write(
            &jsonl,
            "{\"text\":\"x\",\"id\":\"same\"}\n{\"text\":\"y\",\"id\":\"same\"}\n",
        )
        .unwrap();
        let err = read_documents(&[jsonl], &dir).unwrap_err().to_string();
        assert!(
            err.contains("`same`") && err.contains("d.jsonl:1 and"),
            "{err}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn big_files_split_at_section_boundaries_into_parts_of_their_own() {
        let section = |n: usize| format!("# Section {n}\n\n{}\n\n", "word ".repeat(60));
        let text: String = (0..10).map(section).collect();
        let parts = split_sections(&text, 1000);
        assert_eq!(parts.concat(), text, "nothing lost or repeated");
        assert!(parts.iter().all(|p| p.len() <= 1000));
        assert!(
            parts[1..].iter().all(|p| p.starts_with("# Section")),
            "{parts:?}"
        );
        // No boundary at all: cut at a character boundary, never inside a character.
        let solid = "é".repeat(700);
        let parts = split_sections(&solid, 1001);
        assert_eq!(parts.concat(), solid);
        assert!(parts.iter().all(|p| p.len() <= 1001));
        assert_eq!(split_sections("short", 10), ["short"]);

        let big = Extracted {
            text: (0..4000).map(section).collect(),
            format: Format::Text,
            pages: Vec::new(),
        };
        let docs = file_documents(Path::new("notes/big.md"), Path::new("notes/big.md"), big);
        assert!(docs.len() >= 2);
        for (i, d) in docs.iter().enumerate() {
            assert_eq!(
                d.doc.id.as_deref(),
                Some(format!("notes/big.md/part-{:03}", i + 1).as_str())
            );
            assert!(problem(&d.doc).is_none(), "{:?}", problem(&d.doc));
            let m = d.doc.metadata.as_ref().unwrap();
            let get = |k: &str| {
                m.iter()
                    .find(|(key, _)| key.as_str() == k)
                    .map(|(_, v)| v.clone())
            };
            assert_eq!(get(PART_OF_KEY), Some(Value::from("notes/big.md")));
            assert_eq!(get(PART_KEY), Some(Value::from(i + 1)));
            assert_eq!(get(PARTS_KEY), Some(Value::from(docs.len())));
        }
    }

    #[test]
    fn a_pdf_of_several_pages_is_a_document_per_page() {
        let pdf = Extracted {
            text: "one\n\ntwo".into(),
            format: Format::Pdf,
            pages: vec!["one".into(), " ".into(), "three".into()],
        };
        let docs = file_documents(Path::new("r/a.pdf"), Path::new("r/a.pdf"), pdf);
        let ids: Vec<&str> = docs.iter().filter_map(|d| d.doc.id.as_deref()).collect();
        assert_eq!(
            ids,
            ["r/a.pdf/page-001", "r/a.pdf/page-003"],
            "blank pages left out"
        );
        let m = docs[1].doc.metadata.as_ref().unwrap();
        let get = |k: &str| {
            m.iter()
                .find(|(key, _)| key.as_str() == k)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(get(PAGE_KEY), Some(Value::from(3)));
        assert_eq!(get(PART_OF_KEY), Some(Value::from("r/a.pdf")));
        assert_eq!(get("pages"), Some(Value::from(3)));
        assert_eq!(docs[1].doc.text, "three");
        assert_eq!(docs[1].origin, "r/a.pdf (page 3 of 3)");
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
}
