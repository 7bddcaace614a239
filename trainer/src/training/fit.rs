//! The training loop: epochs of shuffled batches, BCE-with-logits, Adam or AdamW, validation
//! with thresholds tuned on the validation split, early stopping on validation macro-F1, and an
//! atomic checkpoint after every epoch so `--resume` continues a killed run exactly.

use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use burn::module::Module;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdamConfig, AdamWConfig, GradientsParams, ModuleOptimizer, MultiGradientsParams};
use burn::store::{BurnpackStore, ModuleSnapshot};
use burn::tensor::activation::log_sigmoid;
use burn::tensor::{Device, Tensor, TensorData};
use model_core::batch::Batch;
use model_core::metrics::{evaluate, tune_thresholds, MultiLabelReport};
use model_core::models::registry::{Optimizer, Recipe};
use model_core::models::Classifier;
use model_core::ops;
use model_core::preprocess::image::ImagePreprocessing;
use model_core::preprocess::TextPreprocessor;
use serde::{Deserialize, Serialize};

use super::examples::{batch, Example, SplitExamples};
use super::history::EpochRecord;
use super::progress;
use super::rng::Rng;
use super::run_dir::RunDir;

/// How to train: a model's recipe with the user's changes, and the run's own settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitOptions {
    /// Optimiser, learning rate, weight decay, positive weights, epochs, patience, batch size.
    pub recipe: Recipe,
    /// Seed of every random choice (initialisation, shuffling, dropout, augmentation).
    pub seed: u64,
    /// Augment posters (flip, shift) during training.
    pub augment: bool,
    /// Stop after this many batches per epoch (for quick runs and tests; 0: all).
    pub max_batches: usize,
}

/// The state saved with each checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CheckpointState {
    epochs_done: usize,
    best_epoch: usize,
    best_macro_f1: f64,
    best_thresholds: Vec<f32>,
    history: Vec<EpochRecord>,
}

/// What training produced.
pub struct FitOutcome {
    /// The weights of the best epoch (by validation macro-F1), in inference mode.
    pub best: Classifier,
    /// Its thresholds, tuned on validation.
    pub thresholds: Vec<f32>,
    /// Its epoch (1-based).
    pub best_epoch: usize,
    /// Every epoch's numbers.
    pub history: Vec<EpochRecord>,
}

/// Per-genre positive weights sqrt(negatives / positives), from the training targets.
pub fn positive_weights(train: &[Example]) -> Vec<f32> {
    let genres = train.first().map_or(0, |e| e.target.len());
    let mut positives = vec![0usize; genres];
    for example in train {
        for (count, &t) in positives.iter_mut().zip(&example.target) {
            *count += usize::from(t >= 0.5);
        }
    }
    positives
        .iter()
        .map(|&p| {
            let negatives = train.len() - p;
            ((negatives as f32) / (p.max(1) as f32)).sqrt()
        })
        .collect()
}

/// Mean binary cross-entropy with logits, positives weighted per genre.
pub fn bce_with_logits(logits: Tensor<2>, targets: Tensor<2>, pos_weight: Option<Tensor<2>>) -> Tensor<1> {
    let positive = targets.clone() * log_sigmoid(logits.clone());
    let positive = match pos_weight {
        Some(w) => positive * w,
        None => positive,
    };
    let negative = (targets.neg() + 1.0) * log_sigmoid(logits.neg());
    (positive + negative).neg().mean()
}

fn optimizer(options: &FitOptions) -> ModuleOptimizer {
    match options.recipe.optimizer {
        Optimizer::Adam => AdamConfig::new()
            .with_weight_decay(
                (options.recipe.weight_decay > 0.0).then(|| WeightDecayConfig::new(options.recipe.weight_decay as f32)),
            )
            .init(),
        Optimizer::Adamw => AdamWConfig::new().with_weight_decay(options.recipe.weight_decay as f32).init(),
    }
}

