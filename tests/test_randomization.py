"""Domain randomization: reproducible, inside its ranges, different per environment."""

import numpy as np
import pytest
import yaml

from sim.randomization.quadrotor import (
    CONFIG_DIR,
    QuadrotorRandomization,
    with_thrust_to_weight,
)
from sim.robots.quadrotor import load_preset
from sim.tasks.quadrotor_hover import QuadrotorHoverEnv

TERMS = ("position_error_m", "rotation_matrix")


def _samples(cfg, n, seed):
    nominal = load_preset("crazyflie_2_1")
    return [cfg.sample(nominal, np.random.default_rng([seed, i]), TERMS) for i in range(n)]


def test_same_seed_same_samples_other_seed_differs():
    cfg = QuadrotorRandomization.from_yaml()
    a, b, c = _samples(cfg, 20, 0), _samples(cfg, 20, 0), _samples(cfg, 20, 1)
    assert [s.to_dict() for s in a] == [s.to_dict() for s in b]
    assert [s.to_dict() for s in a] != [s.to_dict() for s in c]


def test_samples_stay_inside_the_default_ranges():
    cfg = QuadrotorRandomization.from_yaml()
    nominal = load_preset("crazyflie_2_1")
    with open(CONFIG_DIR / "quadrotor_default.yaml") as f:
        raw = yaml.safe_load(f)
    lo_m, hi_m = raw["vehicle"]["mass_kg"]["scale"]
    lo_t, hi_t = raw["vehicle"]["thrust_to_weight"]["scale"]
    lo_d, hi_d = raw["action_delay_steps"]
    for s in _samples(cfg, 500, 7):
        p = s.params
        assert lo_m * nominal.mass_kg <= p.mass_kg <= hi_m * nominal.mass_kg
        assert (
            lo_t * nominal.thrust_to_weight - 1e-9
            <= p.thrust_to_weight
            <= hi_t * nominal.thrust_to_weight + 1e-9
        )
        assert lo_d <= s.action_delay_steps <= hi_d
        for k, nom in enumerate(nominal.inertia_kg_m2):
            assert 0.8 * nom <= p.inertia_kg_m2[k] <= 1.2 * nom
        assert np.linalg.norm(s.force_world_n) <= 0.5 * p.mass_kg + 1e-12
        assert all(0.5 <= v <= 1.5 for v in s.noise_scale.values())


def test_raptor_wide_ranges_are_expressible():
    cfg = QuadrotorRandomization.from_yaml(CONFIG_DIR / "quadrotor_raptor_wide.yaml")
    samples = _samples(cfg, 400, 0)
    masses = np.array([s.params.mass_kg for s in samples])
    twr = np.array([s.params.thrust_to_weight for s in samples])
    assert masses.min() >= 0.02 and masses.max() <= 5.0 and masses.max() - masses.min() > 4.0
    assert twr.min() >= 1.5 - 1e-9 and twr.max() <= 5.0 + 1e-9
    # geometric scaling: heavier vehicles get longer arms
    arms = np.array([s.params.arm_length_m for s in samples])
    assert np.corrcoef(masses, arms)[0, 1] > 0.5


def test_environments_get_different_vehicles_and_episodes_are_recorded():
    env = QuadrotorHoverEnv(8, randomization=QuadrotorRandomization.from_yaml(), seed=3)
    try:
        env.reset(seed=3)
        masses = {s.params.mass_kg for s in env.samples}
        assert len(masses) == 8
        # an episode can be re-drawn from (seed, index) alone
        again, _ = env.sample_episode(int(env.episode_index[5]))
        assert again.to_dict() == env.samples[5].to_dict()
    finally:
        env.close()


def test_thrust_to_weight_override():
    p = with_thrust_to_weight(load_preset("x500"), 3.0)
    assert p.thrust_to_weight == pytest.approx(3.0)


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"vehicle": {"mass": {"scale": [0.8, 1.2]}}}, "unknown keys"),
        ({"vehicle": {"mass_kg": {"scale": [1.2, 0.8]}}}, "low ≤ high"),
        ({"vehicle": {"mass_kg": [0.8, 1.2]}}, "expected"),
        ({"action_delay_steps": [2, 1]}, "action_delay_steps"),
        ({"wind": 3}, "unknown keys"),
    ],
)
def test_bad_configs_say_what_is_wrong(bad, message):
    with pytest.raises(ValueError, match=message):
        QuadrotorRandomization.from_dict(bad)
