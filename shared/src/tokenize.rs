//! The embedding model's own tokenizer: BERT uncased WordPiece with all-MiniLM-L6-v2's
//! vocabulary (30,522 word pieces, embedded in the binary), configured as the model's
//! `tokenizer.json` is: BERT normaliser (clean text, CJK characters split, lowercase, accents
//! stripped), BERT pre-tokeniser, `[UNK]` for words over 100 characters.
//!
//! The endpoint adds `[CLS]` and `[SEP]` around every input, so an input of `n` word pieces
//! costs `n + 2` tokens there ([`SPECIAL_TOKENS`]). The tokenizer is built on first use
//! (a few milliseconds), not at cold start, so search-only invocations never pay for it.

use std::sync::OnceLock;
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::bert::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::{Encoding, Tokenizer};

/// The vocabulary file of sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0), one piece a line.
const VOCAB: &str = include_str!("../assets/minilm-vocab.txt");

/// Tokens the endpoint adds to every input (`[CLS]`, `[SEP]`).
pub const SPECIAL_TOKENS: usize = 2;

/// The longest input the model accepts, special tokens included.
pub const MODEL_MAX_TOKENS: usize = 512;

fn build() -> Result<Tokenizer, String> {
    let vocab = WordPiece::read_bytes(VOCAB.as_bytes())
        .map_err(|e| format!("reading the vocabulary: {e}"))?;
    let model = WordPiece::builder()
        .vocab(vocab)
        .unk_token("[UNK]".into())
        .continuing_subword_prefix("##".into())
        .max_input_chars_per_word(100)
        .build()
        .map_err(|e| format!("building the WordPiece model: {e}"))?;
    let mut tokenizer = Tokenizer::new(model);
    tokenizer
        .with_normalizer(Some(BertNormalizer::new(true, true, None, true)))
        .with_pre_tokenizer(Some(BertPreTokenizer));
    Ok(tokenizer)
}

/// The shared tokenizer, built once.
pub fn tokenizer() -> Result<&'static Tokenizer, String> {
    static TOKENIZER: OnceLock<Result<Tokenizer, String>> = OnceLock::new();
    TOKENIZER.get_or_init(build).as_ref().map_err(Clone::clone)
}

/// Word pieces of `text` without special tokens, with byte offsets into `text` and word ids.
pub fn encode(text: &str) -> Result<Encoding, String> {
    tokenizer()?
        .encode(text, false)
        .map_err(|e| format!("tokenizing: {e}"))
}

/// What the endpoint counts for `text`: its word pieces plus [`SPECIAL_TOKENS`].
pub fn count_tokens(text: &str) -> Result<usize, String> {
    Ok(encode(text)?.len() + SPECIAL_TOKENS)
}

/// The longest prefix of `text` the endpoint sees as at most `max_tokens` tokens (special
/// tokens included), cut after a whole word piece, and its token count. Texts of at most
/// `max_tokens - 2` bytes are returned whole without tokenizing (a word piece covers at least
/// one byte); their count is then the byte length plus 2, an upper bound (enough to size a
/// call by).
pub fn truncate(text: &str, max_tokens: usize) -> Result<(&str, usize), String> {
    let budget = max_tokens.saturating_sub(SPECIAL_TOKENS);
    if text.len() <= budget {
        return Ok((text, text.len() + SPECIAL_TOKENS));
    }
    let enc = encode(text)?;
    let offsets = enc.get_offsets();
    if offsets.len() <= budget {
        return Ok((text, offsets.len() + SPECIAL_TOKENS));
    }
    // Cut after the last whole word that fits (a word's pieces share a word id).
    let words = enc.get_word_ids();
    let mut keep = budget;
    while keep > 0 && words[keep].is_some() && words[keep] == words[keep - 1] {
        keep -= 1;
    }
    let keep = if keep == 0 { budget } else { keep };
    let end = offsets[keep - 1].1;
    Ok((&text[..end], keep + SPECIAL_TOKENS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_token_ids() {
        // Pinned from the model's tokenizer.json (HuggingFace tokenizers), as the local
        // endpoint's own tests pin them.
        let enc = encode("Tesla makes electric vehicles.").unwrap();
        assert_eq!(enc.get_ids(), &[26060, 3084, 3751, 4683, 1012]);
        let enc = encode("Ünïcödé naïve café").unwrap();
        assert_eq!(enc.get_tokens(), &["unicode", "naive", "cafe"]);
    }

    #[test]
    fn cjk_ideographs_are_one_piece_each_and_offsets_point_into_the_source() {
        let text = "日本語の文です。";
        let enc = encode(text).unwrap();
        // Ideographs are one piece each; kana are ordinary word pieces (です → て ##す).
        assert_eq!(
            enc.get_ids(),
            &[1864, 1876, 1950, 1671, 1861, 1665, 30184, 1636]
        );
        for &(s, e) in enc.get_offsets() {
            assert!(
                text.get(s..e).is_some(),
                "offset {s}..{e} is not a char boundary"
            );
        }
        assert_eq!(count_tokens(text).unwrap(), 10);
    }

    #[test]
    fn truncation_keeps_whole_words_within_the_budget() {
        let text = "electric vehicles ".repeat(300);
        let (cut, tokens) = truncate(&text, 256).unwrap();
        assert!(tokens <= 256 && tokens > 250, "{tokens}");
        assert_eq!(count_tokens(cut).unwrap(), tokens);
        assert!(cut.ends_with("vehicles") || cut.ends_with("electric"));
        assert_eq!(truncate("short query", 256).unwrap().0, "short query");
        let cjk = "東".repeat(2000);
        let (cut, tokens) = truncate(&cjk, 256).unwrap();
        assert_eq!((cut.chars().count(), tokens), (254, 256));
    }

    #[test]
    fn long_words_are_one_unknown_piece_and_control_characters_vanish() {
        let word = "x".repeat(10_000);
        assert_eq!(encode(&word).unwrap().get_tokens(), &["[UNK]"]);
        assert_eq!(encode("\u{0}\u{7}\u{1b}").unwrap().len(), 0);
        assert_eq!(count_tokens("").unwrap(), 2);
    }
}
