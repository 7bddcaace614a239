//! BERT's WordPiece tokenizer, read from a HuggingFace `tokenizer.json`: the same ids as the
//! `tokenizers` crate for the files BERT-family models ship (BertNormalizer, BertPreTokenizer,
//! WordPiece, `[CLS] A [SEP]`), in a few hundred lines instead of a general tokenizer library
//! and its regex engines, which are most of a browser package's text code. Other kinds of
//! tokenizer are refused with a message naming the field.
//!
//! The steps, in `tokenizers`' order: special tokens (`[CLS]`, `[MASK]`, ...) are matched in the
//! raw text; the rest is normalised (control characters dropped, whitespace made spaces, CJK
//! ideographs spaced out, accents stripped by NFD, lower-cased), split on whitespace and around
//! punctuation, and each word is cut greedily into the longest vocabulary pieces (`##` marks a
//! piece inside a word; a word with no cut, or over the length limit, is `[UNK]`).

use std::collections::HashMap;

use serde_json::Value;
use unicode_categories::UnicodeCategories;
use unicode_normalization_alignments::UnicodeNormalization;

use crate::error::{Error, Result};

/// A BERT-family tokenizer with padding off (batches are padded to their longest text) and
/// truncation at `max_len` tokens.
#[derive(Clone)]
pub struct BertTokenizer {
    vocab: HashMap<String, u32>,
    /// Tokens matched in the raw text before normalisation, longest first.
    special: Vec<(String, u32)>,
    normalizer: Normalizer,
    unk: u32,
    prefix: String,
    max_word_chars: usize,
    /// Ids put before and after the text.
    cls: u32,
    sep: u32,
    /// Texts are cut to this many tokens, `[CLS]` and `[SEP]` included.
    pub max_len: usize,
    /// The id used for padding (`[PAD]`, or 0).
    pub pad_id: u32,
}

impl std::fmt::Debug for BertTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BertTokenizer").field("max_len", &self.max_len).finish_non_exhaustive()
    }
}

/// BertNormalizer's switches.
#[derive(Debug, Clone, Copy)]
struct Normalizer {
    clean_text: bool,
    chinese_chars: bool,
    strip_accents: bool,
    lowercase: bool,
}

impl BertTokenizer {
    /// Reads `tokenizer.json` bytes; `name` names the file in errors.
    pub fn from_bytes(bytes: &[u8], max_len: usize, name: &str) -> Result<Self> {
        let fail = |reason: String| Error::Tokenizer { name: name.to_string(), reason };
        let json: Value = serde_json::from_slice(bytes).map_err(|e| fail(format!("not JSON: {e}")))?;
        let kind = |field: &str| json[field]["type"].as_str().unwrap_or("none").to_string();
        let flag = |value: &Value, key: &str, default: bool| value[key].as_bool().unwrap_or(default);

        let model = &json["model"];
        if kind("model") != "WordPiece" {
            return Err(fail(format!("model type {} is not supported (WordPiece is)", kind("model"))));
        }
        let vocab: HashMap<String, u32> = model["vocab"]
            .as_object()
            .ok_or_else(|| fail("model.vocab is missing".into()))?
            .iter()
            .map(|(token, id)| id.as_u64().map(|id| (token.clone(), id as u32)))
            .collect::<Option<_>>()
            .ok_or_else(|| fail("model.vocab has an id that is not a number".into()))?;
        let id_of =
            |token: &str| vocab.get(token).copied().ok_or_else(|| fail(format!("{token} is not in the vocabulary")));
        let unk = id_of(model["unk_token"].as_str().unwrap_or("[UNK]"))?;

        let normalizer = match (kind("normalizer").as_str(), &json["normalizer"]) {
            ("BertNormalizer", n) => {
                let lowercase = flag(n, "lowercase", true);
                Normalizer {
                    clean_text: flag(n, "clean_text", true),
                    chinese_chars: flag(n, "handle_chinese_chars", true),
                    strip_accents: n["strip_accents"].as_bool().unwrap_or(lowercase),
                    lowercase,
                }
            }
            ("none", _) => {
                Normalizer { clean_text: false, chinese_chars: false, strip_accents: false, lowercase: false }
            }
            (other, _) => return Err(fail(format!("normalizer type {other} is not supported (BertNormalizer is)"))),
        };
        if kind("pre_tokenizer") != "BertPreTokenizer" {
            return Err(fail(format!(
                "pre_tokenizer type {} is not supported (BertPreTokenizer is)",
                kind("pre_tokenizer")
            )));
        }
        let (cls, sep) = match kind("post_processor").as_str() {
            "TemplateProcessing" => {
                let single = json["post_processor"]["single"].as_array().cloned().unwrap_or_default();
                let special = |item: &Value| item["SpecialToken"]["id"].as_str().map(str::to_string);
                match single.as_slice() {
                    [first, middle, last] if middle.get("Sequence").is_some() => {
                        let (Some(first), Some(last)) = (special(first), special(last)) else {
                            return Err(fail("post_processor.single is not [special, A, special]".into()));
                        };
                        (id_of(&first)?, id_of(&last)?)
                    }
                    _ => return Err(fail("post_processor.single is not [special, A, special]".into())),
                }
            }
            "BertProcessing" | "RobertaProcessing" => {
                let token = |key: &str| json["post_processor"][key][0].as_str().map(str::to_string);
                match (token("cls"), token("sep")) {
                    (Some(cls), Some(sep)) => (id_of(&cls)?, id_of(&sep)?),
                    _ => return Err(fail("post_processor has no cls/sep tokens".into())),
                }
            }
            other => return Err(fail(format!("post_processor type {other} is not supported"))),
        };
        let mut special: Vec<(String, u32)> = Vec::new();
        for token in json["added_tokens"].as_array().map(Vec::as_slice).unwrap_or_default() {
            let (Some(content), Some(id)) = (token["content"].as_str(), token["id"].as_u64()) else {
                return Err(fail("added_tokens has an entry without content or id".into()));
            };
            if ["single_word", "lstrip", "rstrip", "normalized"].iter().any(|key| flag(token, key, false)) {
                return Err(fail(format!(
                    "added token {content}: single_word/lstrip/rstrip/normalized are not supported"
                )));
            }
            special.push((content.to_string(), id as u32));
        }
        special.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        let pad_id = vocab.get("[PAD]").copied().unwrap_or(0);
        Ok(Self {
            unk,
            prefix: model["continuing_subword_prefix"].as_str().unwrap_or("##").to_string(),
            max_word_chars: model["max_input_chars_per_word"].as_u64().unwrap_or(100) as usize,
            vocab,
            special,
            normalizer,
            cls,
            sep,
            max_len: max_len.max(2),
            pad_id,
        })
    }

