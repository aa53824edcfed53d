//! Request parsing that never builds more than the limits allow.
//!
//! A 6 MB body can hold half a million metadata keys, a list of a million strings or thousands
//! of documents. Parsed into a `serde_json::Value` first, such a body takes the 128 MB function
//! past its memory. The types here deserialize straight from the body instead: user metadata
//! keeps at most [`MAX_USER_METADATA_KEYS`] entries and [`MAX_TOTAL_METADATA_BYTES`] bytes and
//! only counts the rest, values of the wrong shape are skipped without being built, and a
//! batch keeps at most [`MAX_BATCH_DOCUMENTS`] documents. What was counted but not kept is
//! reported by validation afterwards with the real numbers (`metadata has 500007 keys…`).

use crate::api::DocumentInput;
use crate::limits::{MAX_BATCH_DOCUMENTS, MAX_METADATA_KEYS, MAX_TOTAL_METADATA_BYTES};
use crate::metadata::{RESERVED_KEYS, json_str_len};
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};
use std::fmt;

/// User metadata keys a vector can carry next to the function's own.
pub const MAX_USER_METADATA_KEYS: usize = MAX_METADATA_KEYS - RESERVED_KEYS.len();

/// Why a metadata value cannot be stored.
pub const BAD_VALUE: &str = "values must be a string, number, boolean or non-empty list of strings";

/// A document's user metadata: the entries kept, and how much the request really held.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metadata {
    entries: Map<String, Value>,
    keys: usize,
    bytes: usize,
    bad_key: Option<String>,
}

impl Metadata {
    /// Keys in the request (kept or not).
    pub fn keys_seen(&self) -> usize {
        self.keys
    }

    /// Bytes of keys and values in the request (kept or not).
    pub fn bytes_seen(&self) -> usize {
        self.bytes
    }

    /// The first key whose value has a shape S3 Vectors cannot store (its value was skipped).
    pub fn bad_key(&self) -> Option<&str> {
        self.bad_key.as_deref()
    }
}

impl std::ops::Deref for Metadata {
    type Target = Map<String, Value>;
    fn deref(&self) -> &Map<String, Value> {
        &self.entries
    }
}

impl From<Map<String, Value>> for Metadata {
    fn from(entries: Map<String, Value>) -> Self {
        let bytes = entries
            .iter()
            .map(|(k, v)| json_str_len(k) + value_bytes(v))
            .sum();
        Self {
            keys: entries.len(),
            bytes,
            entries,
            bad_key: None,
        }
    }
}

impl Serialize for Metadata {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.entries.serialize(s)
    }
}

/// A value's bytes as stored: its compact JSON encoding (quotes, escapes, brackets, commas).
fn value_bytes(v: &Value) -> usize {
    serde_json::to_vec(v).map_or(usize::MAX, |b| b.len())
}

/// The bytes of a list whose `count` elements take `items` bytes: brackets and commas too.
fn list_bytes(count: usize, items: usize) -> usize {
    2 + items + count.saturating_sub(1)
}

/// One metadata value as read: kept, too large to keep, or of the wrong shape.
enum Field {
    Keep(Value),
    Drop,
    Bad,
}