/// Probabilities `[n, genres]` (row-major) and mean loss of `model` on `examples`.
pub fn predict(
    model: &Classifier,
    examples: &[Example],
    text: Option<&TextPreprocessor>,
    image: Option<&ImagePreprocessing>,
    device: &Device,
    batch_size: usize,
    label: &str,
) -> (Vec<f32>, f64) {
    predict_with(&|batch| model.forward(batch), examples, text, image, device, batch_size, label)
}

/// Like [`predict`] with any `forward`: its outputs may be wider than the genres (a fusion's
/// branch logits after its own, [`Classifier::forward_with_branches`]); the probabilities have
/// its width, the loss is the first `genres` columns'.
///
/// Two batches are in flight at a time, one started on each of two of rayon's threads: a
/// forward pass has stretches that run on one thread (element-wise operations, the batch's
/// assembly), and while one batch is in such a stretch the other batch's products and
/// convolutions keep the other core busy. Each batch's numbers do not depend on the other's.
pub fn predict_with(
    forward: &(dyn Fn(&Batch) -> Tensor<2> + Sync),
    examples: &[Example],
    text: Option<&TextPreprocessor>,
    image: Option<&ImagePreprocessing>,
    device: &Device,
    batch_size: usize,
    label: &str,
) -> (Vec<f32>, f64) {
    let bar = progress::bar(examples.len() as u64, label);
    // Batches of similar plot lengths, so short plots are not padded to long ones; the
    // probabilities go back to the examples' order.
    let mut order: Vec<usize> = (0..examples.len()).collect();
    order.sort_by_key(|&i| examples[i].tokens.as_ref().map_or(0, Vec::len));
    let genres = examples.first().map_or(0, |e| e.target.len());
    // One batch: its rows of probabilities (in `chunk`'s order) and its summed loss.
    let run = |chunk: &[usize]| -> (Vec<f32>, f64) {
        let refs: Vec<&Example> = chunk.iter().map(|&i| &examples[i]).collect();
        let (input, targets) = batch(&refs, text, image, device, None);
        let logits = forward(&input);
        let loss: f32 = bce_with_logits(logits.clone().narrow(1, 0, genres), targets, None).into_scalar();
        let rows = ops::sigmoid(logits).into_data().try_to_vec::<f32>().expect("f32 logits");
        bar.inc(chunk.len() as u64);
        (rows, f64::from(loss) * chunk.len() as f64)
    };
    let chunks: Vec<&[usize]> = order.chunks(batch_size.max(1)).collect();
    let mut probabilities = Vec::new();
    let mut loss_sum = 0.0;
    for pair in chunks.chunks(2) {
        let done = match pair {
            [first, second] => {
                let (a, b) = rayon::join(|| run(first), || run(second));
                vec![(*first, a), (*second, b)]
            }
            _ => vec![(pair[0], run(pair[0]))],
        };
        for (chunk, (rows, loss)) in done {
            let width = rows.len() / chunk.len();
            probabilities.resize(examples.len() * width, 0.0);
            for (&i, row) in chunk.iter().zip(rows.chunks(width)) {
                probabilities[i * width..(i + 1) * width].copy_from_slice(row);
            }
            loss_sum += loss;
        }
    }
    bar.finish_and_clear();
    (probabilities, loss_sum / examples.len().max(1) as f64)
}

/// The flat targets of `examples`.
pub fn targets(examples: &[Example]) -> Vec<f32> {
    examples.iter().flat_map(|e| e.target.iter().copied()).collect()
}

/// Scores probabilities against `examples` with tuned or given thresholds.
pub fn score(probabilities: &[f32], examples: &[Example], thresholds: &[f32], genres: &[String]) -> MultiLabelReport {
    evaluate(probabilities, &targets(examples), thresholds, genres)
}

