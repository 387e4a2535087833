"""Actor architectures beyond rsl_rl's plain MLP.

ActionFeedbackMLPModel: mean action = λ · previous action + MLP(normalized obs).

Why: holding a position against an unknown constant error (a heavier
vehicle, a weaker motor, a steady wind) needs integral action, and a
feed-forward policy has no memory except the previous action, which the
contract already puts in its observation. With λ close to 1 the policy is a
leaky integrator of its own MLP output (high gain at low frequency, modest
gain at high frequency), so PPO starts from a structure that can remove
steady-state error instead of having to discover it. λ = 0 is the plain MLP.
The feedback is part of the network, so it is exported with it.
"""

from __future__ import annotations

import torch
from rsl_rl.models import MLPModel
from rsl_rl.modules import HiddenState
from rsl_rl.modules.distribution import GaussianDistribution
from rsl_rl.utils import unpad_trajectories
from tensordict import TensorDict

FEEDBACK_MODEL = "training.models:ActionFeedbackMLPModel"


class ActionFeedbackMLPModel(MLPModel):
    """MLPModel whose output adds `action_feedback` × the previous-action block of its input.

    `feedback_index` is where the previous action (contract units, scale 1)
    starts in the concatenated, unnormalized input of this model.
    """

    def __init__(
        self,
        obs: TensorDict,
        obs_groups: dict[str, list[str]],
        obs_set: str,
        output_dim: int,
        *,
        action_feedback: float,
        feedback_index: int,
        **kwargs: object,
    ) -> None:
        super().__init__(obs, obs_groups, obs_set, output_dim, **kwargs)
        if not 0.0 <= action_feedback <= 1.0:
            raise ValueError(f"action_feedback must be in [0, 1], found {action_feedback}")
        if not 0 <= feedback_index <= self.obs_dim - output_dim:
            raise ValueError(
                f"feedback_index {feedback_index} does not leave room for {output_dim} previous-action "
                f"values in an input of {self.obs_dim}"
            )
        self.register_buffer("action_feedback", torch.tensor(float(action_feedback)))
        self.feedback_index = int(feedback_index)
        self.output_dim = int(output_dim)

    def feedback(self, raw_obs: torch.Tensor) -> torch.Tensor:
        i = self.feedback_index
        return self.action_feedback * raw_obs[..., i : i + self.output_dim]

    def forward(
        self,
        obs: TensorDict,
        masks: torch.Tensor | None = None,
        hidden_state: HiddenState = None,
        stochastic_output: bool = False,
    ) -> torch.Tensor:
        obs = unpad_trajectories(obs, masks) if masks is not None else obs
        raw = torch.cat([obs[group] for group in self.obs_groups], dim=-1)
        mean = self.mlp(self.obs_normalizer(raw)) + self.feedback(raw)
        if self.distribution is not None:
            if stochastic_output:
                self.distribution.update(mean)
                return self.distribution.sample()
            return self.distribution.deterministic_output(mean)
        return mean


class ColoredGaussianDistribution(GaussianDistribution):
    """rsl_rl's Gaussian action distribution with exploration noise correlated in time.

    Why: at 100 Hz a white-noise perturbation of one control step barely moves
    a quadrotor (a double integrator behind a 5-8 step rotor lag), so the
    advantage PPO attributes to it is mostly noise, and precision near the
    target is learned slowly. Each environment's standard-normal noise follows
    ε_t = ρ ε_{t−1} + √(1 − ρ²) ξ_t (an AR(1) process, correlation time
    −Δt / ln ρ), so the marginal of every sample is still N(mean, std²) and the
    log-probabilities PPO uses are unchanged; only consecutive samples are no
    longer independent. ρ = 0 is rsl_rl's white noise. The deterministic
    output, and so the exported policy, is the mean as before.
    """

    def __init__(self, output_dim: int, *, correlation: float = 0.0, **kwargs: object) -> None:
        super().__init__(output_dim, **kwargs)
        if not 0.0 <= correlation < 1.0:
            raise ValueError(f"noise correlation must be in [0, 1), found {correlation}")
        self.correlation = float(correlation)
        self._eps: torch.Tensor | None = None

    def sample(self) -> torch.Tensor:
        dist = self._distribution
        if dist is None:
            raise RuntimeError("update() must be called before sample()")
        with torch.no_grad():  # like torch.distributions.Normal.sample
            fresh = torch.randn_like(dist.mean)
            if self._eps is None or self._eps.shape != fresh.shape or self.correlation == 0.0:
                self._eps = fresh
            else:
                rho = self.correlation
                self._eps = rho * self._eps + (1.0 - rho * rho) ** 0.5 * fresh
            return dist.mean + dist.stddev * self._eps
