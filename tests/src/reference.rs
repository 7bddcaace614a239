//! ResNet-50 weights under torchvision's names, made by the deterministic formula of
//! `scripts/reference/resnet50_reference.py`, so Rust tests rebuild exactly the tensors that
//! PyTorch's reference outputs were computed with (no download needed).

/// The reference fixture `model-core/tests/fixtures/resnet50_reference.json`.
pub fn resnet50_fixture() -> serde_json::Value {
    // Both crates that use this live beside model-core, so `..` is the repository either way.
    let path = crate::manifest_dir().join("../model-core/tests/fixtures/resnet50_reference.json");
    serde_json::from_slice(&std::fs::read(&path).expect("resnet50_reference.json")).expect("fixture is JSON")
}

/// The formula's values for tensor `k` (in state-dict order) named `name`.
pub fn formula_values(k: usize, name: &str, shape: &[usize]) -> Vec<f32> {
    let n: usize = shape.iter().product();
    (0..n)
        .map(|j| {
            let base = (0.001 * j as f64 * (k + 1) as f64 + k as f64).sin();
            let value = if shape.len() == 4 {
                base * (3.0 / (shape[1] * shape[2] * shape[3]) as f64).sqrt()
            } else if name == "fc.weight" {
                base * (3.0f64 / 2048.0).sqrt()
            } else if name == "fc.bias" {
                0.01 * base
            } else if name.ends_with("running_var") {
                1.0 + 0.5 * base.abs()
            } else if name.ends_with("weight") {
                1.0 + 0.1 * base
            } else {
                // BatchNorm bias and running_mean.
                0.1 * base
            };
            value as f32
        })
        .collect()
}

/// Every tensor of torchvision's `resnet50()` state dict, set by the formula.
pub fn resnet50_formula_tensors() -> Vec<(String, Vec<usize>, Vec<f32>)> {
    resnet50_fixture()["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .enumerate()
        .map(|(k, entry)| {
            let name = entry["name"].as_str().expect("name").to_string();
            let shape: Vec<usize> =
                entry["shape"].as_array().expect("shape").iter().map(|v| v.as_u64().expect("dim") as usize).collect();
            let values = formula_values(k, &name, &shape);
            (name, shape, values)
        })
        .collect()
}

/// A safetensors file holding `tensors` (name, shape, f32 values).
pub fn safetensors(tensors: &[(String, Vec<usize>, Vec<f32>)]) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    let mut offset = 0usize;
    for (name, shape, values) in tensors {
        let end = offset + values.len() * 4;
        header.insert(name.clone(), serde_json::json!({"dtype": "F32", "shape": shape, "data_offsets": [offset, end]}));
        offset = end;
    }
    let mut header = serde_json::to_vec(&header).expect("header");
    while !header.len().is_multiple_of(8) {
        header.push(b' ');
    }
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(&header);
    for (_, _, values) in tensors {
        for v in values {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
    }
    bytes
}