    /// Reads a `tokenizer.json` file.
    pub fn from_file(path: &std::path::Path, max_len: usize) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::from_bytes(&bytes, max_len, &path.display().to_string())
    }

    /// The token ids of `text` with `[CLS]` and `[SEP]`, cut to `max_len`. Any text is accepted:
    /// an empty one gives `[CLS] [SEP]`, unknown scripts give `[UNK]`.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let room = self.max_len - 2;
        let mut ids = vec![self.cls];
        let mut rest = text;
        while ids.len() <= room && !rest.is_empty() {
            let (plain, special) = self.next_special(rest);
            self.encode_plain(&rest[..plain], &mut ids, room + 1);
            match special {
                Some((len, id)) if ids.len() <= room => {
                    ids.push(id);
                    rest = &rest[plain + len..];
                }
                _ => break,
            }
        }
        ids.truncate(room + 1);
        ids.push(self.sep);
        Ok(ids)
    }

    /// The token ids of `text` as [`BertTokenizer::encode`] gives them (for a text without
    /// special tokens), and the words of the text they come from: the text split on whitespace
    /// and around punctuation (each CJK ideograph a word too), with their byte ranges in `text`
    /// and the ids each became. Words past `max_len` get an empty token range.
    pub fn encode_words(&self, text: &str) -> (Vec<u32>, Vec<WordSpan>) {
        let room = self.max_len - 2;
        let mut ids = vec![self.cls];
        let mut spans = Vec::new();
        for (start, end) in raw_words(text, self.normalizer.chinese_chars) {
            let first = ids.len();
            if first <= room {
                let normalized = self.normalizer.apply(&text[start..end]);
                for word in split_words(&normalized) {
                    self.wordpiece(word, &mut ids);
                }
                ids.truncate(room + 1);
            }
            spans.push(WordSpan { start, end, tokens: first.min(ids.len())..ids.len() });
        }
        ids.push(self.sep);
        (ids, spans)
    }

    /// The length of the text before the first special token, and that token's length and id.
    fn next_special(&self, text: &str) -> (usize, Option<(usize, u32)>) {
        let mut first: Option<(usize, usize, u32)> = None;
        for (content, id) in &self.special {
            if let Some(at) = text.find(content.as_str()) {
                // Leftmost wins; at one position, the longest (they are sorted longest first).
                if first.is_none_or(|(best, _, _)| at < best) {
                    first = Some((at, content.len(), *id));
                }
            }
        }
        match first {
            Some((at, len, id)) => (at, Some((len, id))),
            None => (text.len(), None),
        }
    }

    /// Normalises, splits and cuts `text` into pieces, appended to `ids` until it holds `limit`.
    /// The text is normalised a few kilobytes at a time, cut before whitespace (where no word or
    /// accent can span the cut), so a megabyte-long plot costs no more than its first tokens.
    fn encode_plain(&self, text: &str, ids: &mut Vec<u32>, limit: usize) {
        let mut rest = text;
        while !rest.is_empty() && ids.len() < limit {
            let cut = chunk_end(rest, 4096);
            let normalized = self.normalizer.apply(&rest[..cut]);
            for word in split_words(&normalized) {
                if ids.len() >= limit {
                    return;
                }
                self.wordpiece(word, ids);
            }
            rest = &rest[cut..];
        }
    }

    /// Cuts one word into the longest vocabulary pieces, left to right.
    fn wordpiece(&self, word: &str, ids: &mut Vec<u32>) {
        if word.chars().count() > self.max_word_chars {
            ids.push(self.unk);
            return;
        }
        let start_len = ids.len();
        let mut start = 0;
        let mut piece = String::new();
        while start < word.len() {
            let mut end = word.len();
            let found = loop {
                piece.clear();
                if start > 0 {
                    piece.push_str(&self.prefix);
                }
                piece.push_str(&word[start..end]);
                if let Some(&id) = self.vocab.get(piece.as_str()) {
                    break Some(id);
                }
                match word[start..end].char_indices().next_back() {
                    Some((last, _)) if last > 0 => end = start + last,
                    _ => break None,
                }
            };
            match found {
                Some(id) => {
                    ids.push(id);
                    start = end;
                }
                None => {
                    ids.truncate(start_len);
                    ids.push(self.unk);
                    return;
                }
            }
        }
    }
}

