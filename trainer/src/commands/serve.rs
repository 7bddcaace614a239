//! `marquee serve`: serves the page (`www/`) and a bundle at `/models/default/` over HTTP, with
//! the MIME types browsers insist on (`application/wasm`), the page's Content-Security-Policy,
//! and CORS so that other sites can embed the widget.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use model_core::bundle::Bundle;

/// Where the default bundle is served.
pub const DEFAULT_BUNDLE_ROUTE: &str = "/models/default/";

/// The policy the page and the widget are built (and tested) to work under.
pub const CONTENT_SECURITY_POLICY: &str = "script-src 'self' 'wasm-unsafe-eval'; object-src 'none'; base-uri 'self'";

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

/// What the server serves.
#[derive(Debug, Clone)]
pub struct Site {
    /// The page's folder.
    pub www: PathBuf,
    /// The folder served at [`DEFAULT_BUNDLE_ROUTE`].
    pub bundle: PathBuf,
}

impl Site {
    /// The file a URL path names, or `None` (404) for paths outside the site, with `..`, or
    /// missing files. Folders serve their `index.html`. Repeated slashes count as one, as in most
    /// servers, so `//models/default/` is the bundle too (and never the page's own copy).
    pub fn resolve(&self, url_path: &str) -> Option<PathBuf> {
        let path = url_path.split(['?', '#']).next().unwrap_or("");
        let path = percent_decode(path)?;
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let route: Vec<&str> = DEFAULT_BUNDLE_ROUTE.split('/').filter(|s| !s.is_empty()).collect();
        let (root, rest) = match segments.strip_prefix(route.as_slice()) {
            Some(rest) => (&self.bundle, rest),
            None => (&self.www, segments.as_slice()),
        };
        let relative: PathBuf = rest.iter().collect();
        if !rest.iter().all(|s| matches!(Path::new(s).components().collect::<Vec<_>>()[..], [Component::Normal(_)])) {
            return None;
        }
        let mut file = root.join(relative);
        if file.is_dir() {
            file = file.join("index.html");
        }
        // A link inside the site may point anywhere: what is served must really lie inside.
        let (real, real_root) = (file.canonicalize().ok()?, root.canonicalize().ok()?);
        (real.starts_with(&real_root) && real.is_file()).then_some(file)
    }
}

/// The Content-Type of a served file.
pub fn mime_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "txt" | "md" => "text/plain; charset=utf-8",
        "ico" => "image/x-icon",
        _ => "application/octet-stream",
    }
}

fn percent_decode(path: &str) -> Option<String> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn default_www() -> PathBuf {
    let here = PathBuf::from("www");
    if here.join("index.html").is_file() {
        return here;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("www")
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
    let bundle = args.bundle.unwrap_or_else(|| www.join("models").join("default"));
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
    let site = Arc::new(Site { www, bundle });
    let address = format!("{}:{}", args.host, args.port);
    let server =
        Arc::new(tiny_http::Server::http(&address).map_err(|e| anyhow::anyhow!("cannot listen on {address}: {e}"))?);
    // With --port 0 the system picks a free port: say which.
    let bound = server.server_addr().to_ip().map(|a| a.to_string()).unwrap_or(address);
    eprintln!("open http://{bound}/  (Ctrl-C stops)");
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (server, site) = (Arc::clone(&server), Arc::clone(&site));
            std::thread::spawn(move || {
                for request in server.incoming_requests() {
                    answer(&site, request);
                }
            })
        })
        .collect();
    for worker in workers {
        let _ = worker.join();
    }
    Ok(())
}

fn header(name: &str, value: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("ASCII header")
}

