"""Export a trained run to a self-describing ONNX file, and prove it acts like the PyTorch policy.

The graph is the deterministic actor (observation normalization → MLP →
mean action), input "obs" (batch, obs_dim) float32, output "action"
(batch, act_dim). metadata_props carry the policy contract and its SHA-256,
so the robot-side runtime can refuse a policy that does not fit the robot:

  tether_contract           Contract.to_json() of the task
  tether_contract_sha256    Contract.sha256()
  tether_task               task name
  tether_training_config    the run's resolved config.yaml
  tether_source_version     `git rev-parse HEAD`, or "unknown"
  tether_checkpoint         the checkpoint file the weights came from (for the best
                            checkpoint by validation, with its iteration)

Before the file is written, a parity check flies a short randomized
closed-loop rollout with the PyTorch policy and requires ONNX Runtime to
reproduce its actions on every visited observation (batched and batch-1).

With a signing key (`tether export RUN --sign KEY.key`) the written file gets a
detached Ed25519 signature, OUTPUT.sig (format: deploy/provenance.py), which a
policy node checks against the public key before loading. Exporting without a
key over a file that had a signature removes that signature: it signed other bytes.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from deploy.provenance import load_private_key, sign_policy, signature_path
from training.checkpoints import load_checkpoint
from training.config import RunRecord
from training.policy import DeterministicPolicy, load_policy
from training.tasks import make_env
from training.validation import BEST_CHECKPOINT_NAME

PARITY_ATOL = 1e-5
OPSET = 18
REPO_ROOT = Path(__file__).resolve().parent.parent


class ParityError(RuntimeError):
    """The exported ONNX graph does not reproduce the PyTorch policy."""


def export(
    run_dir: str | Path,
    output: str | Path | None = None,
    *,
    checkpoint: str | Path | None = None,
    parity_envs: int = 8,
    parity_steps: int = 100,
    parity_seed: int = 2024,
    sign_key: str | Path | None = None,
) -> Path:
    """Export the run's policy (best checkpoint by validation, else the latest) to ONNX.

    Returns the file's path. With `sign_key` (an Ed25519 private key from `tether keygen`),
    also writes the detached signature <output>.sig; the key is checked before the export.

    `run_dir` may also be a checkpoint file inside a run directory. The
    default output is <run_dir>/exported/policy.onnx. Raises ParityError
    (and writes nothing) when ONNX Runtime's actions differ from PyTorch's
    by more than PARITY_ATOL on the parity rollout.
    """
    signer = None if sign_key is None else load_private_key(sign_key)  # a bad key fails before the work
    run_dir = Path(run_dir)
    if run_dir.is_file():
        checkpoint, run_dir = run_dir, run_dir.parent
    policy, record, ckpt = load_policy(run_dir, checkpoint)
    output = Path(output) if output is not None else run_dir / "exported" / "policy.onnx"
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp")
    try:
        model = to_onnx(policy)
        for key, value in metadata(record, ckpt).items():
            entry = model.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.checker.check_model(model)
        onnx.save(model, tmp)
        observations = parity_observations(policy, record, parity_envs, parity_steps, parity_seed)
        check_parity(policy, tmp, observations)
        os.replace(tmp, output)
    finally:
        tmp.unlink(missing_ok=True)
    if signer is not None:
        sign_policy(output, signer)
    else:
        signature_path(output).unlink(missing_ok=True)  # it signed the file this export replaced
    return output


def to_onnx(policy: DeterministicPolicy) -> onnx.ModelProto:
    """Trace the deterministic policy with torch.onnx (dynamic batch dimension)."""
    example = torch.zeros(2, policy.obs_dim)
    batch = torch.export.Dim("batch", min=1)
    # The exporter reports its progress on stdout and warns about its own internals
    # (torch.export deprecations, absent torchvision ops); the caller wants a quiet function.
    registration_log = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = registration_log.level
    registration_log.setLevel(logging.ERROR)
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", FutureWarning)
        program = torch.onnx.export(
            policy.eval(), (example,), input_names=["obs"], output_names=["action"],
            dynamic_shapes=({0: batch},), opset_version=OPSET, dynamo=True, verbose=False,
        )
    registration_log.setLevel(level)
    model = program.model_proto
    inputs = [i.name for i in model.graph.input]
    outputs = [o.name for o in model.graph.output]
    if inputs != ["obs"] or outputs != ["action"]:
        raise RuntimeError(
            f"exported graph has inputs {inputs} and outputs {outputs}; expected ['obs'] and ['action']"
        )
    model.producer_name = "tether"
    return model


def metadata(record: RunRecord, checkpoint: Path) -> dict[str, str]:
    """The metadata_props of an exported policy."""
    env = make_env(
        record.config.task, 1, None, record.engine, record.seed,
        task_config=record.config.env.task_config,
    )
    try:
        contract = env.contract
    finally:
        env.close()
    return {
        "tether_contract": contract.to_json(),
        "tether_contract_sha256": contract.sha256(),
        "tether_task": record.config.task,
        "tether_training_config": record.to_yaml(),
        "tether_source_version": source_version(),
        "tether_checkpoint": checkpoint_label(checkpoint),
    }


def checkpoint_label(checkpoint: Path) -> str:
    """The checkpoint's file name, with its iteration when the name does not say it (model_best.pt)."""
    if checkpoint.name != BEST_CHECKPOINT_NAME:
        return checkpoint.name
    return f"{checkpoint.name} (iteration {int(load_checkpoint(checkpoint)['iter'])})"


