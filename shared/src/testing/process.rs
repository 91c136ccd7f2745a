//! Runs a function's real binary as its own process, to measure what only a process shows:
//! its peak resident memory, what it writes to stderr, how it takes a signal.

use std::{
    io::{BufRead, BufReader},
    net::{SocketAddr, TcpStream},
    process::{Child, ChildStderr, Command, ExitStatus, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::Full;
use hyper_util::{client::legacy::Client, rt::TokioExecutor};

use pipeline_db::DbConfig;

pub struct FunctionProcess {
    child: Child,
    port: u16,
}

impl FunctionProcess {
    /// Starts `binary` on a free port with `config`'s database and `env`, and waits until it
    /// accepts connections.
    pub fn start(binary: &str, config: &DbConfig, env: &[(&str, &str)]) -> Self {
        Self::spawn(binary, config, env, Stdio::inherit())
    }

    /// As [`FunctionProcess::start`], with stderr on a pipe the test holds: what the process
    /// logs waits in the pipe until the test reads it, as with a log reader that stalls.
    pub fn start_logging_to_pipe(
        binary: &str,
        config: &DbConfig,
        env: &[(&str, &str)],
    ) -> (Self, ChildStderr) {
        let mut process = Self::spawn(binary, config, env, Stdio::piped());
        let stderr = process.child.stderr.take().expect("stderr is piped");
        (process, stderr)
    }

    fn spawn(binary: &str, config: &DbConfig, env: &[(&str, &str)], stderr: Stdio) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let postgres = config.postgres();
        let mut command = Command::new(binary);
        command
            .env("PORT", port.to_string())
            .env("RUST_LOG", "error")
            .env_remove("DATABASE_URL")
            .stdout(Stdio::null())
            .stderr(stderr);
        if let Some(name) = postgres.get_dbname() {
            command.env("PGDATABASE", name);
        }
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("start the function");
        for _ in 0..200 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Self { child, port };
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("{binary} did not start listening on {port}");
    }

    /// Sends the process the signal `name` (as `kill -s` spells it: `TERM`, `HUP`).
    pub fn signal(&self, name: &str) {
        let sent = Command::new("kill")
            .args(["-s", name, &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -s {name} failed");
    }

    /// How the process ended, if it does within `within`.
    pub fn wait_for_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for the process") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Where the process listens.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The most resident memory the process has had (VmHWM), in bytes.
    pub fn peak_rss_bytes(&self) -> u64 {
        self.status_kib("VmHWM:") * 1024
    }

    /// The resident memory the process has now (VmRSS), in bytes.
    pub fn rss_bytes(&self) -> u64 {
        self.status_kib("VmRSS:") * 1024
    }

    fn status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|line| line.strip_prefix(field))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .unwrap_or_else(|| panic!("{field} in /proc/PID/status"))
    }

    /// Sends one request; its status, or what went wrong (a server that does not read a body
    /// may close the connection while it is being sent).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Result<http::StatusCode, String> {
        let mut request = Request::builder().method(method).uri(self.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Full::new(body)).unwrap();
        let client = Client::builder(TokioExecutor::new()).build_http();
        match tokio::time::timeout(Duration::from_secs(120), client.request(request)).await {
            Ok(Ok(response)) => Ok(response.status()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("no answer within 120 s".into()),
        }
    }
}

/// Reads `stderr` line by line from now on, on a thread of its own, until the process closes it.
pub fn stderr_lines(stderr: ChildStderr) -> mpsc::Receiver<String> {
    let (lines, read) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    read
}

impl Drop for FunctionProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
