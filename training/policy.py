"""The actor network: building it, initializing it, and the deterministic module that is exported.

The actor is rsl_rl's MLPModel. What runs on the robot is its deterministic
path only: empirical observation normalization → MLP → mean action. The
normalization statistics are buffers of the module, so they are baked into
the exported graph as constants.
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from rsl_rl.models import MLPModel
from rsl_rl.utils import resolve_class
from tensordict import TensorDict
from torch import nn

from deploy.contract import Contract
from training.checkpoints import latest_checkpoint, load_checkpoint
from training.config import RunRecord, TrainConfig
from training.models import ActionFeedbackMLPModel


def previous_action_index(contract: Contract) -> int | None:
    """Where the previous action starts in the contract observation (None if it is not there).

    Only a term that is exactly the previous action (scale 1, one value per
    action) can be fed back into the action; with a history, the newest step
    comes first, so the index is where the term starts either way.
    """
    for term in contract.observations:
        if term.name == "previous_action":
            if term.scale != 1.0 or term.size != contract.action_size:
                return None
            return contract.observation_slices()[term.name].start
    return None


def build_actor(config: TrainConfig, obs: TensorDict, contract: Contract) -> MLPModel:
    """An untrained actor with the architecture of `config` (used to load checkpoints)."""
    cfg = config.to_rsl_rl(previous_action_index(contract))
    actor_class, actor_cfg = resolve_class(cfg["actor"])
    if actor_class not in (MLPModel, ActionFeedbackMLPModel):
        raise ValueError(f"only feed-forward MLP actors are exportable, the config asks for {actor_class}")
    return actor_class(obs, cfg["obs_groups"], "actor", contract.action_size, **actor_cfg)


def init_actor_output(actor: MLPModel, mean_action: torch.Tensor, weight_gain: float) -> None:
    """Start the actor near a constant action: small last-layer weights, bias = mean_action.

    For a quadrotor the constant is the nominal hover command, so early
    rollouts fly instead of dropping, and PPO learns corrections around
    hover instead of first discovering how much thrust keeps it airborne.
    """
    last = actor.mlp[-1]
    if not isinstance(last, nn.Linear) or last.out_features != mean_action.numel():
        raise ValueError(
            f"expected the actor's last layer to be Linear with {mean_action.numel()} outputs, "
            f"found {last}"
        )
    with torch.no_grad():
        nn.init.orthogonal_(last.weight, gain=weight_gain)
        last.bias.copy_(mean_action)


class DeterministicPolicy(nn.Module):
    """obs (B, obs_dim) float32 → mean action (B, act_dim): the graph that is exported."""

    def __init__(self, actor: MLPModel) -> None:
        super().__init__()
        if actor.is_recurrent:
            raise ValueError("DeterministicPolicy handles feed-forward actors only")
        self.obs_normalizer = copy.deepcopy(actor.obs_normalizer)
        self.mlp = copy.deepcopy(actor.mlp)
        self.output = (
            actor.distribution.as_deterministic_output_module()
            if actor.distribution is not None
            else nn.Identity()
        )
        self.obs_dim = actor.obs_dim
        self.feedback_index: int | None = None
        if isinstance(actor, ActionFeedbackMLPModel):
            self.feedback_index = actor.feedback_index
            self.register_buffer("action_feedback", actor.action_feedback.detach().clone())
        self.eval()

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        mean = self.mlp(self.obs_normalizer(obs))
        if self.feedback_index is not None:
            i, n = self.feedback_index, mean.shape[-1]
            mean = mean + self.action_feedback * obs[..., i : i + n]
        return self.output(mean)


def load_policy(
    run_dir: str | Path, checkpoint: str | Path | None = None
) -> tuple[DeterministicPolicy, RunRecord, Path]:
    """The deterministic policy of a run: the named checkpoint, else the best one by validation
    (model_best.pt, training/validation.py) when the run kept one, else the latest."""
    from training.rsl_rl_env import PRIVILEGED_SIZE
    from training.tasks import make_env

    record = RunRecord.load(run_dir)
    if record.config.policy.actor_sees_privileged:
        raise ValueError(
            f"{run_dir} is a privileged teacher (policy.actor_sees_privileged): its actor needs "
            "simulation-only inputs and cannot run on a robot; export the distilled student, the "
            "run directory above it"
        )
    path = _checkpoint_to_load(run_dir, checkpoint)
    env = make_env(
        record.config.task, 1, None, record.engine, record.seed,
        task_config=record.config.env.task_config,
    )
    try:
        contract = env.contract
    finally:
        env.close()
    obs = TensorDict(
        {
            "policy": torch.zeros(1, contract.observation_size),
            "critic": torch.zeros(1, PRIVILEGED_SIZE),
        },
        batch_size=[1],
    )
    actor = _load_actor(record.config, obs, contract, path, run_dir)
    return DeterministicPolicy(actor), record, path


def load_policy_module(
    run_dir: str | Path, obs: TensorDict, contract: Contract, checkpoint: str | Path | None = None
) -> MLPModel:
    """The actor of a run (best checkpoint, else the latest) built for the observation groups of
    `obs` (a privileged teacher needs the real "critic" group's size)."""
    record = RunRecord.load(run_dir)
    return _load_actor(record.config, obs, contract, _checkpoint_to_load(run_dir, checkpoint), run_dir)


def _checkpoint_to_load(run_dir: str | Path, checkpoint: str | Path | None) -> Path:
    """The named checkpoint, else model_best.pt when the run kept one, else the latest."""
    from training.validation import BEST_CHECKPOINT_NAME

    if checkpoint is not None:
        return Path(checkpoint)
    best = Path(run_dir) / BEST_CHECKPOINT_NAME
    return best if best.exists() else latest_checkpoint(run_dir)


def _load_actor(
    config: TrainConfig, obs: TensorDict, contract: Contract, path: Path, run_dir: str | Path
) -> MLPModel:
    actor = build_actor(config, obs, contract)
    data = load_checkpoint(path)
    try:
        actor.load_state_dict(data["actor_state_dict"], strict=True)
    except (KeyError, RuntimeError) as exc:
        raise ValueError(
            f"checkpoint {path} does not fit the actor described by {run_dir}/config.yaml: {exc}; "
            "export the run with the config it was trained with"
        ) from exc
    return actor
