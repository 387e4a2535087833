"""Typed training configuration, loaded from YAML (training/configs/*.yaml).

The YAML file is the one place where PPO hyperparameters live. It is parsed
into frozen dataclasses (unknown or missing keys are errors, so a typo cannot
silently fall back to a default), and turned into the plain dict that
rsl_rl's OnPolicyRunner expects by `to_rsl_rl()`. The resolved configuration
(after command-line overrides) is written next to the checkpoints, and
embedded in the exported ONNX file.
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from sim.config_files import load_yaml_config

CONFIG_DIR = Path(__file__).parent / "configs"
DEFAULT_CONFIGS = {
    "quadrotor-hover": CONFIG_DIR / "quadrotor_hover_ppo.yaml",
    "quadruped-walk": CONFIG_DIR / "quadruped_walk_ppo.yaml",
}


#: Engines a policy can be trained in (sim/tasks/quadrotor_hover.py make_engine).
TRAINING_ENGINES = ("mujoco", "pybullet", "analytic")


class ConfigError(ValueError):
    """A training configuration is malformed."""


def _build(cls: type, section: str, d: Any) -> Any:
    """Instantiate dataclass `cls` from dict `d`, refusing unknown and missing keys."""
    if not isinstance(d, dict):
        raise ConfigError(f"training config section '{section}': expected a mapping, found {d!r}")
    names = {f.name for f in fields(cls)}
    required = {f.name for f in fields(cls) if f.default is MISSING}
    unknown, missing = set(d) - names, required - set(d)
    if unknown or missing:
        raise ConfigError(
            f"training config section '{section}': unknown keys {sorted(unknown)}, missing keys "
            f"{sorted(missing)}; expected exactly {sorted(names)} (see {DEFAULT_CONFIGS})"
        )
    return cls(**d)


@dataclass(frozen=True)
class EnvConfig:
    num_envs: int
    #: Randomization YAML: a path, "default" (sim/randomization/quadrotor_default.yaml) or None (off).
    randomization: str | None
    #: Physics engine for training rollouts (evaluation gates always run in MuJoCo).
    engine: str
    #: Fraction of training episodes that start at the goal at rest (hover: at the target, level);
    #: evaluation never does. Optional in YAML (0 when absent), so older run records still load.
    start_at_target_fraction: float = 0.0
    #: Task YAML (observations, rewards, episode) to train on instead of the task's default file;
    #: optional (None: the default). Export and validation use the same file, so the exported
    #: contract is the one the policy was trained with.
    task_config: str | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.start_at_target_fraction <= 1.0:
            raise ConfigError(
                f"env.start_at_target_fraction must be in [0, 1], found {self.start_at_target_fraction}"
            )
        if self.num_envs < 1:
            raise ConfigError(f"env.num_envs must be ≥ 1, found {self.num_envs}")
        if self.engine not in TRAINING_ENGINES:
            raise ConfigError(f"env.engine must be one of {TRAINING_ENGINES}, found '{self.engine}'")


@dataclass(frozen=True)
class RunnerConfig:
    num_steps_per_env: int
    max_iterations: int
    save_interval: int
    torch_threads: int

    def __post_init__(self) -> None:
        for name in ("num_steps_per_env", "max_iterations", "save_interval", "torch_threads"):
            if getattr(self, name) < 1:
                raise ConfigError(f"runner.{name} must be ≥ 1, found {getattr(self, name)}")


@dataclass(frozen=True)
class PolicyConfig:
    actor_hidden_dims: tuple[int, ...]
    critic_hidden_dims: tuple[int, ...]
    activation: str
    actor_obs_normalization: bool
    critic_obs_normalization: bool
    init_noise_std: float
    noise_std_type: str
    #: Start the actor's mean action at the nominal hover command (last-layer bias).
    init_action_at_hover: bool
    #: Gain on the initial last-layer weights (small = near-constant initial action).
    last_layer_init_gain: float
    #: λ in mean action = λ · previous action + MLP(obs) (training/models.py); 0 = plain MLP.
    action_feedback: float
    #: A privileged teacher: the actor also sees the simulation-only "critic" group (vehicle
    #: parameters, disturbance, rotor speeds, delay queue), as RAPTOR's teachers do. Such an
    #: actor cannot run on a robot and is never exported; it labels a student's states in
    #: distillation. Optional in YAML (false when absent).
    actor_sees_privileged: bool = False
    #: ρ, correlation of the exploration noise between consecutive control steps (AR(1),
    #: training/models.py ColoredGaussianDistribution); 0 = white noise. Optional in YAML.
    noise_correlation: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "actor_hidden_dims", tuple(int(x) for x in self.actor_hidden_dims))
        object.__setattr__(self, "critic_hidden_dims", tuple(int(x) for x in self.critic_hidden_dims))
        if not self.actor_hidden_dims or not self.critic_hidden_dims:
            raise ConfigError("policy.actor_hidden_dims and critic_hidden_dims need at least one layer")
        if self.init_noise_std <= 0:
            raise ConfigError(f"policy.init_noise_std must be positive, found {self.init_noise_std}")
        if not 0.0 <= self.action_feedback <= 1.0:
            raise ConfigError(f"policy.action_feedback must be in [0, 1], found {self.action_feedback}")
        if not 0.0 <= self.noise_correlation < 1.0:
            raise ConfigError(f"policy.noise_correlation must be in [0, 1), found {self.noise_correlation}")
        if self.noise_std_type not in ("scalar", "log"):
            raise ConfigError(
                f"policy.noise_std_type must be 'scalar' or 'log', found {self.noise_std_type!r}"
            )


#: Learning-rate schedules: rsl_rl's "adaptive" (KL-based) and "fixed", and "linear": annealed
#: from learning_rate towards 0 over algorithm.lr_anneal_iterations. It counts iterations, not
#: seconds, so a seed reproduces its run; set it to what the usual time budget allows.
SCHEDULES = ("adaptive", "fixed", "linear")


@dataclass(frozen=True)
class AlgorithmConfig:
    learning_rate: float
    schedule: str
    #: Length of the "linear" schedule in iterations (independent of when training stops).
    lr_anneal_iterations: int
    desired_kl: float
    num_learning_epochs: int
    num_mini_batches: int
    clip_param: float
    gamma: float
    lam: float
    value_loss_coef: float
    entropy_coef: float
    max_grad_norm: float
    use_clipped_value_loss: bool
    normalize_advantage_per_mini_batch: bool

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"algorithm.schedule must be one of {SCHEDULES}, found {self.schedule!r}")
        if self.lr_anneal_iterations < 1:
            raise ConfigError(
                f"algorithm.lr_anneal_iterations must be ≥ 1, found {self.lr_anneal_iterations}"
            )
        if not 0 < self.gamma <= 1 or not 0 <= self.lam <= 1:
            raise ConfigError(f"need 0 < gamma ≤ 1 and 0 ≤ lam ≤ 1, found {self.gamma}, {self.lam}")


@dataclass(frozen=True)
class ValidationConfig:
    """Best-checkpoint selection (training/validation.py): every `interval` iterations the
    deterministic actor flies `episodes` randomized episodes drawn from `seed` on the training
    engine; the best by the task's gate figures is kept as model_best.pt (quadrotor-hover:
    success − 2 × crash, then final error; quadruped-walk: the worst ratio of fall rate and
    tracking errors to their gate thresholds)."""

    episodes: int
    seed: int
    interval: int

    def __post_init__(self) -> None:
        if self.episodes < 1 or self.interval < 1:
            raise ConfigError(
                f"validation.episodes and validation.interval must be ≥ 1, found {self.episodes}, "
                f"{self.interval}"
            )
        if self.seed in (0, 23):
            raise ConfigError(
                f"validation.seed {self.seed} is a gate evaluation seed (0, 23); choosing the checkpoint "
                "on the episodes it is judged on would overstate it; pick another seed"
            )


@dataclass(frozen=True)
class DistillationConfig:
    """Teacher-student training (training/distillation.py). With this section `tether train`
    first trains a privileged teacher with PPO (the runner, policy and algorithm sections with
    policy.actor_sees_privileged: true, into <run>/teacher), then distills it into the contract
    actor (the same policy.actor_hidden_dims, seeing the contract observation only) by DAgger."""

    #: DAgger iterations of the student.
    iterations: int
    #: Control steps collected from every environment per iteration.
    steps_per_iteration: int
    #: The fit uses the samples of this many most recent iterations (DAgger's aggregate).
    buffer_iterations: int
    #: Passes over the buffer per iteration.
    epochs: int
    minibatch_size: int
    learning_rate: float
    max_grad_norm: float
    #: β, the probability that an environment steps with the teacher's action instead of the
    #: student's, falls linearly from this value at the first iteration ...
    teacher_action_fraction_start: float
    #: ... to 0 after this many iterations.
    teacher_action_iterations: int
    #: Student checkpoint every this many iterations (and always at the end).
    save_interval: int

    def __post_init__(self) -> None:
        for name in ("iterations", "steps_per_iteration", "buffer_iterations",
                     "epochs", "minibatch_size", "save_interval"):
            if getattr(self, name) < 1:
                raise ConfigError(f"distillation.{name} must be ≥ 1, found {getattr(self, name)}")
        if self.learning_rate <= 0 or self.max_grad_norm <= 0:
            raise ConfigError(
                "distillation.learning_rate and max_grad_norm must be positive, found "
                f"{self.learning_rate}, {self.max_grad_norm}"
            )
        if not 0.0 <= self.teacher_action_fraction_start <= 1.0 or self.teacher_action_iterations < 0:
            raise ConfigError(
                "distillation.teacher_action_fraction_start must be in [0, 1] and "
                "teacher_action_iterations ≥ 0, found "
                f"{self.teacher_action_fraction_start}, {self.teacher_action_iterations}"
            )

    def teacher_action_fraction(self, iteration: int) -> float:
        """β at 0-based `iteration`."""
        if self.teacher_action_iterations == 0:
            return 0.0
        left = max(0.0, 1.0 - iteration / self.teacher_action_iterations)
        return self.teacher_action_fraction_start * left


@dataclass(frozen=True)
class TD3Config:
    """Off-policy training with TD3 (training/td3.py), Learning to Fly's algorithm. With this
    section `tether train` uses TD3 instead of PPO; the policy section's actor_hidden_dims,
    critic_hidden_dims and actor_obs_normalization and the algorithm section's gamma apply."""

    #: Environment steps in total (all parallel environments together).
    total_env_steps: int
    #: Environment steps that count as one "iteration" for checkpoint names and validation.
    env_steps_per_iteration: int
    buffer_size: int
    batch_size: int
    #: One critic update per this many environment steps (Learning to Fly: 10).
    env_steps_per_update: float
    #: Actor (and target) update every this many critic updates.
    policy_delay: int
    actor_learning_rate: float
    critic_learning_rate: float
    #: Target networks: θ' ← polyak·θ' + (1 − polyak)·θ.
    polyak: float
    #: Gaussian noise on the actor's action while collecting (action units, [-1, 1] range).
    exploration_noise_std: float
    #: Noise while collecting during the first random_steps steps.
    warmup_noise_std: float
    random_steps: int
    #: Target policy smoothing noise and its clip.
    target_noise_std: float
    target_noise_clip: float
    #: Environment steps before the critic / the actor start learning.
    critic_warmup_steps: int
    actor_warmup_steps: int
    #: Steps after which the observation normalization is fixed from the replay buffer.
    normalization_steps: int
    #: Weight of the squared excess of the actor's action beyond [-1, 1] (the env clips there).
    action_bound_penalty: float
    #: Checkpoint every this many iterations (and always at the end).
    save_interval: int

    def __post_init__(self) -> None:
        for name in ("total_env_steps", "env_steps_per_iteration", "buffer_size", "batch_size",
                     "policy_delay", "save_interval"):
            if getattr(self, name) < 1:
                raise ConfigError(f"td3.{name} must be ≥ 1, found {getattr(self, name)}")
        if self.env_steps_per_update <= 0:
            raise ConfigError(f"td3.env_steps_per_update must be positive, found {self.env_steps_per_update}")
        if not 0.0 <= self.polyak < 1.0:
            raise ConfigError(f"td3.polyak must be in [0, 1), found {self.polyak}")
        if not self.normalization_steps <= self.critic_warmup_steps <= self.actor_warmup_steps:
            raise ConfigError(
                "td3 needs normalization_steps ≤ critic_warmup_steps ≤ actor_warmup_steps, found "
                f"{self.normalization_steps}, {self.critic_warmup_steps}, {self.actor_warmup_steps}"
            )


