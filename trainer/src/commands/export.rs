//! `marquee export`: a run's best model as a bundle (f32, f16 with `--f16`, int8 with `--int8`).
//! With `--data`, the converted model's thresholds are tuned again on the validation split, so
//! they fit the weights as stored rather than the f32 ones, and the manifest's validation and test
//! metrics are measured again with them (the test split only reports).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use burn::tensor::Device;
use model_core::bundle::{weights, write_bundle_with_weights, Bundle, BundleContents, WeightsDType};
use model_core::data::{Dataset, GenreVocab, LoadOptions, PosterCheck, Split, SplitConfig};
use model_core::inference::Predictor;
use model_core::metrics::{evaluate, tune_thresholds, MultiLabelReport};
use model_core::models::fusion::BranchThresholds;
use model_core::models::Classifier;

use crate::training::examples::prepare;
use crate::training::fit::{predict, targets};

/// Arguments of `marquee export`.
#[derive(clap::Args)]
pub struct ExportArgs {
    /// The run folder (or a bundle folder to convert).
    #[arg(long)]
    run: PathBuf,
    /// The bundle folder to write (replaced atomically if it exists).
    #[arg(long)]
    out: PathBuf,
    /// Store the weights as 16-bit floats (half the size).
    #[arg(long, conflicts_with = "int8")]
    f16: bool,
    /// Store the large matrices and kernels as 8-bit integers with a scale per block of 64
    /// (about a quarter of the f32 size; format version 2).
    #[arg(long)]
    int8: bool,
    /// The data set folder: the converted model's thresholds are tuned again on its
    /// validation split (the split the run was trained with).
    #[arg(long)]
    data: Option<PathBuf>,
    /// The model's name in the manifest (shown by the page) [default: the run's].
    #[arg(long)]
    name: Option<String>,
}

/// Runs `marquee export`.
pub fn run(args: ExportArgs) -> Result<()> {
    let bundle =
        Bundle::open(&args.run).with_context(|| format!("{} holds no finished run or bundle", args.run.display()))?;
    let model = bundle.load_model(&Device::flex())?;
    let text_part = bundle.text_part()?;
    let mut manifest = bundle.manifest.clone();
    manifest.dtype = match (args.f16, args.int8) {
        (true, _) => WeightsDType::F16,
        (_, true) => WeightsDType::Int8,
        _ => WeightsDType::F32,
    };
    if let Some(name) = args.name {
        manifest.name = name;
    }
    let encoded = weights::encode(&model, manifest.dtype)
        .map_err(|reason| anyhow::anyhow!("encoding the weights as {:?}: {reason}", manifest.dtype))?;
    // A lexical branch goes along as it is; its blend was fitted on the source's outputs.
    let lexical_part = manifest.lexical.as_ref().map(|spec| bundle.part(&spec.file).map(<[u8]>::to_vec)).transpose()?;
    let mut contents = BundleContents { manifest, text_part, lexical_part };
    match &args.data {
        Some(_) if contents.manifest.lexical.is_some() => anyhow::bail!(
            "{} has a lexical branch blended on its weights' outputs: export it without --data, or export the bundle it was stacked on and run `marquee stack` again",
            bundle.source
        ),
        Some(data) => {
            let converted = Bundle::in_memory(&args.out.display().to_string(), encoded.clone(), contents.clone())?;
            let tuned = recalibrate(converted, data)?;
            eprintln!(
                "thresholds tuned again on {} validation movies of {} (mean change {:.3})",
                tuned.validation.movies,
                data.display(),
                mean_change(&contents.manifest.thresholds, &tuned.thresholds)
            );
            contents.manifest.thresholds = tuned.thresholds;
            if contents.manifest.branch_thresholds.is_some() {
                contents.manifest.branch_thresholds = tuned.branches;
            }
            contents.manifest.info["thresholds_tuned_on"] = serde_json::json!({
                "split": "validation", "movies": tuned.validation.movies, "dtype": contents.manifest.dtype,
            });
            contents.manifest.info["validation"] = tuned.validation.summary();
            contents.manifest.info["test"] = tuned.test.summary();
            eprintln!(
                "as stored ({:?}): validation micro-F1 {:.4}, macro-F1 {:.4}; test micro-F1 {:.4}, macro-F1 {:.4}",
                contents.manifest.dtype,
                tuned.validation.micro_f1,
                tuned.validation.macro_f1,
                tuned.test.micro_f1,
                tuned.test.macro_f1
            );
        }
        None if contents.manifest.dtype != WeightsDType::F32 => eprintln!(
            "the thresholds are the source's; pass --data DIR to tune them again for the {:?} weights",
            contents.manifest.dtype
        ),
        None => {}
    }
    let written = write_bundle_with_weights(encoded, contents, &args.out)?;
    let bytes: u64 = written.parts.values().map(|p| p.bytes).sum();
    println!("wrote {} ({:?}, {:.1} MB)", args.out.display(), written.dtype, bytes as f64 / 1e6);
    Ok(())
}

