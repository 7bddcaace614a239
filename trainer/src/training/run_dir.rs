//! A run folder's layout in one place: every file `marquee train` writes there, and what
//! `--resume`, `grid`, `compare`, `export` and the fusion's branches read back. Each file is
//! written atomically (`model_core::files`).
//!
//! ```text
//! RUN/config.json              the run's settings (`TrainConfig`), what `--resume` reads
//! RUN/genres.json              the genre vocabulary
//! RUN/vocab.json | tokenizer.json   the text model's vocabulary or tokenizer
//! RUN/metrics.csv, metrics.json     per epoch (rewritten after each), curves.png their plot
//! RUN/thresholds.json          the best epoch's thresholds, tuned on validation
//! RUN/validation_metrics.json, test_metrics.json   the best epoch's scores; genre_f1.png
//! RUN/checkpoint/              the fit loop's checkpoint (rewritten atomically every epoch)
//! RUN/bundle/                  the best epoch as a bundle (`model_core::bundle::bundle_dir`)
//! ```

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use model_core::data::GenreVocab;
use model_core::files::write_atomic;
use model_core::metrics::MultiLabelReport;
use serde::Serialize;

use super::config::TrainConfig;
use super::history::{self, EpochRecord};
use super::plots;

const CONFIG: &str = "config.json";
const TEST_METRICS: &str = "test_metrics.json";
const VALIDATION_METRICS: &str = "validation_metrics.json";

/// A run folder.
#[derive(Debug, Clone)]
pub struct RunDir {
    root: PathBuf,
}

impl RunDir {
    /// The run folder at `root` (nothing is read or written yet).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Starts the run `config` describes: creates the folder and saves the settings. A folder
    /// that holds a run already is refused unless the run is resumed.
    pub fn start(config: &TrainConfig, resume: bool) -> Result<Self> {
        let run = Self::new(&config.out);
        if !resume && run.file(CONFIG).exists() {
            bail!("{} already holds a run: pick another --out, or continue it with --resume", run.root.display());
        }
        std::fs::create_dir_all(&run.root).with_context(|| format!("creating {}", run.root.display()))?;
        run.write_json(CONFIG, config)?;
        Ok(run)
    }

    /// The saved settings of the run, for `--resume`.
    pub fn config(&self) -> Result<TrainConfig> {
        let bytes = std::fs::read(self.file(CONFIG))
            .with_context(|| format!("{} is not a run folder (no {CONFIG})", self.root.display()))?;
        TrainConfig::read_saved(&bytes)
    }

    /// Saves the genre vocabulary.
    pub fn write_genres(&self, genres: &GenreVocab) -> Result<()> {
        self.write_json("genres.json", genres)
    }

    /// Saves the text model's vocabulary or tokenizer file under its bundle name.
    pub fn write_text_part(&self, name: &str, bytes: &[u8]) -> Result<()> {
        Ok(write_atomic(&self.file(name), bytes)?)
    }

    /// Rewrites the per-epoch metrics (CSV and JSON) and their plot, `curves.png`.
    pub fn write_history(&self, records: &[EpochRecord], model: &str) -> Result<()> {
        write_atomic(&self.file("metrics.csv"), history::csv(records).as_bytes())?;
        self.write_json("metrics.json", records)?;
        if !records.is_empty() {
            plots::curves(records, &self.file("curves.png"), model)?;
        }
        Ok(())
    }

    /// Saves the best epoch's thresholds and its scores on validation and test, with the test
    /// F1 per genre as `genre_f1.png`.
    pub fn write_scores(
        &self,
        thresholds: &[f32],
        validation: &MultiLabelReport,
        test: &MultiLabelReport,
        model: &str,
    ) -> Result<()> {
        self.write_json("thresholds.json", thresholds)?;
        self.write_json(TEST_METRICS, test)?;
        self.write_json(VALIDATION_METRICS, validation)?;
        let mut bars: Vec<(String, f64, usize)> =
            test.per_genre.iter().map(|g| (g.genre.clone(), g.f1, g.support)).collect();
        bars.sort_by(|a, b| b.1.total_cmp(&a.1));
        plots::genre_bars(&bars, &self.file("genre_f1.png"), &format!("{model}: test F1 per genre"))
    }

    /// The best epoch's scores on the test split (a finished run's).
    pub fn test_metrics(&self) -> Result<serde_json::Value> {
        self.read_json(TEST_METRICS)
    }

    /// The best epoch's scores on the validation split (a finished run's).
    pub fn validation_metrics(&self) -> Result<serde_json::Value> {
        self.read_json(VALIDATION_METRICS)
    }

    /// The fit loop's checkpoint folder.
    pub fn checkpoint(&self) -> PathBuf {
        self.file("checkpoint")
    }

    /// The bundle of the best epoch.
    pub fn bundle(&self) -> PathBuf {
        self.file("bundle")
    }

    /// Whether the run finished (its bundle is written).
    pub fn finished(&self) -> bool {
        self.bundle().join(model_core::bundle::MANIFEST).is_file()
    }

    fn file(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    fn write_json<T: Serialize + ?Sized>(&self, name: &str, value: &T) -> Result<()> {
        Ok(write_atomic(&self.file(name), &serde_json::to_vec_pretty(value)?)?)
    }

    fn read_json(&self, name: &str) -> Result<serde_json::Value> {
        let path = self.file(name);
        let bytes = std::fs::read(&path)
            .with_context(|| format!("{} is not a finished run (no {name})", self.root.display()))?;
        serde_json::from_slice(&bytes).with_context(|| format!("{} is not JSON", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::DeviceChoice;

    #[test]
    fn a_run_folder_refuses_a_second_start_and_reads_its_settings_back() {
        let tmp = tempfile::tempdir().unwrap();
        let config = TrainConfig::new("cnn", "data".into(), tmp.path().join("run"), DeviceChoice::Cpu);
        let run = RunDir::start(&config, false).unwrap();
        assert_eq!(run.config().unwrap().model, "cnn");
        assert!(RunDir::start(&config, false).unwrap_err().to_string().contains("already holds a run"));
        assert!(RunDir::start(&config, true).is_ok(), "a resumed run starts again in its folder");
        assert!(!run.finished());
        assert!(run.test_metrics().unwrap_err().to_string().contains("not a finished run"));
        assert!(RunDir::new(tmp.path()).config().unwrap_err().to_string().contains("not a run folder"));
    }
}
