//! What a document is in the index, and the protocol every write path follows.
//!
//! **Layout.** Document `X` is the vectors `X#0 … X#{n-1}` ([`vector_key`], parsed by
//! [`parse_key`]); every chunk carries `chunk_count = n`, its `content_hash` and the user's
//! metadata ([`crate::metadata`]). Chunk 0, the *head*, is the document: listings show an id
//! when its head exists. A document of the original Python stack is one vector keyed `X`
//! itself (the *original layout*).
//!
//! **Reading** ([`probe_extent`]): a reader fetches `X`, `X#0…` and keeps going past the
//! largest `chunk_count` or chunk number it has seen until [`PROBE_WINDOW`] keys in a row are
//! missing. So chunks an interrupted write or delete left beyond the count (*strays*) are
//! found whatever the head says, whether a head exists at all, and across the gaps that two
//! interleaved writers can leave (one deleting what it read as strays while the other
//! rewrites them).
//!
//! **Writing version V of `X` (n chunks)**, ingest and reindex alike:
//! 1. read as above;
//! 2. write every chunk that differs, in order up to the first one not embedded (what is
//!    stored stays contiguous), head last: a new document is listed only once complete, and a
//!    head is written only when every other chunk of V is stored;
//! 3. delete what V does not have: strays `≥ n` in descending order, then the original-layout
//!    vector `X` (the newest acknowledged write wins, whichever layout it came from);
//! 4. read again, at least as far as step 1 reached: strays that appeared meanwhile (a
//!    concurrent writer) are deleted and the read repeated; if any of `X#0…X#{n-1}` is not V's,
//!    a concurrent writer overwrote it: answer 202 (the same request sent again repairs it).
//!
//! Because no writer writes after the read that lets it answer 200, the state after the last
//! acknowledged write is exactly that write's version.
//!
//! **Deleting `X`**: read as above, delete in descending order with the head last (a failure
//! part-way leaves a shorter document that is still found, never chunks without a way to reach
//! them), then read again until nothing is left.
//!
//! What this cannot do without conditional writes (S3 Vectors has none): when two writers of
//! one id interleave and *both* abandon their 202s, strays separated from the rest by a gap
//! of more than [`PROBE_WINDOW`] keys stay until the id is written or deleted by a request
//! that reaches them (`reindex` or a `documents delete` by filter on their metadata).

use crate::metadata::ChunkView;
use serde_json::{Map, Value};

/// Missing keys in a row past the known extent that end a read.
pub const PROBE_WINDOW: usize = 16;

/// The vector key of chunk `index` of document `id`.
pub fn vector_key(id: &str, index: usize) -> String {
    format!("{id}#{index}")
}

/// What a vector key names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key<'a> {
    /// Chunk `index` of document `id`.
    Chunk {
        /// The document id.
        id: &'a str,
        /// The chunk number.
        index: usize,
    },
    /// A document of the original stack: one vector keyed by its id.
    Original(&'a str),
}

impl<'a> Key<'a> {
    /// The document id.
    pub fn id(&self) -> &'a str {
        match self {
            Self::Chunk { id, .. } | Self::Original(id) => id,
        }
    }

    /// Whether this key lists its document: its head (chunk 0), or an original-layout vector.
    pub fn is_head(&self) -> bool {
        matches!(self, Self::Chunk { index: 0, .. } | Self::Original(_))
    }
}

/// Parses a vector key (ids never contain `#`, so the last `#` separates the chunk number).
pub fn parse_key(key: &str) -> Key<'_> {
    match key.rsplit_once('#').map(|(id, n)| (id, n.parse())) {
        Some((id, Ok(index))) => Key::Chunk { id, index },
        _ => Key::Original(key),
    }
}

/// The chunk keys a reader must have fetched: `0..extent`, where `extent` covers every
/// `chunk_count` and chunk number seen in `found` (metadata of the document's chunks).
pub fn probe_extent<'a>(found: impl IntoIterator<Item = (usize, &'a Map<String, Value>)>) -> usize {
    found
        .into_iter()
        .map(|(index, meta)| (index + 1).max(ChunkView(meta).chunk_count().unwrap_or(0)))
        .max()
        .unwrap_or(0)
}

/// Whether the original-layout vector (`original`) is newer than the chunked head (`head`),
/// comparing their RFC 3339 timestamps (a missing timestamp is oldest; a tie keeps the chunks).
pub fn original_is_newer(original: &Map<String, Value>, head: &Map<String, Value>) -> bool {
    ChunkView(original).timestamp().unwrap_or("") > ChunkView(head).timestamp().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_round_trip() {
        assert_eq!(vector_key("a/notes.md", 3), "a/notes.md#3");
        assert_eq!(
            parse_key("a/notes.md#3"),
            Key::Chunk {
                id: "a/notes.md",
                index: 3
            }
        );
        assert_eq!(parse_key("0b7c-uuid"), Key::Original("0b7c-uuid"));
        assert_eq!(parse_key("odd#name"), Key::Original("odd#name"));
        assert_eq!(parse_key("x#-1"), Key::Original("x#-1"));
        assert_eq!(parse_key("x#2").id(), "x");
    }

    #[test]
    fn extent_covers_counts_and_indexes() {
        let m = |n: usize| json!({"chunk_count": n}).as_object().cloned().unwrap();
        let (a, b) = (m(3), m(10));
        assert_eq!(probe_extent([(0, &a)]), 3);
        assert_eq!(probe_extent([(0, &a), (4, &a)]), 5);
        assert_eq!(probe_extent([(0, &a), (2, &b)]), 10);
        assert_eq!(probe_extent(std::iter::empty()), 0);
    }

    #[test]
    fn the_newest_layout_wins() {
        let t = |s: &str| json!({"timestamp": s}).as_object().cloned().unwrap();
        assert!(original_is_newer(
            &t("2026-02-01T00:00:00Z"),
            &t("2026-01-01T00:00:00Z")
        ));
        assert!(!original_is_newer(
            &t("2026-01-01T00:00:00Z"),
            &t("2026-01-01T00:00:00Z")
        ));
        assert!(!original_is_newer(&Map::new(), &t("2026-01-01T00:00:00Z")));
    }
}
