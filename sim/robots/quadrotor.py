"""Named quadrotor presets (sim/robots/presets/*.yaml) for QuadrotorParams."""

from __future__ import annotations

from pathlib import Path

import yaml

from deploy.quadrotor_params import GRAVITY_M_S2, RPM_TO_RAD_S, QuadrotorParams

__all__ = ["GRAVITY_M_S2", "RPM_TO_RAD_S", "QuadrotorParams", "available_presets", "load_preset"]

PRESET_DIR = Path(__file__).parent / "presets"


def available_presets() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def load_preset(name: str) -> QuadrotorParams:
    """A named preset (see sim/robots/presets/) or a path to a YAML parameter file."""
    path = Path(name)
    if not path.suffix:
        path = PRESET_DIR / f"{name}.yaml"
    if not path.exists():
        raise FileNotFoundError(
            f"quadrotor preset '{name}' not found; available presets: {available_presets()}, "
            "or pass a path to a YAML file with the QuadrotorParams fields"
        )
    with open(path) as f:
        return QuadrotorParams.from_dict(yaml.safe_load(f))
