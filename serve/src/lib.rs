//! The server behind `marquee serve` and the demo: the page (`www/`) and a bundle at
//! `/models/default/` over HTTP with the MIME types browsers insist on (`application/wasm`), the
//! page's Content-Security-Policy, cross-origin isolation for its pages (COOP/COEP, which the
//! threaded CPU package needs), and CORS and CORP so that other sites can embed the widget. Std only,
//! so it builds in seconds (the demo serves the page before the CLI exists); bounded against
//! abuse: GET and HEAD only, request heads of at most 16 KiB, 10 s client timeouts, at most 256
//! connections, and nothing outside the two folders.
#![forbid(unsafe_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Where the default bundle is served.
pub const DEFAULT_BUNDLE_ROUTE: &str = "/models/default/";

/// The policy the page and the widget are built (and tested) to work under. The threaded
/// package's web workers start from `blob:` URLs (wasm-bindgen-rayon's helper script).
pub const CONTENT_SECURITY_POLICY: &str =
    "script-src 'self' 'wasm-unsafe-eval'; worker-src 'self' blob:; object-src 'none'; base-uri 'self'";

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

/// The page's folder when none is given: `./www`, else the repository's `www/`.
pub fn default_www() -> PathBuf {
    let here = PathBuf::from("www");
    if here.join("index.html").is_file() {
        return here;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("www")
}

/// Serves `site` at `address` (`HOST:PORT`; port 0 picks a free one) until the process ends;
/// says where on stderr (`open http://HOST:PORT/`).
pub fn listen(site: Site, address: &str) -> std::io::Result<()> {
    let site = Arc::new(site);
    let listener = TcpListener::bind(address)?;
    // With port 0 the system picks a free port: say which.
    let bound = listener.local_addr().map(|a| a.to_string()).unwrap_or_else(|_| address.to_string());
    eprintln!("open http://{bound}/  (Ctrl-C stops)");
    let open = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        // Each connection has a thread, up to a bound: past it, new ones are turned away at once
        // instead of piling up threads and memory.
        if open.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            open.fetch_sub(1, Ordering::SeqCst);
            let _ = stream.write_all(&plain_response(503, "busy: too many connections"));
            continue;
        }
        let (site, still_open) = (Arc::clone(&site), Arc::clone(&open));
        let spawned = std::thread::Builder::new().stack_size(256 * 1024).spawn(move || {
            if let Err(error) = answer(&site, stream) {
                // A visitor closing the tab mid-download is not the server's problem.
                if !matches!(error.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset) {
                    eprintln!("warning: answering a request: {error}");
                }
            }
            still_open.fetch_sub(1, Ordering::SeqCst);
        });
        if spawned.is_err() {
            open.fetch_sub(1, Ordering::SeqCst);
        }
    }
    Ok(())
}

/// Connections answered at once; more are refused with 503.
const MAX_CONNECTIONS: usize = 256;
/// The longest request head (request line and headers) read; longer ones get 431.
const MAX_HEAD_BYTES: usize = 16 * 1024;
/// How long a client may take to send its request head, and to take each write of the answer.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// Answers one request on `stream` (GET and HEAD of static files), then closes it.
fn answer(site: &Site, mut stream: TcpStream) -> std::io::Result<()> {
    stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    stream.set_write_timeout(Some(CLIENT_TIMEOUT))?;
    let head = match read_head(&mut stream) {
        Ok(head) => head,
        Err(HeadError::TooLarge) => return stream.write_all(&plain_response(431, "request head too large")),
        Err(HeadError::Malformed) => return stream.write_all(&plain_response(400, "bad request")),
        // A client that went silent or away: nothing to answer.
        Err(HeadError::Gone) => return Ok(()),
    };
    let mut parts = head.lines().next().unwrap_or("").split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if method != "GET" && method != "HEAD" {
        return stream.write_all(&plain_response(405, "only GET and HEAD"));
    }
    let Some((path, mut file)) = site.resolve(target).and_then(|p| std::fs::File::open(&p).ok().map(|f| (p, f))) else {
        return stream.write_all(&plain_response(404, &format!("404: {target} is not here")));
    };
    let length = file.metadata()?.len();
    let mut response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nContent-Length: {length}\r\n{COMMON_HEADERS}",
        mime_type(&path)
    );
    if path.extension().is_some_and(|e| e == "html") {
        response.push_str(&format!("Content-Security-Policy: {CONTENT_SECURITY_POLICY}\r\n"));
    }
    response.push_str("\r\n");
    stream.write_all(response.as_bytes())?;
    if method == "GET" {
        std::io::copy(&mut file, &mut stream)?;
    }
    stream.flush()
}

