"""The robustness sweep (training/robustness.py, `tether bench robustness`): one range widened at a
time with every other at its default, cells equal to what evaluate() reports, a controller leaving a
range at its first step below the threshold, the JSON and plot written, bad input refused."""

import dataclasses
import json

import numpy as np
import pytest
import yaml

from bench import robustness as bench_robustness
from sim.randomization.quadrotor import QuadrotorRandomization, Range
from sim.tasks.quadrotor_hover import HoverConfig
from tests.runtime_helpers import hover_policy, nan_policy
from training import robustness
from training.evaluation import evaluate, pid_factory, policy_factory

EPISODES = 3
RANGES = ("mass", "thrust_to_weight", "motor_time_constant", "action_delay", "disturbance")


@pytest.fixture(scope="module")
def policies(tmp_path_factory):
    d = tmp_path_factory.mktemp("robustness")
    return {"hover": hover_policy(d / "hover.onnx"), "nan": nan_policy(d / "nan.onnx")}


@pytest.fixture(scope="module")
def shipped():
    return robustness.load_sweep_config()


@pytest.fixture(scope="module")
def raw_steps():
    """The shipped widening steps read straight from the YAML, independently of the loader."""
    raw = yaml.safe_load(robustness.DEFAULT_SWEEP_CONFIG.read_text())
    return {name: spec["steps"] for name, spec in raw["ranges"].items()}


def _write_config(path, steps: dict, threshold: float = 0.9):
    path.write_text(yaml.safe_dump({"threshold": threshold, "ranges": {"r": {"unit": "u", "steps": steps}}}))
    return path


def test_shipped_config_names_the_five_ranges_each_starting_at_its_default(shipped):
    assert tuple(shipped.ranges) == RANGES and shipped.threshold == 0.9
    default = QuadrotorRandomization.from_yaml()
    for name, sweep in shipped.ranges.items():
        assert len(sweep.steps) >= 4, name
        assert robustness.widened_randomization(sweep, 0) == default, name
        for i in range(1, len(sweep.steps)):
            assert robustness.widened_randomization(sweep, i) != default, (name, i)


def test_widest_step_sets_only_its_own_range(shipped, raw_steps):
    default = QuadrotorRandomization.from_yaml()
    widest = {
        name: robustness.widened_randomization(s, len(s.steps) - 1) for name, s in shipped.ranges.items()
    }

    def vehicle_range(name: str, key: str) -> Range:
        lo, hi = raw_steps[name][f"vehicle.{key}.scale"][-1]
        return Range(lo, hi, relative=True)

    for name, key in (
        ("mass", "mass_kg"),
        ("thrust_to_weight", "thrust_to_weight"),
        ("motor_time_constant", "motor_time_constant_s"),
    ):
        rand = widest[name]
        assert rand.vehicle[key] == vehicle_range(name, key)
        assert rand.vehicle[key] != default.vehicle[key]
        restored = dataclasses.replace(rand, vehicle={**rand.vehicle, key: default.vehicle[key]})
        assert restored == default, name

    delay = widest["action_delay"]
    assert delay.action_delay_steps == tuple(raw_steps["action_delay"]["action_delay_steps"][-1])
    assert dataclasses.replace(delay, action_delay_steps=default.action_delay_steps) == default

    dist = widest["disturbance"]
    assert dist.force_accel_m_s2 == tuple(raw_steps["disturbance"]["disturbance.force_accel_m_s2"][-1])
    assert dist.torque_accel_rad_s2 == tuple(raw_steps["disturbance"]["disturbance.torque_accel_rad_s2"][-1])
    assert dist.force_accel_m_s2[1] > default.force_accel_m_s2[1]
    restored = dataclasses.replace(
        dist, force_accel_m_s2=default.force_accel_m_s2, torque_accel_rad_s2=default.torque_accel_rad_s2
    )
    assert restored == default


def _quantities(sample, nominal) -> dict[str, float]:
    p = sample.params
    return {
        "mass": p.mass_kg / nominal.mass_kg,
        "thrust_to_weight": p.thrust_to_weight / nominal.thrust_to_weight,
        "motor_time_constant": p.motor_time_constant_rise_s / nominal.motor_time_constant_rise_s,
        "action_delay": sample.action_delay_steps,
        "force": float(np.linalg.norm(sample.force_world_n)) / p.mass_kg,
        "torque": float(np.linalg.norm(np.asarray(sample.torque_world_nm) / np.asarray(p.inertia_kg_m2))),
    }


