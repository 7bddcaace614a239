//! `marquee stack`: adds a lexical branch (TF-IDF words and word pairs, a logistic regression per
//! genre) to a trained bundle that reads plots, blended with the bundle's own outputs. The
//! lexical branch trains on the training split; its settings, the blend and the thresholds are
//! chosen on validation (the blend cross-fitted over folds); the test split is only scored.

use std::path::PathBuf;

use anyhow::{Context, Result};
use model_core::batch::Batch;
use model_core::bundle::{bundle_dir, write_bundle_with_weights, Bundle, BundleContents, WEIGHTS};
use model_core::data::{Dataset, GenreVocab, LoadOptions, Movie, PosterCheck, Split, SplitConfig};
use model_core::inference::Predictor;
use model_core::metrics::evaluate;
use model_core::models::fusion::BranchThresholds;
use model_core::stacking::blend::{fold_of, BlendSettings};
use model_core::stacking::lexical::{LexicalSpec, LEXICAL_PART};
use serde::Serialize;

use crate::commands::train::summary;
use crate::device::DeviceChoice;
use crate::training::examples::{prepare, Example};
use crate::training::fit::predict_with;
use crate::training::stacking::{
    better, choose_blend, choose_lexical, logits, probabilities, score_tuned, ChosenBlend, Labelled, LexicalGrid,
    Outputs, Sources, Trial,
};

/// Arguments of `marquee stack`.
#[derive(clap::Args)]
pub struct StackArgs {
    /// The bundle to add the lexical branch to (a bundle folder, or a run folder with one).
    #[arg(long)]
    bundle: PathBuf,
    /// The data set it was trained on (its split is the bundle's).
    #[arg(long)]
    data: PathBuf,
    /// The bundle folder to write (replaced atomically if it exists).
    #[arg(long)]
    out: PathBuf,
    /// Lexicon sizes to try (terms; each term adds 21 bytes or so to the bundle).
    #[arg(long, value_delimiter = ',', default_value = "5000,10000,15000")]
    max_terms: Vec<usize>,
    /// L2 penalties of the lexical regressions to try.
    #[arg(long, value_delimiter = ',', default_value = "0.00003,0.0001,0.0003,0.001")]
    l2: Vec<f32>,
    /// A term must appear in at least this many training plots.
    #[arg(long, default_value_t = 2)]
    min_df: usize,
    /// L2 penalties of the blend to try (each with plain and with class-balanced losses).
    #[arg(long, value_delimiter = ',', default_value = "0.0001,0.001,0.01,0.1")]
    blend_l2: Vec<f64>,
    /// Folds of the validation split for cross-fitting the blend.
    #[arg(long, default_value_t = 5)]
    folds: usize,
    /// The new bundle's name [default: the source's, with "+ lexical"].
    #[arg(long)]
    name: Option<String>,
    /// Use only the first N movies of the data set (quick checks).
    #[arg(long)]
    limit: Option<usize>,
    /// Also write every setting tried, with its validation and test F1, as JSON.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Also write every source's logits on the validation and test movies, their targets and
    /// folds, as JSON (for analysis outside Marquee, e.g. scripts/reference/blend_reference.py).
    #[arg(long)]
    sources_out: Option<PathBuf>,
    /// Where the bundle's model runs.
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceChoice,
}

#[derive(Serialize)]
struct Report<'a> {
    source: String,
    out: &'a PathBuf,
    trials: &'a [Trial],
}

