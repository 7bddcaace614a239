//! The weights part (`model.safetensors`) in its three storage types, and the one loader that
//! reads them all.
//!
//! - f32 and f16: plain safetensors, written by burn's `SafetensorsStore` (BatchNorm statistics
//!   stay f32 in f16 files).
//! - int8: every matrix and convolution kernel of at least [`INT8_MIN_ELEMENTS`] elements is
//!   stored as `I8` in blocks of [`INT8_BLOCK`] consecutive elements (row-major), each block with
//!   its own f16 scale in a companion tensor `NAME` + [`INT8_SCALES_SUFFIX`] (symmetric:
//!   `value = q * scale`, `scale = max |x| / 127`); everything else (biases, norms) is f16,
//!   BatchNorm statistics f32. About a quarter of the f32 size.
//!
//! Loading decodes each tensor straight to f32 and hands it to the module without copying the
//! whole file first; the arithmetic stays f32 on every backend.

use std::borrow::Cow;
use std::collections::HashMap;

use burn::store::burn_pack::Tensor as PackTensor;
use burn::store::{ApplyResult, HalfPrecisionAdapter, ModuleSnapshot, SafetensorsStore};
use burn::tensor::{f16, Bytes, DType};
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;

use super::WeightsDType;
use crate::int8::{dequantize_blocks, quantize_blocks, INT8_BLOCK, INT8_SCALES_SUFFIX};
use crate::models::Classifier;

/// Tensors smaller than this (biases, norms, small kernels) are not quantised.
pub const INT8_MIN_ELEMENTS: usize = 16 * 1024;

/// The model's weights as the bytes of a `model.safetensors` in `dtype`.
pub fn encode(model: &Classifier, dtype: WeightsDType) -> Result<Vec<u8>, String> {
    match dtype {
        WeightsDType::F32 | WeightsDType::F16 => {
            // One metadata entry: safetensors writes the map in hash order, so burn's default
            // three would make two exports of the same weights differ in bytes and checksum.
            let mut store = SafetensorsStore::from_bytes(None).clear_metadata().metadata("format", "safetensors");
            if dtype == WeightsDType::F16 {
                store = store.with_to_adapter(HalfPrecisionAdapter::new());
            }
            model.save_into(&mut store).map_err(|e| e.to_string())?;
            store.get_bytes().map_err(|e| e.to_string())
        }
        WeightsDType::Int8 => encode_int8(model),
    }
}

/// One tensor as stored: its safetensors type, shape and bytes.
struct Stored {
    dtype: Dtype,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl safetensors::View for &Stored {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.bytes)
    }
    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

fn encode_int8(model: &Classifier) -> Result<Vec<u8>, String> {
    let mut stored: Vec<(String, Stored)> = Vec::new();
    // BatchNorm statistics keep their f32 precision, as in f16 files.
    let batch_norm_statistics: Vec<String> = model
        .collect(None, Some(Box::new(HalfPrecisionAdapter::new())), false)
        .into_iter()
        .filter(|t| t.dtype == DType::F32)
        .map(|t| t.name)
        .collect();
    for tensor in model.collect(None, None, false) {
        let (name, dtype, shape, _, bytes) = tensor.into_parts().map_err(|e| e.to_string())?;
        let shape: Vec<usize> = shape.to_vec();
        if dtype != DType::F32 {
            return Err(format!("{name}: {dtype:?} tensors cannot be stored as int8"));
        }
        let values: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
        if shape.len() >= 2 && values.len() >= INT8_MIN_ELEMENTS {
            let (quantised, scales) = quantize_blocks(&values);
            let scale_bytes = scales.iter().flat_map(|s| f16::from_f32(*s).to_le_bytes()).collect();
            stored.push((
                format!("{name}{INT8_SCALES_SUFFIX}"),
                Stored { dtype: Dtype::F16, shape: vec![scales.len()], bytes: scale_bytes },
            ));
            let bytes = quantised.iter().map(|q| *q as u8).collect();
            stored.push((name, Stored { dtype: Dtype::I8, shape, bytes }));
        } else if batch_norm_statistics.contains(&name) {
            stored.push((name, Stored { dtype: Dtype::F32, shape, bytes: bytes.to_vec() }));
        } else {
            let bytes = values.iter().flat_map(|v| f16::from_f32(*v).to_le_bytes()).collect();
            stored.push((name, Stored { dtype: Dtype::F16, shape, bytes }));
        }
    }
    // One entry: safetensors writes the metadata map in hash order, so a second entry would make
    // two exports of the same model differ (and change the bundle's checksum for nothing).
    let metadata = HashMap::from([("format".to_string(), format!("marquee-int8, blocks of {INT8_BLOCK}"))]);
    safetensors::serialize(stored.iter().map(|(name, s)| (name.as_str(), s)), Some(metadata)).map_err(|e| e.to_string())
}

