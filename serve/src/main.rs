//! `marquee-serve`: the page and a bundle over HTTP without the rest of the CLI, so the demo can
//! serve the page minutes before the CLI is built. It checks that the files are there; `marquee
//! serve` also verifies the bundle's checksums up front (the browser verifies every part it
//! downloads either way).
//! Usage: marquee-serve [--port 8080] [--host 127.0.0.1] [--www DIR] [--bundle DIR]
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use serve::{default_www, listen, Site};

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Vec<String>) -> Result<(), String> {
    let (mut port, mut host, mut www, mut bundle) = ("8080".to_string(), "127.0.0.1".to_string(), None, None);
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--port" => port = value()?,
            "--host" => host = value()?,
            "--www" => www = Some(PathBuf::from(value()?)),
            "--bundle" => bundle = Some(PathBuf::from(value()?)),
            "-h" | "--help" => {
                println!("marquee-serve [--port 8080] [--host 127.0.0.1] [--www DIR] [--bundle DIR]");
                return Ok(());
            }
            other => return Err(format!("unknown argument '{other}' (try --help)")),
        }
    }
    port.parse::<u16>().map_err(|_| format!("--port {port} is not a port number"))?;
    let www = www.unwrap_or_else(default_www);
    if !www.join("index.html").is_file() {
        return Err(format!("{} has no index.html: pass --www with the page's folder", www.display()));
    }
    let bundle = bundle.unwrap_or_else(|| www.join("models").join("default"));
    if !bundle.join("manifest.json").is_file() {
        return Err(format!("{} has no manifest.json: pass --bundle with a bundle folder", bundle.display()));
    }
    eprintln!("serving the page {} with the bundle {}", www.display(), bundle.display());
    let address = format!("{host}:{port}");
    listen(Site { www, bundle }, &address).map_err(|e| format!("cannot listen on {address}: {e}"))
}
