"""`tether bench hil-transports`: figures taken from the reports, medians per combination, the
latency ratio to dds / dds, one table row per combination (no flight here: the HIL flights
themselves are tests/test_hil_scenarios.py's)."""

from __future__ import annotations

from bench import hil_transports as bench


def _report(p50_us: float, cpu_bridge: float, success: bool = True) -> dict:
    return {
        "latency_us_p50": p50_us,
        "latency_us_p99": 3 * p50_us,
        "jitter_us_p99": 400.0,
        "deadline_misses": 2,
        "bridge": {"loop": {"cpu_percent": cpu_bridge}},
        "success": success,
    }


def test_figures_come_from_the_hil_report_and_the_policy_nodes_own_report():
    f = bench.figures(_report(4000.0, 30.0), {"loop": {"cpu_percent": 12.5}})
    assert f == {
        "latency_ms_p50": 4.0,
        "latency_ms_p99": 12.0,
        "jitter_us_p99": 400.0,
        "deadline_misses": 2,
        "policy_cpu_percent": 12.5,
        "bridge_cpu_percent": 30.0,
        "success": True,
        "why_not": None,
    }
    assert bench.figures(_report(4000.0, 30.0), None)["policy_cpu_percent"] is None  # killed node
    failed = {**_report(4000.0, 30.0, success=False), "pos_rmse_m": 0.2}
    failed["flight"] = {"hover_success": False, "waypoints": [{"reached": True}, {"reached": False}]}
    assert bench.figures(failed, None)["why_not"] == "hover missed (RMSE 0.200 m), waypoints 1/2, not landed"


def test_every_combination_is_one_row_with_medians_and_the_ratio_to_dds_dds():
    runs = {
        bench.label(p, b): [
            bench.figures(_report(1000.0 * (k + 1) * r, 20.0 + r), {"loop": {"cpu_percent": 10.0}})
            for r in (1, 2, 3)
        ]
        for k, (p, b) in enumerate(bench.COMBINATIONS)
    }
    runs["rclpy / dds"][0]["success"] = False
    summary = bench.summarize(runs)
    assert list(summary) == ["dds / dds", "rclpy / rclpy", "rclpy / dds", "dds / rclpy"]
    assert summary["dds / dds"]["latency_ms_p50"] == 2.0  # median of 1, 2, 3 ms
    assert summary["dds / dds"]["latency_p50_vs_baseline"] == 1.0
    assert summary["dds / rclpy"]["latency_p50_vs_baseline"] == 4.0
    assert summary["rclpy / rclpy"]["bridge_cpu_percent"] == 22.0
    assert summary["rclpy / dds"]["succeeded"] == "2/3"
    lines = bench.table(summary).splitlines()
    assert len(lines) == 2 + len(bench.COMBINATIONS)
    assert all(h in lines[0] for _, h, _ in bench.COLUMNS)
    assert lines[2].startswith("dds / dds") and lines[2].split()[-1] == "3/3"


def test_a_missing_figure_shows_as_a_dash_and_without_a_baseline_there_is_no_ratio():
    summary = bench.summarize({"rclpy / dds": [bench.figures({"success": True}, None)]})
    row = summary["rclpy / dds"]
    assert row["latency_ms_p50"] is None and row["latency_p50_vs_baseline"] is None
    assert "—" in bench.table(summary)