/// Decodes a `model.safetensors` of any stored type into `model`, tensor by tensor, as f32.
pub fn load_into(model: &mut Classifier, bytes: &[u8]) -> Result<ApplyResult, String> {
    let file = SafeTensors::deserialize(bytes).map_err(|e| format!("not a safetensors file: {e}"))?;
    let mut tensors = Vec::with_capacity(file.len());
    for (name, view) in file.iter() {
        if name.ends_with(INT8_SCALES_SUFFIX) {
            continue;
        }
        let values = match view.dtype() {
            Dtype::I8 => {
                let scales_name = format!("{name}{INT8_SCALES_SUFFIX}");
                let scales = file
                    .tensor(&scales_name)
                    .map_err(|_| format!("{name} is int8 but its scales ({scales_name}) are missing"))?;
                dequantize_blocks(view.data(), &to_f32(&scales_name, &scales)?)
                    .map_err(|reason| format!("{name}: {reason}"))?
            }
            _ => to_f32(name, &view)?,
        };
        let shape = view.shape().to_vec();
        tensors.push(PackTensor::new(name.to_string(), DType::F32, shape, None, Bytes::from_elems(values)));
    }
    Ok(model.apply(tensors, None, None, false))
}

/// A float tensor's values as f32.
fn to_f32(name: &str, view: &TensorView<'_>) -> Result<Vec<f32>, String> {
    let data = view.data();
    Ok(match view.dtype() {
        Dtype::F32 => data.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect(),
        Dtype::F16 => data.chunks_exact(2).map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        Dtype::BF16 => {
            data.chunks_exact(2).map(|b| f32::from_bits(u32::from(u16::from_le_bytes([b[0], b[1]])) << 16)).collect()
        }
        other => return Err(format!("{name}: tensors of type {other:?} are not weights Marquee reads")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int8_blocks_round_trip_within_half_a_step() {
        let values: Vec<f32> =
            (0..1000).map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.013 * (1.0 + (i / 64) as f32)).collect();
        let (quantised, scales) = quantize_blocks(&values);
        assert_eq!(scales.len(), 1000usize.div_ceil(INT8_BLOCK));
        let bytes: Vec<u8> = quantised.iter().map(|q| *q as u8).collect();
        let back = dequantize_blocks(&bytes, &scales).unwrap();
        for (i, (v, b)) in values.iter().zip(&back).enumerate() {
            let step = scales[i / INT8_BLOCK];
            assert!((v - b).abs() <= step * 0.5 + 1e-6, "{i}: {v} vs {b} (step {step})");
        }
        // The largest value of each block is exact up to the f16 rounding of its scale.
        assert!(quantised.iter().any(|q| q.abs() == 127));
    }

    #[test]
    fn every_encoding_is_deterministic() {
        use crate::models::simple_cnn::SimpleCnnConfig;
        use crate::models::ImageModelConfig;
        let config =
            ImageModelConfig::SimpleCnn(SimpleCnnConfig { num_genres: 3, channels: [8, 16, 32, 64], dropout: 0.5 });
        let model = crate::models::ModelConfig::Image(config).init(&burn::tensor::Device::flex());
        for dtype in [WeightsDType::F32, WeightsDType::F16, WeightsDType::Int8] {
            let first = encode(&model, dtype).unwrap();
            for _ in 0..4 {
                assert!(encode(&model, dtype).unwrap() == first, "two {dtype:?} encodings of one model differ");
            }
        }
    }

    #[test]
    fn zero_blocks_and_bad_scale_counts() {
        let (quantised, scales) = quantize_blocks(&[0.0; 70]);
        assert!(quantised.iter().all(|q| *q == 0) && scales == [0.0, 0.0]);
        let err = dequantize_blocks(&[0; 70], &[1.0]).unwrap_err();
        assert!(err.contains("1 block scales for 70 values"), "{err}");
    }
}