fn answer(site: &Site, request: tiny_http::Request) {
    use tiny_http::{Method, Response};
    let common = [
        header("Access-Control-Allow-Origin", "*"),
        header("Cache-Control", "no-cache"),
        header("X-Content-Type-Options", "nosniff"),
    ];
    let is_head = *request.method() == Method::Head;
    if !matches!(request.method(), Method::Get | Method::Head) {
        let mut response = Response::from_string("only GET and HEAD").with_status_code(405);
        common.into_iter().for_each(|h| response.add_header(h));
        let _ = request.respond(response);
        return;
    }
    let file = site.resolve(request.url()).and_then(|path| std::fs::File::open(&path).ok().map(|f| (path, f)));
    let result = match file {
        Some((path, file)) => {
            let mut response = Response::from_file(file).with_header(header("Content-Type", mime_type(&path)));
            common.into_iter().for_each(|h| response.add_header(h));
            if path.extension().is_some_and(|e| e == "html") {
                response.add_header(header("Content-Security-Policy", CONTENT_SECURITY_POLICY));
            }
            if is_head {
                let length = response.data_length();
                let mut head = Response::empty(200);
                response.headers().iter().cloned().for_each(|h| head.add_header(h));
                if let Some(length) = length {
                    head.add_header(header("Content-Length", &length.to_string()));
                }
                request.respond(head)
            } else {
                request.respond(response)
            }
        }
        None => {
            let mut response = Response::from_string(format!("404: {} is not here", request.url()))
                .with_status_code(404)
                .with_header(header("Content-Type", "text/plain; charset=utf-8"));
            common.into_iter().for_each(|h| response.add_header(h));
            request.respond(response)
        }
    };
    if let Err(error) = result {
        // A visitor closing the tab mid-download is not the server's problem.
        if error.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("warning: answering a request: {error}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use model_core::bundle::MANIFEST;

    fn site() -> (tempfile::TempDir, Site) {
        let dir = tempfile::tempdir().unwrap();
        let www = dir.path().join("www");
        let bundle = dir.path().join("bundle");
        std::fs::create_dir_all(www.join("pkg/cpu")).unwrap();
        std::fs::create_dir_all(&bundle).unwrap();
        std::fs::write(www.join("index.html"), "<!doctype html>").unwrap();
        std::fs::write(www.join("pkg/cpu/marquee_web_bg.wasm"), b"\0asm").unwrap();
        std::fs::write(bundle.join(MANIFEST), "{}").unwrap();
        std::fs::write(dir.path().join("secret.txt"), "no").unwrap();
        (dir, Site { www, bundle })
    }

    #[test]
    fn paths_resolve_inside_the_site_only() {
        let (_dir, site) = site();
        assert!(site.resolve("/").unwrap().ends_with("www/index.html"));
        assert!(site.resolve("/pkg/cpu/marquee_web_bg.wasm?v=2").unwrap().ends_with("pkg/cpu/marquee_web_bg.wasm"));
        assert!(site.resolve("/models/default/manifest.json").unwrap().ends_with("bundle/manifest.json"));
        assert!(site.resolve("//models//default/manifest.json").unwrap().ends_with("bundle/manifest.json"));
        assert!(site.resolve("//").unwrap().ends_with("www/index.html"));
        assert_eq!(site.resolve("/../secret.txt"), None);
        assert_eq!(site.resolve("/%2e%2e/secret.txt"), None);
        assert_eq!(site.resolve("/models/default/../../secret.txt"), None);
        assert_eq!(site.resolve("/models/default/./../../secret.txt"), None);
        assert_eq!(site.resolve("/a%2F..%2F..%2Fsecret.txt"), None);
        assert_eq!(site.resolve("/missing.js"), None);
        assert_eq!(site.resolve("/etc/passwd"), None);
    }

    #[cfg(unix)]
    #[test]
    fn links_out_of_the_site_are_not_followed() {
        let (dir, site) = site();
        std::os::unix::fs::symlink(dir.path().join("secret.txt"), site.www.join("leak.txt")).unwrap();
        std::os::unix::fs::symlink(dir.path(), site.www.join("up")).unwrap();
        std::os::unix::fs::symlink(site.www.join("index.html"), site.www.join("home.html")).unwrap();
        assert_eq!(site.resolve("/leak.txt"), None);
        assert_eq!(site.resolve("/up/secret.txt"), None);
        assert!(site.resolve("/home.html").is_some(), "a link that stays inside is served");
    }

    #[test]
    fn wasm_and_scripts_get_the_types_browsers_require() {
        assert_eq!(mime_type(Path::new("a/marquee_web_bg.wasm")), "application/wasm");
        assert_eq!(mime_type(Path::new("marquee-widget.js")), "text/javascript; charset=utf-8");
        assert_eq!(mime_type(Path::new("model.safetensors")), "application/octet-stream");
    }
}
