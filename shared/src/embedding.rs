//! Decoding the embedding endpoint's answer into one sentence vector per input.
//!
//! The HuggingFace feature-extraction pipeline answers token-level hidden states
//! (`[1][T][d]` for one input, `[N][1][T][d]` for a list); other containers of the same
//! family answer pooled vectors (`[d]`, `[[d]…]`, `{"embeddings": [[d]…]}`). Token-level
//! output is mean-pooled over tokens, then every vector is L2-normalised (the model card's
//! sentence embedding). The body is decoded in one streaming pass into a flat `Vec<f32>`
//! plus the element counts of each nesting level, so a large answer costs 4 bytes a float.

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;
use std::ops::Range;

/// Why an endpoint answer could not be turned into embeddings.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EmbeddingError {
    /// Not JSON, or not nested arrays of numbers.
    #[error("embedding endpoint returned malformed output: {0}")]
    Malformed(String),
    /// Nested arrays, but not one of the known shapes.
    #[error("embedding endpoint returned an unsupported shape: {0}")]
    Shape(String),
    /// Vectors of the wrong dimension.
    #[error(
        "embedding endpoint returned {got}-dimensional vectors, but the index expects {expected}"
    )]
    Dimension {
        /// The index's dimension.
        expected: usize,
        /// What the endpoint returned.
        got: usize,
    },
    /// A different number of embeddings than inputs.
    #[error("embedding endpoint returned {got} embeddings for {expected} inputs")]
    Count {
        /// Inputs sent.
        expected: usize,
        /// Embeddings received.
        got: usize,
    },
    /// NaN, infinite, or an all-zero vector.
    #[error("embedding endpoint returned a non-finite or zero vector")]
    Degenerate,
}

/// The decoded body: flat numbers plus, per nesting level, the length of every list at that
/// level in left-to-right order.
#[derive(Debug, Default)]
struct Ragged {
    data: Vec<f32>,
    levels: Vec<Vec<usize>>,
    leaf_depth: Option<usize>,
    error: Option<String>,
}

impl Ragged {
    fn shape_string(&self) -> String {
        self.levels
            .iter()
            .map(|counts| match (counts.iter().min(), counts.iter().max()) {
                (Some(lo), Some(hi)) if lo == hi => format!("[{lo}]"),
                (Some(lo), Some(hi)) => format!("[{lo}..{hi}]"),
                _ => "[]".to_string(),
            })
            .collect()
    }
}

enum Elem {
    Number,
    List,
}

