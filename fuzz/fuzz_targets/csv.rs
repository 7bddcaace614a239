//! `movies.csv` parsing: any file gives a data set with its bad rows, or an error naming the file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use model_core::data::{Dataset, LoadOptions, PosterCheck};

fuzz_target!(|bytes: &[u8]| {
    let dir = std::env::temp_dir().join(format!("marquee-fuzz-csv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("movies.csv"), bytes).unwrap();
    for strict in [false, true] {
        if let Ok(data) = Dataset::load(&dir, LoadOptions { strict, posters: PosterCheck::Ignore }) {
            assert!(data.movies.iter().all(|m| m.poster.starts_with(&dir)), "a poster outside the data folder");
        }
    }
});
