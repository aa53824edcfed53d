//! Splitting documents into overlapping chunks sized in the model's own tokens.
//!
//! all-MiniLM-L6-v2 was trained on at most 256 word pieces (sentence-transformers truncates
//! there), and the endpoint's token-level answer costs ~8 KB a token, so a chunk is capped in
//! **word pieces counted by the model's tokenizer** ([`crate::tokenize`]), special tokens
//! included — not in characters, which undercounts CJK text ~4× and overcounts English.
//!
//! The document is tokenized once. Its words (the BERT pre-tokenizer's pieces: runs of
//! letters, single punctuation marks, single CJK ideographs) are the units: a chunk always
//! starts and ends on a word boundary, so the tokens of a chunk's text are exactly the
//! document's tokens inside it, and its stored text is the exact source span (no trimming,
//! no re-joining). Cuts prefer, in order, a paragraph break, a sentence end, whitespace, then
//! any word boundary, within the second half of the window. Consecutive chunks share up to
//! `overlap_tokens` of trailing words, starting on a sentence when one is in reach.
//!
//! A chunk is also capped in bytes (`max_bytes`, for the 40 KB metadata limit): a "word" longer
//! than that (a megabyte without a space is one `[UNK]` token) is cut at character
//! boundaries, and each piece is re-tokenized on its own so its count stays exact.

use crate::tokenize::{self, SPECIAL_TOKENS};

/// Chunk size settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkConfig {
    /// Most tokens per chunk, `[CLS]` and `[SEP]` included (the model's training length: 256).
    pub max_tokens: usize,
    /// Most tokens repeated from the end of one chunk at the start of the next.
    pub overlap_tokens: usize,
    /// Most bytes of text per chunk.
    pub max_bytes: usize,
}

impl Default for ChunkConfig {
    fn default() -> Self {
        Self {
            max_tokens: 256,
            overlap_tokens: 32,
            max_bytes: 8 * 1024,
        }
    }
}

/// The smallest `max_tokens` accepted: a word of at most 100 characters (longer ones are one
/// `[UNK]`) has at most 100 pieces, so every word fits in one chunk.
pub const MIN_MAX_TOKENS: usize = 128;

/// One chunk: an exact span of the document and what the endpoint will count for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk<'a> {
    /// The source text of the span.
    pub text: &'a str,
    /// Byte offset of the span in the document.
    pub start: usize,
    /// Tokens the endpoint counts for `text`, special tokens included.
    pub tokens: usize,
}

/// A unit of chunking: a byte span and its word pieces.
#[derive(Debug, Clone, Copy)]
struct Word {
    start: usize,
    end: usize,
    tokens: usize,
    /// A piece of an over-long word that continues the previous piece: never joined to it,
    /// since the two together would tokenize differently.
    glued: bool,
}

/// How good a cut between two words is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Break {
    None,
    Space,
    Sentence,
    Paragraph,
}

fn words(text: &str, max_bytes: usize) -> Result<Vec<Word>, String> {
    let enc = tokenize::encode(text)?;
    let mut out: Vec<Word> = Vec::new();
    let mut last_id = None;
    for (&(start, end), &word_id) in enc.get_offsets().iter().zip(enc.get_word_ids()) {
        match out.last_mut() {
            Some(w) if word_id.is_some() && word_id == last_id => {
                w.end = w.end.max(end);
                w.tokens += 1;
            }
            _ => out.push(Word {
                start,
                end,
                tokens: 1,
                glued: false,
            }),
        }
        last_id = word_id;
    }
    let mut split = Vec::with_capacity(out.len());
    for w in out {
        if w.end - w.start <= max_bytes {
            split.push(w);
        } else {
            split_word(text, w, max_bytes, &mut split)?;
        }
    }
    Ok(split)
}

/// Cuts an over-long word into pieces of at most `max_bytes` at character boundaries, each
/// counted by tokenizing it alone (what the endpoint will see when it ends or starts a chunk).
fn split_word(text: &str, w: Word, max_bytes: usize, out: &mut Vec<Word>) -> Result<(), String> {
    let mut start = w.start;
    while start < w.end {
        let mut end = (start + max_bytes).min(w.end);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        if end == start {
            // A single character wider than max_bytes (max_bytes < 4): take it whole.
            end = start + text[start..].chars().next().map_or(1, char::len_utf8);
        }
        let tokens = tokenize::encode(&text[start..end])?.len().max(1);
        out.push(Word {
            start,
            end,
            tokens,
            glued: start > w.start,
        });
        start = end;
    }
    Ok(())
}

