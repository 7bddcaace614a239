//! `marquee models`: the registry's models, what each reads, its default recipe, and whether
//! its pretrained files are in the cache; with `--names`, tab-separated lines for scripts
//! (`scripts/train-all.sh`, `scripts/gpu-check.sh`) and tests, so that none lists the models by
//! hand.

use anyhow::Result;
use model_core::models::registry::{pretrained_dir, Architecture, Reads, ARCHITECTURES};

/// Arguments of `marquee models`.
#[derive(clap::Args)]
pub struct ModelsArgs {
    /// One tab-separated line per model, in the registry's order: its name, what it reads
    /// (text, image or both) and whether it can train now (`ready`: its pretrained files are in
    /// the cache or it needs none; `missing` otherwise).
    #[arg(long)]
    names: bool,
}

/// Whether every pretrained file `architecture` starts from is in the cache.
fn ready(architecture: &Architecture) -> bool {
    let cache = pretrained_dir();
    architecture.pretrained.is_none_or(|p| p.files.iter().all(|f| cache.join(f.path).is_file()))
}

/// Runs `marquee models`.
pub fn run(args: ModelsArgs) -> Result<()> {
    let reads = |a: &Architecture| match a.reads {
        Reads::Text => "text",
        Reads::Image => "image",
        Reads::Both => "both",
    };
    if args.names {
        for a in ARCHITECTURES {
            println!("{}\t{}\t{}", a.name, reads(a), if ready(a) { "ready" } else { "missing" });
        }
        return Ok(());
    }
    println!("| model | reads | about | epochs | batch | lr | pretrained files |");
    println!("|---|---|---|---:|---:|---:|---|");
    for a in ARCHITECTURES {
        let pretrained = match (a.pretrained, ready(a)) {
            (None, _) => "none",
            (Some(_), true) => "in the cache",
            (Some(_), false) => "missing (scripts/fetch-pretrained.sh)",
        };
        let r = a.recipe;
        println!(
            "| {} | {} | {} | {} | {} | {} | {pretrained} |",
            a.name,
            reads(a),
            a.about,
            r.epochs,
            r.batch_size,
            r.lr
        );
    }
    Ok(())
}
