//! The feature cache: outputs of frozen parts (a frozen backbone's features, a fusion branch's
//! logits) computed once per movie and kept on disk, keyed by everything they depend on
//! (weights, architecture, preprocessing, the movies), so head training and grid searches take
//! seconds per epoch.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use burn::tensor::Tensor;
use model_core::files::sha256_hex;
use model_core::models::registry::cache_dir;

use super::examples::{Example, SplitExamples};
use super::progress;
use model_core::files::write_atomic;

const MAGIC: &[u8; 4] = b"MQF1";

/// Per-movie vectors by movie id.
pub type FeatureMap = HashMap<String, Arc<Vec<f32>>>;

/// The cache file for `description` over these movies.
fn cache_path(description: &str, examples: &SplitExamples) -> PathBuf {
    let mut key = description.to_string();
    for example in examples.all() {
        key.push('\n');
        key.push_str(&example.id);
    }
    let digest = sha256_hex(key.as_bytes());
    cache_dir().join("features").join(format!("{}.bin", &digest[..32]))
}

/// Returns `compute`'s output for every example of every split, from the cache when it has
/// them, else computing them in batches of 32 with a progress bar and caching the result.
/// `description` must name everything the output depends on.
pub fn cached(
    description: &str,
    examples: &SplitExamples,
    label: &str,
    mut compute: impl FnMut(&[&Example]) -> Result<Tensor<2>>,
) -> Result<FeatureMap> {
    let path = cache_path(description, examples);
    if let Ok(map) = read(&path) {
        if examples.all().all(|e| map.contains_key(&e.id)) {
            eprintln!("{label}: {} cached vectors from {}", map.len(), path.display());
            return Ok(map);
        }
    }
    let all: Vec<&Example> = examples.all().collect();
    let bar = progress::bar(all.len() as u64, label);
    let mut map = FeatureMap::new();
    for chunk in all.chunks(32) {
        let output = compute(chunk)?;
        let [rows, width] = output.dims();
        let values = output.into_data().try_to_vec::<f32>().expect("f32 features");
        for (row, example) in chunk.iter().enumerate().take(rows) {
            map.insert(example.id.clone(), Arc::new(values[row * width..(row + 1) * width].to_vec()));
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    write(&path, &map)?;
    Ok(map)
}

/// Applies `f` (a head, say) to every vector of `map`, in batches of 256 on `device`.
pub fn map_rows(map: &FeatureMap, device: &burn::tensor::Device, f: impl Fn(Tensor<2>) -> Tensor<2>) -> FeatureMap {
    let ids: Vec<&String> = map.keys().collect();
    let width = map.values().next().map_or(0, |v| v.len());
    let mut out = FeatureMap::with_capacity(map.len());
    for chunk in ids.chunks(256) {
        let flat: Vec<f32> = chunk.iter().flat_map(|id| map[*id].iter().copied()).collect();
        let input = Tensor::<2>::from_data(burn::tensor::TensorData::new(flat, [chunk.len(), width]), device);
        let output = f(input);
        let [rows, outputs] = output.dims();
        let values = output.into_data().try_to_vec::<f32>().expect("f32 outputs");
        for (row, id) in chunk.iter().enumerate().take(rows) {
            out.insert((*id).clone(), Arc::new(values[row * outputs..(row + 1) * outputs].to_vec()));
        }
    }
    out
}

fn write(path: &std::path::Path, map: &FeatureMap) -> Result<()> {
    std::fs::create_dir_all(path.parent().expect("cache path has a parent"))?;
    let width = map.values().next().map_or(0, |v| v.len());
    let mut bytes = Vec::with_capacity(map.len() * (width * 4 + 16));
    bytes.extend_from_slice(MAGIC);
    bytes.write_all(&(map.len() as u32).to_le_bytes())?;
    bytes.write_all(&(width as u32).to_le_bytes())?;
    let mut ids: Vec<&String> = map.keys().collect();
    ids.sort();
    for id in ids {
        bytes.write_all(&(id.len() as u16).to_le_bytes())?;
        bytes.write_all(id.as_bytes())?;
        for v in map[id].iter() {
            bytes.write_all(&v.to_le_bytes())?;
        }
    }
    Ok(write_atomic(path, &bytes)?)
}

fn read(path: &std::path::Path) -> Result<FeatureMap> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)?.read_to_end(&mut bytes)?;
    let mut cursor = &bytes[..];
    let mut take = |n: usize| -> Result<&[u8]> {
        if cursor.len() < n {
            bail!("truncated feature cache {}", path.display());
        }
        let (head, rest) = cursor.split_at(n);
        cursor = rest;
        Ok(head)
    };
    if take(4)? != MAGIC {
        bail!("not a feature cache: {}", path.display());
    }
    let count = u32::from_le_bytes(take(4)?.try_into()?) as usize;
    let width = u32::from_le_bytes(take(4)?.try_into()?) as usize;
    let mut map = FeatureMap::with_capacity(count);
    for _ in 0..count {
        let len = u16::from_le_bytes(take(2)?.try_into()?) as usize;
        let id = String::from_utf8(take(len)?.to_vec()).context("feature cache id")?;
        let values = take(width * 4)?.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
        map.insert(id, Arc::new(values));
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.bin");
        let mut map = FeatureMap::new();
        map.insert("tt1".into(), Arc::new(vec![1.0, -2.5]));
        map.insert("tt22".into(), Arc::new(vec![0.0, 3.25]));
        write(&path, &map).unwrap();
        assert_eq!(read(&path).unwrap(), map);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        assert!(read(&path).unwrap_err().to_string().contains("truncated"));
    }
}
