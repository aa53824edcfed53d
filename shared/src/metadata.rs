//! The metadata stored with each vector, and S3 Vectors' metadata limits checked before any
//! AWS call.
//!
//! Each vector carries the chunk `text` (declared non-filterable when the deployer creates the
//! index), a UTC `timestamp`, `document_id`, `chunk_index`, `chunk_count`, the `embedding` it
//! was made with ([`EMBEDDING_MARKER`]) and the `content_hash` of what was embedded (so a
//! re-sent or edited document re-embeds only chunks whose text changed), then the user's
//! metadata. Sizes are measured as the bytes of the compact JSON encoding of the keys and
//! values, the same measure the local AWS applies.

use crate::bounded::{BAD_VALUE, Metadata};
use crate::limits::{MAX_FILTERABLE_METADATA_BYTES, MAX_METADATA_KEYS, MAX_TOTAL_METADATA_BYTES};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The chunk text; the only non-filterable key.
pub const TEXT_KEY: &str = "text";
/// The metadata key naming the embedding a vector was made with.
pub const EMBEDDING_KEY: &str = "embedding";
/// The metadata key holding [`content_hash`] of the chunk.
pub const CONTENT_HASH_KEY: &str = "content_hash";
/// The embedding this version makes: all-MiniLM-L6-v2 token states, attention-mask mean
/// pooling, L2 normalisation. Vectors without it (the original Python function took token 0)
/// are not comparable and must be re-embedded.
pub const EMBEDDING_MARKER: &str = "all-MiniLM-L6-v2/mean/l2";
/// The timestamp key (changes on every write; ignored when comparing stored metadata).
pub const TIMESTAMP_KEY: &str = "timestamp";
/// The id of the document a chunk belongs to.
pub const DOCUMENT_ID_KEY: &str = "document_id";
/// The chunk's 0-based number.
pub const CHUNK_INDEX_KEY: &str = "chunk_index";
/// How many chunks the chunk's version of the document has (every chunk carries it).
pub const CHUNK_COUNT_KEY: &str = "chunk_count";
/// Keys the function writes itself; user metadata may not use them.
pub const RESERVED_KEYS: [&str; 7] = [
    TEXT_KEY,
    TIMESTAMP_KEY,
    DOCUMENT_ID_KEY,
    CHUNK_INDEX_KEY,
    CHUNK_COUNT_KEY,
    EMBEDDING_KEY,
    CONTENT_HASH_KEY,
];
/// Keys declared non-filterable on the index.
pub const NON_FILTERABLE_KEYS: [&str; 1] = [TEXT_KEY];

/// A metadata problem, mapped by the function to 400 (shape) or 413 (size).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetadataError {
    /// The user tried to set a key the function writes.
    #[error("metadata key `{0}` is reserved")]
    ReservedKey(String),
    /// A value that S3 Vectors cannot store.
    #[error("metadata key `{key}`: {reason}")]
    BadValue {
        /// The key.
        key: String,
        /// Why.
        reason: &'static str,
    },
    /// More than 50 keys including the function's own.
    #[error(
        "metadata has {0} keys including the 7 reserved ones; the limit is {MAX_METADATA_KEYS}"
    )]
    TooManyKeys(usize),
    /// Filterable metadata above 2 KB.
    #[error(
        "filterable metadata is {0} bytes; the limit is {MAX_FILTERABLE_METADATA_BYTES} bytes per vector"
    )]
    FilterableTooLarge(usize),
    /// All metadata above 40 KB.
    #[error("metadata is {0} bytes; the limit is {MAX_TOTAL_METADATA_BYTES} bytes per vector")]
    TotalTooLarge(usize),
}

impl MetadataError {
    /// Whether this is a size limit (413) rather than a malformed request (400).
    pub fn is_size_limit(&self) -> bool {
        matches!(self, Self::FilterableTooLarge(_) | Self::TotalTooLarge(_))
    }
}