/// Everything the loop needs besides the options.
pub struct FitInputs<'a> {
    /// The run folder (checkpoint, metrics, plots).
    pub run: &'a RunDir,
    /// The examples of each split.
    pub examples: &'a SplitExamples,
    /// Genre names in output order.
    pub genres: &'a [String],
    /// Plot tokenisation, for models that read plots.
    pub text: Option<&'a TextPreprocessor>,
    /// Poster preprocessing, for models that read posters.
    pub image: Option<&'a ImagePreprocessing>,
    /// The plain (non-autodiff) device; training runs on its autodiff twin.
    pub device: &'a Device,
    /// More devices for data-parallel training: each batch is split across `device` and
    /// these, and the gradients are summed by burn's multi-device optimiser step.
    pub extra_devices: &'a [Device],
    /// A display name for progress bars and plots.
    pub name: &'a str,
}

/// Trains `model` (built on the autodiff device, weights initialised) and returns the best
/// epoch's weights. With `resume`, continues from the run's checkpoint instead of starting over.
pub fn fit(mut model: Classifier, inputs: FitInputs<'_>, options: &FitOptions, resume: bool) -> Result<FitOutcome> {
    let FitInputs { run, examples, genres, text, image, device, extra_devices, name } = inputs;
    if examples.train.is_empty() || examples.validation.is_empty() {
        bail!(
            "training needs movies in both the training and the validation split (got {} and {})",
            examples.train.len(),
            examples.validation.len()
        );
    }
    let train_device = device.clone().autodiff();
    let mut optim = optimizer(options);
    let checkpoint = run.checkpoint();
    let mut state = CheckpointState {
        epochs_done: 0,
        best_epoch: 0,
        best_macro_f1: f64::NEG_INFINITY,
        best_thresholds: vec![0.5; genres.len()],
        history: Vec::new(),
    };
    let mut best = model.valid();
    if resume {
        model_core::files::recover_dir(&checkpoint)?;
    }
    if resume && checkpoint.join("state.json").is_file() {
        let bytes = std::fs::read(checkpoint.join("state.json"))?;
        state = serde_json::from_slice(&bytes).context("reading checkpoint/state.json")?;
        load_weights(&mut model, &checkpoint.join("model.bpk"))?;
        optim = optim
            .load(checkpoint.join("optimizer.bpk"))
            .map_err(|e| anyhow::anyhow!("checkpoint/optimizer.bpk: {e:?}"))?;
        let mut best_train = model.clone();
        load_weights(&mut best_train, &checkpoint.join("best.bpk"))?;
        best = best_train.valid();
        // The checkpoint is the record: a kill after it was saved and before the metrics were
        // written left them an epoch behind.
        run.write_history(&state.history, name)?;
        eprintln!(
            "resuming {} after epoch {} (best so far: epoch {})",
            run.path().display(),
            state.epochs_done,
            state.best_epoch
        );
    }

    let pos_weight = options.recipe.pos_weight.then(|| {
        let weights = positive_weights(&examples.train);
        Tensor::<2>::from_data(TensorData::new(weights, [1, genres.len()]), &train_device)
    });
    let mut stale = state.epochs_done.saturating_sub(state.best_epoch);
    for epoch in state.epochs_done + 1..=options.recipe.epochs {
        if options.recipe.patience > 0 && stale >= options.recipe.patience {
            eprintln!("early stop: no better validation macro-F1 for {stale} epochs");
            break;
        }
        let started = Instant::now();
        train_device.seed(options.seed.wrapping_add(epoch as u64));
        let mut rng = Rng::new(options.seed, epoch as u64);
        let mut order: Vec<usize> = (0..examples.train.len()).collect();
        rng.shuffle(&mut order);
        let mut batches: Vec<&[usize]> = order.chunks(options.recipe.batch_size.max(1)).collect();
        if options.max_batches > 0 {
            batches.truncate(options.max_batches);
        }
        let bar = progress::bar(batches.len() as u64, &format!("{name} epoch {epoch}/{}", options.recipe.epochs));
        let mut loss_sum = 0.0;
        for indices in &batches {
            let refs: Vec<&Example> = indices.iter().map(|&i| &examples.train[i]).collect();
            let value = if extra_devices.is_empty() {
                let augment = options.augment.then_some(&mut rng);
                let (input, targets) = batch(&refs, text, image, &train_device, augment);
                let loss = bce_with_logits(model.forward(&input), targets, pos_weight.clone());
                let value: f32 = loss.clone().into_scalar();
                let grads = GradientsParams::from_grads(loss.backward(), &model);
                model = optim.step(options.recipe.lr, model, grads);
                value
            } else {
                let (value, grads) = data_parallel_grads(
                    &model,
                    &refs,
                    &train_device,
                    extra_devices,
                    text,
                    image,
                    pos_weight.as_ref(),
                    options.augment.then_some(&mut rng),
                );
                model = optim.step_multi(options.recipe.lr, model, grads);
                value
            };
            if !value.is_finite() {
                bail!("the loss became {value} at epoch {epoch}: lower the learning rate");
            }
            loss_sum += f64::from(value);
            bar.set_prefix(format!("loss {value:.4}"));
            bar.inc(1);
        }
        bar.finish_and_clear();

        let valid = model.valid();
        let (probabilities, validation_loss) =
            predict(&valid, &examples.validation, text, image, device, 64, "validating");
        let thresholds = tune_thresholds(&probabilities, &targets(&examples.validation), genres.len());
        let report = score(&probabilities, &examples.validation, &thresholds, genres);
        let record = EpochRecord {
            epoch,
            train_loss: loss_sum / batches.len().max(1) as f64,
            validation_loss,
            validation_micro_f1: report.micro_f1,
            validation_macro_f1: report.macro_f1,
            seconds: started.elapsed().as_secs_f64(),
        };
        eprintln!(
            "epoch {epoch}: train loss {:.4}, validation loss {:.4}, micro-F1 {:.4}, macro-F1 {:.4} ({:.0} s)",
            record.train_loss,
            record.validation_loss,
            record.validation_micro_f1,
            record.validation_macro_f1,
            record.seconds
        );
        state.history.push(record);
        state.epochs_done = epoch;
        if report.macro_f1 > state.best_macro_f1 {
            state.best_macro_f1 = report.macro_f1;
            state.best_epoch = epoch;
            state.best_thresholds = thresholds;
            best = valid;
            stale = 0;
        } else {
            stale += 1;
        }
        save_checkpoint(&model, &best, &optim, &state, &checkpoint)?;
        run.write_history(&state.history, name)?;
    }
    Ok(FitOutcome { best, thresholds: state.best_thresholds, best_epoch: state.best_epoch, history: state.history })
}

