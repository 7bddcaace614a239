//! Metrics per epoch, which the run folder keeps as CSV and JSON (`RunDir::write_history`).

use serde::{Deserialize, Serialize};

/// One epoch's numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean training loss over the epoch's batches.
    pub train_loss: f64,
    /// Mean loss on the validation split.
    pub validation_loss: f64,
    /// Validation micro-F1 with thresholds tuned on validation.
    pub validation_micro_f1: f64,
    /// Validation macro-F1 with thresholds tuned on validation (the early-stopping metric).
    pub validation_macro_f1: f64,
    /// Wall-clock seconds the epoch took (training and validation).
    pub seconds: f64,
}

/// The records as `metrics.csv`'s text.
pub fn csv(history: &[EpochRecord]) -> String {
    let mut csv = String::from("epoch,train_loss,validation_loss,validation_micro_f1,validation_macro_f1,seconds\n");
    for r in history {
        csv.push_str(&format!(
            "{},{:.6},{:.6},{:.6},{:.6},{:.1}\n",
            r.epoch, r.train_loss, r.validation_loss, r.validation_micro_f1, r.validation_macro_f1, r.seconds
        ));
    }
    csv
}
