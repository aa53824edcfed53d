//! Splitting long documents into overlapping chunks sized for all-MiniLM-L6-v2.
//!
//! The model was trained on at most 256 word pieces, so a chunk is capped in characters
//! (about 4 characters a word piece for English prose; the endpoint truncates anything that
//! still runs over). Chunks end on paragraph or sentence boundaries where possible, else on
//! whitespace, else inside a word; consecutive chunks share whole trailing sentences of up to
//! `overlap_chars` so that a fact cut by a boundary is still found.

/// Chunk size settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkConfig {
    /// Longest chunk, in characters.
    pub max_chars: usize,
    /// Most characters repeated from the end of one chunk at the start of the next.
    pub overlap_chars: usize,
}

impl Default for ChunkConfig {
    fn default() -> Self {
        Self {
            max_chars: 900,
            overlap_chars: 150,
        }
    }
}

/// Splits `text` into pieces that each end after a sentence end or a newline (whitespace kept).
fn sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let next_is_space = chars.peek().is_some_and(|&(_, n)| n.is_whitespace());
        let boundary = c == '\n' || (matches!(c, '.' | '!' | '?' | '。') && next_is_space);
        if boundary {
            // Keep the following whitespace with this sentence.
            let mut end = i + c.len_utf8();
            while let Some(&(j, n)) = chars.peek() {
                if !n.is_whitespace() {
                    break;
                }
                end = j + n.len_utf8();
                chars.next();
            }
            out.push(&text[start..end]);
            start = end;
        }
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

/// Splits a piece longer than `max` characters at whitespace, and words longer than `max`
/// at character boundaries.
fn split_long(piece: &str, max: usize, out: &mut Vec<String>) {
    if piece.chars().count() <= max {
        out.push(piece.to_string());
        return;
    }
    let mut current = String::new();
    let mut current_len = 0;
    for word in piece.split_inclusive(char::is_whitespace) {
        let len = word.chars().count();
        if current_len + len > max && !current.is_empty() {
            out.push(std::mem::take(&mut current));
            current_len = 0;
        }
        if len > max {
            let chars: Vec<char> = word.chars().collect();
            for part in chars.chunks(max) {
                out.push(part.iter().collect());
            }
            continue;
        }
        current.push_str(word);
        current_len += len;
    }
    if !current.is_empty() {
        out.push(current);
    }
}

/// Chunks `text`; empty or whitespace-only text gives no chunks.
pub fn chunk_text(text: &str, cfg: ChunkConfig) -> Vec<String> {
    let max = cfg.max_chars.max(1);
    let overlap = cfg.overlap_chars.min(max / 2);
    let mut units = Vec::new();
    for s in sentences(text) {
        split_long(s, max, &mut units);
    }
    let mut chunks = Vec::new();
    let mut current: Vec<(&str, usize)> = Vec::new();
    let mut current_len = 0;
    for unit in &units {
        let len = unit.chars().count();
        if current_len + len > max && !current.is_empty() {
            push_chunk(&current, &mut chunks);
            // Carry whole trailing units (never all of them) into the next chunk.
            let mut keep = 0;
            let mut kept_len = 0;
            for &(_, l) in current.iter().skip(1).rev() {
                if kept_len + l > overlap || kept_len + l + len > max {
                    break;
                }
                keep += 1;
                kept_len += l;
            }
            current.drain(..current.len() - keep);
            current_len = kept_len;
        }
        current.push((unit, len));
        current_len += len;
    }
    push_chunk(&current, &mut chunks);
    chunks
}

fn push_chunk(units: &[(&str, usize)], chunks: &mut Vec<String>) {
    let joined: String = units.iter().map(|(u, _)| *u).collect();
    let trimmed = joined.trim();
    if !trimmed.is_empty() {
        chunks.push(trimmed.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SMALL: ChunkConfig = ChunkConfig {
        max_chars: 40,
        overlap_chars: 20,
    };

    #[test]
    fn empty_and_whitespace_give_no_chunks() {
        assert!(chunk_text("", SMALL).is_empty());
        assert!(chunk_text("  \n\t \n ", SMALL).is_empty());
    }

    #[test]
    fn short_text_is_one_trimmed_chunk() {
        assert_eq!(chunk_text("  Hello world.  ", SMALL), vec!["Hello world."]);
    }

    #[test]
    fn splits_on_sentence_boundaries_with_overlap() {
        let text = "One two three. Four five six. Seven eight nine. Ten eleven.";
        let chunks = chunk_text(text, SMALL);
        assert_eq!(
            chunks,
            vec![
                "One two three. Four five six.",
                "Four five six. Seven eight nine.",
                "Seven eight nine. Ten eleven."
            ]
        );
    }

    #[test]
    fn paragraphs_are_boundaries() {
        let text = "Alpha beta gamma delta\n\nEpsilon zeta eta theta iota";
        let chunks = chunk_text(text, SMALL);
        assert_eq!(chunks[0], "Alpha beta gamma delta");
        assert!(chunks[1].starts_with("Epsilon"));
    }

    #[test]
    fn long_words_are_cut_at_char_boundaries() {
        let word = "é".repeat(100);
        let chunks = chunk_text(&word, SMALL);
        assert_eq!(chunks.len(), 3);
        assert!(chunks.iter().all(|c| c.chars().count() <= 40));
        assert_eq!(chunks.concat(), word);
    }

    #[test]
    fn unicode_sentences() {
        let text = "日本語の文です。次の文です。 Ünïcödé ñ ok. Ωmega!";
        let chunks = chunk_text(text, SMALL);
        assert!(chunks.iter().all(|c| c.chars().count() <= 40));
        assert!(chunks.iter().any(|c| c.contains("Ωmega!")));
    }

    proptest! {
        #[test]
        fn every_chunk_fits_and_every_word_is_kept(text in "[a-zé .!\n]{0,400}", max in 5usize..80) {
            let cfg = ChunkConfig { max_chars: max, overlap_chars: max / 3 };
            let chunks = chunk_text(&text, cfg);
            for c in &chunks {
                prop_assert!(c.chars().count() <= max);
                prop_assert!(!c.trim().is_empty());
            }
            let all: String = chunks.join(" ");
            for word in text.split_whitespace() {
                if word.chars().count() <= max {
                    prop_assert!(all.contains(word), "lost {:?}", word);
                }
            }
        }
    }
}
