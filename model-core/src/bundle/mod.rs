//! The model bundle: the one format that carries a trained model from the trainer to
//! `marquee predict`, `marquee eval` and the browser.
//!
//! A bundle is a folder of three kinds of part:
//! - `manifest.json`: format version, architecture config, genres, per-genre thresholds,
//!   preprocessing parameters, model name, provenance, and the sha256 and size of every other
//!   part;
//! - `model.safetensors`: the weights, in f32, f16 or int8 ([`weights`] says how);
//! - the text preprocessor: `tokenizer.json` (BERT) or `vocab.json` (word vocabulary).
//!
//! It loads on any backend, native or wasm, from a folder or from bytes. Every part is checked
//! (present, right size, right checksum, right shapes) before a model is returned, so a bad
//! bundle is refused whole with a message naming the part, and nothing is half-loaded.

pub mod weights;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::files::sha256_hex;
use crate::models::fusion::{Branch, BranchThresholds};
use crate::models::{Classifier, ModelConfig};
use crate::preprocess::image::ImagePreprocessing;
use crate::preprocess::text::{BertTokenizer, WordVocab};
use crate::preprocess::{TextPreprocessor, TextSpec};
use crate::stacking::lexical::{LexicalModel, LexicalSpec};

/// The format name every manifest carries.
pub const FORMAT_NAME: &str = "marquee-bundle";
/// The newest format version this build reads: 2 added int8 weights, 3 the lexical branch.
/// Bundles are written in the oldest version that holds them (f32 and f16 in 1, int8 in 2,
/// any with a lexical branch in 3), so older readers keep reading what they can.
pub const FORMAT_VERSION: u32 = 3;
/// The manifest's file name.
pub const MANIFEST: &str = "manifest.json";
/// The weights' file name.
pub const WEIGHTS: &str = "model.safetensors";

/// The floating-point type the weights are stored in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WeightsDType {
    /// 32-bit floats: exact.
    F32,
    /// 16-bit floats: half the size (BatchNorm statistics stay f32).
    F16,
    /// 8-bit integers in blocks with f16 scales for the large matrices and kernels, f16 for
    /// the rest: about a quarter of the f32 size (format version 2).
    Int8,
}

impl WeightsDType {
    /// The format version a bundle of these weights is written in.
    pub fn format_version(self) -> u32 {
        match self {
            Self::F32 | Self::F16 => 1,
            Self::Int8 => 2,
        }
    }
}

/// One part's size and checksum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartEntry {
    /// Lower-case hex sha256 of the part's bytes.
    pub sha256: String,
    /// The part's size in bytes.
    pub bytes: u64,
}

impl PartEntry {
    /// Checks that `bytes`, part `name` of the bundle at `source`, have the manifest's size.
    pub fn check_size(&self, bytes: &[u8], source: &str, name: &str) -> Result<()> {
        if bytes.len() as u64 != self.bytes {
            let reason = format!("{} bytes, the manifest says {} (truncated or replaced)", bytes.len(), self.bytes);
            return Err(Error::Bundle { bundle: source.into(), part: name.into(), reason });
        }
        Ok(())
    }

