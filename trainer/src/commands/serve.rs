//! `marquee serve`: checks the bundle (every part's size and sha256), then serves the page
//! (`www/`) and the bundle at `/models/default/` with the `serve` crate's server (MIME types, the
//! page's Content-Security-Policy, CORS, bounds against abuse).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use model_core::bundle::{bundle_dir, Bundle};
use serve::{default_www, listen, Site};

/// Arguments of `marquee serve`.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// Port to listen on.
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// The bundle served as the page's default model [default: www/models/default].
    #[arg(long)]
    bundle: Option<PathBuf>,
    /// The page's folder [default: ./www, else the repository's www/].
    #[arg(long)]
    www: Option<PathBuf>,
}

/// Runs `marquee serve`.
pub fn run(args: ServeArgs) -> Result<()> {
    let www = args.www.unwrap_or_else(default_www);
    if !www.join("index.html").is_file() {
        bail!("{} has no index.html: pass --www with the page's folder", www.display());
    }
    if !www.join("pkg/cpu/marquee_web_bg.wasm").is_file() {
        eprintln!(
            "warning: {}/pkg has no cpu/marquee_web_bg.wasm: build it with `bash scripts/build-web.sh`",
            www.display()
        );
    }
    let bundle = bundle_dir(&args.bundle.unwrap_or_else(|| www.join("models").join("default")));
    let loaded = Bundle::read_dir(&bundle).with_context(|| {
        format!("the bundle to serve, {}, cannot be read (pass another with --bundle)", bundle.display())
    })?;
    let metrics = &loaded.manifest.info["test"];
    eprintln!(
        "serving the page {} with the bundle {} (\"{}\"{})",
        www.display(),
        bundle.display(),
        loaded.manifest.name,
        match (metrics["micro_f1"].as_f64(), metrics["macro_f1"].as_f64()) {
            (Some(micro), Some(macro_f1)) => format!(", test micro-F1 {micro:.3}, macro-F1 {macro_f1:.3}"),
            _ => String::new(),
        }
    );
    let address = format!("{}:{}", args.host, args.port);
    listen(Site { www, bundle }, &address).with_context(|| format!("cannot listen on {address}"))
}
