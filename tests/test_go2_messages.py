"""The Go2's message definitions and CRC equal the official SDK's (deploy/go2/messages.py, crc.py).

Against bytes the SDK's own classes and CRC routine produced (tests/data/unitree_sdk2_reference.json,
recorded by tests/data/record_unitree_sdk_reference.py from unitree-sdk2 1.0.1), and live against the
SDK when UNITREE_SDK2PY_PATH names a directory where it is installed without its pins.
"""

from __future__ import annotations

import json
import os

import pytest

from deploy.go2 import crc, messages
from deploy.transport import messages as tm
from tests.go2_reference import FILLERS, REFERENCE_FILE, SDK_PATH_ENV, SEEDS, load_sdk

messages.register()
CASES = json.loads(REFERENCE_FILE.read_text())["cases"]


def ours(name: str, seed: int):
    return FILLERS[name](tm.make(f"unitree_go/msg/{name}"), seed)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['type']}-{c['seed']}")
def test_serialization_and_crc_equal_the_sdk_recording(case):
    msg = ours(case["type"], case["seed"])
    assert msg.serialize().hex() == case["cdr_hex"]
    if case["type"] == "LowCmd":
        assert crc.low_cmd_crc(msg) == case["crc"]
    elif case["type"] == "LowState":
        assert crc.low_state_crc(msg) == case["crc"]
    # and the SDK's bytes decode to the same content in Tether's type
    back = tm.deserialize(bytes.fromhex(case["cdr_hex"]), f"unitree_go/msg/{case['type']}")
    assert back.serialize() == msg.serialize()


def test_dds_type_names_and_struct_sizes_are_the_robots():
    assert type(tm.make(messages.LOW_CMD)).__idl_typename__ == "unitree_go.msg.dds_.LowCmd_"
    assert type(tm.make(messages.LOW_STATE)).__idl_typename__ == "unitree_go.msg.dds_.LowState_"
    assert type(tm.make(messages.SPORT_MODE_STATE)).__idl_typename__ == "unitree_go.msg.dds_.SportModeState_"
    assert (crc.LOW_CMD_SIZE, crc.LOW_STATE_SIZE) == (812, 1180)  # the SDK's comments
    assert len(tm.make(messages.LOW_CMD).motor_cmd) == messages.MOTOR_SLOTS


def test_crc_changes_with_any_field_and_ignores_the_crc_field():
    msg = ours("LowCmd", 0)
    base = crc.low_cmd_crc(msg)
    msg.crc ^= 0xFFFF
    assert crc.low_cmd_crc(msg) == base
    msg.motor_cmd[11].kd += 1.0
    assert crc.low_cmd_crc(msg) != base


@pytest.mark.skipif(
    not os.environ.get(SDK_PATH_ENV), reason=f"{SDK_PATH_ENV} not set (the recording is checked)"
)
def test_live_against_the_sdk():
    factories, sdk_crc = load_sdk(os.environ[SDK_PATH_ENV])
    for name in FILLERS:
        for seed in SEEDS:
            sdk_msg = FILLERS[name](factories[name](), seed)
            assert sdk_msg.serialize() == ours(name, seed).serialize()
            if name != "SportModeState":
                f = crc.low_cmd_crc if name == "LowCmd" else crc.low_state_crc
                assert sdk_crc.Crc(sdk_msg) == f(ours(name, seed))