/// One data-parallel step's gradients: the batch is split into one slice per device, each
/// slice's loss (weighted by its share of the batch, so the sum is the batch mean) is
/// back-propagated on its device through a fork of the model, and the gradients are collected
/// for [`ModuleOptimizer::step_multi`]. Returns the batch loss too.
#[allow(clippy::too_many_arguments)]
fn data_parallel_grads(
    model: &Classifier,
    refs: &[&Example],
    main: &Device,
    extra: &[Device],
    text: Option<&TextPreprocessor>,
    image: Option<&ImagePreprocessing>,
    pos_weight: Option<&Tensor<2>>,
    mut rng: Option<&mut Rng>,
) -> (f32, MultiGradientsParams) {
    let devices: Vec<Device> =
        std::iter::once(main.clone()).chain(extra.iter().map(|d| d.clone().autodiff())).collect();
    let share = refs.len().div_ceil(devices.len());
    let mut grads = MultiGradientsParams::default();
    let mut total = 0.0;
    for (slice, device) in refs.chunks(share).zip(&devices) {
        let replica = if device == main { model.clone() } else { model.clone().fork(device) };
        let (input, targets) = batch(slice, text, image, device, rng.as_deref_mut());
        let weight = pos_weight.map(|w| w.clone().to_device(device));
        let loss = bce_with_logits(replica.forward(&input), targets, weight)
            .mul_scalar(slice.len() as f64 / refs.len() as f64);
        total += loss.clone().into_scalar::<f32>();
        grads.grads.push((GradientsParams::from_grads(loss.backward(), &replica), device.clone()));
    }
    (total, grads)
}