    /// Checks that `bytes` have the manifest's size and sha256.
    pub fn check(&self, bytes: &[u8], source: &str, name: &str) -> Result<()> {
        self.check_size(bytes, source, name)?;
        let actual = sha256_hex(bytes);
        if actual != self.sha256 {
            let reason = format!("sha256 {actual} does not match the manifest's {} (corrupt or replaced)", self.sha256);
            return Err(Error::Bundle { bundle: source.into(), part: name.into(), reason });
        }
        Ok(())
    }
}

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT_NAME`].
    pub format: String,
    /// The format version it was written in.
    pub format_version: u32,
    /// A human-readable model name.
    pub name: String,
    /// The architecture.
    pub model: ModelConfig,
    /// Genre names; output `i` is `genres[i]`.
    pub genres: Vec<String>,
    /// Per-genre decision thresholds (tuned on validation).
    pub thresholds: Vec<f32>,
    /// For fusion models: each branch's own thresholds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch_thresholds: Option<BranchThresholds>,
    /// How posters are preprocessed (absent for text-only models).
    pub image: Option<ImagePreprocessing>,
    /// How plots are preprocessed (absent for image-only models).
    pub text: Option<TextSpec>,
    /// How the weights are stored.
    pub dtype: WeightsDType,
    /// The lexical branch blended with the model, if any (format version 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lexical: Option<LexicalSpec>,
    /// Every other part, by file name.
    pub parts: BTreeMap<String, PartEntry>,
    /// Provenance: data, split, commit, metrics... (free-form).
    #[serde(default)]
    pub info: serde_json::Value,
}

/// What a bundle is made of before it is written: the manifest's content without the parts
/// table, plus the parts' bytes.
#[derive(Debug, Clone)]
pub struct BundleContents {
    /// The manifest; its `parts`, `format` and `format_version` are filled in on write.
    pub manifest: Manifest,
    /// The text preprocessor's part, by file name.
    pub text_part: Option<(String, Vec<u8>)>,
    /// The lexical branch's part ([`LexicalSpec::file`]), if the manifest names one.
    pub lexical_part: Option<Vec<u8>>,
}

/// Writes `model` and `contents` as a bundle folder at `out`, atomically: everything is
/// written to a sibling temporary folder first, then renamed into place, so an existing bundle
/// at `out` is only replaced by a complete one.
pub fn write_bundle(model: &Classifier, contents: BundleContents, out: &Path) -> Result<Manifest> {
    let weights = weights::encode(model, contents.manifest.dtype).map_err(|e| bundle_error(out, WEIGHTS, e))?;
    write_bundle_with_weights(weights, contents, out)
}

/// Writes a bundle whose weights part is already encoded (by [`weights::encode`], in the
/// manifest's `dtype`), atomically as [`write_bundle`] does.
pub fn write_bundle_with_weights(weights: Vec<u8>, contents: BundleContents, out: &Path) -> Result<Manifest> {
    let (manifest, parts) = assemble(weights, contents);
    let manifest_json = serde_json::to_vec_pretty(&manifest).expect("manifest serialises");
    crate::files::replace_dir::<Error>(out, |staging| {
        for (name, bytes) in
            parts.iter().map(|(n, b)| (n.as_str(), b.as_slice())).chain([(MANIFEST, &manifest_json[..])])
        {
            let path = staging.join(name);
            std::fs::write(&path, bytes).map_err(|e| Error::io(&path, e))?;
        }
        Ok(())
    })?;
    Ok(manifest)
}

/// The manifest with its parts table filled in, and the parts, by file name.
fn assemble(weights: Vec<u8>, contents: BundleContents) -> (Manifest, BTreeMap<String, Vec<u8>>) {
    let BundleContents { mut manifest, text_part, lexical_part } = contents;
    let mut parts = BTreeMap::from([(WEIGHTS.to_string(), weights)]);
    parts.extend(text_part);
    if let (Some(spec), Some(bytes)) = (&manifest.lexical, lexical_part) {
        parts.insert(spec.file.clone(), bytes);
    }
    manifest.format = FORMAT_NAME.into();
    manifest.format_version = match manifest.lexical {
        Some(_) => 3,
        None => manifest.dtype.format_version(),
    };
    manifest.parts = parts
        .iter()
        .map(|(name, bytes)| (name.clone(), PartEntry { sha256: sha256_hex(bytes), bytes: bytes.len() as u64 }))
        .collect();
    (manifest, parts)
}

fn bundle_error(bundle: &Path, part: &str, reason: String) -> Error {
    Error::Bundle { bundle: bundle.display().to_string(), part: part.into(), reason }
}

/// The bundle folder `path` names: `path` itself, or the `bundle/` folder of a run folder.
/// Every command that takes a bundle resolves its argument here.
pub fn bundle_dir(path: &Path) -> PathBuf {
    match path.join(MANIFEST).is_file() || !path.join("bundle").join(MANIFEST).is_file() {
        true => path.to_path_buf(),
        false => path.join("bundle"),
    }
}

/// A bundle read into memory and verified: every part present, of the right size and checksum.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// Where it came from (a path or URL), for messages.
    pub source: String,
    /// The manifest.
    pub manifest: Manifest,
    parts: BTreeMap<String, Vec<u8>>,
}

impl Bundle {
    /// Reads and verifies the bundle folder at `dir`.
    pub fn read_dir(dir: &Path) -> Result<Self> {
        let source = dir.display().to_string();
        let manifest_path = dir.join(MANIFEST);
        let manifest_bytes = std::fs::read(&manifest_path).map_err(|e| Error::Bundle {
            bundle: source.clone(),
            part: MANIFEST.into(),
            reason: e.to_string(),
        })?;
        let manifest = Self::parse_manifest(&manifest_bytes, &source)?;
        let mut parts = BTreeMap::new();
        for name in manifest.parts.keys() {
            let path = dir.join(name);
            let bytes = std::fs::read(&path).map_err(|e| Error::Bundle {
                bundle: source.clone(),
                part: name.clone(),
                reason: format!("cannot read {}: {e}", path.display()),
            })?;
            parts.insert(name.clone(), bytes);
        }
        Self::from_parts(&source, manifest, parts)
    }

    /// Parses and checks a manifest: its format name and version.
    pub fn parse_manifest(bytes: &[u8], source: &str) -> Result<Manifest> {
        let fail = |reason: String| Error::Bundle { bundle: source.into(), part: MANIFEST.into(), reason };
        let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| fail(format!("not JSON: {e}")))?;
        if value.get("format").and_then(|f| f.as_str()) != Some(FORMAT_NAME) {
            return Err(fail(format!("not a Marquee bundle manifest (no \"format\": \"{FORMAT_NAME}\")")));
        }
        let version = value.get("format_version").and_then(|v| v.as_u64()).unwrap_or(0);
        if version > u64::from(FORMAT_VERSION) {
            return Err(fail(format!(
                "format version {version} is newer than this Marquee reads ({FORMAT_VERSION}); upgrade Marquee"
            )));
        }
        serde_json::from_value(value).map_err(|e| fail(e.to_string()))
    }

    /// A bundle assembled in memory (not written), e.g. to evaluate a conversion before saving it.
    pub fn in_memory(source: &str, weights: Vec<u8>, contents: BundleContents) -> Result<Self> {
        // The parts table was just computed from these very bytes: no second hash.
        let (manifest, parts) = assemble(weights, contents);
        Self::from_checksummed_parts(source, manifest, parts)
    }

    /// Verifies parts fetched by other means (the browser) against the manifest: present, of
    /// the right size and checksum.
    pub fn from_parts(source: &str, manifest: Manifest, parts: BTreeMap<String, Vec<u8>>) -> Result<Self> {
        for (name, entry) in &manifest.parts {
            let bytes = parts.get(name).ok_or_else(|| bundle_error(Path::new(source), name, "missing".into()))?;
            entry.check(bytes, source, name)?;
        }
        Self::from_checksummed_parts(source, manifest, parts)
    }

    /// Like [`Bundle::from_parts`] for parts whose sha256 the caller has already checked against
    /// this manifest (the browser's cache holds parts under their checksum, verified when
    /// stored): only presence and sizes are checked here.
    pub fn from_checksummed_parts(source: &str, manifest: Manifest, parts: BTreeMap<String, Vec<u8>>) -> Result<Self> {
        for (name, entry) in &manifest.parts {
            let bytes = parts.get(name).ok_or_else(|| bundle_error(Path::new(source), name, "missing".into()))?;
            entry.check_size(bytes, source, name)?;
        }
        let genres = manifest.genres.len();
        if genres == 0 || manifest.thresholds.len() != genres {
            return Err(Error::Bundle {
                bundle: source.into(),
                part: MANIFEST.into(),
                reason: format!("{} thresholds for {genres} genres", manifest.thresholds.len()),
            });
        }
        Ok(Self { source: source.into(), manifest, parts })
    }

    /// One part's bytes.
    pub fn part(&self, name: &str) -> Result<&[u8]> {
        self.parts.get(name).map(Vec::as_slice).ok_or_else(|| Error::Bundle {
            bundle: self.source.clone(),
            part: name.into(),
            reason: "missing".into(),
        })
    }

    /// Reads the bundle `path` names: a bundle folder, or a run folder holding one ([`bundle_dir`]).
    pub fn open(path: &Path) -> Result<Self> {
        Self::read_dir(&bundle_dir(path))
    }

    /// The bundle as a fusion's branch: its model loaded on `device`, its preprocessing and parts.
    pub fn branch(&self, device: &Device) -> Result<Branch> {
        Ok(Branch {
            source: self.source.clone(),
            name: self.manifest.name.clone(),
            genres: self.manifest.genres.clone(),
            config: self.manifest.model.clone(),
            model: self.load_model(device)?,
            text: self.text_preprocessor()?,
            text_part: self.text_part()?,
            text_spec: self.manifest.text.clone(),
            image: self.manifest.image,
            thresholds: self.manifest.thresholds.clone(),
            weights_sha256: self.manifest.parts[WEIGHTS].sha256.clone(),
        })
    }

    /// The tokenizer or vocabulary part the manifest names (name, bytes), if it reads plots.
    pub fn text_part(&self) -> Result<Option<(String, Vec<u8>)>> {
        match &self.manifest.text {
            Some(TextSpec::Words { file }) | Some(TextSpec::Bert { file, .. }) => {
                Ok(Some((file.clone(), self.part(file)?.to_vec())))
            }
            None => Ok(None),
        }
    }

    /// Builds the text preprocessor the manifest names.
    pub fn text_preprocessor(&self) -> Result<Option<TextPreprocessor>> {
        let Some(spec) = &self.manifest.text else {
            return Ok(None);
        };
        Ok(Some(match spec {
            TextSpec::Words { file } => {
                let vocab: WordVocab = serde_json::from_slice(self.part(file)?).map_err(|e| Error::Bundle {
                    bundle: self.source.clone(),
                    part: file.clone(),
                    reason: e.to_string(),
                })?;
                TextPreprocessor::Words(vocab.reindexed())
            }
            TextSpec::Bert { file, max_len } => {
                TextPreprocessor::Bert(BertTokenizer::from_bytes(self.part(file)?, *max_len, file)?)
            }
        }))
    }

    /// Builds the model on `device` and loads its weights. Shapes are checked tensor by tensor;
    /// a mismatch is an error naming the tensor.
    pub fn load_model(&self, device: &Device) -> Result<Classifier> {
        let fail = |reason: String| Error::Bundle { bundle: self.source.clone(), part: WEIGHTS.into(), reason };
        let mut model = self.manifest.model.init(device);
        let result = weights::load_into(&mut model, self.part(WEIGHTS)?).map_err(fail)?;
        crate::models::check_applied(&result, &[], &format!("{}/{WEIGHTS}", self.source))
            .map_err(|e| fail(e.to_string()))?;
        if !result.unused.is_empty() {
            return Err(fail(format!("tensors the architecture does not have: {}", result.unused.join(", "))));
        }
        // Inference only: no gradients, dropout off, BatchNorm on running statistics.
        Ok(model.valid())
    }

    /// Reads the lexical branch the manifest names, if any, and checks its blends' shapes.
    pub fn load_lexical(&self) -> Result<Option<LexicalModel>> {
        let Some(spec) = &self.manifest.lexical else { return Ok(None) };
        let genres = self.manifest.genres.len();
        let fail = |reason: String| Error::Bundle { bundle: self.source.clone(), part: MANIFEST.into(), reason };
        let fusion = matches!(self.manifest.model, ModelConfig::Fusion(_));
        let full_sources = if fusion && spec.reads_branches() { 4 } else { 2 };
        for (blend, sources) in [(Some(&spec.blend), full_sources), (spec.text_blend.as_ref(), 2)] {
            let Some(blend) = blend else { continue };
            if blend.genres() != genres || blend.weights.iter().any(|w| w.len() != sources) {
                return Err(fail(format!("a lexical blend is not {sources} sources for each of {genres} genres")));
            }
        }
        let model =
            LexicalModel::from_bytes(self.part(&spec.file)?, genres, &format!("{}/{}", self.source, spec.file))?;
        Ok(Some(model))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::Batch;
    use crate::models::simple_cnn::SimpleCnnConfig;
    use crate::models::ImageModelConfig;
    use crate::preprocess::image::Normalization;
    use burn::tensor::{Distribution, Tensor};

    fn contents(dtype: WeightsDType) -> BundleContents {
        BundleContents {
            manifest: Manifest {
                format: String::new(),
                format_version: 0,
                name: "tiny cnn".into(),
                model: ModelConfig::Image(ImageModelConfig::SimpleCnn(SimpleCnnConfig {
                    num_genres: 3,
                    channels: [8, 16, 32, 64],
                    dropout: 0.5,
                })),
                genres: vec!["Drama".into(), "Comedy".into(), "War".into()],
                thresholds: vec![0.5, 0.4, 0.3],
                branch_thresholds: None,
                image: Some(ImagePreprocessing::new(Normalization::HALF)),
                text: None,
                dtype,
                lexical: None,
                parts: BTreeMap::new(),
                info: serde_json::json!({"data": "test"}),
            },
            text_part: None,
            lexical_part: None,
        }
    }

    fn write(dir: &Path, dtype: WeightsDType) -> (Classifier, Manifest) {
        let device = Device::flex();
        let contents = contents(dtype);
        let model = contents.manifest.model.init(&device);
        let manifest = write_bundle(&model, contents, dir).unwrap();
        (model, manifest)
    }

    #[test]
    fn round_trip_f32_f16_and_int8() {
        let tmp = tempfile::tempdir().unwrap();
        let device = Device::flex();
        let image = Tensor::<4>::random([2, 3, 64, 64], Distribution::Uniform(0.0, 1.0), &device);
        let mut sizes = Vec::new();
        for (dtype, version, tolerance) in
            [(WeightsDType::F32, 1, 0.0), (WeightsDType::F16, 1, 2e-3), (WeightsDType::Int8, 2, 2e-2)]
        {
            let dir = tmp.path().join(format!("{dtype:?}"));
            let (model, manifest) = write(&dir, dtype);
            let bundle = Bundle::read_dir(&dir).unwrap();
            assert_eq!(bundle.manifest, manifest);
            assert_eq!(bundle.manifest.format_version, version);
            sizes.push(manifest.parts[WEIGHTS].bytes);
            let loaded = bundle.load_model(&device).unwrap();
            let batch = Batch { images: Some(image.clone()), ..Batch::default() };
            let want = model.valid().forward(&batch).into_data().try_to_vec::<f32>().unwrap();
            let got = loaded.forward(&batch).into_data().try_to_vec::<f32>().unwrap();
            for (w, g) in want.iter().zip(&got) {
                assert!((w - g).abs() <= tolerance * (1.0 + w.abs()), "{dtype:?}: {g} vs {w}");
            }
        }
        // Only this small model's largest kernel is large enough to be stored as int8.
        assert!(sizes[2] < sizes[1] && sizes[1] < sizes[0], "f32 > f16 > int8: {sizes:?}");
    }

    #[test]
    fn checksums_are_checked_unless_the_caller_vouches_for_them() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("b");
        let (_, manifest) = write(&dir, WeightsDType::F32);
        let mut weights = std::fs::read(dir.join(WEIGHTS)).unwrap();
        let last = weights.len() - 1;
        weights[last] ^= 1;
        let parts = BTreeMap::from([(WEIGHTS.to_string(), weights)]);
        let err = Bundle::from_parts("b", manifest.clone(), parts.clone()).unwrap_err().to_string();
        assert!(err.contains("sha256"), "{err}");
        Bundle::from_checksummed_parts("b", manifest.clone(), parts).unwrap();
        let err = Bundle::from_checksummed_parts("b", manifest, BTreeMap::new()).unwrap_err().to_string();
        assert!(err.contains("part model.safetensors") && err.contains("missing"), "{err}");
    }

    fn error_of(dir: &Path) -> String {
        Bundle::read_dir(dir).and_then(|b| b.load_model(&Device::flex()).map(|_| ())).unwrap_err().to_string()
    }

    #[test]
    fn bad_bundles_are_refused_naming_the_part() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("b");
        write(&dir, WeightsDType::F32);
        let weights = std::fs::read(dir.join(WEIGHTS)).unwrap();
        let manifest = std::fs::read_to_string(dir.join(MANIFEST)).unwrap();

        std::fs::write(dir.join(WEIGHTS), &weights[..weights.len() / 2]).unwrap();
        let err = error_of(&dir);
        assert!(err.contains("part model.safetensors") && err.contains("truncated"), "{err}");

        let mut flipped = weights.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        std::fs::write(dir.join(WEIGHTS), &flipped).unwrap();
        let err = error_of(&dir);
        assert!(err.contains("part model.safetensors") && err.contains("sha256"), "{err}");

        std::fs::remove_file(dir.join(WEIGHTS)).unwrap();
        let err = error_of(&dir);
        assert!(err.contains("part model.safetensors") && err.contains("cannot read"), "{err}");
        std::fs::write(dir.join(WEIGHTS), &weights).unwrap();

        let newer = manifest.replace("\"format_version\": 1", "\"format_version\": 7");
        std::fs::write(dir.join(MANIFEST), newer).unwrap();
        let err = error_of(&dir);
        assert!(err.contains("part manifest.json") && err.contains("format version 7 is newer"), "{err}");

        // Same bytes, but the manifest claims a wider model: shapes are checked per tensor.
        let wider = manifest.replace("\"channels\": [\n        8,", "\"channels\": [\n        12,");
        assert_ne!(wider, manifest, "the replacement must hit");
        std::fs::write(dir.join(MANIFEST), wider).unwrap();
        let err = error_of(&dir);
        assert!(err.contains("part model.safetensors") && err.to_lowercase().contains("shape"), "{err}");

        std::fs::write(dir.join(MANIFEST), b"{\"format\": \"something else\"}").unwrap();
        let err = error_of(&dir);
        assert!(err.contains("not a Marquee bundle manifest"), "{err}");
    }

    #[test]
    fn a_lexical_branch_is_written_as_version_3_and_its_blends_checked() {
        use crate::stacking::blend::Blend;
        use crate::stacking::lexical::{LexicalConfig, LexicalModel, Lexicon, LEXICAL_PART};
        let plots = ["war at sea", "a comedy of love", "war and love"];
        let lexicon = Lexicon::build(&plots, &LexicalConfig { min_df: 1, ..LexicalConfig::default() });
        let vectors: Vec<_> = plots.iter().map(|p| lexicon.vectorize(p)).collect();
        let targets = [0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0];
        let lexical = LexicalModel::fit(lexicon, &vectors, &targets, 3, 1e-3);
        let blend = |genres: usize| Blend { weights: vec![vec![1.0, 0.5]; genres], bias: vec![0.0; genres] };
        let tmp = tempfile::tempdir().unwrap();
        let mut contents = contents(WeightsDType::Int8);
        contents.manifest.lexical = Some(LexicalSpec {
            file: LEXICAL_PART.into(),
            config: LexicalConfig::default(),
            blend: blend(3),
            text_blend: None,
        });
        contents.lexical_part = Some(lexical.to_bytes());
        let model = contents.manifest.model.init(&Device::flex());
        let dir = tmp.path().join("lexical");
        let manifest = write_bundle(&model, contents.clone(), &dir).unwrap();
        assert_eq!(manifest.format_version, 3);
        assert!(manifest.parts.contains_key(LEXICAL_PART));
        let bundle = Bundle::read_dir(&dir).unwrap();
        assert_eq!(bundle.load_lexical().unwrap().unwrap(), lexical.quantized());

        // A blend for other genres, or with sources the model cannot give, is refused.
        for (genres, sources) in [(2, 2), (3, 4)] {
            let mut bad = contents.clone();
            let mut wrong = blend(genres);
            wrong.weights.iter_mut().for_each(|w| w.resize(sources, 0.1));
            bad.manifest.lexical.as_mut().unwrap().blend = wrong;
            let dir = tmp.path().join(format!("bad-{genres}-{sources}"));
            write_bundle(&model, bad, &dir).unwrap();
            let err = Bundle::read_dir(&dir).unwrap().load_lexical().unwrap_err().to_string();
            assert!(err.contains("manifest.json") && err.contains("lexical blend"), "{err}");
        }
    }
}
