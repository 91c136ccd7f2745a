//! An open-loop HTTP/1.1 load generator, as wrk2 and `oha -q` are: request i is due at
//! start + i ÷ rate whether or not earlier answers came, and its latency counts from when it
//! was due, not from when a connection was free to send it, so a stall shows in the
//! percentiles of every request it held up (coordinated omission corrected). `oha` sends the
//! same body every time; ingest needs a message id of its own per event (else it measures
//! redeliveries), hence `--body` with `{n}`, the request's number.
//!
//! Prints one JSON line: requests answered, answers not 2xx, socket errors, the rate reached,
//! and latency percentiles from when each was due (and, for contrast, from when it was sent).

use std::{
    io::{self, BufRead, BufReader, Read, Write},
    net::TcpStream,
    process::ExitCode,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    thread,
    time::{Duration, Instant},
};

use clap::Parser;

/// How long an answer may take before the connection counts a socket error.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Latencies kept (two numbers a request): bounds memory.
const MOST_REQUESTS: u64 = 20_000_000;
const LONGEST_HEADER: usize = 64 * 1024;

#[derive(Parser)]
#[command(
    about = "Open-loop HTTP/1.1 load at a fixed rate, latency from when each request was due"
)]
struct Options {
    /// http://HOST:PORT/PATH
    #[arg(long)]
    url: String,
    #[arg(long, default_value = "GET")]
    method: String,
    /// A header, "name: value"; repeatable.
    #[arg(long = "header")]
    headers: Vec<String>,
    /// The request body; every `{n}` in it is replaced by the request's number.
    #[arg(long)]
    body: Option<String>,
    /// Requests a second, offered whatever the answers do.
    #[arg(long)]
    rate: f64,
    /// Connections (each one request at a time, keep-alive).
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// How long requests are offered.
    #[arg(long)]
    seconds: f64,
}

struct Target {
    address: String,
    head: String,
    body: Option<String>,
}

impl Target {
    fn new(options: &Options) -> Result<Self, String> {
        let rest = options
            .url
            .strip_prefix("http://")
            .ok_or_else(|| format!("{}: only http:// URLs", options.url))?;
        let (address, path) = match rest.find('/') {
            Some(slash) => (&rest[..slash], &rest[slash..]),
            None => (rest, "/"),
        };
        let mut head = format!("{} {path} HTTP/1.1\r\nHost: {address}\r\n", options.method);
        for header in &options.headers {
            if !header.contains(':') {
                return Err(format!("header {header:?} is not \"name: value\""));
            }
            head.push_str(header);
            head.push_str("\r\n");
        }
        Ok(Self {
            address: address.to_owned(),
            head,
            body: options.body.clone(),
        })
    }

    fn request(&self, number: u64) -> Vec<u8> {
        let mut request = self.head.clone();
        match &self.body {
            Some(template) => {
                let body = template.replace("{n}", &number.to_string());
                request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
            }
            None => request.push_str("\r\n"),
        }
        request.into_bytes()
    }
}

#[derive(Default)]
struct Tally {
    /// Per answer: µs from when it was due, µs from when it was sent.
    latencies: Vec<(u32, u32)>,
    not_2xx: u64,
    socket_errors: u64,
}

/// The schedule every connection takes its next request from.
struct Schedule {
    start: Instant,
    interval: Duration,
    total: u64,
    next: AtomicU64,
}

impl Schedule {
    /// The next request's number and when it is due; None past the end.
    fn take(&self) -> Option<(u64, Instant)> {
        let number = self.next.fetch_add(1, Ordering::Relaxed);
        (number < self.total).then(|| (number, self.start + self.interval.mul_f64(number as f64)))
    }
}

