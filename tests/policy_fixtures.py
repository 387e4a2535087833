"""A small random MLP policy exported to ONNX with a Tether contract (no training needed)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import onnx
import torch

from deploy.contract import Contract
from deploy.policy_file import META_CONTRACT, META_CONTRACT_SHA256, META_TASK


def write_policy(
    path: Path, contract: Contract, contract_json: str | None = None, sha256: str | None = None, seed: int = 0
) -> Path:
    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Linear(contract.observation_size, 32),
        torch.nn.ELU(),
        torch.nn.Linear(32, contract.action_size),
        torch.nn.Tanh(),
    )
    torch.onnx.export(
        net,
        (torch.zeros(1, contract.observation_size),),
        str(path),
        input_names=["obs"],
        output_names=["action"],
        dynamic_axes={"obs": {0: "batch"}, "action": {0: "batch"}},
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
