//! MM-IMDb parsing: any `<id>.json` gives a movie, a bad row, or an error naming the folder.
#![no_main]

use libfuzzer_sys::fuzz_target;
use model_core::data::{Dataset, LoadOptions, PosterCheck};

fuzz_target!(|bytes: &[u8]| {
    let dir = std::env::temp_dir().join(format!("marquee-fuzz-mm-imdb-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("0001.json"), bytes).unwrap();
    let _ = Dataset::load(&dir, LoadOptions { strict: false, posters: PosterCheck::Ignore });
});
