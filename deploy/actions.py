"""Mapping policy actions to actuator commands, per the contract."""

from __future__ import annotations

import numpy as np

from deploy.contract import Contract


def action_bounds(contract: Contract) -> tuple[np.ndarray, np.ndarray]:
    """Per-element lower and upper bounds of the policy action vector."""
    low = np.concatenate([np.full(a.size, a.low) for a in contract.actions])
    high = np.concatenate([np.full(a.size, a.high) for a in contract.actions])
    return low, high


def clip_action(contract: Contract, action: np.ndarray) -> np.ndarray:
    """Clip to the contract's bounds; non-finite entries become the bound's midpoint."""
    low, high = action_bounds(contract)
    a = np.asarray(action, dtype=np.float64)
    a = np.where(np.isfinite(a), a, 0.5 * (low + high))
    return np.clip(a, low, high)


def action_to_actuator(contract: Contract, action: np.ndarray) -> np.ndarray:
    """Actuator commands (N, A) in each term's unit: offset + scale * clip(action)."""
    a = clip_action(contract, action)
    scale = np.concatenate([np.full(t.size, t.scale) for t in contract.actions])
    offset = np.concatenate([np.full(t.size, t.offset) for t in contract.actions])
    return offset + scale * a


def actuator_to_action(contract: Contract, actuator: np.ndarray) -> np.ndarray:
    """Inverse of action_to_actuator (for controllers that compute actuator commands)."""
    scale = np.concatenate([np.full(t.size, t.scale) for t in contract.actions])
    offset = np.concatenate([np.full(t.size, t.offset) for t in contract.actions])
    return clip_action(contract, (np.asarray(actuator, dtype=np.float64) - offset) / scale)