def source_version() -> str:
    """The repository's commit (git rev-parse HEAD, read-only), or "unknown" outside a checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    sha = out.stdout.strip()
    return sha if out.returncode == 0 and sha else "unknown"


def parity_observations(
    policy: DeterministicPolicy, record: RunRecord, num_envs: int, steps: int, seed: int
) -> np.ndarray:
    """Observations (num_envs · steps, obs_dim) visited by the PyTorch policy flying the task.

    The rollout is randomized (the run's ranges, or the defaults for a run
    trained without) so the check covers the states the policy really meets.
    """
    randomization = record.config.env.randomization or "default"
    env = make_env(
        record.config.task, num_envs, randomization, record.engine, seed,
        task_config=record.config.env.task_config,
    )
    visited = []
    try:
        obs, _ = env.reset(seed=seed)
        for _ in range(steps):
            visited.append(obs)
            with torch.no_grad():
                action = policy(torch.from_numpy(obs)).numpy()
            obs, *_ = env.step(action)
    finally:
        env.close()
    return np.concatenate(visited).astype(np.float32)


def _onnx_actions(session: ort.InferenceSession, obs: np.ndarray) -> np.ndarray:
    return session.run(["action"], {"obs": obs})[0]


def check_parity(
    policy: DeterministicPolicy, onnx_path: str | Path, observations: np.ndarray,
    atol: float = PARITY_ATOL, single_rows: int = 32,
) -> float:
    """Max |ONNX − PyTorch| over `observations` (one batch, and the first rows one by one).

    Raises ParityError when it exceeds `atol`.
    """
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    with torch.no_grad():
        expected = policy(torch.from_numpy(observations)).numpy()
    got = _onnx_actions(session, observations)
    if got.shape != expected.shape:
        raise ParityError(
            f"ONNX Runtime returned actions of shape {got.shape}, PyTorch {expected.shape}, for "
            f"{len(observations)} observations; the exported graph is broken, re-export"
        )
    single = np.concatenate([_onnx_actions(session, observations[i : i + 1]) for i in range(single_rows)])
    diff = np.abs(got - expected)
    diff_single = np.abs(single - expected[:single_rows])
    worst = float(max(diff.max(), diff_single.max()))
    if not np.isfinite(worst) or worst > atol:
        row = int(np.unravel_index(np.argmax(diff), diff.shape)[0])
        raise ParityError(
            f"ONNX export parity failed: max |onnx - torch| = {worst:.3g} (allowed {atol:g}) over "
            f"{len(observations)} observations of a closed-loop rollout (worst batched row {row}, "
            f"batch-1 max {diff_single.max():.3g}); the file at {onnx_path} does not act like the "
            "trained policy. Check the export graph (normalization, output head) and onnxruntime version."
        )
    return worst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Export a Tether run to ONNX with its contract.")
    parser.add_argument("run_dir", type=Path, help="run directory (or one of its checkpoints)")
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument("--sign", type=Path, default=None, help="Ed25519 private key: also write OUTPUT.sig")
    args = parser.parse_args(argv)
    print(f"exported: {export(args.run_dir, args.output, sign_key=args.sign)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
