//! Test support: starts a private instance of the project's local AWS
//! (`localaws/`) on a free loopback port with fresh state, and talks to its control endpoints.
//! A dev-dependency only (std, and zip for the DOCX fixtures of [`files`]), so it adds nothing
//! to the function's or the deployer's release builds.

pub mod files;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running local AWS; stopped when dropped.
pub struct LocalAws {
    child: Child,
    /// The bound port.
    pub port: u16,
    /// `http://127.0.0.1:{port}`.
    pub url: String,
    /// Its state directory (logs of the Lambda processes).
    pub state_dir: PathBuf,
}

/// The repository root (the parent of a workspace member's manifest dir).
pub fn repo_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap_or(here).to_path_buf()
}

impl LocalAws {
    /// Starts one with the given extra server flags. Panics with a hint when the venv is missing.
    pub fn start(args: &[&str]) -> Self {
        let root = repo_root();
        let python = root.join(".localaws/venv/bin/python");
        assert!(
            python.exists(),
            "the local AWS is not installed at {}\nhint: run `localaws/ctl install`",
            python.display()
        );
        let state_dir = std::env::temp_dir().join(format!(
            "localaws-{}-{}",
            std::process::id(),
            Instant::now().elapsed().as_nanos() ^ (rand_seed() as u128)
        ));
        std::fs::create_dir_all(&state_dir).expect("create the state dir");
        let port_file = state_dir.join("port");
        let log =
            std::fs::File::create(state_dir.join("server.log")).expect("create the server log");
        let child = Command::new(python)
            .args(["-m", "localaws.server", "--port", "0", "--port-file"])
            .arg(&port_file)
            .args(args)
            .env("PYTHONPATH", root.join("localaws"))
            .env("LOCALAWS_STATE_DIR", &state_dir)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start the local AWS");
        let deadline = Instant::now() + Duration::from_secs(30);
        let port = loop {
            if let Some(p) = std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|s| s.trim().parse().ok())
            {
                break p;
            }
            assert!(
                Instant::now() < deadline,
                "the local AWS did not start; see {}",
                state_dir.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let aws = Self {
            child,
            port,
            url: format!("http://127.0.0.1:{port}"),
            state_dir,
        };
        while aws.try_control("GET", "health", None).is_err() {
            assert!(Instant::now() < deadline, "the local AWS did not answer");
            std::thread::sleep(Duration::from_millis(50));
        }
        aws
    }

    fn try_control(
        &self,
        method: &str,
        name: &str,
        body: Option<&str>,
    ) -> std::io::Result<(u16, String)> {
        http(
            self.port,
            method,
            &format!("/_localaws/{name}"),
            &[],
            body.unwrap_or(""),
        )
    }

    /// Calls a control endpoint (`requests`, `faults`, `config`, `reset`, …) and returns its JSON.
    pub fn control(&self, method: &str, name: &str, body: Option<&str>) -> String {
        let (status, text) = self.try_control(method, name, body).expect("control call");
        assert_eq!(status, 200, "control {name}: {text}");
        text
    }

    /// The request log as JSON (`{"requests": [...], "mutating": n}`).
    pub fn requests_json(&self) -> String {
        self.control("GET", "requests", None)
    }
}

impl Drop for LocalAws {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rand_seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    t ^ (std::process::id() as u64).rotate_left(32)
}

/// A minimal HTTP/1.1 client for loopback calls: returns status and body.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad response: {head}")))?;
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    Ok((
        status,
        if chunked {
            dechunk(rest)
        } else {
            rest.to_string()
        },
    ))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}
