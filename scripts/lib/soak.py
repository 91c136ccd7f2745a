"""The soak of scripts/bench --soak: both release binaries under steady load for minutes, with
three faults injected along the way, and what must hold at the end.

- load: 8 senders post Pub/Sub push bodies to ingest (each message unique, one connection
  each, kept alive), 4 readers ask read for random pages;
- each function's stderr is a pipe the soak reads into a file (soak-ingest.log,
  soak-read.log beside the cluster);
- at 15% of the time an operator locks `users` (ACCESS EXCLUSIVE) for 15 s; at 30% a
  migration widens `users.email` (varchar(255) to varchar(320)) under the running functions;
  at 40% every PostgreSQL process is stopped (SIGSTOP) for 15 s, as a frozen VM would be; at
  55% the database turns read-only for 10 s, as a failover onto a standby does (every new
  session read-only, every session ended); at 65%, 8 clients pipeline 200 large-page
  requests each on HTTP/1.1 and never read the answers, for 60 s; at 85% nobody reads
  either function's stderr for 10 s (a stalled log collector) while 4 more senders post
  messages that are not JSON, each dead-lettered with an ERROR line of about 400 bytes, far
  more than a pipe and the log queue hold; `GET /` of both is timed throughout;
- at the end: every message ingest acknowledged (200) is in `users` exactly once; read
  answered `/data` with 200 within 5 s of each fault's end; during the stalled logs every
  `GET /` was answered (within 5 s); each function's resident memory, 20 s after the load
  stops, is under twice what it was warm.
"""

import base64
import http.client
import json
import os
import random
import re
import socket
import subprocess
import threading
import time
from pathlib import Path

# What the functions log when their log queue was full (shared/framework/src/logging/writer.rs).
DROPPED = re.compile(rb"(\d+) log lines were dropped")


class Load:
    """Senders and readers, running until `stop` is set."""

    def __init__(self, ingest_port, read_port):
        self.ingest_port, self.read_port = ingest_port, read_port
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.acknowledged, self.refused, self.reads, self.read_errors = [], 0, 0, 0
        self.threads = [threading.Thread(target=self.send, args=(n,)) for n in range(8)]
        self.threads += [threading.Thread(target=self.read) for _ in range(4)]

    def start(self):
        for thread in self.threads:
            thread.start()

    def finish(self):
        self.stop.set()
        for thread in self.threads:
            thread.join()

    def send(self, sender):
        connection, number = None, 0
        while not self.stop.is_set():
            number += 1
            email = f"soak-{sender}-{number}@example.com"
            data = base64.b64encode(json.dumps({"email": email, "name": "Soak"}).encode()).decode()
            body = json.dumps({"message": {"data": data, "messageId": f"soak-{sender}-{number}",
                                           "publishTime": "2026-01-01T00:00:00Z"}})
            try:
                connection = connection or http.client.HTTPConnection("127.0.0.1", self.ingest_port, timeout=90)
                connection.request("POST", "/", body, {"content-type": "application/json"})
                response = connection.getresponse()
                response.read()
                with self.lock:
                    if response.status == 200:
                        self.acknowledged.append(email)
                    else:
                        self.refused += 1
            except OSError:
                connection = None
                with self.lock:
                    self.refused += 1
                time.sleep(0.05)

    def read(self):
        connection = None
        while not self.stop.is_set():
            try:
                connection = connection or http.client.HTTPConnection("127.0.0.1", self.read_port, timeout=90)
                connection.request("GET", f"/data?limit=100&after={random.randint(0, 20000)}")
                response = connection.getresponse()
                response.read()
                with self.lock:
                    self.reads += 1
                    self.read_errors += response.status != 200
            except OSError:
                connection = None
                with self.lock:
                    self.read_errors += 1
                time.sleep(0.05)


def hold_lock(cluster, database, seconds):
    cluster.sql(database, f"BEGIN; LOCK TABLE users IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep({seconds}); COMMIT")


def freeze(cluster_dir, seconds):
    """SIGSTOP every process of the cluster for `seconds`, then SIGCONT."""
    postmaster = Path(cluster_dir, "data", "postmaster.pid").read_text().split()[0]
    children = subprocess.run(["pgrep", "-P", postmaster], capture_output=True, text=True).stdout.split()
    pids = [postmaster, *children]
    subprocess.run(["kill", "-STOP", *pids], check=True)
    try:
        time.sleep(seconds)
    finally:
        subprocess.run(["kill", "-CONT", *pids], check=True)


def slow_readers(port, seconds, clients=8, requests=200):
    """Clients that pipeline many large-page requests and never read an answer."""
    sockets = []
    for client in range(clients):
        sock = socket.create_connection(("127.0.0.1", port))
        pipelined = "".join(f"GET /data?limit=1000&after={client * requests + n} HTTP/1.1\r\nHost: soak\r\n\r\n"
                            for n in range(requests))
        sock.setblocking(False)
        try:
            sock.send(pipelined.encode())
        except BlockingIOError:
            pass
        sockets.append(sock)
    time.sleep(seconds)
    closed_by_server = 0
    for sock in sockets:
        sock.setblocking(True)
        sock.settimeout(1)
        try:
            # Drain what was sent: a closed connection ends with an empty read.
            while sock.recv(1 << 20):
                pass
            closed_by_server += 1
        except OSError:
            pass
        sock.close()
    return closed_by_server


