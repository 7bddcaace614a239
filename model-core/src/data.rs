//! Data sets: the CSV folder format and MM-IMDb, deterministic splits and the genre vocabulary.
//!
//! A data set is a folder. The native format is `movies.csv` (columns
//! `id,title,year,overview,genres,poster`, genres separated by `|`, the poster a path relative to
//! the folder) beside the poster images. The MM-IMDb layout (`<id>.json` holding a `plot` list and
//! a `genres` list, `<id>.jpeg`, optional `split.json`) is read too. Rows that cannot be used are
//! collected as [`BadRow`]s with their line and reason instead of failing the whole load, unless
//! [`LoadOptions::strict`] asks for that.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::preprocess::image::decode_image;

/// The columns of `movies.csv`, in the order the format documents.
pub const CSV_COLUMNS: [&str; 6] = ["id", "title", "year", "overview", "genres", "poster"];

/// One movie: its plot, its genres and where its poster is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Movie {
    /// A stable identifier (the IMDb id in the real set).
    pub id: String,
    /// The title.
    pub title: String,
    /// The release year, where known.
    pub year: Option<u16>,
    /// The plot summary.
    pub overview: String,
    /// The genres, as written in the data.
    pub genres: Vec<String>,
    /// The poster image's absolute path.
    pub poster: PathBuf,
}

/// A row that was skipped, with the reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BadRow {
    /// Where the row is: `movies.csv:LINE` or an MM-IMDb file name.
    pub location: String,
    /// The movie's id where it could be read.
    pub id: Option<String>,
    /// Why the row was skipped.
    pub reason: String,
}

impl fmt::Display for BadRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.id {
            Some(id) => write!(f, "{} ({id}): {}", self.location, self.reason),
            None => write!(f, "{}: {}", self.location, self.reason),
        }
    }
}

/// How thoroughly posters are checked while loading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PosterCheck {
    /// Do not look at posters (text-only work).
    Ignore,
    /// Only check that the file exists.
    #[default]
    Exists,
    /// Decode every poster (in parallel) so corrupt images are found up front.
    Decode,
}

/// Options for [`Dataset::load`].
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadOptions {
    /// Fail on the first bad row instead of skipping it.
    pub strict: bool,
    /// How posters are checked.
    pub posters: PosterCheck,
}

/// One of the three parts of a data set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Used to fit weights.
    Train,
    /// Used to tune: thresholds, epochs, hyper-parameters.
    Validation,
    /// Used only to report results.
    Test,
}

impl Split {
    /// The three splits in order.
    pub const ALL: [Split; 3] = [Split::Train, Split::Validation, Split::Test];

    /// The lower-case name used on the command line and in files.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Validation => "validation",
            Split::Test => "test",
        }
    }
}

impl std::str::FromStr for Split {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "train" => Ok(Split::Train),
            "validation" | "val" | "dev" => Ok(Split::Validation),
            "test" => Ok(Split::Test),
            other => Err(format!("unknown split '{other}' (expected train, validation or test)")),
        }
    }
}

/// The deterministic train/validation/test assignment by a stable hash of the movie id.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SplitConfig {
    /// Fraction of movies in the training split.
    pub train: f64,
    /// Fraction of movies in the validation split; the rest is the test split.
    pub validation: f64,
    /// Mixed into the hash, to draw a different but still deterministic split.
    pub salt: u64,
}

impl Default for SplitConfig {
    fn default() -> Self {
        Self { train: 0.70, validation: 0.15, salt: 0 }
    }
}

impl SplitConfig {
    /// The split that `id` belongs to. Depends only on the id, the fractions and the salt.
    pub fn split_of(&self, id: &str) -> Split {
        let position = stable_hash(id, self.salt) as f64 / (u64::MAX as f64 + 1.0);
        if position < self.train {
            Split::Train
        } else if position < self.train + self.validation {
            Split::Validation
        } else {
            Split::Test
        }
    }

