"""A small random MLP policy exported to ONNX with a Tether contract (no training needed).

The writer lives in training/random_policy.py, so that benchmarks run from an
installed package can use it too; tests keep importing it from here.
"""

from __future__ import annotations

from training.random_policy import write_random_policy as write_policy

__all__ = ["write_policy"]
