"""ONNX Runtime's telemetry stays off in every Tether process (deploy/__init__.py).

ONNX Runtime 1.29 and later start a telemetry uploader on Linux when imported, unless
ORT_DISABLE_TELEMETRY is set first: a thread that now and then starts others to write an SQLite
cache and a device id under ~/.cache/Microsoft/DeveloperTools. In the policy node those threads ran
at the loop's SCHED_FIFO priority and held cycles up. Each check runs a fresh interpreter with its
own HOME, so what ONNX Runtime writes there is seen."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.runtime_helpers import hover_policy

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(".cache/Microsoft/DeveloperTools/.onnxruntime")

RUN_POLICY = (
    "import sys, numpy as np, onnxruntime as ort\n"
    "s = ort.InferenceSession(sys.argv[1])\n"
    "i = s.get_inputs()[0]\n"
    "s.run(None, {i.name: np.zeros((1, i.shape[1]), np.float32)})\n"
)


def _run(home: Path, first_import: str, policy: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("ORT_DISABLE_TELEMETRY", "XDG_CACHE_HOME")}
    env["HOME"] = str(home)
    code = (f"import {first_import}\n" if first_import else "") + RUN_POLICY
    subprocess.run([sys.executable, "-c", code, str(policy)], cwd=ROOT, env=env, check=True, timeout=120)


@pytest.mark.parametrize("first_import", ["deploy.policy_file", "training.export", "tether.cli"])
def test_onnx_runtime_keeps_no_telemetry_in_a_tether_process(tmp_path, first_import):
    policy = hover_policy(tmp_path / "linear_hover.onnx")
    plain, ours = tmp_path / "plain", tmp_path / "ours"
    plain.mkdir(), ours.mkdir()
    _run(plain, "", policy)  # ONNX Runtime alone: what it does without the opt-out
    if not (plain / CACHE).exists():
        pytest.skip("this ONNX Runtime keeps no telemetry cache even without the opt-out: nothing to check")
    _run(ours, first_import, policy)
    assert not (ours / CACHE).exists(), sorted(p.name for p in (ours / CACHE).iterdir())
    assert not (ours / ".cache").exists()


def test_an_explicit_setting_in_the_environment_is_kept(monkeypatch):
    code = "import os, deploy; print(os.environ['ORT_DISABLE_TELEMETRY'])"
    env = dict(os.environ, ORT_DISABLE_TELEMETRY="0")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "0"
    env.pop("ORT_DISABLE_TELEMETRY")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "1"
