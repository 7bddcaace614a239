//! Symmetric int8 quantisation in blocks: [`INT8_BLOCK`] consecutive values share one scale
//! (`value = q * scale`, `scale = max |x| / 127`, rounded to f16). The bundle's int8 weights
//! ([`crate::bundle::weights`]) and the lexical branch's part ([`crate::stacking::lexical`]) store
//! their values this way.

use burn::tensor::f16;

/// Elements per int8 block, each block with one scale.
pub const INT8_BLOCK: usize = 64;
/// The suffix of the tensor holding an int8 tensor's block scales.
pub const INT8_SCALES_SUFFIX: &str = ".int8_block_scales";

/// Symmetric int8 quantisation in blocks of [`INT8_BLOCK`]: the values and each block's scale
/// (the scale is rounded to f16 first, so that decoding with the stored scale is exact to it).
pub fn quantize_blocks(values: &[f32]) -> (Vec<i8>, Vec<f32>) {
    let mut quantised = Vec::with_capacity(values.len());
    let mut scales = Vec::with_capacity(values.len().div_ceil(INT8_BLOCK));
    for block in values.chunks(INT8_BLOCK) {
        let max = block.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let scale = f16::from_f32(max / 127.0).to_f32();
        let inverse = if scale > 0.0 { 1.0 / scale } else { 0.0 };
        quantised.extend(block.iter().map(|v| (v * inverse).round().clamp(-127.0, 127.0) as i8));
        scales.push(scale);
    }
    (quantised, scales)
}

/// The values of int8 `data` with one scale per [`INT8_BLOCK`] elements.
pub fn dequantize_blocks(data: &[u8], scales: &[f32]) -> Result<Vec<f32>, String> {
    if scales.len() != data.len().div_ceil(INT8_BLOCK) {
        return Err(format!("{} block scales for {} values in blocks of {INT8_BLOCK}", scales.len(), data.len()));
    }
    let mut values = Vec::with_capacity(data.len());
    for (block, scale) in data.chunks(INT8_BLOCK).zip(scales) {
        values.extend(block.iter().map(|q| f32::from(*q as i8) * scale));
    }
    Ok(values)
}