impl Normalizer {
    fn apply(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut push = |c: char| {
            if self.lowercase {
                out.extend(c.to_lowercase());
            } else {
                out.push(c);
            }
        };
        let mut cleaned = String::with_capacity(text.len());
        for c in text.chars() {
            if self.clean_text {
                if c == '\0' || c == '\u{fffd}' || is_control(c) {
                    continue;
                }
                if is_whitespace(c) {
                    cleaned.push(' ');
                    continue;
                }
            }
            if self.chinese_chars && is_chinese_char(c) {
                cleaned.push(' ');
                cleaned.push(c);
                cleaned.push(' ');
            } else {
                cleaned.push(c);
            }
        }
        if self.strip_accents {
            cleaned.nfd().map(|(c, _)| c).filter(|c| !c.is_mark_nonspacing()).for_each(&mut push);
        } else {
            cleaned.chars().for_each(&mut push);
        }
        out
    }
}

/// The end of the first chunk of `text`: the first whitespace at or after `at_least` bytes.
fn chunk_end(text: &str, at_least: usize) -> usize {
    text.char_indices()
        .skip_while(|&(at, _)| at < at_least)
        .find(|&(_, c)| c.is_whitespace())
        .map_or(text.len(), |(at, _)| at)
}

/// One word of a text: its byte range and the token ids it became (indices into the ids).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WordSpan {
    /// The first byte of the word in the text.
    pub start: usize,
    /// One past its last byte.
    pub end: usize,
    /// Which of the text's token ids are its pieces (empty where the text was cut before it).
    pub tokens: std::ops::Range<usize>,
}

/// The byte ranges of a raw text's words as the tokenizer splits them: on whitespace, around
/// punctuation, and around CJK ideographs where `chinese_chars` (control characters stay inside
/// their word: normalisation drops them).
fn raw_words(text: &str, chinese_chars: bool) -> Vec<(usize, usize)> {
    let mut words = Vec::new();
    let mut start = None;
    for (at, c) in text.char_indices() {
        let alone = is_punctuation(c) || (chinese_chars && is_chinese_char(c));
        let gap = is_whitespace(c);
        if gap || alone {
            if let Some(s) = start.take() {
                words.push((s, at));
            }
            if alone {
                words.push((at, at + c.len_utf8()));
            }
        } else if start.is_none() {
            start = Some(at);
        }
    }
    if let Some(s) = start {
        words.push((s, text.len()));
    }
    words
}

