//! `marquee serve` under load and abuse, on loopback, bounded in count and time: many clients at
//! once fetching the page and the bundle, slow clients that never finish a request, oversized
//! headers, and paths that try to leave `www/`. Nothing outside the two folders is served, the
//! server keeps answering others, and its memory stays flat. Prints the load it held.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tests::{manifest_dir, marquee_bin};

/// A running `marquee serve` on a free port, stopped when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start() -> Self {
        let www = manifest_dir().join("../www");
        let mut child = Command::new(marquee_bin())
            .args(["serve", "--port", "0", "--www", www.to_str().unwrap()])
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let port = loop {
            let line = lines.next().expect("the server said where it listens").unwrap();
            if let Some(rest) = line.strip_prefix("open http://127.0.0.1:") {
                break rest.split('/').next().unwrap().parse().unwrap();
            }
        };
        // Keep draining its stderr so that it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Self { child, port }
    }

    fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        stream
    }

    /// Sends `head` (a request without its final blank line) and returns the status and body.
    fn request(&self, head: &str) -> (u16, Vec<u8>) {
        let mut stream = self.connect();
        stream.write_all(format!("{head}\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes()).unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).unwrap();
        let end = response.windows(4).position(|w| w == b"\r\n\r\n").expect("a whole response head") + 4;
        let status = std::str::from_utf8(&response[9..12]).unwrap().parse().unwrap();
        let head = String::from_utf8_lossy(&response[..end]).to_ascii_lowercase();
        let body = match head.contains("transfer-encoding: chunked") {
            true => dechunk(&response[end..]),
            false => response[end..].to_vec(),
        };
        (status, body)
    }

    fn get(&self, path: &str) -> (u16, Vec<u8>) {
        self.request(&format!("GET {path} HTTP/1.1"))
    }

    /// Resident memory, MB.
    fn memory_mb(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse::<f64>().unwrap() / 1024.0
    }
}

/// The body of a chunked HTTP/1.1 response.
fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n").expect("a chunk size line");
        let size = usize::from_str_radix(std::str::from_utf8(&rest[..line_end]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&rest[line_end + 2..line_end + 2 + size]);
        rest = &rest[line_end + 2 + size + 2..];
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn file(relative: &str) -> Vec<u8> {
    std::fs::read(manifest_dir().join("..").join(relative)).unwrap()
}

#[test]
fn paths_that_leave_the_site_are_refused() {
    let server = Server::start();
    let secrets = [file("Cargo.toml"), std::fs::read("/etc/passwd").unwrap()];
    let attempts = [
        "/../Cargo.toml",
        "/%2e%2e/Cargo.toml",
        "/..%2fCargo.toml",
        "/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "//etc/passwd",
        "/etc/passwd",
        "/models/default/../../../Cargo.toml",
        "/models/default/%2e%2e/%2e%2e/%2e%2e/Cargo.toml",
        "/..\\Cargo.toml",
        "http://localhost/../../etc/passwd",
        "/index.html%00.txt",
        "/%ff%fe",
    ];
    for path in attempts {
        let (status, body) = server.get(path);
        assert!(status >= 400, "{path}: {status}");
        assert!(secrets.iter().all(|s| body != *s), "{path} served a file outside the site");
    }
    let (status, body) = server.get("/");
    assert_eq!((status, body), (200, file("www/index.html")), "the page is still served");
}

#[test]
fn many_clients_slow_clients_and_huge_headers() {
    let server = Server::start();
    let weights = file("www/models/default/model.safetensors");
    // Warm up, then note the memory.
    for _ in 0..3 {
        assert_eq!(server.get("/models/default/model.safetensors").1.len(), weights.len());
    }
    let memory_before = server.memory_mb();

    // Slow clients: connections that send half a request head and then nothing.
    let slow: Vec<TcpStream> = (0..64)
        .map(|_| {
            let mut stream = server.connect();
            stream.write_all(b"GET / HTTP/1.1\r\nHost: local").unwrap();
            stream
        })
        .collect();
    // Oversized headers: a megabyte of header line, then a request that looks whole.
    let mut huge = server.connect();
    let header = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(1 << 20));
    let _ = huge.write_all(header.as_bytes());
    let mut answer = Vec::new();
    let _ = huge.read_to_end(&mut answer);
    let huge_status = String::from_utf8_lossy(answer.get(9..12).unwrap_or(b"---")).to_string();

    // Many clients at once, while the slow ones hold their connections.
    const CLIENTS: usize = 32;
    const REQUESTS: usize = 25;
    let started = Instant::now();
    let paths = ["/", "/marquee-widget.js", "/models/default/manifest.json", "/pkg/marquee.js"];
    let bytes: usize = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..CLIENTS)
            .map(|client| {
                let server = &server;
                let weights = &weights;
                scope.spawn(move || {
                    let mut bytes = 0;
                    for request in 0..REQUESTS {
                        let path = paths[(client + request) % paths.len()];
                        let (status, body) = server.get(path);
                        assert_eq!(status, 200, "{path}");
                        bytes += body.len();
                    }
                    if client % 8 == 0 {
                        let (status, body) = server.get("/models/default/model.safetensors");
                        assert!(status == 200 && body == *weights, "the weights arrive whole");
                        bytes += body.len();
                    }
                    bytes
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    let seconds = started.elapsed().as_secs_f64();
    let requests = CLIENTS * REQUESTS + CLIENTS / 8;
    let memory_after = server.memory_mb();
    println!(
        "held {requests} requests from {CLIENTS} concurrent clients in {seconds:.2} s ({:.0} requests/s, {:.0} MB/s) \
         beside {} slow clients; a 1 MB header got {huge_status:?}; memory {memory_before:.0} -> {memory_after:.0} MB",
        requests as f64 / seconds,
        bytes as f64 / seconds / 1e6,
        slow.len(),
    );
    assert!(!huge_status.starts_with('2'), "a 1 MB header is refused, not served ({huge_status})");
    assert!(memory_after < memory_before + 64.0, "memory grew from {memory_before:.0} to {memory_after:.0} MB");
    drop(slow);
    assert_eq!(server.get("/").0, 200, "still answering after the abuse");
}

#[test]
fn connections_past_the_bound_are_turned_away_then_served_again() {
    let server = Server::start();
    // More silent connections than the server answers at once (256): the extra ones get 503 at
    // once instead of a thread each.
    let streams: Vec<TcpStream> = (0..300).map(|_| server.connect()).collect();
    std::thread::sleep(Duration::from_millis(500));
    let mut held = Vec::new();
    let mut turned_away = 0;
    for mut stream in streams {
        stream.set_nonblocking(true).unwrap();
        let mut start = [0u8; 12];
        match stream.read(&mut start) {
            Ok(12) if &start[9..12] == b"503" => turned_away += 1,
            _ => held.push(stream),
        }
    }
    println!("{} silent connections held, {turned_away} turned away with 503", held.len());
    assert!(turned_away >= 300 - 256, "only {turned_away} connections turned away");
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(15);
    while server.get("/").0 != 200 {
        assert!(Instant::now() < deadline, "not answering again after the silent clients left");
        std::thread::sleep(Duration::from_millis(50));
    }
}
