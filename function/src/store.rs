//! The document protocol of [`shared::document`] over a [`Backend`]: read every vector of a
//! document (probing past the counts), write a version head last, delete head last, and check
//! what a write left. Every AWS call here is preceded by [`Deadline::check`].

use crate::backend::{Backend, NewVector, StoredVector};
use crate::embed::Deadline;
use crate::error::DomainError;
use futures::{StreamExt, TryStreamExt};
use serde_json::{Map, Value};
use shared::document::{Key, PROBE_WINDOW, original_is_newer, parse_key, probe_extent, vector_key};
use shared::limits::{MAX_DELETE_VECTORS, MAX_GET_VECTORS, MAX_PUT_VECTORS};
use std::collections::{BTreeMap, HashMap};

/// Every vector of one document id, as read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stored {
    /// The original-layout vector (key = the id).
    pub original: Option<StoredVector>,
    /// Chunks by number, the head (0) included, strays too.
    pub chunks: BTreeMap<usize, StoredVector>,
}

/// What a reader of a document sees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum View<'a> {
    /// No document (strays of an unfinished write may exist).
    Absent,
    /// A document of the original stack, newer than any chunked version.
    Original(&'a StoredVector),
    /// The chunked document: the head and chunks `0..count`.
    Chunked {
        /// Chunks in the head's version.
        count: usize,
    },
}

impl Stored {
    /// Whether nothing of the id is stored.
    pub fn is_empty(&self) -> bool {
        self.original.is_none() && self.chunks.is_empty()
    }

    /// How far this read reached: past every chunk number and count it found.
    pub fn extent(&self) -> usize {
        probe_extent(self.chunks.iter().map(|(i, v)| (*i, &v.metadata)))
    }

    /// The head's chunk count.
    pub fn head_count(&self) -> Option<usize> {
        let head = self.chunks.get(&0)?;
        Some(
            shared::metadata::ChunkView(&head.metadata)
                .chunk_count()
                .unwrap_or(1)
                .max(1),
        )
    }

    /// What a reader sees: the newest acknowledged layout.
    pub fn view(&self) -> View<'_> {
        match (&self.original, self.chunks.get(&0), self.head_count()) {
            (Some(o), Some(head), _) if original_is_newer(&o.metadata, &head.metadata) => {
                View::Original(o)
            }
            (_, Some(_), Some(count)) => View::Chunked { count },
            (Some(o), _, _) => View::Original(o),
            _ => View::Absent,
        }
    }

    /// Every key, in the order a delete removes them: the original, then chunks from the last
    /// to the head, so a delete stopped part-way leaves a shorter document that is still found.
    pub fn deletion_order(&self) -> Vec<String> {
        let original = self.original.iter().map(|v| v.key.clone());
        original
            .chain(self.chunks.values().rev().map(|v| v.key.clone()))
            .collect()
    }

    /// What a version of `count` chunks does not have: the original-layout vector and the
    /// chunks from `count` on, in deletion order.
    pub fn beyond(&self, count: usize) -> Vec<String> {
        let original = self.original.iter().map(|v| v.key.clone());
        let strays = self.chunks.range(count..).rev().map(|(_, v)| v.key.clone());
        original.chain(strays).collect()
    }
}

/// Reads every vector of each document `(id, extent known so far)`: the id itself, then
/// chunks from 0 until [`PROBE_WINDOW`] keys in a row past the largest count or chunk number
/// found (and past the known extent) are missing.
pub async fn read_many<B: Backend>(
    backend: &B,
    deadline: &Deadline,
    docs: &[(&str, usize)],
) -> Result<Vec<Stored>, DomainError> {
    let mut out = vec![Stored::default(); docs.len()];
    // Chunk keys `0..fetched[d]` of document `d` have been read.
    let mut fetched = vec![0usize; docs.len()];
    let mut keys: Vec<String> = docs.iter().map(|(id, _)| id.to_string()).collect();
    let index: HashMap<&str, usize> = docs
        .iter()
        .enumerate()
        .map(|(d, (id, _))| (*id, d))
        .collect();
    loop {
        for (d, (id, known)) in docs.iter().enumerate() {
            let found = probe_extent(out[d].chunks.iter().map(|(i, v)| (*i, &v.metadata)));
            let until = found.max(*known) + PROBE_WINDOW;
            if fetched[d] < until {
                keys.extend((fetched[d]..until).map(|i| vector_key(id, i)));
                fetched[d] = until;
            }
        }
        if keys.is_empty() {
            return Ok(out);
        }
        for v in get_all(backend, deadline, std::mem::take(&mut keys)).await? {
            let Some(&d) = index.get(parse_key(&v.key).id()) else {
                continue;
            };
            match parse_key(&v.key) {
                Key::Chunk { index, .. } => {
                    out[d].chunks.insert(index, v);
                }
                Key::Original(_) => out[d].original = Some(v),
            }
        }
    }
}