fn is_sentence_end(word: &str) -> bool {
    matches!(word, "." | "!" | "?" | "。" | "！" | "？" | "…")
}

/// The quality of a cut between `a` and `b` (adjacent words).
fn break_between(text: &str, a: Word, b: Word) -> Break {
    let gap = &text[a.end..b.start];
    if gap.contains("\n\n") || gap.contains("\r\n\r\n") {
        return Break::Paragraph;
    }
    let closes_sentence = is_sentence_end(&text[a.start..a.end]);
    if gap.contains('\n')
        || (closes_sentence && (!gap.is_empty() || !text[a.start..a.end].is_ascii()))
    {
        return Break::Sentence;
    }
    if gap.chars().any(char::is_whitespace) {
        Break::Space
    } else {
        Break::None
    }
}

/// Chunks `text`; text without any word piece (empty, whitespace, control characters) gives
/// no chunks. The error is a tokenizer failure.
pub fn chunk_text(text: &str, cfg: ChunkConfig) -> Result<Vec<Chunk<'_>>, String> {
    let budget = cfg.max_tokens.max(MIN_MAX_TOKENS) - SPECIAL_TOKENS;
    let overlap = cfg.overlap_tokens.min(budget / 2);
    let max_bytes = cfg.max_bytes.max(4);
    let words = words(text, max_bytes)?;
    let n = words.len();
    // prefix[k] = tokens of words[..k].
    let mut prefix = Vec::with_capacity(n + 1);
    prefix.push(0usize);
    for w in &words {
        prefix.push(prefix[prefix.len() - 1] + w.tokens);
    }
    let cut = |k: usize| break_between(text, words[k - 1], words[k]);
    let mut chunks = Vec::new();
    let mut i = 0;
    while i < n {
        // The longest window from word i within the token and byte budgets (at least one word).
        let mut j = i + 1;
        while j < n
            && !words[j].glued
            && prefix[j + 1] - prefix[i] <= budget
            && words[j].end - words[i].start <= max_bytes
        {
            j += 1;
        }
        let end = if j == n {
            n
        } else {
            // The best cut in the second half of the window, latest first.
            let lo = i + 1 + (j - i - 1) / 2;
            let mut best = (Break::None, j);
            for k in (lo.max(i + 1)..=j).rev() {
                let b = cut(k);
                if b > best.0 {
                    best = (b, k);
                }
                if b == Break::Paragraph {
                    break;
                }
            }
            best.1
        };
        let (start, stop) = (words[i].start, words[end - 1].end);
        chunks.push(Chunk {
            text: &text[start..stop],
            start,
            tokens: prefix[end] - prefix[i] + SPECIAL_TOKENS,
        });
        if end == n {
            break;
        }
        i = overlap_start(i, end, overlap, &prefix, &cut);
    }
    Ok(chunks)
}