@dataclass(frozen=True)
class TrainConfig:
    task: str
    env: EnvConfig
    runner: RunnerConfig
    policy: PolicyConfig
    algorithm: AlgorithmConfig
    #: Optional section; None keeps only the checkpoints (no best-checkpoint selection).
    validation: ValidationConfig | None = None
    #: Optional section; None trains the contract actor directly with PPO.
    distillation: DistillationConfig | None = None
    #: Optional section; TD3 instead of PPO (the algorithm section then only gives gamma).
    td3: TD3Config | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        if not isinstance(d, dict):
            raise ConfigError(f"training config: expected a mapping at the top level, found {d!r}")
        sections = {"task", "env", "runner", "policy", "algorithm"}
        unknown, missing = set(d) - sections - {"validation", "distillation", "td3"}, sections - set(d)
        if unknown or missing:
            raise ConfigError(
                f"training config: unknown sections {sorted(unknown)}, missing sections "
                f"{sorted(missing)}; expected {sorted(sections)}"
            )
        return cls(
            task=str(d["task"]),
            env=_build(EnvConfig, "env", d["env"]),
            runner=_build(RunnerConfig, "runner", d["runner"]),
            policy=_build(PolicyConfig, "policy", d["policy"]),
            algorithm=_build(AlgorithmConfig, "algorithm", d["algorithm"]),
            validation=(
                None if d.get("validation") is None
                else _build(ValidationConfig, "validation", d["validation"])
            ),
            distillation=(
                None if d.get("distillation") is None
                else _build(DistillationConfig, "distillation", d["distillation"])
            ),
            td3=None if d.get("td3") is None else _build(TD3Config, "td3", d["td3"]),
        )

    @classmethod
    def from_yaml(cls, path: str | Path) -> TrainConfig:
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(
                f"training config {path} not found; shipped configs: "
                f"{sorted(p.name for p in CONFIG_DIR.glob('*.yaml'))}"
            )
        return cls.from_dict(load_yaml_config(path))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for key in ("actor_hidden_dims", "critic_hidden_dims"):
            d["policy"][key] = list(d["policy"][key])
        return d

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def with_overrides(self, **sections: dict[str, Any]) -> TrainConfig:
        """A copy with some keys replaced, e.g. with_overrides(env={"num_envs": 8})."""
        d = self.to_dict()
        for section, values in sections.items():
            if section in ("validation", "distillation", "td3") and values is None:
                d[section] = None
                continue
            if section not in d or not isinstance(d[section], dict):
                raise ConfigError(f"cannot override unknown section '{section}'")
            d[section].update(values)
        return TrainConfig.from_dict(d)

    def to_rsl_rl(self, previous_action_index: int | None = None) -> dict[str, Any]:
        """The train_cfg dict for rsl_rl.runners.OnPolicyRunner (rsl-rl-lib 5.x).

        The actor sees the "policy" observation group (the contract
        observation, what runs on the robot); the critic sees "policy" plus
        the privileged "critic" group, which exists in simulation only.
        `previous_action_index` (where the previous action starts in the
        policy observation) is needed when policy.action_feedback > 0.
        """
        p, a = self.policy, self.algorithm

        def model(hidden: tuple[int, ...], normalize: bool, stochastic: bool) -> dict[str, Any]:
            cfg: dict[str, Any] = {
                "class_name": "MLPModel",
                "hidden_dims": list(hidden),
                "activation": p.activation,
                "obs_normalization": normalize,
            }
            if stochastic:
                cfg["distribution_cfg"] = {
                    "class_name": "GaussianDistribution",
                    "init_std": p.init_noise_std,
                    "std_type": p.noise_std_type,
                }
                if p.noise_correlation > 0:
                    cfg["distribution_cfg"].update(
                        class_name="training.models:ColoredGaussianDistribution",
                        correlation=p.noise_correlation,
                    )
            return cfg

        actor = model(p.actor_hidden_dims, p.actor_obs_normalization, stochastic=True)
        if p.action_feedback > 0:
            if previous_action_index is None:
                raise ConfigError(
                    "policy.action_feedback > 0 needs the position of the previous action in the "
                    "observation (previous_action_index); the task's contract must have a "
                    "'previous_action' term"
                )
            actor.update(
                class_name="training.models:ActionFeedbackMLPModel",
                action_feedback=p.action_feedback,
                feedback_index=int(previous_action_index),
            )
        algorithm = {"class_name": "PPO", **asdict(a), "optimizer": "adam"}
        del algorithm["lr_anneal_iterations"]  # Tether's schedule (training.runner), not a PPO argument
        if a.schedule == "linear":  # annealed by training.runner; rsl_rl keeps it fixed
            algorithm["schedule"] = "fixed"
        return {
            "num_steps_per_env": self.runner.num_steps_per_env,
            "save_interval": self.runner.save_interval,
            "obs_groups": {
                "actor": ["policy", "critic"] if p.actor_sees_privileged else ["policy"],
                "critic": ["policy", "critic"],
            },
            "actor": actor,
            "critic": model(p.critic_hidden_dims, p.critic_obs_normalization, stochastic=False),
            "algorithm": algorithm,
            "logger": "tensorboard",
            "check_for_nan": True,
        }


