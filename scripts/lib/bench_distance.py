"""scripts/bench --distance: PostgreSQL a network away (issue 34). For each round trip (loopback,
then 0.5 and 1 ms added by the delay proxy between every client and PostgreSQL, pgbench's
baselines included), this project's functions and the official frameworks doing the same job
(ingest, and /data's first page) are measured closed loop (wrk: the most each takes), then
open loop at half of that (open-loop: latency with coordinated omission corrected), and every
acknowledged event is checked to be stored. `bench` is scripts/bench's own module: its wrk,
pgbench, Function and the rest."""

import base64
import json
import subprocess
import sys
import time
from pathlib import Path

# Round trips added by the proxy, ms (half of it each way); 0: straight to PostgreSQL's port.
ROUND_TRIPS_MS = (0.0, 0.5, 1.0)
CONNECTIONS = 64
POOL_SIZE = 4  # this project's default (DB_POOL_SIZE): the peers' pools are the same
DATABASE = "bench_distance"
PAGE_SQL = "SELECT user_id, email, name FROM users WHERE user_id > 0 ORDER BY user_id LIMIT 101;"
USER = base64.b64encode(b'{"email": "bench@example.com", "name": "Bench User"}').decode()
PUBLISHED = "2024-01-01T00:00:00Z"
CE_HEADERS = {"ce-specversion": "1.0", "ce-id": "bench", "ce-source": "//pubsub.googleapis.com/projects/bench/topics/bench",
              "ce-type": "google.cloud.pubsub.topic.v1.messagePublished", "content-type": "application/json"}


def event_body(message_id):
    return json.dumps({"message": {"data": USER, "messageId": message_id, "publishTime": PUBLISHED},
                       "subscription": "projects/bench/subscriptions/bench"}, separators=(",", ":"))


