"""The `tether` command: help for every subcommand, eval writes the documented JSON."""

import json
import subprocess
import sys

import pytest

from tether.cli import BENCHMARKS, build_parser

SUBCOMMANDS = ["eval", "gate", "bench", "demo", "train", "export", "keygen", "sign", "verify", "run", "hil"]
BENCHMARK_NAMES = [
    "sim-throughput", "inference", "time-to-gate", "loop", "soak", "sim2sim", "robustness", "hil-timing",
    "hil-transports", "quadruped-throughput", "cycle-choices",
]


def _tether(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tether.cli", *args], capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize("sub", SUBCOMMANDS)
def test_every_subcommand_has_help(sub):
    r = _tether(sub, "--help")
    assert r.returncode == 0 and "usage: tether" in r.stdout


def test_parser_knows_the_subcommands():
    text = build_parser().format_help()
    for sub in SUBCOMMANDS:
        assert sub in text


def test_every_benchmark_is_a_bench_name():
    assert sorted(BENCHMARKS) == sorted(BENCHMARK_NAMES)


@pytest.mark.parametrize("name", BENCHMARK_NAMES)
def test_every_benchmark_has_help(name):
    r = _tether("bench", name, "--help")
    assert r.returncode == 0 and "usage:" in r.stdout


def test_eval_writes_the_documented_fields(tmp_path):
    out = tmp_path / "out.json"
    r = _tether(
        "eval",
        "--task",
        "quadrotor-hover",
        "--controller",
        "pid",
        "--engine",
        "mujoco",
        "--episodes",
        "6",
        "--seed",
        "0",
        "--randomize",
        "--json",
        str(out),
        "--quiet",
    )
    assert r.returncode == 0, r.stderr
    report = json.loads(out.read_text())
    for key in (
        "task",
        "engine",
        "controller",
        "episodes",
        "seed",
        "randomize",
        "success_rate",
        "crash_rate",
        "final_pos_err_m_mean",
        "final_pos_err_m_p95",
    ):
        assert key in report
    assert report["episodes"] == 6 and report["randomize"] is True
    assert "success" in r.stdout
    # every episode carries its sampled vehicle, so it can be replayed
    ep = report["per_episode"][4]
    assert ep["episode_index"] == 4 and "mass_kg" in ep["sample"]["params"]
    replay = _tether("eval", "--randomize", "--episode-index", "4", "--quiet")
    assert replay.returncode == 0
    assert f"{ep['sample']['params']['mass_kg']}" in replay.stdout


def test_bad_input_gives_a_clear_error():
    r = _tether("eval", "--task", "nope", "--episodes", "1", "--quiet")
    assert r.returncode == 2 and "unknown task 'nope'" in r.stderr
