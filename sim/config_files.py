"""YAML configuration files that may build on another: `base: OTHER.yaml` plus the keys that differ.

A variant of a shipped config (an ablation, a robot-specific tweak) then holds
only its differences. Mappings merge key by key, recursively; any other value
(a number, a list such as a task's observation terms) replaces the base's
whole. `base` is resolved relative to the file that names it, and a base may
have its own base.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

BASE_KEY = "base"


def load_yaml_config(path: str | Path, _seen: tuple[Path, ...] = ()) -> Any:
    """The file's content with its `base` chain merged in (the file's own keys win)."""
    path = Path(path).resolve()
    if path in _seen:
        chain = " → ".join(str(p) for p in (*_seen, path))
        raise ValueError(f"config files name each other as base in a loop: {chain}; break the loop")
    with open(path) as f:
        data = yaml.safe_load(f)
    if not isinstance(data, dict) or BASE_KEY not in data:
        return data
    base_name = data.pop(BASE_KEY)
    if not isinstance(base_name, str):
        raise ValueError(f"{path}: '{BASE_KEY}' must be a file name, found {base_name!r}")
    base_path = path.parent / base_name
    if not base_path.is_file():
        raise FileNotFoundError(
            f"{path}: its base '{base_name}' is not a file (looked for {base_path}); the name is "
            "relative to the file that gives it"
        )
    base = load_yaml_config(base_path, (*_seen, path))
    if not isinstance(base, dict):
        raise ValueError(f"{base_path}: a base must hold a mapping, found {type(base).__name__}")
    return merge(base, data)


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`base` with `override`'s keys merged in: mappings recursively, other values replaced."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out