class LogPipe:
    """A function's stderr, copied into a file by a thread of its own, which a fault can stop
    reading for a while, as a log collector that stalls would."""

    def __init__(self, process, path):
        self.path = Path(path)
        self.reading = threading.Event()
        self.reading.set()
        threading.Thread(target=self._copy, args=(process.stderr,), daemon=True).start()

    def _copy(self, stderr):
        with open(self.path, "wb") as out:
            while True:
                self.reading.wait()
                chunk = os.read(stderr.fileno(), 1 << 16)
                if not chunk:
                    return
                out.write(chunk)
                out.flush()

    def stall(self, seconds):
        self.reading.clear()
        try:
            time.sleep(seconds)
        finally:
            self.reading.set()

    def dropped(self):
        """The log lines the function said it dropped."""
        return sum(int(count) for count in DROPPED.findall(self.path.read_bytes()))


def poison(port, stop, answered):
    """Posts messages whose data is not JSON until `stop`; each is dead-lettered with an ERROR
    line (its long id makes the line about 400 bytes). Appends how many got 200."""
    connection, number, ok = None, 0, 0
    sender = threading.get_ident()
    data = base64.b64encode(b"not json").decode()
    while not stop.is_set():
        number += 1
        message_id = f"poison-{sender}-{number}-" + "x" * 180
        body = json.dumps({"message": {"data": data, "messageId": message_id,
                                       "publishTime": "2026-01-01T00:00:00Z"}})
        try:
            connection = connection or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            connection.request("POST", "/", body, {"content-type": "application/json"})
            response = connection.getresponse()
            response.read()
            ok += response.status == 200
        except OSError:
            connection = None
            time.sleep(0.05)
    answered.append(ok)


def get_status(port, path, timeout=5):
    """The status `GET path` gets within `timeout` seconds, or None."""
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        connection.close()
        return response.status
    except OSError:
        return None


def stalled_logs(pipes, ingest_port, read_port, seconds=10):
    """Nobody reads either function's stderr for `seconds` while ingest dead-letters poison
    messages; `GET /` of both is timed meanwhile, then how soon read's /data answers 200."""
    stop, answered = threading.Event(), []
    senders = [threading.Thread(target=poison, args=(ingest_port, stop, answered)) for _ in range(4)]
    stalls = [threading.Thread(target=pipe.stall, args=(seconds,)) for pipe in pipes]
    for thread in senders + stalls:
        thread.start()
    slowest, unanswered = 0.0, 0
    while any(stall.is_alive() for stall in stalls):
        for port, expected in ((ingest_port, 405), (read_port, 200)):
            began = time.monotonic()
            status = get_status(port, "/")
            slowest = max(slowest, time.monotonic() - began)
            unanswered += status != expected
        time.sleep(0.25)
    for stall in stalls:
        stall.join()
    ended = time.monotonic()
    stop.set()
    for sender in senders:
        sender.join()
    back = None
    while time.monotonic() - ended < 30:
        if get_status(read_port, "/data?limit=1") == 200:
            back = time.monotonic() - ended
            break
        time.sleep(0.1)
    time.sleep(2)  # the writers drain what they kept and say what they dropped
    return {"dead_lettered": sum(answered), "slowest_get_s": slowest, "unanswered_gets": unanswered,
            "read_back_s": back, "dropped": [pipe.dropped() for pipe in pipes]}


def widen_email(cluster, database):
    """What a later migration widening a column does: read's page statement returns it."""
    cluster.sql(database, "ALTER TABLE users ALTER COLUMN email TYPE varchar(320)")