/// Loads weights saved by [`save_weights`] into `model`, refusing anything partial. Burnpack
/// keeps each parameter's identity, so the optimiser state saved beside it applies again.
pub fn load_weights(model: &mut Classifier, path: &Path) -> Result<()> {
    let mut store = BurnpackStore::from_file(path).auto_extension(false);
    let result = model.load_from(&mut store).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    if !result.missing.is_empty() || !result.errors.is_empty() {
        bail!(
            "{}: does not fit the model ({} missing, {} errors)",
            path.display(),
            result.missing.len(),
            result.errors.len()
        );
    }
    Ok(())
}

/// Saves `model`'s weights, with their parameter identities, as burnpack at `path`.
pub fn save_weights(model: &Classifier, path: &Path) -> Result<()> {
    let mut store = BurnpackStore::from_file(path).auto_extension(false).overwrite(true);
    model.save_into(&mut store).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Writes the whole checkpoint to a fresh folder, then swaps it in, so a kill at any moment
/// leaves the previous complete checkpoint or the new one, never a mix.
fn save_checkpoint(
    model: &Classifier,
    best: &Classifier,
    optim: &ModuleOptimizer,
    state: &CheckpointState,
    dir: &Path,
) -> Result<()> {
    model_core::files::replace_dir::<anyhow::Error>(dir, |staging| {
        save_weights(model, &staging.join("model.bpk"))?;
        save_weights(best, &staging.join("best.bpk"))?;
        optim.save(staging.join("optimizer.bpk")).map_err(|e| anyhow::anyhow!("saving optimizer state: {e:?}"))?;
        std::fs::write(staging.join("state.json"), serde_json::to_vec_pretty(state)?)?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bce_matches_the_closed_form() {
        let device = Device::flex();
        let logits = Tensor::<2>::from_floats([[0.0, 2.0], [-1.0, 3.0]], &device);
        let targets = Tensor::<2>::from_floats([[1.0, 0.0], [0.0, 1.0]], &device);
        let loss: f32 = bce_with_logits(logits.clone(), targets.clone(), None).into_scalar();
        let sig = |x: f64| 1.0 / (1.0 + (-x).exp());
        let expected = -((sig(0.0)).ln() + (1.0 - sig(2.0)).ln() + (1.0 - sig(-1.0)).ln() + sig(3.0).ln()) / 4.0;
        assert!((f64::from(loss) - expected).abs() < 1e-5, "{loss} vs {expected}");
        let weights = Tensor::<2>::from_floats([[2.0, 1.0]], &device);
        let weighted: f32 = bce_with_logits(logits, targets, Some(weights)).into_scalar();
        let expected = -(2.0 * sig(0.0).ln() + (1.0 - sig(2.0)).ln() + (1.0 - sig(-1.0)).ln() + sig(3.0).ln()) / 4.0;
        assert!((f64::from(weighted) - expected).abs() < 1e-5);
    }

    #[test]
    fn positive_weights_are_sqrt_neg_over_pos() {
        let example = |target: Vec<f32>| Example {
            id: String::new(),
            tokens: None,
            poster: None,
            poster_path: Default::default(),
            target,
            text_cached: None,
            image_cached: None,
        };
        let train =
            vec![example(vec![1.0, 0.0]), example(vec![0.0, 0.0]), example(vec![0.0, 0.0]), example(vec![0.0, 1.0])];
        let weights = positive_weights(&train);
        assert!((weights[0] - 3f32.sqrt()).abs() < 1e-6);
        assert!((weights[1] - 3f32.sqrt()).abs() < 1e-6);
    }
}
