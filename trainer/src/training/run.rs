//! One training run, from its settings to a bundle: the registry builds the model (a fusion on
//! the branches read here), the examples are prepared (frozen parts' outputs cached), the fit
//! loop trains with checkpoints, thresholds are tuned on validation, the test split is reported,
//! and the run folder gets its metrics, plots and the bundle of the best epoch.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use burn::module::Module;
use burn::tensor::Device;
use model_core::bundle::{write_bundle, Bundle, BundleContents, Manifest, WeightsDType};
use model_core::data::{Dataset, GenreVocab, LoadOptions, PosterCheck, Split, SplitConfig};
use model_core::models::fusion::Branch;
use model_core::models::registry::{architecture, pretrained_dir, Branches, BuildRequest, Built};
use model_core::models::{Classifier, GenreClassifier};

use super::config::TrainConfig;
use super::examples::{prepare, raw_batch, Example, SplitExamples};
use super::features;
use super::fit::{fit, predict, score, FitInputs};
use super::run_dir::RunDir;

/// Trains the run `config` describes (continuing it with `resume`) and returns the bundle path:
/// asks the registry for the model, builds it, applies the user's flags over its recipe and
/// calls the fit loop.
pub fn train(config: &TrainConfig, resume: bool) -> Result<PathBuf> {
    let started = Instant::now();
    let architecture = architecture(&config.model)?;
    let run = RunDir::start(config, resume)?;

    let all_devices = config.device.devices(config.devices);
    let device = all_devices[0].clone();
    let split =
        SplitConfig { train: config.train_fraction, validation: config.validation_fraction, salt: config.split_salt };
    split.validate()?;
    let posters = if architecture.reads.images() { PosterCheck::Exists } else { PosterCheck::Ignore };
    let mut dataset = Dataset::load(&config.data, LoadOptions { strict: false, posters })?;
    if !dataset.bad_rows.is_empty() {
        eprintln!("skipping {} bad rows (see `marquee data stats`)", dataset.bad_rows.len());
    }
    if let Some(limit) = config.limit {
        dataset.movies.truncate(limit);
    }
    let train_movies = dataset.split(Split::Train, &split);
    let genres = GenreVocab::from_movies(train_movies.iter().copied(), config.min_genre_count);
    if genres.is_empty() {
        bail!("no genres in the training split of {}", config.data.display());
    }
    run.write_genres(&genres)?;
    eprintln!(
        "{} movies ({} train), {} genres, device {:?}",
        dataset.movies.len(),
        train_movies.len(),
        genres.len(),
        config.device
    );

    let train_device = device.clone().autodiff();
    train_device.seed(config.seed);
    let train_plots: Vec<&str> = train_movies.iter().map(|m| m.overview.as_str()).collect();
    let options = config.model_options();
    // A fusion's branches, read here so that the model files stay clear of the bundle format.
    let branch = |path: Option<&Path>| -> Result<Option<Branch>> {
        let Some(path) = path else { return Ok(None) };
        let bundle = Bundle::open(path).with_context(|| format!("reading the branch {}", path.display()))?;
        Ok(Some(bundle.branch(&device)?))
    };
    let (text_branch, image_branch) = (branch(options.text_model.as_deref())?, branch(options.image_model.as_deref())?);
    let built = (architecture.build)(&BuildRequest {
        genres: &genres.genres,
        train_plots: &train_plots,
        options: &options,
        pretrained_dir: &pretrained_dir(),
        device: &device,
        train_device: &train_device,
        branches: Branches { text: text_branch.as_ref(), image: image_branch.as_ref() },
    })?;
    if !built.notes.is_null() {
        eprintln!("{}: {}", architecture.name, built.notes);
    }
    let examples = prepare_examples(&built, &dataset, &split, &genres, &device)?;
    let Built { model, config: model_config, text, text_part, text_spec, image, branch_thresholds, notes, .. } = built;
    if let Some((name, bytes)) = &text_part {
        run.write_text_part(name, bytes)?;
    }
    let options = config.fit_options(architecture.recipe);
    let name = architecture.name.replace('-', "");
    let outcome = fit(
        model,
        FitInputs {
            run: &run,
            examples: &examples,
            genres: &genres.genres,
            text: text.as_ref(),
            image: image.as_ref(),
            device: &device,
            extra_devices: &all_devices[1..],
            name: &name,
        },
        &options,
        resume,
    )?;
    // The test split is only reported, never used to choose anything.
    let (probabilities, _) =
        predict(&outcome.best, &examples.test, text.as_ref(), image.as_ref(), &device, 64, "testing");
    let test = score(&probabilities, &examples.test, &outcome.thresholds, &genres.genres);
    let (val_probabilities, _) =
        predict(&outcome.best, &examples.validation, text.as_ref(), image.as_ref(), &device, 64, "validating");
    let validation = score(&val_probabilities, &examples.validation, &outcome.thresholds, &genres.genres);
    run.write_scores(&outcome.thresholds, &validation, &test, &name)?;

    let info = serde_json::json!({
        "data": config.data,
        "movies": dataset.movies.len(),
        "split": split,
        "best_epoch": outcome.best_epoch,
        "epochs_run": outcome.history.len(),
        "training_seconds": started.elapsed().as_secs_f64(),
        "commit": source_commit(),
        "validation": validation.summary(),
        "test": test.summary(),
        "notes": notes,
    });
    let manifest = Manifest {
        format: String::new(),
        format_version: 0,
        name: format!("{name} ({})", config.data.file_name().unwrap_or_default().to_string_lossy()),
        model: model_config,
        genres: genres.genres.clone(),
        thresholds: outcome.thresholds.clone(),
        branch_thresholds,
        image,
        text: text_spec,
        dtype: WeightsDType::F32,
        lexical: None,
        parts: Default::default(),
        info,
    };
    let bundle = run.bundle();
    write_bundle(&outcome.best, BundleContents { manifest, text_part, lexical_part: None }, &bundle)?;
    println!(
        "test micro-F1 {:.4}, macro-F1 {:.4}, weighted-F1 {:.4}, samples-F1 {:.4}, Hamming {:.4} ({} movies)",
        test.micro_f1, test.macro_f1, test.weighted_f1, test.samples_f1, test.hamming_loss, test.movies
    );
    println!("bundle: {}", bundle.display());
    Ok(bundle)
}

