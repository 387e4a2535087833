"""A small random-weight MLP exported to ONNX with a Tether contract, no training needed.

Benchmarks fall back to it when no trained policy exists yet (a fresh clone
before `tether train`), and tests use it wherever a well-formed policy file
is needed but its behaviour is not. It is not a controller: its actions are
those of random weights. The graph has the `obs` → `action` interface of an
exported policy (batch dimension dynamic) and the contract, its task and its
SHA-256 in the metadata, exactly as training/export.py writes them.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import onnx
import torch

from deploy.contract import Contract
from deploy.policy_file import ACTION_OUTPUT, META_CONTRACT, META_CONTRACT_SHA256, META_TASK, OBS_INPUT

HIDDEN_UNITS = 32


def write_random_policy(
    path: str | Path,
    contract: Contract,
    contract_json: str | None = None,
    sha256: str | None = None,
    seed: int = 0,
    hidden_units: int = HIDDEN_UNITS,
) -> Path:
    """Write obs → Linear → ELU → Linear → Tanh → action with `contract` in the metadata; return the path.

    `contract_json` and `sha256` override what is written to the metadata
    (tests use them to write tampered or mismatching files); by default the
    contract's own JSON and its SHA-256.
    """
    path = Path(path)
    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Linear(contract.observation_size, hidden_units),
        torch.nn.ELU(),
        torch.nn.Linear(hidden_units, contract.action_size),
        torch.nn.Tanh(),
    )
    torch.onnx.export(
        net,
        (torch.zeros(1, contract.observation_size),),
        str(path),
        input_names=[OBS_INPUT],
        output_names=[ACTION_OUTPUT],
        dynamic_axes={OBS_INPUT: {0: "batch"}, ACTION_OUTPUT: {0: "batch"}},
        dynamo=False,
    )
    model = onnx.load(str(path))
    text = contract.to_json() if contract_json is None else contract_json
    meta = {
        META_CONTRACT: text,
        META_TASK: contract.task,
        META_CONTRACT_SHA256: sha256 or hashlib.sha256(text.encode()).hexdigest(),
    }
    for k, v in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.save(model, str(path))
    return path


def describe(contract: Contract, hidden_units: int = HIDDEN_UNITS) -> str:
    """Its shape in words, for messages: e.g. 'random-weight MLP (22→32→4)'."""
    return f"random-weight MLP ({contract.observation_size}→{hidden_units}→{contract.action_size})"