/// Checks the user's metadata: within the key and size limits as sent (counted while parsing,
/// see [`crate::bounded`]), no reserved keys, allowed value types.
pub fn validate_user_metadata(user: &Metadata) -> Result<(), MetadataError> {
    if let Some(key) = user.bad_key() {
        return Err(MetadataError::BadValue {
            key: key.to_string(),
            reason: BAD_VALUE,
        });
    }
    if user.keys_seen() + RESERVED_KEYS.len() > MAX_METADATA_KEYS {
        return Err(MetadataError::TooManyKeys(
            user.keys_seen() + RESERVED_KEYS.len(),
        ));
    }
    if user.bytes_seen() > MAX_TOTAL_METADATA_BYTES {
        return Err(MetadataError::TotalTooLarge(user.bytes_seen()));
    }
    for (key, value) in user.iter() {
        if RESERVED_KEYS.contains(&key.as_str()) {
            return Err(MetadataError::ReservedKey(key.clone()));
        }
        if key.is_empty() {
            return Err(MetadataError::BadValue {
                key: key.clone(),
                reason: "keys must not be empty",
            });
        }
        let ok = match value {
            Value::String(_) | Value::Number(_) | Value::Bool(_) => true,
            Value::Array(items) => !items.is_empty() && items.iter().all(Value::is_string),
            Value::Null | Value::Object(_) => false,
        };
        if !ok {
            return Err(MetadataError::BadValue {
                key: key.clone(),
                reason: BAD_VALUE,
            });
        }
    }
    Ok(())
}

/// The bytes `s` takes as a compact JSON string, quotes included (the escapes of serde_json
/// and of Python's `json.dumps(ensure_ascii=False)`: `\"`, `\\`, `\n`-style pairs, `\u00XX`
/// for other control characters).
pub fn json_str_len(s: &str) -> usize {
    2 + s
        .bytes()
        .map(|b| match b {
            b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 2,
            0..0x20 => 6,
            _ => 1,
        })
        .sum::<usize>()
}