def read_only(cluster, database, seconds):
    """A failover onto a standby, as the functions see it: every new session read-only, every
    session ended; `seconds` later, writable again for new sessions (the functions must
    replace the read-only ones themselves). Run from another database: a session of this
    one would itself be read-only when it turns the setting off."""
    cluster.sql("postgres", f"ALTER DATABASE {database} SET default_transaction_read_only = on")
    cluster.sql("postgres", "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                            f"WHERE datname = '{database}'")
    try:
        time.sleep(seconds)
    finally:
        cluster.sql("postgres", f"ALTER DATABASE {database} RESET default_transaction_read_only")


def seconds_until_read_serves(port, within=30):
    """How long after now read first answers `/data` with 200 (polled every 100 ms), or None
    if it did not within `within` seconds."""
    began = time.monotonic()
    while time.monotonic() - began < within:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/data?limit=1")
            if connection.getresponse().status == 200:
                return time.monotonic() - began
        except OSError:
            pass
        time.sleep(0.1)
    return None


def rss_mb(process):
    for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def soak(cluster, start_function, minutes, log):
    """Runs the soak; returns (report lines, ok)."""
    database = "soak"
    cluster.create(database)
    cluster.sql(database, "SELECT 1")
    # Short idle and reply timeouts, so that what the faults leave behind is cleared within
    # the soak; the defaults only take longer.
    ingest = start_function("ingest", database, stderr=subprocess.PIPE, IDLE_TIMEOUT_SECS="15")
    read = start_function("read", database, stderr=subprocess.PIPE, IDLE_TIMEOUT_SECS="15")
    pipes = [LogPipe(ingest.process, Path(cluster.dir).parent / "soak-ingest.log"),
             LogPipe(read.process, Path(cluster.dir).parent / "soak-read.log")]
    stall = {}
    cluster.sql(database, "INSERT INTO users SELECT i, 'seed-' || i || '@example.com', 'Seed' "
                          "FROM generate_series(100000000, 100020000) i")
    load = Load(ingest.port, read.port)
    load.start()
    time.sleep(20)
    warm = {"ingest": rss_mb(ingest.process), "read": rss_mb(read.process)}
    peak = dict(warm)
    total = minutes * 60
    faults = [(0.15, "a lock on users for 15 s", lambda: hold_lock(cluster, database, 15)),
              (0.30, "users.email widened to varchar(320)", lambda: widen_email(cluster, database)),
              (0.40, "PostgreSQL frozen (SIGSTOP) for 15 s", lambda: freeze(cluster.dir, 15)),
              (0.55, "the database read-only for 10 s", lambda: read_only(cluster, database, 10)),
              (0.65, "8 HTTP/1.1 clients that never read, for 60 s", lambda: log(
                  f"  slow readers: {slow_readers(read.port, 60)} of 8 connections closed by read")),
              (0.85, "nobody reads the functions' logs for 10 s, while poison messages pour in",
               lambda: stall.update(stalled_logs(pipes, ingest.port, read.port)))]
    # Per fault, how long after its end read answered /data with 200 again (None: not in 30 s).
    recovered = {}

    def inject_and_time(what, inject):
        inject()
        recovered[what] = seconds_until_read_serves(read.port)
        waited = "no 200 within 30 s" if recovered[what] is None else f"a 200 {recovered[what]:.2f} s later"
        log(f"  {what}: over; read answered {waited}")

    began = time.monotonic()
    pending, injected = list(faults), []
    while (elapsed := time.monotonic() - began) < total:
        if pending and elapsed >= pending[0][0] * total:
            _, what, inject = pending.pop(0)
            log(f"soak {elapsed:.0f} s: {what}")
            injected.append(threading.Thread(target=inject_and_time, args=(what, inject)))
            injected[-1].start()
        for name, process in (("ingest", ingest.process), ("read", read.process)):
            peak[name] = max(peak[name], rss_mb(process))
        time.sleep(1)
    for thread in injected:  # under load to the end
        thread.join()
    load.finish()
    log("soak: load stopped; 20 s of quiet")
    time.sleep(20)
    after = {"ingest": rss_mb(ingest.process), "read": rss_mb(read.process)}
    stored = set(cluster.sql(database, "SELECT email FROM users WHERE email LIKE 'soak-%'").split())
    rows = int(cluster.sql(database, "SELECT count(*) FROM users WHERE email LIKE 'soak-%'"))
    missing = [email for email in load.acknowledged if email not in stored]
    ingest.stop()
    read.stop()
    logs_ok = (stall.get("unanswered_gets") == 0 and stall.get("read_back_s") is not None
               and stall["read_back_s"] <= 5)
    slow = [what for _, what, _ in faults if recovered.get(what) is None or recovered[what] > 5]
    ok = (not missing and rows == len(stored) and all(after[n] < 2 * warm[n] for n in warm)
          and logs_ok and not slow)
    lines = [
        f"soak: {minutes} min; ingest acknowledged {len(load.acknowledged)} messages "
        f"({load.refused} answered otherwise, for Pub/Sub to redeliver); "
        f"read answered {load.reads} pages ({load.read_errors} not 200)",
        f"  acknowledged and missing from users: {len(missing)}; rows {rows}, distinct {len(stored)}",
    ]
    if stall:
        back = stall["read_back_s"]
        lines.append(
            f"  logs stalled 10 s: {stall['dead_lettered']} poison messages dead-lettered meanwhile; "
            f"slowest GET / {stall['slowest_get_s'] * 1000:.0f} ms, {stall['unanswered_gets']} not answered "
            f"(must be 0); read's /data 200 "
            + (f"{back:.1f} s after the end (must be <= 5 s)" if back is not None else "not within 30 s")
            + f"; log lines dropped: ingest {stall['dropped'][0]}, read {stall['dropped'][1]}")
    else:
        lines.append("  logs stalled 10 s: the fault did not run (a soak too short?)")
    for _, what, _ in faults:
        waited = recovered.get(what)
        lines.append(f"  read answering 200 after {what}: "
                     + ("not within 30 s" if waited is None else f"{waited:.1f} s after its end")
                     + " (must be <= 5 s)")
    for name in ("ingest", "read"):
        lines.append(f"  {name} RSS: {warm[name]:.1f} MB warm, {peak[name]:.1f} MB peak, "
                     f"{after[name]:.1f} MB 20 s after ({after[name] / warm[name]:.2f}x warm; must be < 2x)")
    return lines, ok