class Proxy:
    """The delay proxy (scripts/lib/bench-tools) in front of PostgreSQL's TCP port: its port,
    and what it has cost so far (CPU seconds, bytes written)."""

    def __init__(self, bench, postgres_port, round_trip_ms):
        binary = bench.ROOT / "target" / "release" / "delay-proxy"
        self.process = subprocess.Popen(
            [str(binary), "--to", f"127.0.0.1:{postgres_port}", "--delay-us", str(round(round_trip_ms * 500))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline().strip()
        if not line.startswith("listening on "):
            sys.exit(f"error: the delay proxy did not start: {line!r}")
        self.port = int(line.rsplit(":", 1)[1])
        self._bench = bench

    def cost(self):
        """(CPU seconds, bytes forwarded) so far: it says its bytes when asked (a line on its
        standard input)."""
        self.process.stdin.write("\n")
        self.process.stdin.flush()
        forwarded = int(self.process.stdout.readline().split()[1])
        return self._bench.tree_cpu_seconds(self.process.pid), forwarded

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=15)
        self.process.stdin.close()
        self.process.stdout.close()


class Route:
    """How the clients reach PostgreSQL at one distance: straight to its TCP port, or through a
    delay proxy."""

    def __init__(self, bench, cluster, round_trip_ms):
        self.round_trip_ms = round_trip_ms
        port = int(cluster.env["PGPORT"])
        self.proxy = Proxy(bench, port, round_trip_ms) if round_trip_ms else None
        self.env = {"PGHOST": "127.0.0.1", "PGPORT": str(self.proxy.port if self.proxy else port)}

    def cost(self):
        return self.proxy.cost() if self.proxy else (0.0, 0)

    def stop(self):
        if self.proxy:
            self.proxy.stop()


def open_loop(bench, url, rate, seconds, body=None):
    """open-loop's results at `rate` a second (whole) over CONNECTIONS connections, with the CPU
    it spent itself."""
    rate = max(1, round(rate))
    command = [str(bench.ROOT / "target" / "release" / "open-loop"), "--url", url, "--rate", str(rate),
               "--connections", str(CONNECTIONS), "--seconds", str(seconds)]
    if body is not None:
        command += ["--method", "POST", "--body", body]
        for name, value in CE_HEADERS.items():
            command += ["--header", f"{name}: {value}"]
    before = bench.children_cpu_seconds()
    result = json.loads(bench.run(*command).strip().splitlines()[-1])
    result["client_cpu_s"] = bench.children_cpu_seconds() - before
    result["offered_rate"] = rate
    return result


def costed(route, measure):
    """`measure()`'s result, with what the proxy spent during it."""
    cpu, written = route.cost()
    result = measure()
    after_cpu, after_written = route.cost()
    result["proxy_cpu_s"], result["proxy_bytes"] = after_cpu - cpu, after_written - written
    return result


def ingest_load(bench, cluster, served, route, seconds, tag, batches=None):
    """ingest (ours or a peer's) closed loop at CONNECTIONS senders, then open loop at half its
    rate; each checked: every acknowledged event stored, none twice. `batches()`, if given,
    counts ingest's batch statements so far (the mean batch of the closed loop)."""
    closed_id, open_id = f"{tag}c", f"{tag}o"
    calls, (_, users) = batches() if batches else 0, settled_counts(cluster, closed_id)
    result = costed(route, lambda: served.measured(lambda: bench.wrk(
        served.url, CONNECTIONS, seconds, "wrk-ingest.lua", closed_id, USER, PUBLISHED)))
    stored, users_closed = settled_counts(cluster, closed_id)
    if batches:
        result["mean_batch"] = stored / max(batches() - calls, 1)
    acknowledged = result["requests"] - result["error_status"]
    result["stored"], result["acknowledged"] = stored, acknowledged
    result["verified"] = result["error_status"] == 0 and acknowledged <= stored <= result["sent"]
    bench.log(f"  open loop at {result['rate'] / 2:,.0f} events/s (half of {result['rate']:,.0f})")
    fixed = costed(route, lambda: open_loop(bench, served.url + "/", result["rate"] / 2, seconds,
                                           event_body(f"{open_id}-{{n}}")))
    fixed["stored"], users_open = settled_counts(cluster, open_id)
    fixed["acknowledged"] = fixed["requests"] - fixed["not_2xx"]
    due = round(fixed["offered_rate"] * seconds)
    fixed["verified"] = fixed["not_2xx"] == 0 and fixed["acknowledged"] <= fixed["stored"] <= due
    # Once in effect: a user row for each key claimed, no more.
    result["users_added"], fixed["users_added"] = users_closed - users, users_open - users_closed
    result["verified"] &= result["users_added"] == stored
    fixed["verified"] &= fixed["users_added"] == fixed["stored"]
    result["open_loop"] = fixed
    return result


def settled_counts(cluster, prefix):
    """Keys claimed under `prefix`, and users, in one snapshot, once the requests a load left
    in flight when it stopped have had a second to finish."""
    time.sleep(1)
    keys, users = cluster.sql(DATABASE, "SELECT (SELECT count(*) FROM processed_messages WHERE delivery_key "
                                        f"LIKE '{prefix}-%') || ' ' || (SELECT count(*) FROM users)").split()
    return int(keys), int(users)


def closed_loop(bench, served, route, url_path, connections, seconds):
    return costed(route, lambda: served.measured(lambda: bench.wrk(
        served.url + url_path, connections, seconds, "wrk-get.lua")))


def data_open_loop(bench, served, route, closed, seconds):
    bench.log(f"  open loop at {closed['rate'] / 2:,.0f} requests/s (half of {closed['rate']:,.0f})")
    return costed(route, lambda: open_loop(bench, served.url + "/data", closed["rate"] / 2, seconds))


def query_round_trip_ms(bench, cluster, route, seconds):
    """The page query's latency, one client, through `route`: what a linearizable answer waits
    for at least once after its request arrives."""
    return bench.pgbench(cluster, DATABASE, PAGE_SQL, 1, seconds, via=route.env)["latency_avg_ms"]


def bound(connections, root, round_trip_ms):
    """The most /data can answer in a closed loop of `connections` if every answer waits one
    round trip after its request arrives: connections ÷ (/'s cycle + the round trip)."""
    root_cycle_s = connections / root["rate"]
    return connections / (root_cycle_s + round_trip_ms / 1000)


def our_ingest(bench, cluster, route, seconds, tag):
    ingest = bench.Function("ingest", cluster, DATABASE, **route.env)
    try:
        ingest.wait_ready("/", "POST", event_body(f"{tag}w").encode(), CE_HEADERS)
        bench.log(f"  ingest, {CONNECTIONS} senders, then its batched ceiling (pgbench, one client)")
        load = ingest_load(bench, cluster, ingest, route, seconds, tag, lambda: bench.write_calls(cluster, DATABASE))
    finally:
        ingest.stop()
    size = max(1, round(load["mean_batch"]))
    ceiling = bench.pgbench(cluster, DATABASE, bench.batch_sql(size), 1, seconds, via=route.env)
    load["ceiling_batch"], load["ceiling_events_per_s"] = size, ceiling["rate"] * size
    load["ceiling_ratio"] = load["rate"] / load["ceiling_events_per_s"]
    return load


def our_read(bench, cluster, route, seconds, round_trip_ms, with_16):
    """/data and / closed loop (read's timings of /data are summed every second, the last
    during /), /data open loop; at 16 connections too on loopback."""
    log_to = Path(cluster.dir) / f"read-distance-{route.round_trip_ms}.log"
    reader = bench.Function("read", cluster, DATABASE, log_to=log_to, RUST_LOG="warn,read=info",
                            LOG_SUMMARY_SECS="1", **route.env)
    out = {}
    try:
        reader.wait_ready("/data")
        for connections in ((16, CONNECTIONS) if with_16 else (CONNECTIONS,)):
            bench.log(f"  read: /data, then /, {connections} connections")
            logged = reader.log_size()
            data = closed_loop(bench, reader, route, "/data", connections, seconds)
            root = closed_loop(bench, reader, route, "/", connections, seconds)
            with open(log_to, encoding="utf-8") as log_file:
                log_file.seek(logged)
                data["timings"] = bench.read_timings(log_file.read())
            data["root"] = root
            data["bound"] = bound(connections, root, round_trip_ms)
            data["to_bound"] = data["rate"] / data["bound"]
            data["cycle_us"] = connections / data["rate"] * 1e6
            data["root_cycle_us"] = connections / root["rate"] * 1e6
            out[str(connections)] = data  # keys as results.json has them
        widest = out[str(CONNECTIONS)]
        widest["open_loop"] = data_open_loop(bench, reader, route, widest, seconds)
    finally:
        reader.stop()
    return out


def start_peer(bench, cluster, route, command, env, target):
    port = bench.free_port()
    process = subprocess.Popen(
        [*command(target), f"--port={port}"],
        env={**cluster.env_for(DATABASE), **env, **route.env, "PORT": str(port), "DB_POOL_SIZE": str(POOL_SIZE)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return bench.Served(process, f"http://127.0.0.1:{port}")


def peers(bench, cluster, route, seconds, frameworks, tag):
    """The official frameworks doing the same job: ingest and /data, closed and open loop."""
    out = {}
    for number, (name, (command, env)) in enumerate(frameworks.items()):
        bench.log(f"  {name}: ingest, {CONNECTIONS} senders")
        ingest = start_peer(bench, cluster, route, command, env, "ingest")
        try:
            ingest.wait_ready("/", "POST", event_body(f"{tag}p{number}w").encode(), CE_HEADERS)
            load = ingest_load(bench, cluster, ingest, route, seconds, f"{tag}p{number}")
        finally:
            ingest.stop()
        bench.log(f"  {name}: /data, {CONNECTIONS} connections")
        reader = start_peer(bench, cluster, route, command, env, "data")
        try:
            reader.wait_ready("/data")
            data = closed_loop(bench, reader, route, "/data", CONNECTIONS, seconds)
            data["open_loop"] = data_open_loop(bench, reader, route, data, seconds)
        finally:
            reader.stop()
        out[name] = {"ingest": load, "data": data}
    return out


def at_distance(bench, cluster, route, seconds, frameworks, tag):
    added = route.round_trip_ms
    bench.log(f"PostgreSQL {'a ' + str(added) + ' ms round trip away (delay proxy)' if added else 'on loopback (TCP)'}")
    cost = route.cost()
    round_trip_ms = query_round_trip_ms(bench, cluster, route, min(seconds, 3))
    row = {"added_round_trip_ms": added, "round_trip_ms": round_trip_ms,
           "ingest": our_ingest(bench, cluster, route, seconds, tag),
           "read": our_read(bench, cluster, route, seconds, round_trip_ms, with_16=not added),
           "peers": peers(bench, cluster, route, seconds, frameworks, tag)}
    after = route.cost()
    row["proxy_cpu_s"], row["proxy_bytes"] = after[0] - cost[0], after[1] - cost[1]
    return row


def measure(bench, cluster, seconds, frameworks):
    """Every row at every distance; `frameworks`: {name: (command for a target, env)}."""
    cluster.create(DATABASE)
    migrator = bench.Function("read", cluster, DATABASE)
    migrator.wait_ready("/data")  # migrates
    migrator.stop()
    cluster.sql(DATABASE, (bench.ROOT / "shared" / "db" / "sql" / "sample_users.sql").read_text()
                + "; CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    rows = []
    for number, added in enumerate(ROUND_TRIPS_MS):
        route = Route(bench, cluster, added)
        try:
            rows.append(at_distance(bench, cluster, route, seconds, frameworks, f"d{number}t{int(time.time())}"))
        finally:
            route.stop()
    loopback = next(row for row in rows if not row["added_round_trip_ms"])["round_trip_ms"]
    for row in rows:
        # What the proxy added, measured: never less than it was told.
        row["proxy_added_ms"] = row["round_trip_ms"] - loopback
    return rows


OURS = "this project (Rust)"


def implementations(row):
    """(name, ingest, /data) for ours and each peer at one distance."""
    yield OURS, row["ingest"], row["read"][str(CONNECTIONS)]
    for name, peer in row["peers"].items():
        yield name, peer["ingest"], peer["data"]


def where(row):
    added = row["added_round_trip_ms"]
    return f"+{added:g} ms" if added else "loopback"


def per_million(result, key):
    return result[key] / max(result["requests"], 1) * 1e6


def report(rows):
    """The distance rows as scripts/bench prints them."""
    lines = ["", f"PostgreSQL at a distance: the delay proxy adds a round trip between every client and PostgreSQL "
             f"(pgbench too); {CONNECTIONS} connections; a pool of {POOL_SIZE} for every implementation",
             "| PostgreSQL | page query round trip (measured; added) | ingest events/s | its batched ceiling "
             "(mean batch) | ÷ ceiling | /data req/s | / req/s | bound: conns ÷ (/'s cycle + round trip) | ÷ bound "
             "| proxy: CPU ns a byte, CPU s per million /data |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        i, d = row["ingest"], row["read"][str(CONNECTIONS)]
        proxy = (f"{row['proxy_cpu_s'] / max(row['proxy_bytes'], 1) * 1e9:.1f}, {per_million(d, 'proxy_cpu_s'):.1f}"
                 if row["added_round_trip_ms"] else "none")
        lines.append(f"| {where(row)} | {row['round_trip_ms']:.3f} ms ({row['proxy_added_ms']:+.3f}) "
                     f"| {i['rate']:,.0f} | {i['ceiling_events_per_s']:,.0f} ({i['mean_batch']:.1f}) "
                     f"| {i['ceiling_ratio']:.2f}x | {d['rate']:,.0f} | {d['root']['rate']:,.0f} | {d['bound']:,.0f} "
                     f"| {d['to_bound']:.2f}x | {proxy} |")
        if "16" in row["read"]:
            d16 = row["read"]["16"]
            lines.append(f"| {where(row)}, 16 connections | | | | | {d16['rate']:,.0f} | {d16['root']['rate']:,.0f} "
                         f"| {d16['bound']:,.0f} | {d16['to_bound']:.2f}x | |")
    lines += ["", "the same job, closed loop (the most each takes) and open loop at half of that (latency from when "
              "each request was due: coordinated omission corrected), ms",
              "| PostgreSQL | implementation | ingest events/s | stored as acknowledged | ingest p50 / p99 / p99.9 "
              "| /data req/s | /data p50 / p99 / p99.9 | CPU s per million: ingest, /data |",
              "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        for name, ingest, data in implementations(row):
            io, do = ingest["open_loop"], data["open_loop"]
            checked = "ok" if ingest["verified"] and io["verified"] else "FAILED"
            lines.append(
                f"| {where(row)} | {name} | {ingest['rate']:,.0f} | {ingest['acknowledged'] + io['acknowledged']} ≤ "
                f"{ingest['stored'] + io['stored']} {checked} | {io['p50_ms']:.2f} / {io['p99_ms']:.2f} / "
                f"{io['p999_ms']:.2f} | {data['rate']:,.0f} | {do['p50_ms']:.2f} / {do['p99_ms']:.2f} / "
                f"{do['p999_ms']:.2f} | {per_million(ingest, 'cpu_s'):.1f}, {per_million(data, 'cpu_s'):.1f} |")
    lines += ["", "where a /data answer's time goes at a distance (means, µs; read's own timings, 64 connections)",
              "| PostgreSQL | a cycle (/'s) | in read | before its round | its round (query) | after it (woken) "
              "| answers a query |", "|---|---|---|---|---|---|---|"]
    for row in rows:
        d = row["read"][str(CONNECTIONS)]
        t = d["timings"]
        lines.append(f"| {where(row)} | {d['cycle_us']:.0f} ({d['root_cycle_us']:.0f}) | {t['in_read_us']:.0f} "
                     f"| {t['before_round_us']:.0f} | {t['round_us']:.0f} ({t['query_us']:.0f}) "
                     f"| {t['after_round_us']:.0f} | {t['answers_per_query']:.1f} |")
    return lines


def targets(rows):
    """Issue 34's targets, each inside its own run: (what, figure, met)."""
    out = []
    at_1ms = [row for row in rows if row["added_round_trip_ms"] == 1.0]
    loopback = [row for row in rows if not row["added_round_trip_ms"]]
    for row in at_1ms:
        ratio = row["ingest"]["ceiling_ratio"]
        out.append(("ingest at 64 senders at least 0.7x its batched ceiling, +1 ms", f"{ratio:.2f}x", ratio >= 0.7))
        ratio = row["read"][str(CONNECTIONS)]["to_bound"]
        out.append(("/data at 64 connections at least 0.8x of the linearizable bound, +1 ms", f"{ratio:.2f}x",
                    ratio >= 0.8))
        for what, result in (("/data", row["read"][str(CONNECTIONS)]), ("ingest", row["ingest"])):
            fixed = result["open_loop"]
            ratio = fixed["p99_ms"] / fixed["p50_ms"]
            out.append((f"{what}'s p99 at most 3x its p50 at half its most, +1 ms",
                        f"{fixed['p99_ms']:.2f} ÷ {fixed['p50_ms']:.2f} ms = {ratio:.1f}x", ratio <= 3))
    for row in loopback:
        ratio = row["read"][str(CONNECTIONS)]["to_bound"]
        out.append(("/data at 64 connections at least 0.9x of the bound, loopback", f"{ratio:.2f}x", ratio >= 0.9))
        out.append(("/data at 16 connections ÷ the bound, loopback (reported)",
                    f"{row['read']['16']['to_bound']:.2f}x", None))
    for row in rows:
        for name, ingest, _ in implementations(row):
            out.append((f"{name}: every acknowledged event stored, {where(row)}", "",
                        ingest["verified"] and ingest["open_loop"]["verified"]))
        if row["added_round_trip_ms"]:
            out.append((f"the proxy added at least what it was told, {where(row)}",
                        f"{row['proxy_added_ms']:.3f} ms", row["proxy_added_ms"] >= 0.9 * row["added_round_trip_ms"]))
    return out
