"""Time-correlated exploration noise: same marginal as rsl_rl's Gaussian, lag-1 correlation ρ."""

from __future__ import annotations

import pytest
import torch

from training.config import ConfigError, TrainConfig, default_config_path
from training.models import ColoredGaussianDistribution


def _samples(correlation: float, steps: int = 4000, envs: int = 64) -> torch.Tensor:
    torch.manual_seed(0)
    dist = ColoredGaussianDistribution(4, correlation=correlation, init_std=0.2, std_type="log")
    mean = torch.full((envs, 4), 0.3)
    out = []
    for _ in range(steps):
        dist.update(mean)
        out.append(dist.sample())
    return torch.stack(out)  # (steps, envs, 4)


@pytest.mark.parametrize("rho", [0.0, 0.9])
def test_marginal_is_the_policy_gaussian_and_lag_one_correlation_is_rho(rho: float) -> None:
    x = _samples(rho)
    assert float(x.mean()) == pytest.approx(0.3, abs=0.01)
    assert float(x.std()) == pytest.approx(0.2, rel=0.05)
    e = (x - 0.3) / 0.2
    lag1 = float((e[1:] * e[:-1]).mean() / (e * e).mean())
    assert lag1 == pytest.approx(rho, abs=0.03)


def test_log_probabilities_are_those_of_the_marginal_gaussian() -> None:
    dist = ColoredGaussianDistribution(4, correlation=0.9, init_std=0.2, std_type="log")
    mean = torch.zeros(3, 4)
    dist.update(mean)
    a = dist.sample()
    expected = torch.distributions.Normal(mean, 0.2).log_prob(a).sum(-1)
    torch.testing.assert_close(dist.log_prob(a), expected)


def test_correlation_outside_zero_one_is_refused() -> None:
    with pytest.raises(ValueError, match="correlation"):
        ColoredGaussianDistribution(4, correlation=1.0, init_std=0.2)
    cfg = TrainConfig.from_yaml(default_config_path("quadrotor-hover"))
    with pytest.raises(ConfigError, match="noise_correlation"):
        cfg.with_overrides(policy={"noise_correlation": -0.1})