    /// Checks that the fractions are usable.
    pub fn validate(&self) -> Result<()> {
        let ok = (0.0..=1.0).contains(&self.train)
            && (0.0..=1.0).contains(&self.validation)
            && self.train + self.validation <= 1.0 + 1e-9;
        if ok {
            Ok(())
        } else {
            Err(Error::Config {
                name: "split".into(),
                reason: format!(
                    "fractions train {} + validation {} must lie in [0, 1] and sum to at most 1",
                    self.train, self.validation
                ),
            })
        }
    }
}

/// FNV-1a over the salt and the id's bytes, then a final avalanche (splitmix64), so the split
/// never changes across platforms, Rust versions or runs.
fn stable_hash(id: &str, salt: u64) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in salt.to_le_bytes().iter().chain(id.as_bytes()) {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash = (hash ^ (hash >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash = (hash ^ (hash >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    hash ^ (hash >> 31)
}

/// The on-disk layout a data set was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetFormat {
    /// `movies.csv` and posters.
    Csv,
    /// MM-IMDb: `<id>.json` + `<id>.jpeg` per movie.
    MmImdb,
}

/// A loaded data set: its usable movies, the rows that were skipped, and its splits.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The folder the data set was read from.
    pub root: PathBuf,
    /// The layout it was read from.
    pub format: DatasetFormat,
    /// The usable movies, in file order.
    pub movies: Vec<Movie>,
    /// The rows that were skipped.
    pub bad_rows: Vec<BadRow>,
    /// Header columns that the format does not know (reported, otherwise ignored).
    pub unknown_columns: Vec<String>,
    /// Splits fixed by the data set itself (MM-IMDb's `split.json`), by movie id.
    pub fixed_splits: Option<HashMap<String, Split>>,
}

impl Dataset {
    /// Reads the data set in `root`, detecting its layout.
    pub fn load(root: impl AsRef<Path>, options: LoadOptions) -> Result<Self> {
        let root = root.as_ref();
        if !root.is_dir() {
            return Err(Error::Dataset {
                path: root.to_path_buf(),
                reason: "not a folder (expected movies.csv and posters, or MM-IMDb json/jpeg files)".into(),
            });
        }
        let mut dataset = if root.join("movies.csv").is_file() {
            load_csv(root, options.strict)?
        } else {
            load_mm_imdb(root, options.strict)?
        };
        dataset.check_posters(options)?;
        Ok(dataset)
    }

    /// The movies of one split, in file order.
    pub fn split(&self, split: Split, config: &SplitConfig) -> Vec<&Movie> {
        self.movies.iter().filter(|m| self.split_of(m, config) == split).collect()
    }

    /// The split a movie belongs to: the data set's own, or else the hash split.
    pub fn split_of(&self, movie: &Movie, config: &SplitConfig) -> Split {
        self.fixed_splits
            .as_ref()
            .and_then(|fixed| fixed.get(&movie.id).copied())
            .unwrap_or_else(|| config.split_of(&movie.id))
    }

    /// Moves movies whose poster is missing (or, with [`PosterCheck::Decode`], undecodable)
    /// to the bad rows.
    fn check_posters(&mut self, options: LoadOptions) -> Result<()> {
        if options.posters == PosterCheck::Ignore {
            return Ok(());
        }
        let problems: Vec<Option<String>> = map_parallel(&self.movies, |movie| {
            if !movie.poster.is_file() {
                return Some(format!("poster {} is missing", movie.poster.display()));
            }
            if options.posters == PosterCheck::Decode {
                let decoded = std::fs::read(&movie.poster).map_err(|e| e.to_string()).and_then(|bytes| {
                    decode_image(&bytes, &movie.poster.display().to_string()).map(|_| ()).map_err(|e| e.to_string())
                });
                if let Err(reason) = decoded {
                    return Some(format!("corrupt poster: {reason}"));
                }
            }
            None
        });
        let mut kept = Vec::with_capacity(self.movies.len());
        for (movie, problem) in std::mem::take(&mut self.movies).into_iter().zip(problems) {
            match problem {
                None => kept.push(movie),
                Some(reason) => {
                    let bad = BadRow { location: format!("movie {}", movie.id), id: Some(movie.id.clone()), reason };
                    keep_bad_row(&self.root, options.strict, &mut self.bad_rows, bad)?;
                }
            }
        }
        self.movies = kept;
        Ok(())
    }

    /// Counts, per genre, the movies that have it (over all movies).
    pub fn genre_counts(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for movie in &self.movies {
            for genre in &movie.genres {
                *counts.entry(genre.clone()).or_insert(0) += 1;
            }
        }
        counts
    }
}

/// Keeps a bad row to report, or, in strict mode, stops loading with an error naming it.
fn keep_bad_row(root: &Path, strict: bool, rows: &mut Vec<BadRow>, bad: BadRow) -> Result<()> {
    if strict {
        return Err(strict_error(root, &bad));
    }
    rows.push(bad);
    Ok(())
}

fn strict_error(root: &Path, bad: &BadRow) -> Error {
    Error::Dataset { path: root.to_path_buf(), reason: format!("bad row (strict mode): {bad}") }
}

/// Maps `f` over `items` on all cores natively, sequentially in wasm.
pub fn map_parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync + Send) -> Vec<R> {
    #[cfg(not(target_arch = "wasm32"))]
    {
        use rayon::prelude::*;
        items.par_iter().map(f).collect()
    }
    #[cfg(target_arch = "wasm32")]
    {
        items.iter().map(f).collect()
    }
}

/// Splits a `|`-separated genre list, trimming blanks and dropping empty names.
pub fn parse_genres(field: &str) -> Vec<String> {
    field.split('|').map(str::trim).filter(|g| !g.is_empty()).map(str::to_string).collect()
}

fn load_csv(root: &Path, strict: bool) -> Result<Dataset> {
    let path = root.join("movies.csv");
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(&path)
        .map_err(|e| Error::Dataset { path: path.clone(), reason: e.to_string() })?;
    let header = reader
        .byte_headers()
        .map_err(|e| Error::Dataset { path: path.clone(), reason: format!("header: {e}") })?
        .clone();
    let header: Vec<String> = header.iter().map(|h| String::from_utf8_lossy(h).trim().to_string()).collect();
    let column = |name: &str| header.iter().position(|h| h == name);
    let missing: Vec<&str> = CSV_COLUMNS.iter().copied().filter(|c| column(c).is_none()).collect();
    if !missing.is_empty() {
        return Err(Error::Dataset {
            path,
            reason: format!("missing column(s) {} (expected {})", missing.join(", "), CSV_COLUMNS.join(",")),
        });
    }
    let unknown_columns: Vec<String> = header.iter().filter(|h| !CSV_COLUMNS.contains(&h.as_str())).cloned().collect();
    let indices: Vec<usize> = CSV_COLUMNS.iter().map(|c| column(c).unwrap()).collect();

    let mut movies = Vec::new();
    let mut bad_rows = Vec::new();
    let mut first_line: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut record = csv::ByteRecord::new();
    loop {
        let line = reader.position().line() as usize;
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let bad = BadRow { location: format!("movies.csv:{line}"), id: None, reason: e.to_string() };
                keep_bad_row(root, strict, &mut bad_rows, bad)?;
                continue;
            }
        }
        let line = record.position().map_or(line, |p| p.line() as usize);
        match parse_csv_row(root, &record, &indices, header.len()) {
            Ok(movie) if let Some(first) = first_line.get(&movie.id) => {
                let reason = format!("duplicate id (first at movies.csv:{first})");
                let bad = BadRow { location: format!("movies.csv:{line}"), id: Some(movie.id), reason };
                keep_bad_row(root, strict, &mut bad_rows, bad)?;
            }
            Ok(movie) => {
                first_line.insert(movie.id.clone(), line);
                movies.push(movie)
            }
            Err((id, reason)) => {
                let bad = BadRow { location: format!("movies.csv:{line}"), id, reason };
                keep_bad_row(root, strict, &mut bad_rows, bad)?;
            }
        }
    }
    Ok(Dataset {
        root: root.to_path_buf(),
        format: DatasetFormat::Csv,
        movies,
        bad_rows,
        unknown_columns,
        fixed_splits: None,
    })
}

