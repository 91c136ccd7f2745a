//! A TCP proxy that holds every byte a fixed one-way delay in each direction, so scripts/bench
//! can put PostgreSQL a network away (the kernel's `netem` qdisc is not available where it
//! runs). Each direction is a timed queue: what is read is stamped with the moment it may be
//! delivered and read on at once, so bytes in flight are pipelined (a delay, not a window of
//! one): throughput is that of the path, only later.
//!
//! It serves until killed, and prints `listening on ADDRESS` once it accepts; then, for each
//! line read on its standard input, `forwarded N` (bytes delivered so far, both directions),
//! so a caller can put its CPU time per byte beside the load generator's.

use std::{
    io::{self, Read, Write},
    net::{Shutdown, TcpListener, TcpStream, ToSocketAddrs},
    process::ExitCode,
    sync::{
        atomic::{AtomicU64, Ordering},
        mpsc::{sync_channel, Receiver, SyncSender},
    },
    thread,
    time::{Duration, Instant},
};

use clap::Parser;

/// Largest read forwarded as one piece.
const CHUNK: usize = 16 * 1024;
/// Pieces a direction holds at most (memory: at most CHUNK times this, 4 MB, per direction);
/// a full queue stops reading, as a full window would.
const IN_FLIGHT: usize = 256;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Bytes delivered so far, both directions, every connection.
static FORWARDED: AtomicU64 = AtomicU64::new(0);

#[derive(Parser)]
#[command(about = "A TCP proxy that delays each direction by a fixed time, pipelined")]
struct Options {
    /// Address to listen on (port 0: any free port; the one taken is printed).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    /// Address to forward each connection to.
    #[arg(long)]
    to: String,
    /// One-way delay in each direction, in microseconds (a round trip adds twice this).
    #[arg(long)]
    delay_us: u64,
}

fn main() -> ExitCode {
    let options = Options::parse();
    // The default timer slack (50 µs) would add up to a fifth to a 250 µs delay; threads
    // spawned later inherit this one.
    // SAFETY: prctl with PR_SET_TIMERSLACK takes one integer and changes only this thread.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong) };
    match serve(&options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("delay-proxy: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(options: &Options) -> io::Result<()> {
    let upstream = options
        .to
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::other(format!("{} names no address", options.to)))?;
    let delay = Duration::from_micros(options.delay_us);
    let listener = TcpListener::bind(&options.listen)?;
    println!("listening on {}", listener.local_addr()?);
    io::stdout().flush()?;
    thread::spawn(report_when_asked);
    for client in listener.incoming() {
        let client = match client {
            Ok(client) => client,
            Err(e) => {
                eprintln!("delay-proxy: accepting: {e}");
                continue;
            }
        };
        thread::spawn(move || {
            if let Err(e) = relay(client, upstream, delay) {
                eprintln!("delay-proxy: connecting to {upstream}: {e}");
            }
        });
    }
    Ok(())
}

/// Answers each line of standard input with the bytes forwarded so far, until it closes.
fn report_when_asked() {
    for line in io::stdin().lines() {
        if line.is_err() {
            return;
        }
        println!("forwarded {}", FORWARDED.load(Ordering::Relaxed));
        let _ = io::stdout().flush();
    }
}

/// Forwards one connection both ways, each through its own timed queue.
fn relay(client: TcpStream, upstream: std::net::SocketAddr, delay: Duration) -> io::Result<()> {
    let server = TcpStream::connect_timeout(&upstream, CONNECT_TIMEOUT)?;
    // A delayed piece goes out when due, not when Nagle's algorithm lets it.
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    let (client_in, server_in) = (client.try_clone()?, server.try_clone()?);
    let up = thread::spawn(move || direction(client_in, server, delay));
    direction(server_in, client, delay);
    let _ = up.join();
    Ok(())
}

/// One direction: reads `from` as fast as it comes, delivers each piece to `to` once it is
/// `delay` old, and passes the end of the stream on the same way.
fn direction(from: TcpStream, to: TcpStream, delay: Duration) {
    let (queue, due) = sync_channel(IN_FLIGHT);
    let stop_reading = from.try_clone().ok();
    let deliverer = thread::spawn(move || deliver(due, to, stop_reading));
    receive(from, queue, delay);
    let _ = deliverer.join();
}

fn receive(mut from: TcpStream, queue: SyncSender<(Instant, Vec<u8>)>, delay: Duration) {
    let mut buffer = vec![0; CHUNK];
    loop {
        match from.read(&mut buffer) {
            Ok(0) => {
                // The end of the stream, as late as its last byte would be.
                let _ = queue.send((Instant::now() + delay, Vec::new()));
                return;
            }
            Err(_) => return, // dropping the queue ends the stream once it is delivered
            Ok(n) => {
                if queue
                    .send((Instant::now() + delay, buffer[..n].to_vec()))
                    .is_err()
                {
                    return; // the other side is gone
                }
            }
        }
    }
}

fn deliver(due: Receiver<(Instant, Vec<u8>)>, mut to: TcpStream, from: Option<TcpStream>) {
    for (at, piece) in due {
        let now = Instant::now();
        if at > now {
            thread::sleep(at - now);
        }
        if piece.is_empty() {
            break; // the end of the stream
        }
        if to.write_all(&piece).is_ok() {
            FORWARDED.fetch_add(piece.len() as u64, Ordering::Relaxed);
        } else {
            // The receiver is gone: stop reading what nobody will get.
            if let Some(from) = &from {
                let _ = from.shutdown(Shutdown::Both);
            }
            return;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}