def test_sampled_episodes_fall_inside_the_widened_range_and_some_outside_the_default(shipped):
    nominal = HoverConfig.from_yaml().nominal_params()
    default = QuadrotorRandomization.from_yaml()
    eps = 1e-9
    default_bounds = {
        "mass": (default.vehicle["mass_kg"].low, default.vehicle["mass_kg"].high),
        "thrust_to_weight": (
            default.vehicle["thrust_to_weight"].low,
            default.vehicle["thrust_to_weight"].high,
        ),
        "motor_time_constant": (
            default.vehicle["motor_time_constant_s"].low,
            default.vehicle["motor_time_constant_s"].high,
        ),
        "action_delay": default.action_delay_steps,
        "force": default.force_accel_m_s2,
        "torque": default.torque_accel_rad_s2,
    }
    widened_quantities = {
        "mass": ("mass",), "thrust_to_weight": ("thrust_to_weight",),
        "motor_time_constant": ("motor_time_constant",), "action_delay": ("action_delay",),
        "disturbance": ("force", "torque"),
    }  # fmt: skip
    for name, sweep in shipped.ranges.items():
        rand = robustness.widened_randomization(sweep, len(sweep.steps) - 1)
        rng = np.random.default_rng(7)
        draws = [_quantities(rand.sample(nominal, rng), nominal) for _ in range(400)]
        wide = {
            "mass": (rand.vehicle["mass_kg"].low, rand.vehicle["mass_kg"].high),
            "thrust_to_weight": (rand.vehicle["thrust_to_weight"].low, rand.vehicle["thrust_to_weight"].high),
            "motor_time_constant": (
                rand.vehicle["motor_time_constant_s"].low,
                rand.vehicle["motor_time_constant_s"].high,
            ),
            "action_delay": rand.action_delay_steps,
            "force": rand.force_accel_m_s2,
            "torque": rand.torque_accel_rad_s2,
        }
        for q, (lo, hi) in wide.items():
            values = np.array([d[q] for d in draws])
            assert values.min() >= lo - eps and values.max() <= hi + eps, (name, q)
            d_lo, d_hi = default_bounds[q]
            outside = (values < d_lo - eps) | (values > d_hi + eps)
            if q in widened_quantities[name]:
                assert outside.any(), (name, q)
            else:
                assert not outside.any(), (name, q)  # every other range stays at its default


def test_evaluated_episodes_fly_the_widened_mass(shipped):
    rand = robustness.widened_randomization(shipped.ranges["mass"], len(shipped.ranges["mass"].steps) - 1)
    nominal = HoverConfig.from_yaml().nominal_params()
    report, _ = evaluate(
        pid_factory, "pid", engine="analytic", episodes=8, seed=3, randomize=True, randomization=rand,
        progress=False,
    )  # fmt: skip
    scale = np.array([ep["sample"]["params"]["mass_kg"] for ep in report["per_episode"]]) / nominal.mass_kg
    lo, hi = rand.vehicle["mass_kg"].low, rand.vehicle["mass_kg"].high
    assert np.all((scale >= lo - 1e-9) & (scale <= hi + 1e-9))
    assert np.any((scale < 0.8) | (scale > 1.2))


def test_cells_are_evaluations_of_the_same_episodes_and_a_controller_that_never_drops_is_marked(
    policies, tmp_path
):
    cfg = robustness.load_sweep_config(
        _write_config(tmp_path / "r.yaml", {"vehicle.mass_kg.scale": [[0.8, 1.2], [0.75, 1.25]]}, 0.5)
    )
    controllers = {"policy": policy_factory(str(policies["hover"])), "pid": pid_factory}
    (row,) = robustness.sweep(
        controllers,
        list(cfg.ranges.values()),
        EPISODES,
        seed=4,
        engine="analytic",
        threshold=0.5,
        progress=False,
    )
    assert [c["widening"] for c in row["steps"]] == ["0.8–1.2", "0.75–1.25"]
    for i, cell in enumerate(row["steps"]):
        rand = robustness.widened_randomization(cfg.ranges["r"], i)
        for name, factory in controllers.items():
            if cell[name] is None:
                continue
            report, _ = evaluate(
                factory, name, engine="analytic", episodes=EPISODES, seed=4, randomize=True,
                randomization=rand, progress=False,
            )  # fmt: skip
            assert cell[name] == {
                k: report[k] for k in ("success_rate", "crash_rate", "final_pos_err_m_mean")
            }
    # the PID flies both steps at the threshold 0.5: its reach is the widest step, only a lower bound
    assert [c["pid"]["success_rate"] >= 0.5 for c in row["steps"]] == [True, True]
    assert row["reach"]["pid"] == "0.75–1.25" and row["max_widening_reached"]["pid"] is True
    assert row["dropped_at"]["pid"] is None
    table = robustness.format_table({"threshold": 0.5, "ranges": [row]})
    assert "0.75–1.25 (max)" in table


