//! Marquee's WordPiece tokenizer gives the HuggingFace `tokenizers` crate's ids, truncation
//! included, for every plot of the real movie set, for hand-picked hard texts, and with the
//! default bundle's and all-MiniLM-L6-v2's `tokenizer.json`.

use model_core::data::{Dataset, LoadOptions, PosterCheck};
use model_core::preprocess::text::BertTokenizer;
use tests::{manifest_dir, movies_dir, pretrained};
use tokenizers::{Tokenizer, TruncationParams};

fn reference(path: &std::path::Path, max_len: usize) -> Tokenizer {
    let mut tokenizer = Tokenizer::from_file(path).unwrap();
    tokenizer.with_padding(None);
    tokenizer.with_truncation(Some(TruncationParams { max_length: max_len, ..Default::default() })).unwrap();
    tokenizer
}

/// Texts where tokenizers differ easily: accents, scripts, control characters, special tokens,
/// long words and texts longer than one normalisation chunk.
fn hard_texts() -> Vec<String> {
    let mut texts: Vec<String> = [
        "",
        "   ",
        "Love.",
        "Amélie's café: naïve, façade, Æsir, straße, İstanbul, ǅemal",
        "Tokyo 東京 and 北京 — “quotes”, ‘single’, «guillemets», (parens) [brackets] {braces}",
        "emoji only 🎬🍿🎥 and ZWJ 👨‍👩‍👧 sequences",
        "control\u{0}chars\u{7}and\u{fffd}replacement\tand\nnewlines\r\nhere",
        "a [MASK] in the plot, [CLS] and [SEP] too; [UNK] [PAD] [mask]",
        "supercalifragilisticexpialidocious antidisestablishmentarianism",
        "hyphen-ated, under_score, dots... and ellipsis… numbers 1,234.56 and 3rd",
        "Ελληνικά, русский текст, עברית, العربية, हिन्दी, ไทย",
        "combining: e\u{301} a\u{308} n\u{303} and Hangul 한국어",
    ]
    .map(String::from)
    .to_vec();
    texts.push("x".repeat(150));
    texts.push("word ".repeat(300));
    // Longer than one 4 KiB normalisation chunk: accents and words on both sides of the cuts.
    texts.push("Ame\u{301}lie's cafe\u{301}, \u{301}\u{301} 東京. ".repeat(400));
    texts
}

#[test]
fn hard_texts_match_tokenizers_at_several_lengths() {
    for path in
        [manifest_dir().join("../www/models/default/tokenizer.json"), pretrained("all-MiniLM-L6-v2/tokenizer.json")]
    {
        for max_len in [2, 5, 128, 512, 8192] {
            let ours = BertTokenizer::from_file(&path, max_len).unwrap();
            let theirs = reference(&path, max_len);
            for text in hard_texts() {
                let want = theirs.encode(text.as_str(), true).unwrap().get_ids().to_vec();
                assert_eq!(ours.encode(&text).unwrap(), want, "{} at {max_len}: {text:?}", path.display());
            }
        }
    }
}

#[test]
fn every_plot_of_the_movie_set_matches_tokenizers() {
    let path = manifest_dir().join("../www/models/default/tokenizer.json");
    let ours = BertTokenizer::from_file(&path, 128).unwrap();
    let theirs = reference(&path, 128);
    let data = Dataset::load(movies_dir(), LoadOptions { strict: false, posters: PosterCheck::Ignore }).unwrap();
    assert!(data.movies.len() > 6000, "the real movie set");
    for movie in &data.movies {
        let want = theirs.encode(movie.overview.as_str(), true).unwrap().get_ids().to_vec();
        assert_eq!(ours.encode(&movie.overview).unwrap(), want, "{}: {:?}", movie.id, movie.overview);
    }
}

#[test]
fn other_tokenizer_kinds_are_refused_naming_the_field() {
    let json = std::fs::read(manifest_dir().join("../www/models/default/tokenizer.json")).unwrap();
    let mut bpe: serde_json::Value = serde_json::from_slice(&json).unwrap();
    bpe["model"]["type"] = "BPE".into();
    let err = BertTokenizer::from_bytes(bpe.to_string().as_bytes(), 128, "bpe.json").unwrap_err().to_string();
    assert!(err.contains("bpe.json") && err.contains("BPE is not supported"), "{err}");
    let err = BertTokenizer::from_bytes(b"{not json", 128, "broken.json").unwrap_err().to_string();
    assert!(err.contains("broken.json") && err.contains("not JSON"), "{err}");
}