/// Words split on whitespace, with every punctuation character a word of its own.
fn split_words(text: &str) -> impl Iterator<Item = &str> {
    text.split(char::is_whitespace).flat_map(|chunk| {
        let mut pieces = Vec::new();
        let mut start = 0;
        for (at, c) in chunk.char_indices() {
            if is_punctuation(c) {
                if start < at {
                    pieces.push(&chunk[start..at]);
                }
                pieces.push(&chunk[at..at + c.len_utf8()]);
                start = at + c.len_utf8();
            }
        }
        if start < chunk.len() {
            pieces.push(&chunk[start..]);
        }
        pieces
    })
}

fn is_whitespace(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || c.is_whitespace()
}

fn is_control(c: char) -> bool {
    !matches!(c, '\t' | '\n' | '\r') && c.is_other()
}

fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation() || c.is_punctuation()
}

fn is_chinese_char(c: char) -> bool {
    matches!(
        c as u32,
        0x4E00..=0x9FFF
            | 0x3400..=0x4DBF
            | 0x20000..=0x2A6DF
            | 0x2A700..=0x2B73F
            | 0x2B740..=0x2B81F
            | 0x2B920..=0x2CEAF
            | 0xF900..=0xFAFF
            | 0x2F800..=0x2FA1F
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> BertTokenizer {
        let json = serde_json::json!({
            "added_tokens": [
                {"id": 0, "content": "[PAD]", "special": true},
                {"id": 1, "content": "[UNK]", "special": true},
                {"id": 2, "content": "[CLS]", "special": true},
                {"id": 3, "content": "[SEP]", "special": true},
            ],
            "normalizer": {"type": "BertNormalizer", "lowercase": true},
            "pre_tokenizer": {"type": "BertPreTokenizer"},
            "post_processor": {"type": "BertProcessing", "cls": ["[CLS]", 2], "sep": ["[SEP]", 3]},
            "model": {
                "type": "WordPiece",
                "unk_token": "[UNK]",
                "vocab": {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "love": 4, "##ly": 5, "cafe": 6, ",": 7, "a": 8}
            }
        });
        BertTokenizer::from_bytes(json.to_string().as_bytes(), 16, "tiny.json").unwrap()
    }

    #[test]
    fn words_keep_their_offsets_and_give_the_same_ids() {
        let tokenizer = tiny();
        for text in ["Hello, Wörld!  hello\tworld", "", "   ", "unknownword hello", "a\u{7}b hello"] {
            let (ids, spans) = tokenizer.encode_words(text);
            assert_eq!(ids, tokenizer.encode(text).unwrap(), "{text:?}");
            for span in &spans {
                assert!(text.is_char_boundary(span.start) && text.is_char_boundary(span.end));
            }
            let pieces: usize = spans.iter().map(|s| s.tokens.len()).sum();
            assert_eq!(pieces, ids.len() - 2, "{text:?}");
        }
        let text = "Hello, Wörld!";
        let (_, spans) = tokenizer.encode_words(text);
        let words: Vec<&str> = spans.iter().map(|s| &text[s.start..s.end]).collect();
        assert_eq!(words, ["Hello", ",", "Wörld", "!"]);
        let short = BertTokenizer { max_len: 4, ..tiny() };
        let (ids, spans) = short.encode_words("hello hello hello");
        assert_eq!(ids.len(), 4);
        assert_eq!(spans.iter().map(|s| s.tokens.len()).collect::<Vec<_>>(), [1, 1, 0]);
    }

    #[test]
    fn pieces_accents_punctuation_and_unknown_words() {
        let tokenizer = tiny();
        assert_eq!(tokenizer.encode("").unwrap(), [2, 3]);
        assert_eq!(tokenizer.encode("Lovely CAFÉ, a[SEP]zzz").unwrap(), [2, 4, 5, 6, 7, 8, 3, 1, 3]);
        assert_eq!(tokenizer.pad_id, 0);
    }

    #[test]
    fn a_megabyte_plot_is_cut_to_max_len_after_its_first_chunks() {
        let tokenizer = tiny();
        let plot = "a ".repeat(500_000);
        let ids = tokenizer.encode(&plot).unwrap();
        assert_eq!(ids.len(), 16);
        assert_eq!(ids[1..15], [8; 14]);
        assert_eq!(chunk_end("abc def", 1), 3);
        assert_eq!(chunk_end("abcdef", 1), 6);
        assert_eq!(chunk_end("é é", 1), 2);
    }
}
