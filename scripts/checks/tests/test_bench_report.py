"""docs/performance.md's figures: charts that are valid SVG with bars as long as their values,
a table with a row per run, and only the text between the markers rewritten."""

import json
import sys
import unittest
import xml.etree.ElementTree as ElementTree
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "lib"))
from bench_report import END, START, bar_chart, charts, with_table  # noqa: E402

SVG = "{http://www.w3.org/2000/svg}"


def load(rate, p50, scale):
    """A closed-loop load's figures, with its open-loop latency at half of it."""
    return {"rate": rate * scale, "requests": rate * 10, "cpu_s": rate * 10 * 20e-6, "open_loop": {
        "p50_ms": p50 * scale, "p99_ms": p50 * 2.5 * scale, "p999_ms": p50 * 4 * scale}}


def distance(scale):
    """scripts/bench --distance's rows (loopback, +0.5 and +1 ms), figures times `scale`."""
    rows = []
    for added in (0.0, 0.5, 1.0):
        ingest = dict(load(20000.0 - 10000 * added, 1.0 + added, scale), ceiling_ratio=0.8 - 0.1 * added)
        data = dict(load(40000.0 - 20000 * added, 0.5 + added, scale), to_bound=0.9 - 0.1 * added,
                    cycle_us=1600.0 * (1 + added), root_cycle_us=700.0, timings={
                        "in_read_us": 900.0 * (1 + added), "before_round_us": 300.0, "round_us": 400.0 + 1000 * added,
                        "after_round_us": 200.0, "query_us": 120.0 + 1000 * added, "json_us": 0.5,
                        "answers_per_query": 30.0})
        rows.append({"added_round_trip_ms": added, "round_trip_ms": 0.1 + added, "ingest": ingest,
                     "read": {"64": data}, "peers": {
                         "Node.js 5.0.5": {"ingest": load(3000.0, 4.0, scale), "data": load(6000.0, 2.0, scale)},
                         "Python 3.10.2": {"ingest": load(900.0, 9.0, scale), "data": load(1500.0, 6.0, scale)}}})
    return rows


def run(scale, timed=True, at_distance=False):
    """One run's results, as scripts/bench writes them, its figures times `scale`; without
    read's timings (as runs before they were measured) unless `timed`."""
    ingest = [{"senders": n, "events_per_s": 30000 * scale / k, "pgbench_tps": 20000.0, "ratio": 1.5 * scale / k,
               "ceiling_events_per_s": 40000.0, "ceiling_ratio": 0.75, "p50_ms": 1.5, "p99_ms": 6.0,
               "cpu_s_per_million": 20.0} for n, k in ((64, 1), (16, 2))]
    rows = {"requests_per_s": 50000.0 * scale, "pgbench_tps": 70000.0, "ratio": 0.7, "root_requests_per_s": 90000.0,
            "data_to_root": 0.55, "p50_ms": 0.3, "p99_ms": 1.2, "cpu_s_per_million": 16.0}
    if timed:
        rows.update(cycle_us=320.0 * scale, root_cycle_us=150.0, timings={
            "in_read_us": 190.0 * scale, "before_round_us": 60.0, "round_us": 80.0, "after_round_us": 50.0,
            "query_us": 83.0, "json_us": 0.4, "answers_per_query": 9.4})
    # As results.json holds it: through JSON, so keys are strings.
    return json.loads(json.dumps({"date": "2026-11-30", **({"distance": distance(scale)} if at_distance else {}),
                                  "ingest": {"runs": ingest}, "read": {
        "six_rows": rows, "six_rows_64": dict(rows, data_to_root=0.7),
        "page_1000": {"p50_ms": 1.4, "p99_ms": 3.0, "peak_rss_mb": 9.0, "rss_after_burst_mb": 7.0},
        "cold_start_ms": {"median": 6.0, "exec_true_ms": 0.8, "listening_ms": 2.3, "root_first_200_ms": 2.6,
                          "postgres": {"connect_ms": 2.3, "schema_check_ms": 0.8, "page_query_ms": 0.9}},
        "frameworks": {"this framework": {"requests_per_s": 90000.0}, "Node.js": {"requests_per_s": 9000.0}}}}))