/// Tokenises and decodes the movies the model reads; the outputs of frozen parts (a frozen
/// backbone, a fusion's branches) are computed once per movie, cached on disk under the
/// identity of their weights, and attached in place of the posters.
fn prepare_examples(
    built: &Built,
    dataset: &Dataset,
    split: &SplitConfig,
    genres: &GenreVocab,
    device: &Device,
) -> Result<SplitExamples> {
    let (text, image) = (built.text.as_ref(), built.image.as_ref());
    match (&built.model, &built.frozen.text, &built.frozen.image) {
        (Classifier::Fusion(fusion), Some(text_id), Some(image_id)) => {
            // Posters are decoded only if the image branch's outputs are not cached yet.
            let mut examples = prepare(dataset, split, genres, text, None)?;
            // Each branch's pooled features are cached; the logits that the design's head
            // reads are the branch's own head applied to them, so every fusion mode shares one
            // pass over the posters and plots.
            let text_features = features::cached(
                &format!("fusion text branch features v1\n{text_id}"),
                &examples,
                "text branch",
                |chunk| {
                    let batch = raw_batch(chunk, text, None, device)?;
                    Ok(fusion.text.features(batch.text.as_ref().expect("tokenised")))
                },
            )?;
            let image_features = features::cached(
                &format!("fusion image branch features v1\n{image_id}"),
                &examples,
                "image branch",
                |chunk| {
                    let batch = raw_batch(chunk, None, image, device)?;
                    Ok(fusion.image.features(batch.images.as_ref().expect("decoded")))
                },
            )?;
            let (text_map, image_map) = if fusion.mode().uses_features() {
                (text_features, image_features)
            } else {
                (
                    features::map_rows(&text_features, device, |f| fusion.text.head_forward(f)),
                    features::map_rows(&image_features, device, |f| fusion.image.head_forward(f)),
                )
            };
            for example in examples.all_mut() {
                example.text_cached = Some(text_map[&example.id].clone());
                example.image_cached = Some(image_map[&example.id].clone());
                example.poster = None;
            }
            Ok(examples)
        }
        (Classifier::Image(model), _, Some(weights_id)) => {
            // A frozen backbone reads each poster once, for the feature cache, and only when
            // the cache lacks it.
            let mut examples = prepare(dataset, split, genres, None, None)?;
            let valid = model.valid();
            let description = format!("backbone features v1\n{weights_id}\n{}", serde_json::to_string(&image)?);
            let map = features::cached(&description, &examples, "backbone features", |chunk: &[&Example]| {
                let batch = raw_batch(chunk, None, image, device)?;
                Ok(valid.features(batch.images.as_ref().expect("decoded")))
            })?;
            for example in examples.all_mut() {
                example.image_cached = Some(map[&example.id].clone());
                example.poster = None;
            }
            Ok(examples)
        }
        // Everything else reads raw inputs every epoch: posters are decoded up front.
        _ => prepare(dataset, split, genres, text, image),
    }
}

/// The commit of the source tree the run was started from (`git rev-parse HEAD` in the current
/// folder), or "unknown" outside a git checkout.
fn source_commit() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}