def default_config_path(task: str) -> Path:
    try:
        return DEFAULT_CONFIGS[task]
    except KeyError:
        raise ConfigError(
            f"no default training config for task '{task}'; known tasks: {sorted(DEFAULT_CONFIGS)}, "
            "or pass config_path"
        ) from None


RESOLVED_CONFIG_NAME = "config.yaml"


@dataclass(frozen=True)
class RunRecord:
    """What a run was trained with: the resolved config plus seed and engine.

    Written to <run_dir>/config.yaml when training starts; resume and export
    read it back, so a run directory is self-describing.
    """

    config: TrainConfig
    seed: int
    engine: str
    source_config: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "engine": self.engine,
            "source_config": self.source_config,
            "train": self.config.to_dict(),
        }

    def to_yaml(self) -> str:
        header = "# Resolved training configuration, written by training/train.py.\n"
        return header + yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunRecord:
        keys = {"seed", "engine", "source_config", "train"}
        if not isinstance(d, dict) or set(d) != keys:
            found = sorted(d) if isinstance(d, dict) else d
            raise ConfigError(f"resolved run config: expected keys {sorted(keys)}, found {found}")
        return cls(
            config=TrainConfig.from_dict(d["train"]),
            seed=int(d["seed"]),
            engine=str(d["engine"]),
            source_config=str(d["source_config"]),
        )

    def save(self, run_dir: Path) -> Path:
        path = Path(run_dir) / RESOLVED_CONFIG_NAME
        path.write_text(self.to_yaml())
        return path

    @classmethod
    def load(cls, run_dir: str | Path) -> RunRecord:
        path = Path(run_dir) / RESOLVED_CONFIG_NAME
        if not path.exists():
            raise FileNotFoundError(
                f"{path} not found: {run_dir} is not a training run directory (expected the "
                "config.yaml that training/train.py writes); train first or pass the right run_dir"
            )
        with open(path) as f:
            return cls.from_dict(yaml.safe_load(f))
