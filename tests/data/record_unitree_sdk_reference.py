"""Record CDR bytes and CRCs of filled Go2 messages from the official SDK's own classes and code.

    pip download --no-deps unitree-sdk2==1.0.1 -d /tmp/sdk-wheel
    pip install --no-deps --target /tmp/unitree_sdk /tmp/sdk-wheel/unitree_sdk2-1.0.1-py3-none-any.whl
    python tests/data/record_unitree_sdk_reference.py /tmp/unitree_sdk

writes tests/data/unitree_sdk2_reference.json, which tests/test_go2_messages.py compares Tether's
definitions (deploy/go2/messages.py, deploy/go2/crc.py) against.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.go2_reference import FILLERS, REFERENCE_FILE, SEEDS, load_sdk  # noqa: E402


def main(sdk_path: str) -> None:
    factories, crc = load_sdk(sdk_path)
    cases = []
    for name, fill in FILLERS.items():
        for seed in SEEDS:
            msg = fill(factories[name](), seed)
            case = {"type": name, "seed": seed, "cdr_hex": msg.serialize().hex()}
            if name != "SportModeState":
                case["crc"] = crc.Crc(msg)
            cases.append(case)
    meta = {"sdk": "unitree-sdk2 1.0.1 (PyPI), unitree_sdk2py.idl.default + unitree_sdk2py.utils.crc._crc_py"}
    REFERENCE_FILE.write_text(json.dumps({"source": meta, "cases": cases}, indent=1) + "\n")
    print(f"wrote {len(cases)} cases to {REFERENCE_FILE}")


if __name__ == "__main__":
    main(sys.argv[1])