/// The compact-JSON byte size of `map`'s entries whose keys `keep` accepts.
pub fn encoded_size(map: &Map<String, Value>, keep: impl Fn(&str) -> bool) -> usize {
    let filtered: Map<String, Value> = map
        .iter()
        .filter(|(k, _)| keep(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    serde_json::to_vec(&filtered).map_or(usize::MAX, |b| b.len())
}

/// Checks a vector's complete metadata against S3 Vectors' per-vector limits.
pub fn check_limits(metadata: &Map<String, Value>) -> Result<(), MetadataError> {
    if metadata.len() > MAX_METADATA_KEYS {
        return Err(MetadataError::TooManyKeys(metadata.len()));
    }
    let filterable = encoded_size(metadata, |k| !NON_FILTERABLE_KEYS.contains(&k));
    if filterable > MAX_FILTERABLE_METADATA_BYTES {
        return Err(MetadataError::FilterableTooLarge(filterable));
    }
    let total = encoded_size(metadata, |_| true);
    if total > MAX_TOTAL_METADATA_BYTES {
        return Err(MetadataError::TotalTooLarge(total));
    }
    Ok(())
}

/// The function's own keys of a stored chunk's metadata, read without copying.
#[derive(Debug, Clone, Copy)]
pub struct ChunkView<'a>(pub &'a Map<String, Value>);

impl<'a> ChunkView<'a> {
    fn str(&self, key: &str) -> Option<&'a str> {
        self.0.get(key).and_then(Value::as_str)
    }
    /// The chunk text.
    pub fn text(&self) -> Option<&'a str> {
        self.str(TEXT_KEY)
    }
    /// When it was written (RFC 3339).
    pub fn timestamp(&self) -> Option<&'a str> {
        self.str(TIMESTAMP_KEY)
    }
    /// The document id it names.
    pub fn document_id(&self) -> Option<&'a str> {
        self.str(DOCUMENT_ID_KEY)
    }
    /// How many chunks its version of the document has.
    pub fn chunk_count(&self) -> Option<usize> {
        let n = self.0.get(CHUNK_COUNT_KEY).and_then(Value::as_u64)?;
        usize::try_from(n).ok()
    }
    /// The embedding it was made with.
    pub fn embedding(&self) -> Option<&'a str> {
        self.str(EMBEDDING_KEY)
    }
    /// Whether it was made with the current embedding.
    pub fn is_current(&self) -> bool {
        self.embedding() == Some(EMBEDDING_MARKER)
    }
    /// The user's metadata (every key that is not the function's own).
    pub fn user(&self) -> Map<String, Value> {
        self.0
            .iter()
            .filter(|(k, _)| !RESERVED_KEYS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// Chunk information written with every vector.
#[derive(Debug, Clone, Copy)]
pub struct ChunkInfo<'a> {
    /// The document id.
    pub document_id: &'a str,
    /// 0-based chunk number.
    pub index: usize,
    /// Chunks in the document.
    pub count: usize,
    /// RFC 3339 UTC time of the ingest.
    pub timestamp: &'a str,
}

/// What a chunk's vector depends on: the embedding and the exact text (hex, 128 bits).
pub fn content_hash(text: &str) -> String {
    let digest = Sha256::new()
        .chain_update(EMBEDDING_MARKER.as_bytes())
        .chain_update([0u8])
        .chain_update(text.as_bytes())
        .finalize();
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether two stored metadata maps are the same apart from their timestamps (numbers
/// compared by value: `2` and `2.0` are equal).
pub fn same_apart_from_timestamp(a: &Map<String, Value>, b: &Map<String, Value>) -> bool {
    fn same(x: &Value, y: &Value) -> bool {
        match (x, y) {
            (Value::Number(m), Value::Number(n)) => m.as_f64() == n.as_f64(),
            (Value::Array(m), Value::Array(n)) => {
                m.len() == n.len() && m.iter().zip(n).all(|(x, y)| same(x, y))
            }
            _ => x == y,
        }
    }
    let keys = |m: &Map<String, Value>| m.keys().filter(|k| *k != TIMESTAMP_KEY).count();
    keys(a) == keys(b)
        && a.iter()
            .filter(|(k, _)| *k != TIMESTAMP_KEY)
            .all(|(k, v)| b.get(k).is_some_and(|w| same(v, w)))
}

/// The stored metadata of one chunk: the function's keys first, then the user's.
pub fn build(
    text: &str,
    info: ChunkInfo<'_>,
    user: Option<&Map<String, Value>>,
) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(TEXT_KEY.into(), Value::from(text));
    m.insert(TIMESTAMP_KEY.into(), Value::from(info.timestamp));
    m.insert(DOCUMENT_ID_KEY.into(), Value::from(info.document_id));
    m.insert(CHUNK_INDEX_KEY.into(), Value::from(info.index));
    m.insert(CHUNK_COUNT_KEY.into(), Value::from(info.count));
    m.insert(EMBEDDING_KEY.into(), Value::from(EMBEDDING_MARKER));
    m.insert(CONTENT_HASH_KEY.into(), Value::from(content_hash(text)));
    if let Some(user) = user {
        for (k, v) in user {
            m.insert(k.clone(), v.clone());
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    const INFO: ChunkInfo<'static> = ChunkInfo {
        document_id: "d",
        index: 0,
        count: 1,
        timestamp: "2026-01-01T00:00:00Z",
    };

    #[test]
    fn reserved_keys_are_refused_by_name() {
        for key in RESERVED_KEYS {
            let err = validate_user_metadata(&obj(json!({ key: "x" })).into()).unwrap_err();
            assert_eq!(err.to_string(), format!("metadata key `{key}` is reserved"));
        }
    }

    #[test]
    fn value_types() {
        let ok = obj(json!({"s": "x", "n": 1.5, "b": true, "l": ["a", "b"]}));
        assert!(validate_user_metadata(&ok.into()).is_ok());
        for bad in [
            json!({"o": {}}),
            json!({"z": null}),
            json!({"l": [1]}),
            json!({"l": []}),
        ] {
            assert!(matches!(
                validate_user_metadata(&obj(bad.clone()).into()),
                Err(MetadataError::BadValue { .. })
            ));
            let parsed: Metadata = serde_json::from_value(bad).unwrap();
            assert!(matches!(
                validate_user_metadata(&parsed),
                Err(MetadataError::BadValue { .. })
            ));
        }
    }

    #[test]
    fn limits_are_reported_with_the_numbers_sent() {
        let body = format!(
            "{{{}}}",
            (0..1000)
                .map(|i| format!("\"k{i}\":1"))
                .collect::<Vec<_>>()
                .join(",")
        );
        let many: Metadata = serde_json::from_str(&body).unwrap();
        assert_eq!(
            validate_user_metadata(&many),
            Err(MetadataError::TooManyKeys(1007))
        );
        let big: Metadata =
            serde_json::from_str(&format!(r#"{{"a":"{}"}}"#, "x".repeat(50_000))).unwrap();
        assert_eq!(
            validate_user_metadata(&big),
            Err(MetadataError::TotalTooLarge(50_005))
        );
    }

    #[test]
    fn key_count_limit_counts_reserved_keys() {
        let mut user = Map::new();
        for i in 0..43 {
            user.insert(format!("k{i}"), json!(1));
        }
        assert!(check_limits(&build("t", INFO, Some(&user))).is_ok());
        user.insert("k43".into(), json!(1));
        assert_eq!(
            check_limits(&build("t", INFO, Some(&user))),
            Err(MetadataError::TooManyKeys(51))
        );
    }

    #[test]
    fn long_text_is_not_filterable_but_counts_to_the_total() {
        let text = "a".repeat(30 * 1024);
        assert!(check_limits(&build(&text, INFO, None)).is_ok());
        let text = "a".repeat(41 * 1024);
        let err = check_limits(&build(&text, INFO, None)).unwrap_err();
        assert!(matches!(err, MetadataError::TotalTooLarge(_)) && err.is_size_limit());
    }

    #[test]
    fn filterable_limit() {
        let user = obj(json!({"note": "x".repeat(1800)}));
        assert!(check_limits(&build("t", INFO, Some(&user))).is_ok());
        let user = obj(json!({"note": "x".repeat(2000)}));
        assert!(matches!(
            check_limits(&build("t", INFO, Some(&user))),
            Err(MetadataError::FilterableTooLarge(n)) if n > 2048
        ));
    }

    #[test]
    fn stored_metadata_has_chunk_info_then_user_keys() {
        let m = build("hello", INFO, Some(&obj(json!({"ticker": "TSLA"}))));
        assert_eq!(m["text"], "hello");
        assert_eq!(m["document_id"], "d");
        assert_eq!(m["chunk_count"], 1);
        assert_eq!(m["ticker"], "TSLA");
        assert_eq!(m["embedding"], EMBEDDING_MARKER);
        assert_eq!(m["content_hash"], content_hash("hello"));
    }

    #[test]
    fn content_hash_depends_on_text_only_and_comparison_ignores_timestamps() {
        assert_eq!(content_hash("a b"), content_hash("a b"));
        assert_ne!(content_hash("a b"), content_hash("a  b"));
        assert_eq!(content_hash("x").len(), 32);
        let a = build("t", INFO, Some(&obj(json!({"n": 2, "l": ["x"]}))));
        let mut b = build(
            "t",
            ChunkInfo {
                timestamp: "2027-01-01T00:00:00Z",
                ..INFO
            },
            Some(&obj(json!({"n": 2.0, "l": ["x"]}))),
        );
        assert!(same_apart_from_timestamp(&a, &b));
        b.insert("chunk_count".into(), json!(2));
        assert!(!same_apart_from_timestamp(&a, &b));
    }
}