type RowError = (Option<String>, String);

fn parse_csv_row(
    root: &Path,
    record: &csv::ByteRecord,
    indices: &[usize],
    width: usize,
) -> std::result::Result<Movie, RowError> {
    if record.len() != width {
        return Err((None, format!("has {} fields, the header has {width}", record.len())));
    }
    let mut fields = Vec::with_capacity(indices.len());
    for (name, &index) in CSV_COLUMNS.iter().zip(indices) {
        let raw = &record[index];
        match std::str::from_utf8(raw) {
            Ok(text) => fields.push(text.trim().to_string()),
            Err(e) => {
                let id = std::str::from_utf8(&record[indices[0]]).ok().map(str::to_string);
                return Err((id, format!("column '{name}' is not valid UTF-8 ({e})")));
            }
        }
    }
    let [id, title, year, overview, genres, poster]: [String; 6] = fields.try_into().expect("six columns");
    let id_for_error = Some(id.clone()).filter(|i| !i.is_empty());
    if id.is_empty() {
        return Err((None, "empty id".into()));
    }
    let year = match year.as_str() {
        "" => None,
        text => Some(
            text.parse::<f64>()
                .ok()
                .filter(|y| y.fract() == 0.0 && (1800.0..=3000.0).contains(y))
                .map(|y| y as u16)
                .ok_or((id_for_error.clone(), format!("year '{text}' is not a year")))?,
        ),
    };
    if overview.is_empty() {
        return Err((id_for_error, "empty overview".into()));
    }
    let genres = parse_genres(&genres);
    if genres.is_empty() {
        return Err((id_for_error, "no genres".into()));
    }
    if poster.is_empty() {
        return Err((id_for_error, "empty poster path".into()));
    }
    // A poster is a file inside the data folder: an absolute path or a `..` would let a CSV
    // from anywhere read any file the user can.
    if !Path::new(&poster)
        .components()
        .all(|c| matches!(c, std::path::Component::Normal(_) | std::path::Component::CurDir))
    {
        return Err((id_for_error, format!("poster path '{poster}' leaves the data folder")));
    }
    Ok(Movie { id, title, year, overview, genres, poster: root.join(poster) })
}