struct ElemSeed<'a> {
    state: &'a mut Ragged,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for ElemSeed<'_> {
    type Value = Elem;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Elem, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ElemSeed<'_> {
    type Value = Elem;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number or an array")
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Elem, E> {
        self.state.data.push(v as f32);
        Ok(Elem::Number)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Elem, E> {
        self.visit_f64(v as f64)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Elem, E> {
        self.visit_f64(v as f64)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Elem, A::Error> {
        let depth = self.depth;
        let mut count = 0usize;
        let mut numbers = 0usize;
        while let Some(kind) = seq.next_element_seed(ElemSeed {
            state: self.state,
            depth: depth + 1,
        })? {
            count += 1;
            if let Elem::Number = kind {
                numbers += 1;
            }
        }
        if numbers != 0 && numbers != count {
            return Err(de::Error::custom("an array mixes numbers and arrays"));
        }
        if numbers > 0 {
            match self.state.leaf_depth {
                None => self.state.leaf_depth = Some(depth),
                Some(d) if d == depth => {}
                Some(_) => return Err(de::Error::custom("arrays of numbers at different depths")),
            }
        }
        if self.state.levels.len() <= depth {
            self.state.levels.resize_with(depth + 1, Vec::new);
        }
        self.state.levels[depth].push(count);
        Ok(Elem::List)
    }
    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Elem, M::Error> {
        if self.depth != 0 {
            return Err(de::Error::custom("an object inside the arrays"));
        }
        let mut found = false;
        while let Some(key) = map.next_key::<String>()? {
            if key == "embeddings" && !found {
                found = true;
                map.next_value_seed(ElemSeed {
                    state: self.state,
                    depth: 0,
                })?;
            } else {
                map.next_value::<de::IgnoredAny>()?;
            }
        }
        if !found {
            self.state.error = Some("an object without `embeddings`".into());
        } else if !matches!(self.state.levels.len(), 1 | 2) {
            self.state.error = Some(format!(
                "`embeddings` must be a list of vectors, got {}",
                self.state.shape_string()
            ));
        }
        Ok(Elem::List)
    }
}

/// The fast path for the common answer, nested arrays of plain numbers (`[[[0.1, -2e-05, …]]]`):
/// one pass over the bytes, numbers parsed with `fast-float2` (as f64, then narrowed, as the
/// serde path does). Anything else — an object, a string, `NaN`, a number out of range,
/// malformed JSON — returns `None`, and the serde path decodes the body and names the problem.
/// At 128 MB's CPU share this is most of a tiny ingest's CPU (a 45-token answer is ~350 KB).
fn scan_arrays(body: &[u8]) -> Option<Ragged> {
    let mut state = Ragged::default();
    // Per open list: (element count, whether its elements are numbers (Some(true)), lists
    // (Some(false)) or not known yet (None)).
    let mut open: Vec<(usize, Option<bool>)> = Vec::new();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < body.len() && matches!(body[*i], b' ' | b'\n' | b'\r' | b'\t') {
            *i += 1;
        }
    };
    skip_ws(&mut i);
    if body.get(i) != Some(&b'[') {
        return None;
    }
    loop {
        skip_ws(&mut i);
        let depth = open.len();
        match *body.get(i)? {
            b'[' => {
                if let Some((count, kind)) = open.last_mut() {
                    if *kind == Some(true) {
                        return None;
                    }
                    *kind = Some(false);
                    *count += 1;
                }
                open.push((0, None));
                i += 1;
                // An element or `]` follows: the next round reads it.
                continue;
            }
            b']' => {
                let (count, kind) = open.pop()?;
                let level = depth - 1;
                if kind == Some(true) {
                    match state.leaf_depth {
                        None => state.leaf_depth = Some(level),
                        Some(d) if d == level => {}
                        Some(_) => return None,
                    }
                }
                if state.levels.len() <= level {
                    state.levels.resize_with(level + 1, Vec::new);
                }
                state.levels[level].push(count);
                i += 1;
                if open.is_empty() {
                    skip_ws(&mut i);
                    return (i == body.len()).then_some(state);
                }
            }
            b'-' | b'0'..=b'9' => {
                let (count, kind) = open.last_mut()?;
                if *kind == Some(false) {
                    return None;
                }
                *kind = Some(true);
                *count += 1;
                let (v, used) = fast_float2::parse_partial::<f64, _>(&body[i..]).ok()?;
                if !v.is_finite() || used == 0 {
                    return None;
                }
                state.data.push(v as f32);
                i += used;
            }
            _ => return None,
        }
        // After an element or a closed list: a comma (then an element) or a closing bracket.
        skip_ws(&mut i);
        match body.get(i) {
            Some(b',') => {
                i += 1;
                skip_ws(&mut i);
                if !matches!(body.get(i), Some(b'[' | b'-' | b'0'..=b'9')) {
                    return None;
                }
            }
            Some(b']') => {}
            _ => return None,
        }
    }
}

/// Bytes a token-level answer spends per number: the toolkit writes float32s through Python
/// floats (`json.dumps`), ~21.4 bytes each with the separator, measured on MiniLM answers;
/// 23 leaves margin for longer exponents.
pub const ANSWER_BYTES_PER_NUMBER: usize = 23;

/// An upper estimate of the answer's size for inputs of `tokens` tokens each (special tokens
/// included): token-level answers hold a vector per token, pooled answers one per input.
pub fn estimated_answer_bytes(tokens: &[usize], dim: usize, token_level: bool) -> usize {
    let per_vector = dim * ANSWER_BYTES_PER_NUMBER + 4;
    let vectors: usize = if token_level {
        tokens.iter().sum()
    } else {
        tokens.len()
    };
    vectors * per_vector + tokens.len() * 8 + 32
}

/// Plans consecutive batches of inputs with these token counts (special tokens included) and
/// UTF-8 sizes, each estimated under 90% of `max_payload` both ways and at most `max_inputs`.
pub fn plan_batches(
    tokens: &[usize],
    bytes: &[usize],
    dim: usize,
    max_payload: usize,
    token_level: bool,
    max_inputs: usize,
) -> Vec<Range<usize>> {
    let limit = max_payload / 10 * 9;
    let mut batches = Vec::new();
    let mut start = 0;
    while start < tokens.len() {
        let mut end = start + 1;
        while end < tokens.len() && end - start < max_inputs.max(1) {
            let answer = estimated_answer_bytes(&tokens[start..=end], dim, token_level);
            // JSON escaping can at most double ASCII control-free text; \u escapes are rarer.
            let request: usize = bytes[start..=end].iter().map(|b| b * 2 + 4).sum::<usize>() + 64;
            if answer > limit || request > limit {
                break;
            }
            end += 1;
        }
        batches.push(start..end);
        start = end;
    }
    batches
}

/// A decoded answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// One L2-normalised vector per input, in order.
    pub vectors: Vec<Vec<f32>>,
    /// Whether the endpoint answered token-level states (feature-extraction) rather than
    /// pooled vectors (TEI).
    pub token_level: bool,
}

/// Decodes `body` into `expected_count` L2-normalised vectors of dimension `dim`.
pub fn decode_embeddings(
    body: &[u8],
    expected_count: usize,
    dim: usize,
) -> Result<Vec<Vec<f32>>, EmbeddingError> {
    decode_answer(body, expected_count, dim).map(|d| d.vectors)
}

/// [`decode_embeddings`], also telling whether the answer was token-level.
pub fn decode_answer(
    body: &[u8],
    expected_count: usize,
    dim: usize,
) -> Result<Decoded, EmbeddingError> {
    let mut state = match scan_arrays(body) {
        Some(state) => state,
        None => decode_with_serde(body)?,
    };
    if let Some(msg) = state.error.take() {
        return Err(EmbeddingError::Shape(msg));
    }
    let depth = state.levels.len();
    if state.leaf_depth != Some(depth.wrapping_sub(1)) {
        return Err(EmbeddingError::Shape(format!(
            "{} holds no numbers",
            state.shape_string()
        )));
    }
    let vector_lens = &state.levels[depth - 1];
    if let Some(&got) = vector_lens.iter().find(|&&n| n != dim) {
        return Err(EmbeddingError::Dimension { expected: dim, got });
    }
    // How many token vectors make up each input's embedding.
    let tokens_per_item: Vec<usize> = match depth {
        1 => vec![1],
        2 => vec![1; vector_lens.len()],
        3 => state.levels[1].clone(),
        4 => {
            if state.levels[1].iter().any(|&b| b != 1) {
                return Err(EmbeddingError::Shape(format!(
                    "{}: expected [N][1][tokens][{dim}]",
                    state.shape_string()
                )));
            }
            state.levels[2].clone()
        }
        _ => return Err(EmbeddingError::Shape(state.shape_string())),
    };
    if tokens_per_item.len() != expected_count {
        return Err(EmbeddingError::Count {
            expected: expected_count,
            got: tokens_per_item.len(),
        });
    }
    let mut out = Vec::with_capacity(expected_count);
    let mut offset = 0;
    for tokens in tokens_per_item {
        if tokens == 0 {
            return Err(EmbeddingError::Shape(format!(
                "{}: an input with no tokens",
                state.shape_string()
            )));
        }
        let end = offset + tokens * dim;
        let pooled = mean_pool(&state.data[offset..end], dim);
        out.push(l2_normalize(pooled).ok_or(EmbeddingError::Degenerate)?);
        offset = end;
    }
    Ok(Decoded {
        vectors: out,
        token_level: depth >= 3,
    })
}

/// The general decoder: any JSON, with serde_json's account of what is wrong with it.
fn decode_with_serde(body: &[u8]) -> Result<Ragged, EmbeddingError> {
    let mut state = Ragged::default();
    let mut de = serde_json::Deserializer::from_slice(body);
    ElemSeed {
        state: &mut state,
        depth: 0,
    }
    .deserialize(&mut de)
    .map_err(|e| EmbeddingError::Malformed(e.to_string()))?;
    de.end()
        .map_err(|e| EmbeddingError::Malformed(e.to_string()))?;
    Ok(state)
}

/// The mean of consecutive `dim`-long token vectors in `tokens`.
pub fn mean_pool(tokens: &[f32], dim: usize) -> Vec<f32> {
    let mut sum = vec![0f64; dim];
    let count = tokens.len() / dim.max(1);
    for token in tokens.chunks_exact(dim) {
        for (s, &v) in sum.iter_mut().zip(token) {
            *s += f64::from(v);
        }
    }
    sum.into_iter()
        .map(|s| (s / count.max(1) as f64) as f32)
        .collect()
}

/// `v / |v|`, or `None` when `v` is zero or not finite.
pub fn l2_normalize(mut v: Vec<f32>) -> Option<Vec<f32>> {
    let norm = v
        .iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        .sqrt();
    if !norm.is_finite() || norm == 0.0 {
        return None;
    }
    for x in &mut v {
        *x = (f64::from(*x) / norm) as f32;
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_fit_the_serverless_answer_limit() {
        let cap = 4 * 1024 * 1024;
        // 256-token chunks answer ~2.3 MB each: one per call.
        let b = plan_batches(&[256; 5], &[1000; 5], 384, cap, true, 32);
        assert_eq!(b, vec![0..1, 1..2, 2..3, 3..4, 4..5]);
        // ~148-token prose chunks: two per call (three would answer ~3.7 MB > 90% of 4 MiB).
        let b = plan_batches(&[148; 4], &[900; 4], 384, cap, true, 32);
        assert_eq!(b, vec![0..2, 2..4]);
        // Pooled answers: limited by the input count only.
        let b = plan_batches(&[256; 70], &[1000; 70], 384, cap, false, 32);
        assert_eq!(b, vec![0..32, 32..64, 64..70]);
        // A single input over the estimate still gets its own call.
        assert_eq!(
            plan_batches(&[512], &[3000], 384, cap, true, 32),
            vec![0..1]
        );
        assert!(plan_batches(&[], &[], 384, cap, true, 32).is_empty());
    }

    fn close(a: &[f32], b: &[f32]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6)
    }

    #[test]
    fn token_level_single_input_is_mean_pooled_then_normalised() {
        // Tokens (1,2) and (3,4): mean (2,3), norm sqrt(13).
        let v = decode_embeddings(b"[[[1,2],[3,4]]]", 1, 2).unwrap();
        let n = 13f32.sqrt();
        assert!(close(&v[0], &[2.0 / n, 3.0 / n]));
    }

    #[test]
    fn token_level_batch_with_different_token_counts() {
        // [2][1][T_i][2]: first input one token (3,4) -> (0.6,0.8); second (0,2),(0,4) -> (0,1).
        let body = b"[[[[3,4]]],[[[0,2],[0,4]]]]";
        let v = decode_embeddings(body, 2, 2).unwrap();
        assert!(close(&v[0], &[0.6, 0.8]));
        assert!(close(&v[1], &[0.0, 1.0]));
    }

    #[test]
    fn token_zero_is_not_the_embedding() {
        let v = decode_embeddings(b"[[[1,0],[0,1]]]", 1, 2).unwrap();
        let h = 0.5f32.sqrt();
        assert!(close(&v[0], &[h, h]));
    }

    #[test]
    fn pooled_shapes_are_normalised() {
        assert!(close(
            &decode_embeddings(b"[3,4]", 1, 2).unwrap()[0],
            &[0.6, 0.8]
        ));
        assert!(close(
            &decode_embeddings(b"[[3,4]]", 1, 2).unwrap()[0],
            &[0.6, 0.8]
        ));
        let v = decode_embeddings(br#"{"embeddings":[[3,4],[0,5]]}"#, 2, 2).unwrap();
        assert!(close(&v[1], &[0.0, 1.0]));
        // The toolkit's sentence-embeddings answer for a single string input.
        let d = decode_answer(br#"{"embeddings":[3,4]}"#, 1, 2).unwrap();
        assert!(close(&d.vectors[0], &[0.6, 0.8]) && !d.token_level);
        assert!(decode_answer(b"[[[1,2]]]", 1, 2).unwrap().token_level);
        let v = decode_embeddings(b"[[6,8],[0,-2]]", 2, 2).unwrap();
        assert!(close(&v[0], &[0.6, 0.8]) && close(&v[1], &[0.0, -1.0]));
    }

    #[test]
    fn wrong_dimension_is_named() {
        let err = decode_embeddings(b"[[[1,2,3]]]", 1, 2).unwrap_err();
        assert_eq!(
            err,
            EmbeddingError::Dimension {
                expected: 2,
                got: 3
            }
        );
        assert!(err.to_string().contains("3-dimensional"));
    }

    #[test]
    fn wrong_count_and_bad_shapes_are_errors() {
        assert!(matches!(
            decode_embeddings(b"[[1,2],[3,4]]", 3, 2),
            Err(EmbeddingError::Count {
                expected: 3,
                got: 2
            })
        ));
        for bad in [
            &b"{}"[..],
            b"\"x\"",
            b"[]",
            b"[[]]",
            b"[1,[2]]",
            b"[[[[[1,2]]]]]",
            b"[[[[1,2]],[[1,2]]]]",
            b"[[1,2],[[1,2]]]",
            b"{\"embeddings\": [[[1,2]]]}",
            b"[[[1,2]]] trailing",
            b"[\"a\",\"b\"]",
            b"5",
            b"null",
        ] {
            assert!(
                decode_embeddings(bad, 1, 2).is_err(),
                "accepted {}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn zero_vectors_are_degenerate() {
        assert_eq!(
            decode_embeddings(b"[[0,0]]", 1, 2),
            Err(EmbeddingError::Degenerate)
        );
    }

    #[test]
    fn answer_estimates_bound_real_answers() {
        // Measured on the local endpoint (toolkit float formatting): 148 tokens, 1,218,804 B;
        // 512 tokens, 4,187,568 B.
        assert!(estimated_answer_bytes(&[148], 384, true) >= 1_218_804);
        assert!(estimated_answer_bytes(&[512], 384, true) >= 4_187_568);
        assert!(estimated_answer_bytes(&[148], 384, true) < 1_218_804 * 11 / 10);
        assert!(estimated_answer_bytes(&[256; 100], 384, false) < 1_000_000);
    }

    #[test]
    fn fast_and_serde_paths_agree_on_real_and_odd_answers() {
        let cases: &[&str] = &[
            "[[[0.1, -2e-05, 3]]]",
            " [ [ [1.5,2.5] , [3.5 ,4.5] ] ] \n",
            "[[]]",
            "[]",
            "[[1,[2]]]",
            "[[1],[[2]]]",
            "[[1,]]",
            "[[1 2]]",
            "[[NaN]]",
            "[[-Infinity]]",
            "[[1e999]]",
            "[[1.5e]]",
            "[[1]] x",
            "[[1]",
            "{\"embeddings\": [[1]]}",
            "[[\"1\"]]",
            "[[-]]",
            "[[1.0e+2, -0.0, 0]]",
        ];
        for case in cases {
            let fast = scan_arrays(case.as_bytes());
            let serde = decode_with_serde(case.as_bytes());
            match (fast, serde) {
                (Some(f), Ok(s)) => {
                    assert_eq!(f.data, s.data, "{case}");
                    assert_eq!(f.levels, s.levels, "{case}");
                    assert_eq!(f.leaf_depth, s.leaf_depth, "{case}");
                }
                // The fast path may give up on what serde accepts (it then decodes), never
                // accept what serde refuses.
                (None, _) => {}
                (Some(f), Err(e)) => panic!("{case}: fast path accepted {f:?}, serde said {e}"),
            }
        }
        assert!(scan_arrays(b"[[[0.1, -2e-05, 3]]]").is_some());
    }

    proptest::proptest! {
        #[test]
        fn fast_and_serde_paths_agree_on_nested_numbers(
            shape in proptest::collection::vec(proptest::collection::vec(
                proptest::collection::vec(proptest::num::f32::NORMAL | proptest::num::f32::ZERO, 0..5), 0..4), 0..4),
            spaces in proptest::bool::ANY,
        ) {
            let sep = if spaces { ", " } else { "," };
            let body = format!("[{}]", shape.iter().map(|a| format!("[{}]", a.iter().map(|b| format!("[{}]",
                b.iter().map(|x| format!("{}", f64::from(*x))).collect::<Vec<_>>().join(sep))).collect::<Vec<_>>().join(sep)))
                .collect::<Vec<_>>().join(sep));
            let fast = scan_arrays(body.as_bytes()).expect("plain nested numbers take the fast path");
            let serde = decode_with_serde(body.as_bytes()).unwrap();
            proptest::prop_assert_eq!(fast.data, serde.data);
            proptest::prop_assert_eq!(fast.levels, serde.levels);
            proptest::prop_assert_eq!(fast.leaf_depth, serde.leaf_depth);
        }
    }

    #[test]
    fn mean_pool_by_hand() {
        assert_eq!(
            mean_pool(&[1.0, 2.0, 3.0, 6.0, 5.0, 10.0], 2),
            vec![3.0, 6.0]
        );
    }
}
