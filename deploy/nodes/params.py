"""ROS 2 parameter files (the `ros2 launch` / `--params-file` format) for Tether's nodes.

A file holds one section per node:

    policy_node:
      ros__parameters:
        policy_file: policies/quadrotor_hover.onnx
        topics:
          odometry: /odom

rclpy flattens nested keys to dotted parameter names (`topics.odometry`);
`load_node_params` returns the nested form and `flatten`/`unflatten` convert.
The same files are read by `ros2 launch` on a robot and by `tether hil`
here, so what is tested is what runs. Each node validates its parameters
against its documented defaults (DEFAULTS in its module): an unknown key
fails at start-up with the key's name.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

#: Relative paths in parameter files are resolved against the Tether source tree (where deploy/ is).
TETHER_ROOT = Path(__file__).resolve().parents[2]


def load_node_params(path: str | Path, node_name: str) -> dict[str, Any]:
    """The nested ros__parameters of `node_name` in a ROS 2 parameter file ('/**' sections apply too)."""
    with open(path) as f:
        doc = yaml.safe_load(f) or {}
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: expected a mapping of node names to {{ros__parameters: ...}}")
    out: dict[str, Any] = {}
    found = False
    for key in ("/**", node_name, "/" + node_name):
        section = doc.get(key)
        if section is None:
            continue
        if not isinstance(section, dict) or "ros__parameters" not in section:
            raise ValueError(f"{path}: section '{key}' must contain 'ros__parameters'")
        merge(out, unflatten(section["ros__parameters"] or {}))
        found = True
    if not found:
        raise ValueError(
            f"{path}: no parameters for node '{node_name}'; expected a top-level '{node_name}:' section "
            f"with 'ros__parameters' (found sections {sorted(doc)})"
        )
    return out


def merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Recursively merge `update` into `base` (in place); returns base."""
    for k, v in update.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            merge(base[k], v)
        else:
            base[k] = copy.deepcopy(v)
    return base


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, name + "."))
        else:
            out[name] = v
    return out


def unflatten(d: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        node = out
        parts = str(k).split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        if isinstance(v, dict):
            merge(node.setdefault(parts[-1], {}), unflatten(v))
        else:
            node[parts[-1]] = v
    return out


def parse_override(text: str) -> dict[str, Any]:
    """'a.b=value' → {'a': {'b': value}} with value parsed as YAML (numbers, booleans, lists)."""
    if "=" not in text:
        raise ValueError(f"parameter override '{text}' must look like name=value (e.g. seed=3)")
    key, value = text.split("=", 1)
    return unflatten({key.strip(): yaml.safe_load(value)})


def with_defaults(defaults: dict[str, Any], given: dict[str, Any], where: str) -> dict[str, Any]:
    """`given` over a deep copy of `defaults`; ValueError naming any key the defaults do not have."""
    unknown = sorted(set(flatten(given)) - set(flatten(defaults)))
    # a default that is an empty mapping accepts any keys below it
    unknown = [k for k in unknown if not _under_open_mapping(defaults, k)]
    if unknown:
        raise ValueError(
            f"{where}: unknown parameters {unknown}; known parameters are {sorted(flatten(defaults))}"
        )
    return merge(copy.deepcopy(defaults), given)


def _under_open_mapping(defaults: dict[str, Any], dotted: str) -> bool:
    node: Any = defaults
    for p in dotted.split(".")[:-1]:
        node = node.get(p) if isinstance(node, dict) else None
        if node == {}:
            return True
    return False


def resolve_path(value: str) -> Path:
    """An absolute path as given, else relative to the Tether source tree."""
    p = Path(value).expanduser()
    return p if p.is_absolute() else TETHER_ROOT / p
