//! Text preprocessing: a word vocabulary for the LSTMs, and BERT's WordPiece tokenizer
//! (`super::wordpiece`, read from a `tokenizer.json`).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// Index of the padding token in a [`WordVocab`].
pub const PAD_ID: u32 = 0;
/// Index of the unknown-word token in a [`WordVocab`].
pub const UNK_ID: u32 = 1;

/// Splits a text into lower-case words: runs of letters and digits (any script).
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase)
}

/// A word vocabulary: `<pad>` at 0, `<unk>` at 1, then the kept words, most frequent first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WordVocab {
    /// The words by index.
    pub words: Vec<String>,
    /// Texts are cut to this many tokens.
    pub max_len: usize,
    #[serde(skip)]
    index: HashMap<String, u32>,
}

impl WordVocab {
    /// Builds the vocabulary of `texts`: words seen at least `min_count` times, at most
    /// `max_words` of them (the most frequent; ties by spelling).
    pub fn build<'a>(
        texts: impl IntoIterator<Item = &'a str>,
        min_count: usize,
        max_words: usize,
        max_len: usize,
    ) -> Self {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for text in texts {
            for word in words(text) {
                *counts.entry(word).or_insert(0) += 1;
            }
        }
        let mut kept: Vec<(String, usize)> = counts.into_iter().filter(|(_, c)| *c >= min_count.max(1)).collect();
        kept.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        kept.truncate(max_words);
        let mut all = vec!["<pad>".to_string(), "<unk>".to_string()];
        all.extend(kept.into_iter().map(|(w, _)| w));
        Self::from_words(all, max_len)
    }

    /// A vocabulary from its word list (as saved), rebuilding the lookup table.
    pub fn from_words(words: Vec<String>, max_len: usize) -> Self {
        let index = words.iter().enumerate().map(|(i, w)| (w.clone(), i as u32)).collect();
        Self { words, max_len: max_len.max(1), index }
    }

    /// Rebuilds the lookup table after deserialising.
    pub fn reindexed(self) -> Self {
        Self::from_words(self.words, self.max_len)
    }

    /// The number of entries, `<pad>` and `<unk>` included.
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// Whether the vocabulary has no entry at all (never true for a built one).
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The index of `word`, or [`UNK_ID`].
    pub fn id(&self, word: &str) -> u32 {
        self.index.get(word).copied().unwrap_or(UNK_ID)
    }

    /// The token ids of `text`, cut to `max_len`; an empty text gives one `<unk>`.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut ids: Vec<u32> = words(text).take(self.max_len).map(|w| self.id(&w)).collect();
        if ids.is_empty() {
            ids.push(UNK_ID);
        }
        ids
    }
}

pub use super::wordpiece::{BertTokenizer, WordSpan};

/// A batch of token sequences padded to the longest one.
#[derive(Debug, Clone, PartialEq)]
pub struct PaddedBatch {
    /// Token ids, row-major `[batch, len]`.
    pub ids: Vec<i64>,
    /// 1 where a token is real, 0 where it is padding, `[batch, len]`.
    pub mask: Vec<f32>,
    /// The number of sequences.
    pub batch: usize,
    /// The padded length.
    pub len: usize,
}

/// Pads `sequences` with `pad_id` to the longest one (at least 1).
pub fn pad_batch(sequences: &[impl AsRef<[u32]>], pad_id: u32) -> PaddedBatch {
    let len = sequences.iter().map(|s| s.as_ref().len()).max().unwrap_or(0).max(1);
    let batch = sequences.len();
    let mut ids = vec![i64::from(pad_id); batch * len];
    let mut mask = vec![0.0; batch * len];
    for (row, sequence) in sequences.iter().enumerate() {
        for (col, &id) in sequence.as_ref().iter().enumerate() {
            ids[row * len + col] = i64::from(id);
            mask[row * len + col] = 1.0;
        }
    }
    PaddedBatch { ids, mask, batch, len }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_vocab_counts_cuts_and_maps_unknowns() {
        let texts = ["The cat sat.", "the dog sat!", "A cat, a dog; the end"];
        let vocab = WordVocab::build(texts, 2, 100, 4);
        assert_eq!(&vocab.words[..2], ["<pad>", "<unk>"]);
        assert_eq!(&vocab.words[2..], ["the", "a", "cat", "dog", "sat"]);
        assert_eq!(vocab.encode("The CAT ate the fish"), vec![2, 4, UNK_ID, 2]);
        assert_eq!(vocab.encode(""), vec![UNK_ID]);
        assert_eq!(vocab.encode("!!! ???"), vec![UNK_ID]);
        let limited = WordVocab::build(texts, 1, 2, 8);
        assert_eq!(limited.len(), 4);
        let json = serde_json::to_string(&vocab).unwrap();
        let back: WordVocab = serde_json::from_str::<WordVocab>(&json).unwrap().reindexed();
        assert_eq!(back.encode("a dog"), vocab.encode("a dog"));
    }

    #[test]
    fn words_handle_any_script_and_huge_input() {
        let split: Vec<String> = words("Amélie's café — 東京 2049").collect();
        assert_eq!(split, ["amélie", "s", "café", "東京", "2049"]);
        let huge = "word ".repeat(200_000);
        let vocab = WordVocab::build([huge.as_str()], 1, 10, 64);
        assert_eq!(vocab.encode(&huge).len(), 64);
    }

    #[test]
    fn pad_batch_pads_to_the_longest() {
        let batch = pad_batch(&[vec![5, 6, 7], vec![8]], 0);
        assert_eq!((batch.batch, batch.len), (2, 3));
        assert_eq!(batch.ids, vec![5, 6, 7, 8, 0, 0]);
        assert_eq!(batch.mask, vec![1.0, 1.0, 1.0, 1.0, 0.0, 0.0]);
    }
}