fn main() -> ExitCode {
    let options = Options::parse();
    match run(&options) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("open-loop: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(options: &Options) -> Result<String, String> {
    if !(options.rate > 0.0 && options.seconds > 0.0 && options.connections > 0) {
        return Err("--rate, --seconds and --connections must be above 0".into());
    }
    let total = (options.rate * options.seconds).round() as u64;
    if total > MOST_REQUESTS {
        return Err(format!("{total} requests: at most {MOST_REQUESTS} a run"));
    }
    // Sleeps end when due, not up to 50 µs later (threads inherit this).
    // SAFETY: prctl with PR_SET_TIMERSLACK takes one integer and changes only this thread.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong) };
    let target = Arc::new(Target::new(options)?);
    let schedule = Arc::new(Schedule {
        start: Instant::now() + Duration::from_millis(50), // every connection open by then
        interval: Duration::from_secs_f64(1.0 / options.rate),
        total,
        next: AtomicU64::new(0),
    });
    let connections: Vec<_> = (0..options.connections)
        .map(|_| {
            let (target, schedule) = (target.clone(), schedule.clone());
            thread::spawn(move || connection(&target, &schedule))
        })
        .collect();
    let mut tally = Tally::default();
    for connection in connections {
        let mut one = connection.join().map_err(|_| "a connection panicked")?;
        tally.latencies.append(&mut one.latencies);
        tally.not_2xx += one.not_2xx;
        tally.socket_errors += one.socket_errors;
    }
    let seconds = schedule.start.elapsed().as_secs_f64();
    Ok(summary(&mut tally, seconds))
}

/// One keep-alive connection taking requests off the schedule until it ends.
fn connection(target: &Target, schedule: &Schedule) -> Tally {
    let mut tally = Tally::default();
    let mut stream = None;
    while let Some((number, due)) = schedule.take() {
        let now = Instant::now();
        if due > now {
            thread::sleep(due - now);
        }
        let sent = Instant::now();
        let answer = match stream.take() {
            Some(open) => Ok(open),
            None => connect(&target.address),
        }
        .and_then(|mut open| exchange(&mut open, &target.request(number)).map(|a| (open, a)));
        match answer {
            Ok((open, (status, keep_alive))) => {
                let done = Instant::now();
                tally
                    .latencies
                    .push((micros(done - due), micros(done - sent)));
                if !(200..300).contains(&status) {
                    tally.not_2xx += 1;
                }
                if keep_alive {
                    stream = Some(open);
                }
            }
            Err(_) => tally.socket_errors += 1,
        }
    }
    tally
}

fn micros(duration: Duration) -> u32 {
    duration.as_micros().min(u32::MAX as u128) as u32
}

fn connect(address: &str) -> io::Result<BufReader<TcpStream>> {
    let stream = TcpStream::connect(address)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    Ok(BufReader::new(stream))
}

/// Sends `request` and reads its whole answer: its status, and whether the connection stays.
fn exchange(stream: &mut BufReader<TcpStream>, request: &[u8]) -> io::Result<(u16, bool)> {
    stream.get_mut().write_all(request)?;
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read_until(b'\n', &mut head)? == 0 || head.len() > LONGEST_HEADER {
            return Err(io::Error::other(
                "the answer's head ended early or is too long",
            ));
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    response
        .parse(&head)
        .map_err(|e| io::Error::other(format!("an answer that is not HTTP: {e}")))?;
    let status = response.code.unwrap_or(0);
    let value = |name: &str| {
        response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).to_ascii_lowercase())
    };
    let keep_alive = value("connection").is_none_or(|v| v != "close");
    if value("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        skip_chunks(stream)?;
    } else {
        let length: u64 = value("content-length")
            .map(|v| {
                v.trim()
                    .parse()
                    .map_err(|_| io::Error::other("a bad Content-Length"))
            })
            .transpose()?
            .unwrap_or(0);
        io::copy(&mut stream.by_ref().take(length), &mut io::sink())?;
    }
    Ok((status, keep_alive))
}

/// Reads a chunked body to its end.
fn skip_chunks(stream: &mut BufReader<TcpStream>) -> io::Result<()> {
    loop {
        let mut line = String::new();
        stream.read_line(&mut line)?;
        let size = line.trim().split(';').next().unwrap_or("");
        let size =
            u64::from_str_radix(size, 16).map_err(|_| io::Error::other("a bad chunk size"))?;
        if size == 0 {
            // Trailers, up to the empty line.
            loop {
                line.clear();
                if stream.read_line(&mut line)? == 0 || line == "\r\n" {
                    return Ok(());
                }
            }
        }
        io::copy(&mut stream.by_ref().take(size + 2), &mut io::sink())?;
    }
}

fn summary(tally: &mut Tally, seconds: f64) -> String {
    let mut due: Vec<u32> = tally.latencies.iter().map(|l| l.0).collect();
    let mut sent: Vec<u32> = tally.latencies.iter().map(|l| l.1).collect();
    due.sort_unstable();
    sent.sort_unstable();
    let at = |sorted: &[u32], q: f64| -> f64 {
        match sorted.len() {
            0 => f64::NAN,
            n => sorted[((q * n as f64) as usize).min(n - 1)] as f64 / 1000.0,
        }
    };
    let json_number = |x: f64| {
        if x.is_finite() {
            format!("{x:.3}")
        } else {
            "null".into()
        }
    };
    format!(
        "{{\"requests\":{},\"not_2xx\":{},\"socket_errors\":{},\"seconds\":{seconds:.3},\"rate\":{:.1},\
         \"p50_ms\":{},\"p90_ms\":{},\"p99_ms\":{},\"p999_ms\":{},\"max_ms\":{},\
         \"sent_p50_ms\":{},\"sent_p99_ms\":{}}}",
        due.len(),
        tally.not_2xx,
        tally.socket_errors,
        due.len() as f64 / seconds,
        json_number(at(&due, 0.50)),
        json_number(at(&due, 0.90)),
        json_number(at(&due, 0.99)),
        json_number(at(&due, 0.999)),
        json_number(due.last().map_or(f64::NAN, |&m| m as f64 / 1000.0)),
        json_number(at(&sent, 0.50)),
        json_number(at(&sent, 0.99)),
    )
}