class BenchReport(unittest.TestCase):
    def test_bars_are_as_long_as_their_values_and_the_svg_parses(self):
        svg = ElementTree.fromstring(bar_chart("t", "req/s", [("a", [100.0, 50.0]), ("b", [25.0, None])], ["x", "y"]))
        bars = [float(r.get("width")) for r in svg.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
        self.assertEqual(len(bars), 3, "the missing value draws no bar")
        self.assertAlmostEqual(bars[1] / bars[0], 0.5, places=2)
        self.assertAlmostEqual(bars[2] / bars[0], 0.25, places=2)

    def test_labels_are_escaped(self):
        svg = bar_chart("<script>", "a & b", [("x < y", [1.0])], ["s"])
        ElementTree.fromstring(svg)
        self.assertNotIn("<script>", svg)

    def test_every_chart_is_drawn_from_the_medians_of_the_runs(self):
        drawn = charts([run(1.0), run(3.0), run(2.0)])
        self.assertEqual(set(drawn), {"throughput.svg", "latency.svg", "cold-start.svg", "cost.svg", "frameworks.svg",
                                      "data-time.svg"})
        for name, svg in drawn.items():
            with self.subTest(chart=name):
                ElementTree.fromstring(svg)
        self.assertIn("60,000", drawn["throughput.svg"], "the median of 30,000, 90,000 and 60,000")
        self.assertIn("380", drawn["data-time.svg"], "the median of 190, 570 and 380 µs in read")

    def test_runs_without_reads_timings_draw_no_chart_of_them(self):
        self.assertNotIn("data-time.svg", charts([run(1.0, timed=False)]))
        self.assertNotIn("answer's time goes", with_table(f"{START}\n{END}\n", [run(1.0, timed=False)]))

    def test_the_table_replaces_only_what_is_between_the_markers(self):
        document = f"# Performance\n\nbefore\n{START}\nold figures\n{END}\nafter\n"
        rewritten = with_table(document, [run(1.0), run(2.0)])
        self.assertTrue(rewritten.startswith("# Performance\n\nbefore\n"))
        self.assertTrue(rewritten.endswith(f"{END}\nafter\n"))
        self.assertNotIn("old figures", rewritten)
        self.assertEqual(rewritten.count("| 1 | 30,000 |") + rewritten.count("| 2 | 60,000 |"), 2)
        self.assertIn("![Throughput](performance/throughput.svg)", rewritten)
        self.assertIn("| 2 | 16 | 640 (150) | 380 | 60 | 80 (83, 0.4) | 50 | 9.4 |", rewritten, "read's timings, run 2")

    def test_the_distance_rows_draw_the_peers_and_the_latency_charts_from_the_medians(self):
        drawn = charts([run(1.0, at_distance=True), run(3.0, at_distance=True), run(2.0, at_distance=True)])
        self.assertLessEqual({"distance-throughput.svg", "latency-data.svg", "latency-ingest.svg"}, set(drawn))
        for name in ("distance-throughput.svg", "latency-data.svg", "latency-ingest.svg"):
            svg = ElementTree.fromstring(drawn[name])
            labels = [t.text for t in svg.iter(f"{SVG}text")]
            with self.subTest(chart=name):
                self.assertTrue(any("Node.js 5.0.5" in label for label in labels if label), labels)
        # /data at +1 ms: 20,000 req/s times 1, 3 and 2: the median 40,000; its p99.9 2.0 x 3 x 2 ms.
        self.assertIn("40,000", drawn["distance-throughput.svg"])
        bars = {r.find(f"{SVG}title").text for r in ElementTree.fromstring(drawn["latency-data.svg"]).iter(f"{SVG}rect")
                if r.find(f"{SVG}title") is not None}
        self.assertIn("p99.9: 12 ms", bars, "the median of 6, 18 and 12 ms")

    def test_the_distance_rows_go_in_the_table_with_the_peers_and_the_breakdown(self):
        rewritten = with_table(f"{START}\n{END}\n", [run(1.0), run(2.0, at_distance=True)])
        self.assertIn("| 2 | +1 ms | 1.10 ms | 20,000 | 0.70x | 4.00 / 10.00 / 16.00 | 40,000 | 0.80x "
                      "| 3.00 / 7.50 / 12.00 |", rewritten, "run 2's row at +1 ms")
        self.assertNotIn("| 1 | loopback", rewritten, "run 1 has no distance rows")
        self.assertIn("| +0.5 ms | Python 3.10.2 | 1,800 | 45.00 | 3,000 | 30.00 | 20.0, 20.0 |", rewritten)
        self.assertIn("| +1 ms | 3200 (700) | 1800 | 300 | 1400 (1120) | 200 | 30.0 |", rewritten)
        self.assertIn("![/data's latency at a fixed load](performance/latency-data.svg)", rewritten)

    def test_runs_without_distance_rows_have_no_distance_section(self):
        self.assertFalse({"distance-throughput.svg", "latency-data.svg"} & set(charts([run(1.0)])))
        self.assertNotIn("at a distance", with_table(f"{START}\n{END}\n", [run(1.0)]))

    def test_a_document_without_markers_is_refused(self):
        with self.assertRaises(ValueError):
            with_table("# Performance\n", [run(1.0)])


if __name__ == "__main__":
    unittest.main()