/// One MM-IMDb metadata file (only the fields Marquee reads).
#[derive(Deserialize)]
struct MmImdbRecord {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    year: Option<serde_json::Value>,
    #[serde(default)]
    plot: Vec<String>,
    #[serde(default)]
    genres: Vec<String>,
}

fn load_mm_imdb(root: &Path, strict: bool) -> Result<Dataset> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root)
        .map_err(|e| Error::io(root, e))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .filter(|p| p.file_name().is_some_and(|n| n != "split.json"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(Error::Dataset {
            path: root.to_path_buf(),
            reason: "neither movies.csv nor MM-IMDb <id>.json files found".into(),
        });
    }
    let mut movies = Vec::new();
    let mut bad_rows = Vec::new();
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let id = file.file_stem().unwrap().to_string_lossy().to_string();
        let parsed = std::fs::read(&file)
            .map_err(|e| e.to_string())
            .and_then(|bytes| serde_json::from_slice::<MmImdbRecord>(&bytes).map_err(|e| e.to_string()));
        let result = parsed.and_then(|record| {
            let overview = record.plot.first().map(|p| p.trim().to_string()).unwrap_or_default();
            if overview.is_empty() {
                return Err("empty plot".to_string());
            }
            let genres: Vec<String> =
                record.genres.iter().map(|g| g.trim().to_string()).filter(|g| !g.is_empty()).collect();
            if genres.is_empty() {
                return Err("no genres".to_string());
            }
            let year = record.year.as_ref().and_then(|y| match y {
                serde_json::Value::Number(n) => n.as_u64().map(|v| v as u16),
                serde_json::Value::String(s) => s.parse().ok(),
                _ => None,
            });
            Ok(Movie {
                id: id.clone(),
                title: record.title.unwrap_or_default(),
                year,
                overview,
                genres,
                poster: root.join(format!("{id}.jpeg")),
            })
        });
        match result {
            Ok(movie) => movies.push(movie),
            Err(reason) => {
                let bad = BadRow { location: name, id: Some(id), reason };
                keep_bad_row(root, strict, &mut bad_rows, bad)?;
            }
        }
    }
    let split_file = root.join("split.json");
    let fixed_splits = if split_file.is_file() { Some(read_mm_imdb_splits(&split_file)?) } else { None };
    Ok(Dataset {
        root: root.to_path_buf(),
        format: DatasetFormat::MmImdb,
        movies,
        bad_rows,
        unknown_columns: Vec::new(),
        fixed_splits,
    })
}