def test_a_controller_leaves_the_range_at_its_first_step_below_and_the_range_ends_when_all_have(
    policies, tmp_path
):
    cfg = robustness.load_sweep_config(
        _write_config(tmp_path / "r.yaml", {"action_delay_steps": [[0, 2], [0, 60], [0, 80]]})
    )
    controllers = {"policy": policy_factory(str(policies["nan"])), "pid": pid_factory}
    (row,) = robustness.sweep(
        controllers, list(cfg.ranges.values()), EPISODES, seed=4, engine="analytic", progress=False
    )
    # the NaN policy fails the default range: evaluated there only, no reach
    first, second = row["steps"]  # the third step is never flown: both had left the range
    assert first["policy"]["success_rate"] < 0.9 and second["policy"] is None
    assert row["reach"]["policy"] is None and row["dropped_at"]["policy"] == "0–2"
    # the PID flies the default range, then 0.6 s of delay grounds it
    assert first["pid"]["success_rate"] >= 0.9 and second["pid"]["success_rate"] < 0.9
    assert row["reach"]["pid"] == "0–2" and row["dropped_at"]["pid"] == "0–60"
    assert row["max_widening_reached"] == {"policy": False, "pid": False}
    assert "none (below at first step)" in robustness.format_table({"threshold": 0.9, "ranges": [row]})


def test_run_writes_the_json_and_the_plot(policies, tmp_path):
    config = _write_config(tmp_path / "r.yaml", {"action_delay_steps": [[0, 2], [0, 60]]})
    out, png = tmp_path / "out" / "robust.json", tmp_path / "robust.png"
    result = robustness.run(
        policies["nan"], episodes=2, seed=1, engine="analytic", ranges="r", config=config,
        json_path=out, plot_path=png, progress=False,
    )  # fmt: skip
    written = json.loads(out.read_text())
    assert written == json.loads(json.dumps(result))
    assert written["episodes"] == 2 and written["engine"] == "analytic" and written["threshold"] == 0.9
    assert [r["range"] for r in written["ranges"]] == ["r"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_unknown_range_is_refused_naming_the_available_ones(shipped, policies):
    with pytest.raises(ValueError, match=r"unknown range 'masss'; available ranges: mass, thrust_to_weight"):
        robustness.select_ranges(shipped, "mass,masss")
    assert [r.name for r in robustness.select_ranges(shipped, "thrust-to-weight, mass")] == [
        "thrust_to_weight", "mass",
    ]  # fmt: skip
    with pytest.raises(ValueError, match="named twice"):
        robustness.select_ranges(shipped, "mass,mass")
    with pytest.raises(ValueError, match="unknown range"):
        robustness.run(policies["hover"], episodes=1, ranges="wind", progress=False)


@pytest.mark.parametrize("episodes", [0, -3, 2.5, True])
def test_bad_episode_count_is_refused(policies, episodes):
    with pytest.raises(ValueError, match="episodes must be a whole number ≥ 1"):
        robustness.run(policies["hover"], episodes=episodes, progress=False)


def test_missing_policy_is_refused_with_advice(tmp_path):
    with pytest.raises(FileNotFoundError, match="tether export"):
        robustness.run(tmp_path / "none.onnx", episodes=1, progress=False)


def test_command_line_errors_exit_2_with_the_reason(policies, capsys):
    for entry in (robustness.main, bench_robustness.main):
        with pytest.raises(SystemExit) as e:
            entry([str(policies["hover"]), "--ranges", "mass,wind", "--episodes", "1"])
        assert e.value.code == 2
        assert "error: unknown range 'wind'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        robustness.main([str(policies["hover"]), "--episodes", "0"])
    assert e.value.code == 2 and "episodes must be a whole number" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ({"vehicle.mass_kg.scale": [[0.9, 1.1]]}, "does not contain the default"),
        ({"vehicle.mass_kg.scale": [[0.7, 1.3], [0.8, 1.2]]}, "narrower than step 0"),
        ({"vehicle.mass.scale": [[0.7, 1.3]]}, "not a \\[low, high\\] entry"),
        ({"action_delay_steps": [[0, 2.5]]}, "as integers"),
        (
            {"disturbance.force_accel_m_s2": [[0, 1]], "disturbance.torque_accel_rad_s2": [[0, 2], [0, 3]]},
            "same number of steps",
        ),
    ],
)
def test_bad_widening_steps_are_refused(tmp_path, steps, message):
    with pytest.raises(ValueError, match=message):
        robustness.load_sweep_config(_write_config(tmp_path / "r.yaml", steps))
