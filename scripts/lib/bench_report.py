"""docs/performance.md's figures from scripts/bench's results: the table of the latest runs
and the charts (SVG, drawn here with no plotting library), so they are regenerated, never
drawn by hand. `scripts/bench --report` runs it on .state/bench/results.json."""

import html
import statistics
from pathlib import Path

from bench_distance import CONNECTIONS, implementations, where

START, END = "<!-- bench:start -->", "<!-- bench:end -->"
# Cloud Run's list price of a vCPU-second (Tier 1, request-based billing), as scripts/bench has it.
VCPU_SECOND_USD = 0.000024
COLOURS = ("#1a73e8", "#9aa0a6", "#e37400", "#188038", "#a142f4", "#d93025")


def median(runs, pick):
    return statistics.median(pick(run) for run in runs)


def ingest_at(run, senders):
    return next(r for r in run["ingest"]["runs"] if r["senders"] == senders)


def figure(value):
    """A figure as a reader wants it: thousands separated, small ones to three digits."""
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def bar_chart(title, unit, groups, series):
    """Horizontal grouped bars. groups: [(label, [value per series])]; series: names. Values
    of None are left out (a measurement a run did not make)."""
    width, label_width, bar_height, gap = 760, 230, 16, 12
    plot = width - label_width - 90
    largest = max((v for _, values in groups for v in values if v is not None), default=1) or 1
    rows = sum(1 for _, values in groups for v in values if v is not None)
    height = 56 + rows * bar_height + len(groups) * gap + 20 * len(series)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="10" y="22" font-size="15" font-weight="bold">{html.escape(title)}</text>']
    y = 40
    for label, values in groups:
        shown = [(i, v) for i, v in enumerate(values) if v is not None]
        out.append(f'<text x="10" y="{y + bar_height * len(shown) / 2 + 4:.0f}">{html.escape(label)}</text>')
        for i, value in shown:
            length = max(1.0, plot * value / largest)
            out.append(f'<rect x="{label_width}" y="{y}" width="{length:.1f}" height="{bar_height - 3}" '
                       f'fill="{COLOURS[i % len(COLOURS)]}"><title>{html.escape(series[i])}: {figure(value)} '
                       f'{html.escape(unit)}</title></rect>')
            out.append(f'<text x="{label_width + length + 4:.1f}" y="{y + bar_height - 5}">{figure(value)}</text>')
            y += bar_height
        y += gap
    y += 8
    for i, name in enumerate(series):
        row_y = y + i * 20
        out.append(f'<rect x="10" y="{row_y - 10}" width="12" height="12" fill="{COLOURS[i % len(COLOURS)]}"/>')
        out.append(f'<text x="28" y="{row_y}">{html.escape(name)} ({html.escape(unit)})</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def charts(runs):
    """name -> SVG text, from the medians of `runs`."""
    def m(pick):
        return median(runs, pick)

    def optional(pick):
        try:
            return m(pick)
        except (KeyError, StopIteration, statistics.StatisticsError):
            return None

    read16, read64 = (lambda r: r["read"]["six_rows"]), (lambda r: r["read"]["six_rows_64"])
    out = {
        "throughput.svg": bar_chart(
            "Throughput beside its baselines (medians of the runs)", "per s",
            [(f"ingest, {n} senders", [m(lambda r, n=n: ingest_at(r, n)["events_per_s"]),
                                       m(lambda r, n=n: ingest_at(r, n)["pgbench_tps"]),
                                       optional(lambda r, n=n: ingest_at(r, n)["ceiling_events_per_s"])])
             for n in (64, 16)]
            + [(f"read /data, {n} connections", [m(lambda r, pick=pick: pick(r)["requests_per_s"]),
                                                 m(lambda r, pick=pick: pick(r)["pgbench_tps"]),
                                                 optional(lambda r, pick=pick: pick(r)["root_requests_per_s"])])
               for n, pick in ((16, read16), (64, read64))],
            ["the function", "pgbench: single-row INSERT / the same SELECT",
             "ingest's batched ceiling / read's own /"]),
        "latency.svg": bar_chart(
            "Latency under load (medians of the runs)", "ms",
            [(f"ingest, {n} senders", [m(lambda r, n=n: ingest_at(r, n)["p50_ms"]),
                                       m(lambda r, n=n: ingest_at(r, n)["p99_ms"])]) for n in (64, 16)]
            + [(f"read /data, {n} connections", [m(lambda r, pick=pick: pick(r)["p50_ms"]),
                                                 m(lambda r, pick=pick: pick(r)["p99_ms"])])
               for n, pick in ((16, read16), (64, read64))]
            + [("read, 1,000-row pages, 16", [m(lambda r: r["read"]["page_1000"]["p50_ms"]),
                                              m(lambda r: r["read"]["page_1000"]["p99_ms"])])],
            ["p50", "p99"]),
        "cold-start.svg": bar_chart(
            "Cold start of read, broken down (medians)", "ms",
            [("a process that does nothing", [m(lambda r: r["read"]["cold_start_ms"]["exec_true_ms"])]),
             ("read listening", [m(lambda r: r["read"]["cold_start_ms"]["listening_ms"])]),
             ("first 200 on / (no database)", [m(lambda r: r["read"]["cold_start_ms"]["root_first_200_ms"])]),
             ("first 200 on /data", [m(lambda r: r["read"]["cold_start_ms"]["median"])]),
             ("PostgreSQL: a new connection", [m(lambda r: r["read"]["cold_start_ms"]["postgres"]["connect_ms"])]),
             ("PostgreSQL: first schema check",
              [m(lambda r: r["read"]["cold_start_ms"]["postgres"]["schema_check_ms"])]),
             ("PostgreSQL: first page query", [m(lambda r: r["read"]["cold_start_ms"]["postgres"]["page_query_ms"])])],
            ["time from the process's start"]),
        "cost.svg": bar_chart(
            "Cloud Run vCPU cost per million, at list price (medians)", "USD",
            [(f"ingest, {n} senders", [m(lambda r, n=n: ingest_at(r, n)["cpu_s_per_million"]) * VCPU_SECOND_USD])
             for n in (64, 16)]
            + [(f"read /data, {n} connections", [m(lambda r, pick=pick: pick(r)["cpu_s_per_million"]) * VCPU_SECOND_USD])
               for n, pick in ((16, read16), (64, read64))],
            ["per million events or requests"]),
    }
    timed = [run for run in runs if "timings" in run["read"]["six_rows"]]
    if timed:
        def part(pick, name):
            return statistics.median(pick(run)["timings"][name] for run in timed)

        out["data-time.svg"] = bar_chart(
            "Where a /data answer's time goes, µs (means; medians of the runs)", "µs",
            [(f"{n} connections", [statistics.median(pick(run)["cycle_us"] for run in timed),
                                   statistics.median(pick(run)["root_cycle_us"] for run in timed),
                                   part(pick, "in_read_us"), part(pick, "before_round_us"),
                                   part(pick, "round_us"), part(pick, "after_round_us")])
             for n, pick in ((16, read16), (64, read64))],
            ["a connection's cycle (connections ÷ rate)", "/'s cycle, beside it", "in read", "in read: before its round",
             "in read: its round", "in read: after it (woken)"])
    frameworks = [run["read"].get("frameworks") for run in runs if run["read"].get("frameworks")]
    if frameworks:
        names = list(frameworks[-1])
        out["frameworks.svg"] = bar_chart(
            "Hello, World! at 64 connections: this framework and the official ones (medians)", "req/s",
            [(name, [statistics.median(f[name]["requests_per_s"] for f in frameworks if name in f)])
             for name in names],
            ["requests per second"])
    out.update(distance_charts([run["distance"] for run in runs if run.get("distance")]))
    return out


def distance_figures(distances):
    """{(where, implementation): [(ingest, /data) of each run]} over the runs with distance rows."""
    figures = {}
    for rows in distances:
        for row in rows:
            for name, ingest, data in implementations(row):
                figures.setdefault((where(row), name), []).append((ingest, data))
    return figures


def distance_charts(distances):
    """The same job beside the official frameworks at each distance: the most each takes, and
    latency at half of that (medians of the runs)."""
    if not distances:
        return {}
    figures = distance_figures(distances)
    names = list(dict.fromkeys(name for _, name in figures))
    places = list(dict.fromkeys(place for place, _ in figures))

    def med(place, name, job, pick):
        found = figures.get((place, name))
        return statistics.median(pick(pair[job]) for pair in found) if found else None

    out = {"distance-throughput.svg": bar_chart(
        f"The same job at a distance, {CONNECTIONS} connections, closed loop (medians)", "per s",
        [(f"{label}, {place}", [med(place, name, job, lambda r: r["rate"]) for name in names])
         for job, label in ((0, "ingest"), (1, "/data")) for place in places], names)}
    for job, label, file in ((1, "/data", "latency-data.svg"), (0, "ingest", "latency-ingest.svg")):
        out[file] = bar_chart(
            f"{label} at half the most each takes, open loop: latency from when due (medians)", "ms",
            [(f"{place}, {name}", [med(place, name, job, lambda r, q=q: r["open_loop"][q])
                                   for q in ("p50_ms", "p99_ms", "p999_ms")])
             for place in places for name in names if (place, name) in figures],
            ["p50", "p99", "p99.9"])
    return out


def table(runs):
    """The Markdown of the latest runs: one row per run, the ratios the targets are about."""
    lines = [f"**Latest: {len(runs)} run{'s' if len(runs) > 1 else ''} of `scripts/bench`, "
             f"{runs[-1].get('date', 'undated')}** (each ratio inside its own run):", "",
             "| run | ingest @64: events/s | ÷ single-row INSERT | ÷ batched ceiling | ingest @16 ÷ INSERT "
             "| `/data` @16: req/s | ÷ `/` | ÷ pgbench | `/data` @64 ÷ `/` | ÷ pgbench | cold start | "
             "RSS after a page burst |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for number, run in enumerate(runs, 1):
        i64, i16 = ingest_at(run, 64), ingest_at(run, 16)
        r16, r64 = run["read"]["six_rows"], run["read"]["six_rows_64"]
        page = run["read"]["page_1000"]
        lines.append(
            f"| {number} | {i64['events_per_s']:,.0f} | {i64['ratio']:.2f}x | {i64.get('ceiling_ratio', float('nan')):.2f}x "
            f"| {i16['ratio']:.2f}x | {r16['requests_per_s']:,.0f} | {r16.get('data_to_root', float('nan')):.2f}x "
            f"| {r16['ratio']:.2f}x | {r64.get('data_to_root', float('nan')):.2f}x | {r64['ratio']:.2f}x "
            f"| {run['read']['cold_start_ms']['median']:.1f} ms "
            f"| {page.get('rss_after_burst_mb', float('nan')):.1f} MB (peak {page['peak_rss_mb']:.1f}) |")
    timed = [(number, run) for number, run in enumerate(runs, 1) if "timings" in run["read"]["six_rows"]]
    if timed:
        lines += ["", "Where a `/data` answer's time goes (means in µs; a connection's cycle is connections ÷ rate, "
                  "Little's law; the rest read's own timings, summed every second):", "",
                  "| run | connections | a connection's cycle (`/`'s) | in read | before its round | its round "
                  "(query, JSON a round) | after it (woken) | answers a query |",
                  "|---|---|---|---|---|---|---|---|"]
        for number, run in timed:
            for connections, key in ((16, "six_rows"), (64, "six_rows_64")):
                r = run["read"][key]
                t = r["timings"]
                lines.append(f"| {number} | {connections} | {r['cycle_us']:.0f} ({r['root_cycle_us']:.0f}) "
                             f"| {t['in_read_us']:.0f} | {t['before_round_us']:.0f} | {t['round_us']:.0f} "
                             f"({t['query_us']:.0f}, {t['json_us']:.1f}) | {t['after_round_us']:.0f} "
                             f"| {t['answers_per_query']:.1f} |")
    lines += distance_table(runs)
    lines += ["", "![Throughput](performance/throughput.svg)", "![Latency](performance/latency.svg)",
              "![Cold start](performance/cold-start.svg)", "![Cost per million](performance/cost.svg)"]
    if timed:
        lines.append("![Where a /data answer's time goes](performance/data-time.svg)")
    if any(run["read"].get("frameworks") for run in runs):
        lines.append("![Beside the official frameworks](performance/frameworks.svg)")
    if any(run.get("distance") for run in runs):
        lines += ["![The same job at a distance](performance/distance-throughput.svg)",
                  "![/data's latency at a fixed load](performance/latency-data.svg)",
                  "![ingest's latency at a fixed load](performance/latency-ingest.svg)"]
    return "\n".join(lines)


def distance_table(runs):
    """PostgreSQL at a distance: our ratios to their bounds, the peers doing the same job, and
    where /data's time goes; each run's own rows."""
    with_rows = [(number, run["distance"]) for number, run in enumerate(runs, 1) if run.get("distance")]
    if not with_rows:
        return []
    lines = ["", f"PostgreSQL at a distance (`scripts/bench --distance`; the round trip the delay proxy adds, and the "
             f"page query's measured): {CONNECTIONS} connections, latency open loop at half the most each takes, from "
             "when each request was due (ms):", "",
             "| run | PostgreSQL | round trip | ingest: events/s | ÷ batched ceiling | p50 / p99 / p99.9 "
             "| `/data`: req/s | ÷ bound | p50 / p99 / p99.9 |",
             "|---|---|---|---|---|---|---|---|---|"]
    for number, rows in with_rows:
        for row in rows:
            i, d = row["ingest"], row["read"][str(CONNECTIONS)]
            io, do = i["open_loop"], d["open_loop"]
            lines.append(f"| {number} | {where(row)} | {row['round_trip_ms']:.2f} ms | {i['rate']:,.0f} "
                         f"| {i['ceiling_ratio']:.2f}x | {io['p50_ms']:.2f} / {io['p99_ms']:.2f} / {io['p999_ms']:.2f} "
                         f"| {d['rate']:,.0f} | {d['to_bound']:.2f}x "
                         f"| {do['p50_ms']:.2f} / {do['p99_ms']:.2f} / {do['p999_ms']:.2f} |")
    number, rows = with_rows[-1]
    lines += ["", f"The same job beside the official frameworks (run {number}; every acknowledged event checked "
              "stored once):", "",
              "| PostgreSQL | implementation | ingest: events/s | p99 | `/data`: req/s | p99 "
              "| CPU s per million: ingest, `/data` |", "|---|---|---|---|---|---|---|"]
    for row in rows:
        for name, ingest, data in implementations(row):
            lines.append(f"| {where(row)} | {name} | {ingest['rate']:,.0f} | {ingest['open_loop']['p99_ms']:.2f} "
                         f"| {data['rate']:,.0f} | {data['open_loop']['p99_ms']:.2f} "
                         f"| {ingest['cpu_s'] / max(ingest['requests'], 1) * 1e6:.1f}, "
                         f"{data['cpu_s'] / max(data['requests'], 1) * 1e6:.1f} |")
    lines += ["", f"Where a `/data` answer's time goes at a distance (run {number}; means in µs, {CONNECTIONS} "
              "connections):", "",
              "| PostgreSQL | a connection's cycle (`/`'s) | in read | before its round | its round (query) "
              "| after it (woken) | answers a query |", "|---|---|---|---|---|---|---|"]
    for row in rows:
        d = row["read"][str(CONNECTIONS)]
        t = d["timings"]
        lines.append(f"| {where(row)} | {d['cycle_us']:.0f} ({d['root_cycle_us']:.0f}) | {t['in_read_us']:.0f} "
                     f"| {t['before_round_us']:.0f} | {t['round_us']:.0f} ({t['query_us']:.0f}) "
                     f"| {t['after_round_us']:.0f} | {t['answers_per_query']:.1f} |")
    return lines


def with_table(document, runs):
    """`document` with the text between the bench markers replaced by the table of `runs`."""
    if START not in document or END not in document:
        raise ValueError(f"the document has no {START} ... {END} section")
    before, rest = document.split(START, 1)
    _, after = rest.split(END, 1)
    return f"{before}{START}\n{table(runs)}\n{END}{after}"


def write(runs, doc):
    """Writes the charts beside `doc` (in performance/) and the table into it."""
    folder = doc.parent / "performance"
    folder.mkdir(exist_ok=True)
    for name, svg in charts(runs).items():
        (folder / name).write_text(svg)
    doc.write_text(with_table(doc.read_text(), runs))
    return sorted(folder.glob("*.svg"))


if __name__ == "__main__":
    import json
    import sys

    results = Path(sys.argv[1])
    written = write(json.loads(results.read_text())["runs"], Path(sys.argv[2]))
    print(f"{sys.argv[2]}: table and {len(written)} charts from {results}")
