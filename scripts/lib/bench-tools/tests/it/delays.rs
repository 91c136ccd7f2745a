//! The delay proxy between a client and an echo server: it delays each direction by what it
//! is told (a round trip takes twice that), keeps many pieces in flight at once rather than
//! one at a time, passes every byte on, in order, and the end of the stream, and counts them.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{Shutdown, TcpListener, TcpStream},
    process::{Child, ChildStdout, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

/// An echo server on a free port: each connection's bytes sent straight back.
fn echo_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            stream.set_nodelay(true).unwrap();
            thread::spawn(move || {
                let mut back = stream.try_clone().unwrap();
                let _ = std::io::copy(&mut stream, &mut back);
                let _ = back.shutdown(Shutdown::Write);
            });
        }
    });
    address
}

struct Proxy {
    child: Child,
    out: BufReader<ChildStdout>,
    address: String,
}

impl Proxy {
    fn start(to: &str, delay: Duration) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_delay-proxy"))
            .args(["--to", to, "--delay-us", &delay.as_micros().to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        out.read_line(&mut line).unwrap();
        let address = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Self {
            child,
            out,
            address,
        }
    }

    /// Bytes delivered so far, as the proxy says when asked.
    fn forwarded(&mut self) -> u64 {
        writeln!(self.child.stdin.as_mut().unwrap()).unwrap();
        let mut line = String::new();
        self.out.read_line(&mut line).unwrap();
        line.trim()
            .strip_prefix("forwarded ")
            .unwrap()
            .parse()
            .unwrap()
    }

    fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(&self.address).unwrap();
        stream.set_nodelay(true).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        stream
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_round_trip_takes_twice_the_delay() {
    let delay = Duration::from_millis(5);
    let proxy = Proxy::start(&echo_server(), delay);
    let mut stream = proxy.connect();
    let mut trips = Vec::new();
    for _ in 0..20 {
        let began = Instant::now();
        stream.write_all(b"ping").unwrap();
        let mut answer = [0; 4];
        stream.read_exact(&mut answer).unwrap();
        trips.push(began.elapsed());
        assert_eq!(&answer, b"ping");
    }
    trips.sort();
    // Never early; late only by what a loaded machine adds to waking a thread.
    assert!(trips[0] >= 2 * delay, "fastest round trip {:?}", trips[0]);
    let median = trips[trips.len() / 2];
    assert!(
        median < 2 * delay + Duration::from_millis(15),
        "median round trip {median:?} for a delay of {delay:?} each way"
    );
}

#[test]
fn a_delay_does_not_cut_throughput() {
    // 8 MB each way through 20 ms: a proxy that let one read (16 KB) be in flight at a time
    // would take 512 x 20 ms, 10 s, a way; a timed queue about 2 x 20 ms more than the copy.
    let delay = Duration::from_millis(20);
    let proxy = Proxy::start(&echo_server(), delay);
    let stream = proxy.connect();
    let mut sender = stream.try_clone().unwrap();
    let began = Instant::now();
    let writes = thread::spawn(move || {
        let block = vec![7u8; 64 * 1024];
        for _ in 0..128 {
            sender.write_all(&block).unwrap();
        }
        sender.shutdown(Shutdown::Write).unwrap();
    });
    let mut received = 0;
    let mut buffer = vec![0; 64 * 1024];
    loop {
        match (&stream).read(&mut buffer).unwrap() {
            0 => break,
            n => received += n,
        }
    }
    let took = began.elapsed();
    writes.join().unwrap();
    assert_eq!(received, 8 * 1024 * 1024);
    assert!(took >= 2 * delay, "{took:?}");
    assert!(
        took < Duration::from_secs(4),
        "8 MB took {took:?} through a {delay:?} delay each way: not pipelined"
    );
}

#[test]
fn every_byte_arrives_in_order_and_so_does_the_end_of_the_stream() {
    let mut proxy = Proxy::start(&echo_server(), Duration::from_micros(500));
    let stream = proxy.connect();
    let sent: Vec<u8> = (0..4_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut sender = stream.try_clone().unwrap();
    let payload = sent.clone();
    let writes = thread::spawn(move || {
        sender.write_all(&payload).unwrap();
        sender.shutdown(Shutdown::Write).unwrap();
    });
    let mut received = Vec::new();
    (&stream).read_to_end(&mut received).unwrap();
    writes.join().unwrap();
    assert_eq!(received.len(), sent.len());
    assert!(
        received == sent,
        "the bytes came back changed or out of order"
    );
    assert_eq!(
        proxy.forwarded(),
        2 * 4_000_000,
        "bytes delivered, both ways"
    );
}
