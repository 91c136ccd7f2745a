"""docs/performance.md's figures: charts that are valid SVG with bars as long as their values,
a table with a row per run, and only the text between the markers rewritten."""

import sys
import unittest
import xml.etree.ElementTree as ElementTree
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "lib"))
from bench_report import END, START, bar_chart, charts, with_table  # noqa: E402

SVG = "{http://www.w3.org/2000/svg}"


def run(scale, timed=True):
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
    return {"date": "2026-11-30", "ingest": {"runs": ingest}, "read": {
        "six_rows": rows, "six_rows_64": dict(rows, data_to_root=0.7),
        "page_1000": {"p50_ms": 1.4, "p99_ms": 3.0, "peak_rss_mb": 9.0, "rss_after_burst_mb": 7.0},
        "cold_start_ms": {"median": 6.0, "exec_true_ms": 0.8, "listening_ms": 2.3, "root_first_200_ms": 2.6,
                          "postgres": {"connect_ms": 2.3, "schema_check_ms": 0.8, "page_query_ms": 0.9}},
        "frameworks": {"this framework": {"requests_per_s": 90000.0}, "Node.js": {"requests_per_s": 9000.0}}}}


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

    def test_a_document_without_markers_is_refused(self):
        with self.assertRaises(ValueError):
            with_table("# Performance\n", [run(1.0)])


if __name__ == "__main__":
    unittest.main()