/// A metadata value and its size in bytes.
struct Read(Field, usize);

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Read;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a metadata value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Read, E> {
        Ok(Read(Field::Keep(Value::Bool(v)), 4))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Read, E> {
        Ok(Read(Field::Keep(Value::from(v)), 8))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Read, E> {
        Ok(Read(Field::Keep(Value::from(v)), 8))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Read, E> {
        Ok(Read(
            serde_json::Number::from_f64(v).map_or(Field::Bad, |n| Field::Keep(Value::Number(n))),
            8,
        ))
    }
    fn visit_str<E>(self, v: &str) -> Result<Read, E> {
        let bytes = json_str_len(v);
        Ok(if bytes > MAX_TOTAL_METADATA_BYTES {
            Read(Field::Drop, bytes)
        } else {
            Read(Field::Keep(Value::from(v)), bytes)
        })
    }
    fn visit_unit<E>(self) -> Result<Read, E> {
        Ok(Read(Field::Bad, 4))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Read, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Read(Field::Bad, 0))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Read, A::Error> {
        let mut items = Vec::new();
        let (mut count, mut bytes) = (0, 0);
        let mut bad = false;
        // Every element counts its encoded bytes (an empty string is `""` and a comma), so a
        // list of a million empty strings is over the limit and stops being kept.
        while let Some(Read(item, n)) = seq.next_element_seed(ListItem)? {
            count += 1;
            bytes += n;
            match item {
                Field::Keep(v) if list_bytes(count, bytes) <= MAX_TOTAL_METADATA_BYTES => {
                    items.push(v);
                }
                Field::Bad => bad = true,
                _ => {}
            }
        }
        let bytes = list_bytes(count, bytes);
        let field = if bad || count == 0 {
            Field::Bad
        } else if bytes <= MAX_TOTAL_METADATA_BYTES {
            Field::Keep(Value::Array(items))
        } else {
            Field::Drop
        };
        Ok(Read(field, bytes))
    }
}

/// An element of a list value: strings only.
struct ListItem;

impl<'de> de::DeserializeSeed<'de> for ListItem {
    type Value = Read;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Read, D::Error> {
        d.deserialize_any(ListItemVisitor)
    }
}

struct ListItemVisitor;

impl<'de> Visitor<'de> for ListItemVisitor {
    type Value = Read;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Read, E> {
        ValueVisitor.visit_str(v)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Read, E> {
        Ok(Read(Field::Bad, 4))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Read, E> {
        Ok(Read(Field::Bad, 8))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Read, E> {
        Ok(Read(Field::Bad, 8))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Read, E> {
        Ok(Read(Field::Bad, 8))
    }
    fn visit_unit<E>(self) -> Result<Read, E> {
        Ok(Read(Field::Bad, 4))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Read, A::Error> {
        ValueVisitor
            .visit_map(map)
            .map(|Read(_, n)| Read(Field::Bad, n))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Read, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Read(Field::Bad, 0))
    }
}

impl<'de> Deserialize<'de> for Read {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

impl<'de> Deserialize<'de> for Metadata {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct MetadataVisitor;
        impl<'de> Visitor<'de> for MetadataVisitor {
            type Value = Metadata;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of metadata")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Metadata, A::Error> {
                let mut m = Metadata::default();
                while let Some(key) = map.next_key::<String>()? {
                    let Read(field, bytes) = map.next_value::<Read>()?;
                    m.keys += 1;
                    m.bytes += json_str_len(&key) + bytes;
                    match field {
                        Field::Keep(v)
                            if m.keys <= MAX_USER_METADATA_KEYS
                                && m.bytes <= MAX_TOTAL_METADATA_BYTES =>
                        {
                            m.entries.insert(key, v);
                        }
                        Field::Bad if m.bad_key.is_none() => m.bad_key = Some(key),
                        _ => {}
                    }
                }
                Ok(m)
            }
        }
        d.deserialize_map(MetadataVisitor)
    }
}

/// A batch's documents: at most [`MAX_BATCH_DOCUMENTS`] kept, all counted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Documents {
    /// The documents kept, in request order.
    pub kept: Vec<DocumentInput>,
    /// Documents in the request.
    pub total: usize,
}

impl<'de> Deserialize<'de> for Documents {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct DocumentsVisitor;
        impl<'de> Visitor<'de> for DocumentsVisitor {
            type Value = Documents;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of {text, metadata?, id?} objects")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Documents, A::Error> {
                let mut docs = Documents::default();
                loop {
                    let i = docs.total;
                    if i < MAX_BATCH_DOCUMENTS {
                        match seq.next_element::<DocumentInput>() {
                            Ok(Some(doc)) => docs.kept.push(doc),
                            Ok(None) => break,
                            Err(e) => {
                                return Err(de::Error::custom(format!("documents[{i}]: {e}")));
                            }
                        }
                    } else if seq.next_element::<IgnoredAny>()?.is_none() {
                        break;
                    }
                    docs.total += 1;
                }
                Ok(docs)
            }
        }
        d.deserialize_seq(DocumentsVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(json: &str) -> Metadata {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn small_metadata_is_kept_as_sent() {
        let m = meta(r#"{"source":"x","year":2024,"ok":true,"tags":["a","b"]}"#);
        assert_eq!(m.len(), 4);
        assert_eq!(m.keys_seen(), 4);
        assert_eq!(m["tags"], serde_json::json!(["a", "b"]));
        assert!(m.bad_key().is_none());
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"source":"x","year":2024,"ok":true,"tags":["a","b"]}"#
        );
    }

    #[test]
    fn keys_beyond_the_limit_are_counted_not_kept() {
        let body = format!(
            "{{{}}}",
            (0..100_000)
                .map(|i| format!("\"k{i}\":1"))
                .collect::<Vec<_>>()
                .join(",")
        );
        let m = meta(&body);
        assert_eq!(m.keys_seen(), 100_000);
        assert_eq!(m.len(), MAX_USER_METADATA_KEYS);
    }

    #[test]
    fn oversized_values_are_measured_not_kept() {
        let big = "x".repeat(MAX_TOTAL_METADATA_BYTES + 1);
        let m = meta(&format!(r#"{{"a":"{big}","b":["{big}"]}}"#));
        assert!(m.is_empty());
        // Each key `"a"` (3 bytes) and its value as encoded: quotes, and brackets for the list.
        assert_eq!(m.bytes_seen(), 2 * (3 + MAX_TOTAL_METADATA_BYTES + 3) + 2);
    }

    #[test]
    fn empty_strings_count_their_encoding() {
        let list = vec![r#""""#; 1_000_000].join(",");
        let m = meta(&format!(r#"{{"a":[{list}]}}"#));
        assert!(m.is_empty(), "a list over the limit is not kept");
        assert_eq!(m.bytes_seen(), 3 + 3_000_001);
        let m = meta(r#"{"a":["","\u0001"]}"#);
        assert_eq!(m.bytes_seen(), 3 + r#"["","\u0001"]"#.len());
    }

    #[test]
    fn wrong_shapes_are_skipped_and_named() {
        for v in [
            r#"{"x":1}"#,
            "null",
            "[]",
            "[1]",
            r#"["a",{"b":1}]"#,
            "[[\"a\"]]",
        ] {
            let m = meta(&format!(r#"{{"ok":"y","bad":{v}}}"#));
            assert_eq!(m.bad_key(), Some("bad"), "{v}");
            assert!(!m.contains_key("bad"), "{v}");
        }
        // Deep nesting is skipped without recursion or allocation, and named.
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let m = meta(&format!(r#"{{"a":{deep}}}"#));
        assert_eq!(m.bad_key(), Some("a"));
    }

    #[test]
    fn a_batch_keeps_at_most_the_limit_and_counts_the_rest() {
        let body = format!(
            "[{}]",
            vec![r#"{"text":"t"}"#; MAX_BATCH_DOCUMENTS + 5].join(",")
        );
        let docs: Documents = serde_json::from_str(&body).unwrap();
        assert_eq!(docs.kept.len(), MAX_BATCH_DOCUMENTS);
        assert_eq!(docs.total, MAX_BATCH_DOCUMENTS + 5);
        let err = serde_json::from_str::<Documents>(r#"[{"text":"a"},{"id":"x"}]"#).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("documents[1]: missing field `text`"),
            "{err}"
        );
    }
}
