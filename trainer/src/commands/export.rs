//! `marquee export`: a run's best model as a bundle (f32, or f16 with `--f16`).

use std::path::PathBuf;

use anyhow::{Context, Result};
use burn::tensor::Device;
use model_core::bundle::{write_bundle, Bundle, BundleContents, TextSpec, WeightsDType};

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
    #[arg(long)]
    f16: bool,
    /// The model's name in the manifest (shown by the page) [default: the run's].
    #[arg(long)]
    name: Option<String>,
}

/// Runs `marquee export`.
pub fn run(args: ExportArgs) -> Result<()> {
    let source = if args.run.join("bundle").is_dir() { args.run.join("bundle") } else { args.run.clone() };
    let bundle =
        Bundle::read_dir(&source).with_context(|| format!("{} holds no finished run or bundle", args.run.display()))?;
    let model = bundle.load_model(&Device::flex())?;
    let text_part = match &bundle.manifest.text {
        Some(TextSpec::Words { file }) | Some(TextSpec::Bert { file, .. }) => {
            Some((file.clone(), bundle.part(file)?.to_vec()))
        }
        None => None,
    };
    let mut manifest = bundle.manifest.clone();
    manifest.dtype = if args.f16 { WeightsDType::F16 } else { WeightsDType::F32 };
    if let Some(name) = args.name {
        manifest.name = name;
    }
    let written = write_bundle(&model, BundleContents { manifest, text_part }, &args.out)?;
    let bytes: u64 = written.parts.values().map(|p| p.bytes).sum();
    println!("wrote {} ({:?}, {:.1} MB)", args.out.display(), written.dtype, bytes as f64 / 1e6);
    Ok(())
}