/// Where the chunk after `words[i..end]` starts: the earliest word `s > i` with at most
/// `overlap` tokens in `words[s..end]`, moved forward to a sentence start (else a space) in
/// that range; `end` (no overlap) when neither exists.
fn overlap_start(
    i: usize,
    end: usize,
    overlap: usize,
    prefix: &[usize],
    cut: &impl Fn(usize) -> Break,
) -> usize {
    if overlap == 0 {
        return end;
    }
    let mut s = end;
    while s - 1 > i && prefix[end] - prefix[s - 1] <= overlap {
        s -= 1;
    }
    let first = |want: Break| (s..end).find(|&k| cut(k) >= want);
    first(Break::Sentence)
        .or_else(|| first(Break::Space))
        .unwrap_or(end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenize::count_tokens;
    use proptest::prelude::*;

    const SMALL: ChunkConfig = ChunkConfig {
        max_tokens: MIN_MAX_TOKENS,
        overlap_tokens: 16,
        max_bytes: 8 * 1024,
    };

    fn texts<'a>(chunks: &[Chunk<'a>]) -> Vec<&'a str> {
        chunks.iter().map(|c| c.text).collect()
    }

    /// Every chunk is a source span, within both budgets, and its count is what the tokenizer
    /// (the endpoint's) counts for its text alone.
    fn check(text: &str, cfg: ChunkConfig) -> Vec<Chunk<'_>> {
        let chunks = chunk_text(text, cfg).unwrap();
        for c in &chunks {
            assert_eq!(&text[c.start..c.start + c.text.len()], c.text);
            assert!(c.tokens <= cfg.max_tokens, "{} tokens", c.tokens);
            assert!(c.text.len() <= cfg.max_bytes);
            assert_eq!(count_tokens(c.text).unwrap(), c.tokens, "{:?}", c.text);
        }
        chunks
    }

    #[test]
    fn empty_whitespace_and_control_text_give_no_chunks() {
        for t in ["", "  \n\t \n ", "\u{0}\u{1}\u{7f}"] {
            assert!(chunk_text(t, SMALL).unwrap().is_empty());
        }
    }

    #[test]
    fn short_text_is_one_exact_span() {
        let chunks = check("  Hello world.  ", SMALL);
        assert_eq!(texts(&chunks), vec!["Hello world."]);
        assert_eq!(chunks[0].tokens, 5);
    }

    #[test]
    fn english_prose_cuts_on_sentences_and_overlaps_in_tokens() {
        let sentence = "The quarterly revenue of the company grew by twelve percent. ";
        let text = sentence.repeat(60);
        let chunks = check(&text, SMALL);
        assert!(chunks.len() > 5);
        for pair in chunks.windows(2) {
            assert!(pair[0].text.ends_with('.'), "{:?}", pair[0].text);
            assert!(pair[1].text.starts_with("The"));
            // Overlap: the next chunk starts before this one ends.
            assert!(pair[1].start < pair[0].start + pair[0].text.len());
        }
    }

    #[test]
    fn paragraphs_are_preferred_cuts() {
        let para = "Alpha beta gamma delta epsilon. ".repeat(12);
        let text = format!("{para}\n\n{para}\n\n{para}");
        let chunks = check(
            &text,
            ChunkConfig {
                overlap_tokens: 0,
                ..SMALL
            },
        );
        assert!(chunks[0].text.ends_with('.'));
        let after = &text[chunks[0].start + chunks[0].text.len()..];
        assert!(
            after.trim_start_matches(' ').starts_with("\n\n"),
            "{after:?}"
        );
    }

    #[test]
    fn cjk_text_is_cut_by_tokens_not_characters() {
        // ~1 token a character: 900 characters would be ~900 tokens.
        let text = "东京的股票市场今天上涨了百分之三。".repeat(60);
        let chunks = check(&text, ChunkConfig::default());
        assert!(chunks.len() >= 4, "{} chunks", chunks.len());
        assert!(chunks.iter().all(|c| c.text.ends_with('。')));
        assert!(chunks[..chunks.len() - 1].iter().all(|c| c.tokens > 200));
    }

    #[test]
    fn mixed_emoji_and_control_characters() {
        let text = "Revenue 📈 grew\u{7} 12% in 東京 — naïve café! ".repeat(80);
        check(&text, SMALL);
    }

    #[test]
    fn a_one_megabyte_word_is_cut_by_bytes_and_counted_exactly() {
        let word = "a".repeat(1024 * 1024);
        let chunks = check(&word, ChunkConfig::default());
        assert_eq!(chunks.len(), 128);
        assert_eq!(
            chunks.iter().map(|c| c.text.len()).sum::<usize>(),
            word.len()
        );
        let multibyte = "é".repeat(10_000);
        let chunks = check(&multibyte, SMALL);
        assert_eq!(chunks.concat_len(), multibyte.len());
    }

    trait ConcatLen {
        fn concat_len(&self) -> usize;
    }
    impl ConcatLen for Vec<Chunk<'_>> {
        fn concat_len(&self) -> usize {
            self.iter().map(|c| c.text.len()).sum()
        }
    }

    #[test]
    fn dense_text_without_sentences_still_fits() {
        let text = (0..3000)
            .map(|i| format!("x{i}y"))
            .collect::<Vec<_>>()
            .join("");
        check(&text, SMALL);
        let text = "a,".repeat(5000);
        check(&text, SMALL);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn chunks_fit_and_cover_the_text(text in "[a-zé日本 .!,\n]{0,600}") {
            let chunks = check(&text, SMALL);
            // Nothing but whitespace between or outside chunks.
            for pair in chunks.windows(2) {
                let end = pair[0].start + pair[0].text.len();
                prop_assert!(pair[1].start <= end || text[end..pair[1].start].trim().is_empty());
                prop_assert!(pair[1].start > pair[0].start);
            }
            if let (Some(first), Some(last)) = (chunks.first(), chunks.last()) {
                prop_assert!(text[..first.start].trim().is_empty());
                prop_assert!(text[last.start + last.text.len()..].trim().is_empty());
            } else {
                prop_assert!(text.trim().is_empty());
            }
        }
    }
}
