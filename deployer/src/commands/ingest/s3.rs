//! `s3://bucket/prefix` sources of `ingest` and `sync`, read with the S3 SDK: every object under
//! the prefix (ListObjectsV2, page by page) whose extension is read (as in a directory; the
//! rest are named as skipped) is fetched (GetObject, eight at a time) and extracted as a local
//! file would be. A document's id is `{bucket}/{key}`. The identity needs only
//! `s3:ListBucket` on the bucket (with an `s3:prefix` condition) and `s3:GetObject` on the
//! prefix's objects (README, "Syncing from S3").

use super::sources::{Read, file_documents, is_jsonl, parse_jsonl};
use crate::aws_error::{describe, is};
use crate::extract::{Format, extract};
use anyhow::bail;
use futures::{StreamExt, TryStreamExt};
use std::path::Path;

/// Objects larger than this are named as problems, not read.
const MAX_OBJECT_BYTES: i64 = 64 * 1024 * 1024;
/// GetObject calls in flight.
const FETCHES: usize = 8;

/// A source `s3://bucket/prefix` (the prefix may be empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Url {
    /// The bucket.
    pub bucket: String,
    /// The key prefix.
    pub prefix: String,
}

impl S3Url {
    /// `None` when `path` is not an `s3://` URL; an error when it is one without a bucket.
    pub fn parse(path: &Path) -> Option<anyhow::Result<Self>> {
        let rest = path.to_str()?.strip_prefix("s3://")?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        Some(if bucket.is_empty() {
            Err(anyhow::anyhow!(
                "`{}` names no bucket\nhint: write `s3://BUCKET/PREFIX`",
                path.display()
            ))
        } else {
            Ok(Self {
                bucket: bucket.to_string(),
                prefix: prefix.to_string(),
            })
        })
    }
}

impl std::fmt::Display for S3Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

/// Whether any of `paths` is an `s3://` source.
pub fn any(paths: &[std::path::PathBuf]) -> bool {
    paths.iter().any(|p| S3Url::parse(p).is_some())
}

/// An S3 client from the usual credential chain; path-style addressing when an endpoint URL
/// is set (the local AWS serves every bucket under one host).
pub async fn client(global: &crate::cli::GlobalArgs) -> aws_sdk_s3::Client {
    let sdk = crate::context::sdk_config(global).await;
    let config = aws_sdk_s3::config::Builder::from(&sdk)
        .force_path_style(global.endpoint_url.is_some())
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// What S3 refused, with a hint when it is about permissions or the bucket.
fn failure<E, R>(
    what: &str,
    url: &S3Url,
    e: &aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> anyhow::Error
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let hint = if is(e, &["AccessDenied"]) {
        format!(
            "\nhint: reading {url} needs s3:ListBucket on arn:aws:s3:::{b} (condition s3:prefix `{p}*`) and s3:GetObject on arn:aws:s3:::{b}/{p}* (README, \"Syncing from S3\")",
            b = url.bucket,
            p = url.prefix
        )
    } else if is(e, &["NoSuchBucket"]) {
        format!("\nhint: bucket `{}` does not exist here", url.bucket)
    } else {
        String::new()
    };
    anyhow::anyhow!("failed to {what} {url}: {}{hint}", describe(e))
}

/// Reads every readable object under `url` into `read`.
pub async fn read(client: &aws_sdk_s3::Client, url: &S3Url, read: &mut Read) -> anyhow::Result<()> {
    let mut objects = Vec::new();
    let mut pages = client
        .list_objects_v2()
        .bucket(&url.bucket)
        .prefix(&url.prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| failure("list", url, &e))?;
        for object in page.contents() {
            let Some(key) = object.key().filter(|k| !k.ends_with('/')) else {
                continue;
            };
            let name = format!("s3://{}/{key}", url.bucket);
            if object.size().unwrap_or(0) > MAX_OBJECT_BYTES {
                read.problems.push(format!(
                    "{name}: {} bytes; objects over {MAX_OBJECT_BYTES} bytes are not read",
                    object.size().unwrap_or(0)
                ));
            } else if is_jsonl(Path::new(key)) || Format::of(Path::new(key)).is_some() {
                objects.push(key.to_string());
            } else {
                read.skipped.push(name);
            }
        }
    }
    let fetched: Vec<(String, Vec<u8>)> = futures::stream::iter(objects)
        .map(|key| async move {
            let out = client
                .get_object()
                .bucket(&url.bucket)
                .key(&key)
                .send()
                .await
                .map_err(|e| failure(&format!("read `{key}` of"), url, &e))?;
            let bytes = out
                .body
                .collect()
                .await
                .map_err(|e| anyhow::anyhow!("failed to read `{key}` of {url}: {e}"))?;
            Ok::<_, anyhow::Error>((key, bytes.to_vec()))
        })
        .buffered(FETCHES)
        .try_collect()
        .await?;
    for (key, bytes) in fetched {
        let name = format!("s3://{}/{key}", url.bucket);
        if is_jsonl(Path::new(&key)) {
            let Ok(text) = String::from_utf8(bytes) else {
                bail!("`{name}` is not UTF-8 text");
            };
            read.docs.extend(parse_jsonl(&text, &name)?);
            continue;
        }
        let format = Format::of(Path::new(&key)).unwrap_or(Format::Text);
        match extract(format, &bytes) {
            Ok(extracted) => read.docs.extend(file_documents(
                Path::new(&name),
                Path::new(&format!("{}/{key}", url.bucket)),
                extracted,
            )),
            Err(why) => read.problems.push(format!("{name}: {why}")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls_name_a_bucket_and_a_prefix() {
        let parse = |s: &str| S3Url::parse(Path::new(s));
        let url = parse("s3://src/notes/2026/").unwrap().unwrap();
        assert_eq!(
            (url.bucket.as_str(), url.prefix.as_str()),
            ("src", "notes/2026/")
        );
        assert_eq!(url.to_string(), "s3://src/notes/2026/");
        let whole = parse("s3://src").unwrap().unwrap();
        assert_eq!(whole.prefix, "");
        assert!(parse("s3:///x").unwrap().is_err());
        assert!(parse("notes/a.md").is_none());
        assert!(any(&["a".into(), "s3://b/c".into()]));
    }
}