/// Runs `marquee stack`.
pub fn run(args: StackArgs) -> Result<()> {
    anyhow::ensure!(args.folds >= 2, "--folds must be at least 2 (got {})", args.folds);
    anyhow::ensure!(
        !args.max_terms.is_empty() && !args.l2.is_empty() && !args.blend_l2.is_empty(),
        "--max-terms, --l2 and --blend-l2 each need at least one value"
    );
    let source = bundle_dir(&args.bundle);
    let bundle = Bundle::read_dir(&source).with_context(|| format!("{} holds no bundle", args.bundle.display()))?;
    anyhow::ensure!(bundle.manifest.lexical.is_none(), "{} already has a lexical branch", source.display());
    anyhow::ensure!(
        bundle.manifest.text.is_some(),
        "{} does not read plots: a lexical branch needs them",
        source.display()
    );
    let split: SplitConfig =
        bundle.manifest.info.get("split").and_then(|s| serde_json::from_value(s.clone()).ok()).unwrap_or_default();
    let device = args.device.device();
    let predictor = Predictor::new(bundle, device.clone())?;
    let genres = GenreVocab { genres: predictor.genres().to_vec() };
    let mut dataset = Dataset::load(&args.data, LoadOptions { strict: false, posters: PosterCheck::Exists })?;
    if let Some(limit) = args.limit {
        dataset.movies.truncate(limit);
    }
    let movies = |which: Split| dataset.split(which, &split);
    let (train_movies, validation_movies, test_movies) =
        (movies(Split::Train), movies(Split::Validation), movies(Split::Test));
    for (movies, name) in [(&train_movies, "training"), (&validation_movies, "validation"), (&test_movies, "test")] {
        anyhow::ensure!(
            movies.len() >= args.folds,
            "{} has {} {name} movies: too few",
            args.data.display(),
            movies.len()
        );
    }
    let (train, validation, test) =
        (labelled(&train_movies, &genres), labelled(&validation_movies, &genres), labelled(&test_movies, &genres));

    // The bundle's own outputs on validation and test, on each route that reads the plot.
    let mut held_out = dataset.clone();
    held_out.movies = validation_movies.iter().chain(&test_movies).map(|m| (*m).clone()).collect();
    let examples = prepare(&held_out, &split, &genres, predictor.text.as_ref(), predictor.image.as_ref())?;
    let same_order =
        |examples: &[Example], movies: &[&Movie]| examples.iter().map(|e| &e.id).eq(movies.iter().map(|m| &m.id));
    anyhow::ensure!(
        same_order(&examples.validation, &validation_movies) && same_order(&examples.test, &test_movies),
        "the prepared movies are not in the data set's order"
    );
    // One pass: a fusion's branches' own logits come after its own (for the plot-only route,
    // and as two more sources of the blend).
    let (text, image) = (predictor.text.as_ref(), predictor.image.as_ref());
    let run = |examples: &[Example], split: &str| -> Vec<Vec<f32>> {
        let forward = |batch: &Batch| predictor.model.forward_with_branches(batch);
        let label = format!("the bundle on {split}");
        let outputs = logits(&predict_with(&forward, examples, text, image, &device, 32, &label).0);
        columns(&outputs, examples.len(), genres.len())
    };
    let (validation_outputs, test_outputs) = (run(&examples.validation, "validation"), run(&examples.test, "test"));
    let mut sources: Vec<Outputs> = validation_outputs.into_iter().zip(test_outputs).collect();
    let branches = (sources.len() == 3).then(|| {
        let image_branch = sources.pop().expect("three sources");
        (sources.pop().expect("three sources"), image_branch)
    });
    let full = sources.pop().expect("the bundle's own logits");

    let mut trials = Vec::new();
    let base_thresholds = &predictor.bundle.manifest.thresholds;
    let base_validation = evaluate(&probabilities(&full.0), &validation.targets, base_thresholds, &genres.genres);
    let base_test = evaluate(&probabilities(&full.1), &test.targets, base_thresholds, &genres.genres);
    trials.push(Trial::new(
        "the bundle alone",
        "its thresholds (tuned on validation)".into(),
        &base_validation,
        &base_test,
    ));

    let grid = LexicalGrid { max_terms: args.max_terms.clone(), l2: args.l2.clone(), min_df: args.min_df };
    let (lexical, lexical_trials) = choose_lexical(&train, &validation, &test, &grid, &genres.genres);
    trials.extend(lexical_trials);

    let folds: Vec<usize> = validation_movies.iter().map(|m| fold_of(&m.id, args.folds)).collect();
    let settings: Vec<BlendSettings> = [false, true]
        .into_iter()
        .flat_map(|balanced| args.blend_l2.iter().map(move |&l2| BlendSettings { l2, balanced }))
        .collect();
    let lexical_outputs = lexical.logits;
    let blend_of = |what: &str, sources: &[&Outputs], trials: &mut Vec<Trial>| {
        let sources = Sources {
            validation: sources.iter().map(|s| &s.0[..]).collect(),
            test: sources.iter().map(|s| &s.1[..]).collect(),
        };
        let (chosen, tried) = choose_blend(what, &sources, &validation, &test, &folds, &settings, &genres.genres);
        trials.extend(tried);
        chosen
    };
    if let Some(path) = &args.sources_out {
        let mut named = vec![("full", &full), ("lexical", &lexical_outputs)];
        if let Some((text_branch, image_branch)) = &branches {
            named.extend([("text", text_branch), ("image", image_branch)]);
        }
        let side = |on_validation: bool, targets: &[f32]| {
            let mut map = serde_json::Map::new();
            map.insert("targets".into(), serde_json::json!(targets));
            for (name, (on_validation_set, on_test_set)) in &named {
                let logits = if on_validation { on_validation_set } else { on_test_set };
                map.insert(name.to_string(), serde_json::json!(logits));
            }
            serde_json::Value::Object(map)
        };
        let dump = serde_json::json!({
            "genres": genres.genres, "folds": folds,
            "validation": side(true, &validation.targets), "test": side(false, &test.targets),
        });
        model_core::files::write_atomic(path, dump.to_string().as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    // Only shipped blends stay marked as chosen.
    let unmark = |trials: &mut Vec<Trial>, what: &str| {
        trials.iter_mut().filter(|t| t.what == what).for_each(|t| t.chosen = false)
    };
    // The bundle recalibrated on held-out movies alone: what cross-fitting gives without new
    // information.
    let scaling = "the bundle, cross-fitted per-genre scaling";
    blend_of(scaling, &[&full], &mut trials);
    unmark(&mut trials, scaling);
    let with_lexical = "the bundle + lexical branch, cross-fitted blend";
    let mut blend = blend_of(with_lexical, &[&full, &lexical_outputs], &mut trials);
    let mut text_blend = None;
    if let Some((text_branch, image_branch)) = &branches {
        let sources = [&full, &lexical_outputs, text_branch, image_branch];
        let with_branches = "the bundle + lexical branch + its two branches' own logits, cross-fitted blend";
        let candidate = blend_of(with_branches, &sources, &mut trials);
        let scores = |b: &ChosenBlend| (b.validation.micro_f1, b.validation.macro_f1);
        match better(scores(&candidate), scores(&blend)) {
            true => {
                blend = candidate;
                unmark(&mut trials, with_lexical);
            }
            false => unmark(&mut trials, with_branches),
        }
        let (alone_validation, alone_test) = score_tuned(
            &probabilities(&text_branch.0),
            &validation,
            &probabilities(&text_branch.1),
            &test,
            &genres.genres,
        );
        let setting = "thresholds tuned on validation".into();
        trials.push(Trial::new("text branch alone (plot only)", setting, &alone_validation, &alone_test));
        let what = "text branch + lexical branch (plot only), cross-fitted blend";
        text_blend = Some(blend_of(what, &[text_branch, &lexical_outputs], &mut trials));
    }

    print_trials(&trials);
    let mut manifest = predictor.bundle.manifest.clone();
    let name = args.name.clone().unwrap_or_else(|| format!("{} + lexical", manifest.name));
    manifest.name = name;
    manifest.thresholds = blend.thresholds.clone();
    if let (Some(branches), Some(text_blend)) = (&manifest.branch_thresholds, &text_blend) {
        manifest.branch_thresholds =
            Some(BranchThresholds { text: text_blend.thresholds.clone(), image: branches.image.clone() });
    }
    manifest.lexical = Some(LexicalSpec {
        file: LEXICAL_PART.into(),
        config: lexical.config.clone(),
        blend: blend.blend.clone(),
        text_blend: text_blend.as_ref().map(|b| b.blend.clone()),
    });
    let info = &mut manifest.info;
    info["stacked_on"] = serde_json::json!({
        "bundle": predictor.bundle.manifest.name, "weights_sha256": predictor.bundle.manifest.parts[WEIGHTS].sha256,
        "validation": summary(&base_validation), "test": summary(&base_test),
    });
    info["lexical"] = serde_json::json!({
        "terms": lexical.model.lexicon.len(), "config": lexical.config,
        "blend": {"fitted_on": "validation", "folds": args.folds, "thresholds_tuned_on": "out-of-fold validation outputs"},
    });
    info["validation"] = summary(&blend.validation);
    info["test"] = summary(&blend.test);
    let text_part = predictor.bundle.text_part()?;
    let weights = predictor.bundle.part(WEIGHTS)?.to_vec();
    let contents = BundleContents { manifest, text_part, lexical_part: Some(lexical.model.to_bytes()) };
    let written = write_bundle_with_weights(weights, contents, &args.out)?;
    let bytes: u64 = written.parts.values().map(|p| p.bytes).sum();
    println!(
        "wrote {} ({:.2} MB; the lexical part {:.2} MB, {} terms): validation (out-of-fold) micro-F1 {:.4}, macro-F1 {:.4}; test micro-F1 {:.4}, macro-F1 {:.4}",
        args.out.display(),
        bytes as f64 / 1e6,
        written.parts[LEXICAL_PART].bytes as f64 / 1e6,
        lexical.model.lexicon.len(),
        blend.validation.micro_f1,
        blend.validation.macro_f1,
        blend.test.micro_f1,
        blend.test.macro_f1
    );
    if let Some(path) = &args.report {
        let report = Report { source: source.display().to_string(), out: &args.out, trials: &trials };
        let json = serde_json::to_vec_pretty(&report)?;
        model_core::files::write_atomic(path, &json).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Splits row-major `[movies, k × genres]` values into k `[movies, genres]` blocks.
fn columns(values: &[f32], movies: usize, genres: usize) -> Vec<Vec<f32>> {
    let width = values.len() / movies.max(1);
    (0..width / genres.max(1))
        .map(|block| {
            values.chunks(width).flat_map(|row| row[block * genres..(block + 1) * genres].iter().copied()).collect()
        })
        .collect()
}

fn labelled<'a>(movies: &[&'a Movie], genres: &GenreVocab) -> Labelled<'a> {
    Labelled {
        plots: movies.iter().map(|m| m.overview.as_str()).collect(),
        targets: movies.iter().flat_map(|m| genres.encode(&m.genres)).collect(),
    }
}

fn print_trials(trials: &[Trial]) {
    println!("{:<62} {:<34} {:>15} {:>15}", "", "setting", "val micro/macro", "test micro/macro");
    for t in trials {
        println!(
            "{:<62} {:<34} {:>7.4}/{:.4} {:>7.4}/{:.4}{}",
            t.what,
            t.setting,
            t.validation.0,
            t.validation.1,
            t.test.0,
            t.test.1,
            if t.chosen { "  <- chosen" } else { "" }
        );
    }
}