/// Thresholds tuned on a validation split, and the whole model's scores with them.
struct Tuned {
    thresholds: Vec<f32>,
    branches: Option<BranchThresholds>,
    validation: MultiLabelReport,
    test: MultiLabelReport,
}

/// Tunes `bundle`'s thresholds (and a fusion's branch thresholds) on the validation split of
/// `data`, as the bundle was trained to split it, then scores the whole model with them on the
/// validation and test splits.
fn recalibrate(bundle: Bundle, data: &Path) -> Result<Tuned> {
    let split: SplitConfig =
        bundle.manifest.info.get("split").and_then(|s| serde_json::from_value(s.clone()).ok()).unwrap_or_default();
    let device = Device::flex();
    let predictor = Predictor::new(bundle, device.clone())?;
    let mut dataset = Dataset::load(data, LoadOptions { strict: false, posters: PosterCheck::Exists })?;
    let mut kept: Vec<_> = dataset.split(Split::Validation, &split).into_iter().cloned().collect();
    kept.extend(dataset.split(Split::Test, &split).into_iter().cloned());
    dataset.movies = kept;
    let genres = GenreVocab { genres: predictor.genres().to_vec() };
    let examples = prepare(&dataset, &split, &genres, predictor.text.as_ref(), predictor.image.as_ref())?;
    let (validation, test) = (examples.validation, examples.test);
    anyhow::ensure!(!validation.is_empty(), "no validation movies in {} to tune the thresholds on", data.display());
    let (text, image) = (predictor.text.as_ref(), predictor.image.as_ref());
    let tune = |model: &Classifier, text, image, label| -> (Vec<f32>, Vec<f32>) {
        let (probabilities, _) = predict(model, &validation, text, image, &device, 32, label);
        let thresholds = tune_thresholds(&probabilities, &targets(&validation), genres.len());
        (thresholds, probabilities)
    };
    let (thresholds, probabilities) = tune(&predictor.model, text, image, "validation (whole model)");
    let validation_report = evaluate(&probabilities, &targets(&validation), &thresholds, &genres.genres);
    let (test_probabilities, _) = predict(&predictor.model, &test, text, image, &device, 32, "test (whole model)");
    let test_report = evaluate(&test_probabilities, &targets(&test), &thresholds, &genres.genres);
    let branches = match &predictor.model {
        Classifier::Fusion(fusion) => Some(BranchThresholds {
            text: tune(&Classifier::Text(fusion.text.clone()), text, None, "validation (text branch)").0,
            image: tune(&Classifier::Image(fusion.image.clone()), None, image, "validation (image branch)").0,
        }),
        _ => None,
    };
    Ok(Tuned { thresholds, branches, validation: validation_report, test: test_report })
}

fn mean_change(before: &[f32], after: &[f32]) -> f32 {
    before.iter().zip(after).map(|(a, b)| (a - b).abs()).sum::<f32>() / before.len().max(1) as f32
}