/// Reads one document.
pub async fn read<B: Backend>(
    backend: &B,
    deadline: &Deadline,
    id: &str,
) -> Result<Stored, DomainError> {
    let mut all = read_many(backend, deadline, &[(id, 0)]).await?;
    Ok(all.pop().unwrap_or_default())
}

/// GetVectors over any number of keys (pages of 100, four at a time).
pub async fn get_all<B: Backend>(
    backend: &B,
    deadline: &Deadline,
    keys: Vec<String>,
) -> Result<Vec<StoredVector>, DomainError> {
    let pages: Vec<Vec<String>> = keys
        .chunks(MAX_GET_VECTORS)
        .map(<[String]>::to_vec)
        .collect();
    let pages: Vec<Vec<StoredVector>> = futures::stream::iter(pages)
        .map(|page| async move {
            deadline.check()?;
            deadline.bound(backend.get_vectors(page)).await
        })
        .buffer_unordered(4)
        .try_collect()
        .await?;
    Ok(pages.into_iter().flatten().collect())
}

/// PutVectors in order, 500 at a time.
pub async fn put_all<B: Backend>(
    backend: &B,
    deadline: &Deadline,
    mut vectors: Vec<NewVector>,
) -> Result<(), DomainError> {
    while !vectors.is_empty() {
        let rest = vectors.split_off(vectors.len().min(MAX_PUT_VECTORS));
        deadline.check()?;
        let batch = std::mem::replace(&mut vectors, rest);
        deadline.bound(backend.put_vectors(batch)).await?;
    }
    Ok(())
}

/// DeleteVectors in the given order, 500 at a time.
pub async fn delete_keys<B: Backend>(
    backend: &B,
    deadline: &Deadline,
    keys: &[String],
) -> Result<(), DomainError> {
    for batch in keys.chunks(MAX_DELETE_VECTORS) {
        deadline.check()?;
        deadline
            .bound(backend.delete_vectors(batch.to_vec()))
            .await?;
    }
    Ok(())
}

/// Deletes every vector of `id` (head last), reading again until none is left (a concurrent
/// writer's chunks included). Returns the vectors deleted; `None` when none was stored.
pub async fn delete_document<B: Backend>(
    backend: &B,
    deadline: &Deadline,
    id: &str,
) -> Result<Option<usize>, DomainError> {
    let mut deleted = None;
    loop {
        let stored = read(backend, deadline, id).await?;
        if stored.is_empty() {
            return Ok(deleted);
        }
        let keys = stored.deletion_order();
        delete_keys(backend, deadline, &keys).await?;
        *deleted.get_or_insert(0) += keys.len();
    }
}

/// Whether chunks `0..count` of `stored` are the version whose chunk `i` has metadata
/// `expected(i)` (apart from timestamps), each of `dimension`.
pub fn holds(
    stored: &Stored,
    count: usize,
    dimension: usize,
    expected: impl Fn(usize) -> Map<String, Value>,
) -> bool {
    (0..count).all(|i| {
        stored.chunks.get(&i).is_some_and(|v| {
            v.data.len() == dimension
                && shared::metadata::same_apart_from_timestamp(&v.metadata, &expected(i))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vector(key: &str, meta: Value) -> StoredVector {
        StoredVector {
            key: key.into(),
            data: vec![1.0],
            metadata: meta.as_object().cloned().unwrap(),
        }
    }

    fn stored(original: Option<&str>, head: Option<&str>, chunks: usize) -> Stored {
        let mut s = Stored {
            original: original.map(|t| vector("x", json!({"timestamp": t}))),
            ..Stored::default()
        };
        for i in 0..chunks {
            let t = head.unwrap_or("2026-01-01T00:00:00Z");
            let v = vector(
                &vector_key("x", i),
                json!({"timestamp": t, "chunk_count": 3}),
            );
            if i > 0 || head.is_some() {
                s.chunks.insert(i, v);
            }
        }
        s
    }

    #[test]
    fn the_newest_layout_is_the_document() {
        let both = stored(
            Some("2026-02-01T00:00:00Z"),
            Some("2026-01-01T00:00:00Z"),
            3,
        );
        assert!(matches!(both.view(), View::Original(_)));
        let both = stored(Some("2025-01-01T00:00:00"), Some("2026-01-01T00:00:00Z"), 3);
        assert_eq!(both.view(), View::Chunked { count: 3 });
        assert_eq!(stored(None, None, 3).view(), View::Absent, "no head");
        assert!(matches!(
            stored(Some("t"), None, 3).view(),
            View::Original(_)
        ));
    }

    #[test]
    fn deletes_go_from_the_last_chunk_to_the_head() {
        let s = stored(Some("t"), Some("t"), 3);
        assert_eq!(s.deletion_order(), ["x", "x#2", "x#1", "x#0"]);
        assert_eq!(s.beyond(1), ["x", "x#2", "x#1"]);
        assert_eq!(s.beyond(3), ["x"]);
    }
}
