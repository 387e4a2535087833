"""`tether bench robustness`: how far each randomization range can widen before a hover policy
stops flying, the PID beside it. The sweep itself lives in training/robustness.py (also runnable
as `python -m training.robustness`); this entry gives it its place under `tether bench`."""

from __future__ import annotations

import sys

from training.robustness import run

__all__ = ["main", "run"]


def main(argv: list[str] | None = None) -> int:
    from training.robustness import main as sweep_main

    return sweep_main(argv, prog="tether bench robustness")


if __name__ == "__main__":
    sys.exit(main())
