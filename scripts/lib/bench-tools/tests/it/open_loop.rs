//! open-loop against a small HTTP server: it offers the rate it is told, each
//! body with its own number, and a stall of the server counts against every request that was
//! due during it (coordinated omission corrected), not only against the one that met it.

use std::{
    collections::HashSet,
    io::{BufRead, BufReader, Read, Write},
    net::TcpListener,
    process::Command,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    thread,
    time::Duration,
};

/// A server answering `ok` to each request, recording bodies; the `stall_at`th request
/// (counted from 1 over all connections) is answered `stall` late.
fn server(stall_at: usize, stall: Duration) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::new(AtomicUsize::new(0));
    let kept = bodies.clone();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let stream = stream.unwrap();
            let (bodies, seen) = (kept.clone(), seen.clone());
            thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut writer = stream;
                loop {
                    let mut length = 0;
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap();
                        }
                    }
                    let mut body = vec![0; length];
                    reader.read_exact(&mut body).unwrap();
                    bodies
                        .lock()
                        .unwrap()
                        .push(String::from_utf8(body).unwrap());
                    if seen.fetch_add(1, Ordering::SeqCst) + 1 == stall_at {
                        thread::sleep(stall);
                    }
                    let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                    if writer.write_all(answer).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (address, bodies)
}

fn open_loop(address: &str, rate: u32, connections: u32, seconds: f64) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_open-loop"))
        .args([
            "--url",
            &format!("http://{address}/ingest"),
            "--method",
            "POST",
        ])
        .args(["--header", "content-type: application/json"])
        .args(["--body", r#"{"id":"m-{n}"}"#])
        .args([
            "--rate",
            &rate.to_string(),
            "--connections",
            &connections.to_string(),
        ])
        .args(["--seconds", &seconds.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn offers_the_rate_with_a_body_of_its_own_each_time() {
    let (address, bodies) = server(0, Duration::ZERO);
    let result = open_loop(&address, 500, 4, 2.0);
    assert_eq!(result["requests"], 1000, "{result}");
    assert_eq!(result["not_2xx"], 0);
    let seconds = result["seconds"].as_f64().unwrap();
    assert!(
        seconds >= 1.95,
        "1,000 requests at 500 a second were offered in {seconds} s"
    );
    let bodies = bodies.lock().unwrap();
    let distinct: HashSet<_> = bodies.iter().collect();
    assert_eq!(distinct.len(), 1000, "every body has a number of its own");
    assert!(bodies.contains(&r#"{"id":"m-0"}"#.to_owned()));
    assert!(bodies.contains(&r#"{"id":"m-999"}"#.to_owned()));
}

#[test]
fn a_stall_counts_against_every_request_due_during_it() {
    // One connection, 200 a second for 2 s; the 100th answer 400 ms late. About 80 requests
    // were due during the stall, so well over a tenth of them waited 100 ms or more; measured
    // from when each was sent (a closed loop's view), only one did.
    let (address, _) = server(100, Duration::from_millis(400));
    let result = open_loop(&address, 200, 1, 2.0);
    assert_eq!(result["requests"], 400, "{result}");
    let p90 = result["p90_ms"].as_f64().unwrap();
    assert!(
        p90 >= 100.0,
        "p90 {p90} ms: the stall was not counted for the requests it held up ({result})"
    );
    let sent_p50 = result["sent_p50_ms"].as_f64().unwrap();
    assert!(sent_p50 < p90, "{result}");
}