/// Reads MM-IMDb's `split.json`: `{"train": [ids], "dev": [ids], "test": [ids]}`.
fn read_mm_imdb_splits(path: &Path) -> Result<HashMap<String, Split>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let lists: HashMap<String, Vec<String>> = serde_json::from_slice(&bytes)
        .map_err(|e| Error::Dataset { path: path.to_path_buf(), reason: e.to_string() })?;
    let mut splits = HashMap::new();
    for (name, ids) in lists {
        let split: Split = name.parse().map_err(|reason| Error::Dataset { path: path.to_path_buf(), reason })?;
        for id in ids {
            splits.insert(id, split);
        }
    }
    Ok(splits)
}

/// The multi-label binarizer: the ordered list of genres a model predicts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenreVocab {
    /// Genre names; a model's output `i` is genre `genres[i]`.
    pub genres: Vec<String>,
}

impl GenreVocab {
    /// The genres of `movies` that occur at least `min_count` times, most frequent first
    /// (ties by name), so the order is deterministic.
    pub fn from_movies<'a>(movies: impl IntoIterator<Item = &'a Movie>, min_count: usize) -> Self {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for movie in movies {
            for genre in &movie.genres {
                *counts.entry(genre.as_str()).or_insert(0) += 1;
            }
        }
        let mut kept: Vec<(&str, usize)> = counts.into_iter().filter(|&(_, count)| count >= min_count.max(1)).collect();
        kept.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        Self { genres: kept.into_iter().map(|(g, _)| g.to_string()).collect() }
    }

    /// The number of genres.
    pub fn len(&self) -> usize {
        self.genres.len()
    }

    /// Whether there are no genres.
    pub fn is_empty(&self) -> bool {
        self.genres.is_empty()
    }

    /// The position of `genre`, if the vocabulary has it.
    pub fn index_of(&self, genre: &str) -> Option<usize> {
        self.genres.iter().position(|g| g == genre)
    }

    /// The multi-hot target of a genre list (unknown genres are ignored).
    pub fn encode(&self, genres: &[String]) -> Vec<f32> {
        let mut target = vec![0.0; self.len()];
        for genre in genres {
            if let Some(i) = self.index_of(genre) {
                target[i] = 1.0;
            }
        }
        target
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Writes a tiny valid PNG poster.
    fn write_poster(path: &Path) {
        let img = image::RgbImage::from_pixel(8, 12, image::Rgb([200, 10, 40]));
        img.save(path).unwrap();
    }

    fn write_csv(dir: &Path, body: &[u8]) {
        let mut file = std::fs::File::create(dir.join("movies.csv")).unwrap();
        file.write_all(b"id,title,year,overview,genres,poster\n").unwrap();
        file.write_all(body).unwrap();
    }

    #[test]
    fn split_is_deterministic_and_close_to_the_fractions() {
        let config = SplitConfig::default();
        let ids: Vec<String> = (0..20_000).map(|i| format!("tt{i:07}")).collect();
        let mut counts = HashMap::new();
        for id in &ids {
            assert_eq!(config.split_of(id), config.split_of(id));
            *counts.entry(config.split_of(id)).or_insert(0usize) += 1;
        }
        let fraction = |s| counts[&s] as f64 / ids.len() as f64;
        assert!((fraction(Split::Train) - 0.70).abs() < 0.01);
        assert!((fraction(Split::Validation) - 0.15).abs() < 0.01);
        assert!((fraction(Split::Test) - 0.15).abs() < 0.01);
        // Pinned: the split must never change across versions, platforms or runs.
        assert_eq!(stable_hash("tt0004972", 0), 0xe9b8_e286_b738_f21f);
        assert_eq!([counts[&Split::Train], counts[&Split::Validation], counts[&Split::Test]], [13_870, 3_077, 3_053]);
        let salted = SplitConfig { salt: 7, ..config };
        let moved = ids.iter().filter(|id| salted.split_of(id) != config.split_of(id)).count();
        assert!(moved > ids.len() / 4, "a salt must draw another split");
    }

    #[test]
    fn genre_vocab_orders_by_count_and_drops_rare() {
        let movie = |genres: &[&str]| Movie {
            id: "x".into(),
            title: String::new(),
            year: None,
            overview: "o".into(),
            genres: genres.iter().map(|g| g.to_string()).collect(),
            poster: PathBuf::new(),
        };
        let movies = [movie(&["Drama", "War"]), movie(&["Drama", "Comedy"]), movie(&["Comedy", "Drama"])];
        let vocab = GenreVocab::from_movies(&movies, 2);
        assert_eq!(vocab.genres, vec!["Drama", "Comedy"]);
        assert_eq!(vocab.encode(&["Comedy".into(), "War".into()]), vec![0.0, 1.0]);
    }

    #[test]
    fn csv_bad_rows_are_reported_with_line_and_reason() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("posters")).unwrap();
        write_poster(&dir.path().join("posters/a.png"));
        write_poster(&dir.path().join("posters/c.png"));
        std::fs::write(dir.path().join("posters/corrupt.jpg"), b"\xff\xd8\xff\xe0 not really").unwrap();
        let mut body = Vec::new();
        body.extend_from_slice(b"tt1,Good,1999,\"A plot, with a comma.\",Drama|Comedy,posters/a.png\n");
        body.extend_from_slice(b"tt2,Empty,2000,,Drama,posters/a.png\n");
        body.extend_from_slice(b"tt3,Bad \xff utf8,2001,Plot,Drama,posters/a.png\n");
        body.extend_from_slice(b"tt4,Corrupt,2002,Plot,Horror,posters/corrupt.jpg\n");
        body.extend_from_slice(b"tt5,Missing,2003,Plot,Horror,posters/none.jpg\n");
        body.extend_from_slice(b"tt6,Short,2003\n");
        body.extend_from_slice(b"tt7,Fine,,Another plot,Horror,posters/c.png\n");
        body.extend_from_slice(b"tt7,Again,,Same id,Horror,posters/c.png\n");
        body.extend_from_slice(b"tt8,Escape,,Plot,Horror,../../etc/passwd\n");
        body.extend_from_slice(b"tt9,Absolute,,Plot,Horror,/etc/passwd\n");
        body.extend_from_slice(b"tt10,Quote,,\"Unclosed plot,Horror,posters/c.png\n");
        write_csv(dir.path(), &body);

        let options = LoadOptions { strict: false, posters: PosterCheck::Decode };
        let data = Dataset::load(dir.path(), options).unwrap();
        let ids: Vec<&str> = data.movies.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["tt1", "tt7"]);
        assert_eq!(data.movies[0].overview, "A plot, with a comma.");
        assert_eq!(data.movies[0].genres, ["Drama", "Comedy"]);
        assert_eq!(data.movies[1].year, None);
        let reasons: Vec<String> = data.bad_rows.iter().map(|b| b.to_string()).collect();
        assert_eq!(reasons.len(), 9, "{reasons:#?}");
        assert!(reasons[3].starts_with("movies.csv:9 (tt7): duplicate id (first at movies.csv:8)"), "{}", reasons[3]);
        assert!(reasons[4].contains("(tt8): poster path '../../etc/passwd' leaves the data folder"), "{}", reasons[4]);
        assert!(reasons[5].contains("(tt9): poster path '/etc/passwd' leaves the data folder"), "{}", reasons[5]);
        assert!(reasons[6].starts_with("movies.csv:12"), "an unclosed quote is one bad row: {}", reasons[6]);
        assert!(reasons[0].starts_with("movies.csv:3 (tt2): empty overview"), "{}", reasons[0]);
        assert!(reasons[1].starts_with("movies.csv:4 (tt3): column 'title' is not valid UTF-8"));
        assert!(reasons[2].starts_with("movies.csv:7: has 3 fields"), "{}", reasons[2]);
        assert!(reasons[7].contains("(tt4): corrupt poster"), "{}", reasons[7]);
        assert!(reasons[8].contains("(tt5): poster") && reasons[8].contains("missing"));

        let strict = Dataset::load(dir.path(), LoadOptions { strict: true, ..options });
        let message = strict.unwrap_err().to_string();
        assert!(message.contains("movies.csv:3 (tt2): empty overview"), "{message}");
    }

    #[test]
    fn csv_missing_column_is_an_error_and_unknown_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("movies.csv"), "id,title,overview\n").unwrap();
        let err = Dataset::load(dir.path(), LoadOptions::default()).unwrap_err().to_string();
        assert!(err.contains("missing column(s) year, genres, poster"), "{err}");

        write_poster(&dir.path().join("p.png"));
        std::fs::write(
            dir.path().join("movies.csv"),
            "id,title,year,overview,genres,poster,rating\ntt1,T,1990,Plot,Drama,p.png,7\n",
        )
        .unwrap();
        let data = Dataset::load(dir.path(), LoadOptions::default()).unwrap();
        assert_eq!(data.unknown_columns, ["rating"]);
        assert_eq!(data.movies.len(), 1);
    }

    #[test]
    fn mm_imdb_layout_with_split_file() {
        let dir = tempfile::tempdir().unwrap();
        let write = |id: &str, json: &str| {
            std::fs::write(dir.path().join(format!("{id}.json")), json).unwrap();
            write_poster(&dir.path().join(format!("{id}.jpeg")));
        };
        // MM-IMDb posters are JPEGs; the PNG bytes under a .jpeg name still decode (by content).
        write(
            "0000001",
            r#"{"title": "One", "year": 1999, "plot": ["First plot.", "Alt"], "genres": ["Drama", "Sci-Fi"]}"#,
        );
        write("0000002", r#"{"title": "Two", "plot": ["Second plot."], "genres": ["Comedy"]}"#);
        write("0000003", r#"{"title": "Three", "plot": [], "genres": ["Comedy"]}"#);
        std::fs::write(
            dir.path().join("split.json"),
            r#"{"train": ["0000001"], "dev": ["0000003"], "test": ["0000002"]}"#,
        )
        .unwrap();
        let options = LoadOptions { strict: false, posters: PosterCheck::Decode };
        let data = Dataset::load(dir.path(), options).unwrap();
        assert_eq!(data.format, DatasetFormat::MmImdb);
        assert_eq!(data.movies.len(), 2);
        assert_eq!(data.movies[0].overview, "First plot.");
        assert_eq!(data.movies[0].year, Some(1999));
        assert_eq!(data.movies[0].genres, ["Drama", "Sci-Fi"]);
        assert_eq!(data.bad_rows.len(), 1);
        assert_eq!(data.bad_rows[0].to_string(), "0000003.json (0000003): empty plot");
        let config = SplitConfig::default();
        assert_eq!(data.split(Split::Train, &config)[0].id, "0000001");
        assert_eq!(data.split(Split::Test, &config)[0].id, "0000002");
        assert!(data.split(Split::Validation, &config).is_empty());
    }
}
