"""The quadruped over the Unitree Go2's low-level protocol through real DDS (loopback, a leased
private domain): `tether hil --scenario quadruped-walk --vehicle go2`. The policy node drives
rt/lowcmd from rt/lowstate (deploy/go2/interface.py); the bridge emulates the robot
(deploy/go2/emulator.py). Checked from the node reports: the Unitree start-up order at the motors,
the walk against the task's gate and `tether eval`, the corrupted-CRC probe dropped with no effect,
CRCs intact on both directions, and a fault ending in damping. Each run starts two node processes
and always stops them (tether.hil.processes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tether.hil.run import run_hil

ROOT = Path(__file__).resolve().parents[1]
WALK_POLICY = ROOT / "policies" / "quadruped_walk.onnx"
pytestmark = pytest.mark.skipif(not WALK_POLICY.exists(), reason=f"{WALK_POLICY} is absent")


def _run(tmp_path, seconds, faults=(), **kw):
    return run_hil(
        "quadruped-walk",
        seconds=seconds,
        domain_id=None,
        faults=list(faults),
        work_dir=tmp_path / "work",
        progress=False,
        vehicle="go2",
        **kw,
    )


def test_go2_starts_up_walks_and_drops_corrupted_commands(tmp_path):
    bag = tmp_path / "go2.mcap"
    r = _run(tmp_path, 10.0, record=bag)  # as tests/test_hil_walk.py: two command windows
    assert r["success"], json.dumps({k: r.get(k) for k in ("walk", "startup", "go2")}, default=str)
    assert r["startup"]["hardware_modes"][:4] == ["zero_torque", "damping", "stand_gains", "policy_gains"]
    assert [t["to"] for t in r["transitions"]] == ["STARTING", "RUNNING", "FAILSAFE", "DISARMED"]
    probe = r["go2"]["crc_probe"]
    assert probe["met"] and probe["dropped_by_robot"] == probe["sent"] == 20
    assert not probe["kp_of_probe_reached_motors"]
    emu, itf = r["go2"]["emulator"], r["go2"]["interface"]
    assert emu["crc_dropped"] == 20 and emu["not_low_level"] == 0  # only the probe was corrupted
    assert emu["applied"] == itf["lowcmd_sent"]  # every command the node sent was applied
    assert itf["lowstate_refused"] == {"crc": 0, "motor_error": 0} and itf["forced_damping"] == 0
    assert r["eval_agreement"]["agree"], r["eval_agreement"]
    assert r["exit_codes"] == {"sim_bridge_node": 0, "policy_node": 0}
    from rosbags.rosbag2 import Reader

    with Reader(bag) as reader:
        topics = {c.topic: c.msgtype for c in reader.connections}
    assert topics["/lowstate"] == "unitree_go/msg/LowState" and topics["/lowcmd"] == "unitree_go/msg/LowCmd"


def test_go2_nan_in_lowstate_ends_in_damping_and_a_safe_sit_down(tmp_path):
    r = _run(tmp_path, 5.0, faults=["nan@2"])
    (o,) = r["fault_outcomes"]
    assert o["met"], json.dumps(o, default=str)
    assert o["observed"]["failsafe_transition"] is not None and o["observed"]["damping_sent"]
    assert r["go2"]["crc_probe"]["met"]