/// Headers of every answer. COOP and COEP make the pages cross-origin isolated, which gives them
/// `SharedArrayBuffer` and so the threaded CPU package (a worker's script needs COEP too); CORS
/// and CORP let other sites, isolated or not, embed the widget and load its files.
const COMMON_HEADERS: &str = "Access-Control-Allow-Origin: *\r\nCross-Origin-Resource-Policy: cross-origin\r\n\
    Cross-Origin-Opener-Policy: same-origin\r\nCross-Origin-Embedder-Policy: require-corp\r\n\
    Cache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n";

/// A short plain-text answer with `status`.
fn plain_response(status: u16, text: &str) -> Vec<u8> {
    let reason = match status {
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Error",
    };
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n{COMMON_HEADERS}\r\n{text}",
        text.len()
    )
    .into_bytes()
}

/// Why a request head could not be read.
#[derive(Debug)]
enum HeadError {
    /// Longer than [`MAX_HEAD_BYTES`].
    TooLarge,
    /// Not ASCII text.
    Malformed,
    /// The client went away or stayed silent past the timeout.
    Gone,
}

/// Reads a request head up to its blank line, at most [`MAX_HEAD_BYTES`].
fn read_head(stream: &mut impl Read) -> Result<String, HeadError> {
    let mut head = Vec::with_capacity(1024);
    let mut buffer = [0u8; 1024];
    loop {
        let read = stream.read(&mut buffer).map_err(|_| HeadError::Gone)?;
        if read == 0 {
            return Err(HeadError::Gone);
        }
        head.extend_from_slice(&buffer[..read]);
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n").filter(|&end| end <= MAX_HEAD_BYTES) {
            head.truncate(end);
            return String::from_utf8(head).ok().filter(|h| h.is_ascii()).ok_or(HeadError::Malformed);
        }
        if head.len() > MAX_HEAD_BYTES {
            return Err(HeadError::TooLarge);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> (tempfile::TempDir, Site) {
        let dir = tempfile::tempdir().unwrap();
        let www = dir.path().join("www");
        let bundle = dir.path().join("bundle");
        std::fs::create_dir_all(www.join("pkg/cpu")).unwrap();
        std::fs::create_dir_all(&bundle).unwrap();
        std::fs::write(www.join("index.html"), "<!doctype html>").unwrap();
        std::fs::write(www.join("pkg/cpu/marquee_web_bg.wasm"), b"\0asm").unwrap();
        std::fs::write(bundle.join("manifest.json"), "{}").unwrap();
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
    fn request_heads_are_bounded() {
        let head = read_head(&mut &b"GET / HTTP/1.1\r\nHost: x\r\n\r\nbody"[..]).unwrap();
        assert_eq!(head, "GET / HTTP/1.1\r\nHost: x");
        let huge = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD_BYTES));
        assert!(matches!(read_head(&mut huge.as_bytes()), Err(HeadError::TooLarge)));
        assert!(matches!(read_head(&mut &b"GET / HTTP/1.1\r\n"[..]), Err(HeadError::Gone)));
        assert!(matches!(read_head(&mut &b"GET /\xff HTTP/1.1\r\n\r\n"[..]), Err(HeadError::Malformed)));
    }

    #[test]
    fn wasm_and_scripts_get_the_types_browsers_require() {
        assert_eq!(mime_type(Path::new("a/marquee_web_bg.wasm")), "application/wasm");
        assert_eq!(mime_type(Path::new("marquee-widget.js")), "text/javascript; charset=utf-8");
        assert_eq!(mime_type(Path::new("model.safetensors")), "application/octet-stream");
    }
}
