"""`python -m training.learning_curve`: validation records of hover and walking runs, plotted."""

import pytest
import yaml

from training import learning_curve

GATE = {"max_fall_rate": 0.02, "max_lin_vel_err_m_s": 0.15, "max_yaw_rate_err_rad_s": 0.2}


def _run(tmp_path, name, history):
    d = tmp_path / name
    d.mkdir()
    (d / "best.yaml").write_text(yaml.safe_dump({"checkpoint": "model_best.pt", "best": history[-1],
                                                 "history": history}))  # fmt: skip
    return d


def _hover(it, s):
    return {"iteration": it, "success_rate": s, "crash_rate": 0.0, "final_pos_err_m_mean": 0.03}


def _walk(it, fall):
    return {"iteration": it, "fall_rate": fall, "lin_vel_err_m_s_mean": 0.3, "yaw_rate_err_rad_s_mean": 0.25,
            "gate": GATE}  # fmt: skip


@pytest.mark.parametrize("make", [_hover, _walk], ids=["hover", "walk"])
def test_plots_the_validation_history_of_each_run(tmp_path, make):
    a = _run(tmp_path, "a", [make(10, 0.5), make(20, 0.1)])
    b = _run(tmp_path, "b", [make(10, 0.2)])
    out = tmp_path / "curves.png"
    assert learning_curve.main([str(a), f"{b}=second seed", "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_hover_and_walking_runs_are_not_mixed(tmp_path):
    runs = {"h": [_hover(10, 0.5)], "w": [_walk(10, 0.1)]}
    with pytest.raises(ValueError, match="cannot plot hover and walking runs together"):
        learning_curve.plot_learning_curves(runs, tmp_path / "x.png")


def test_a_run_without_a_validation_record_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="kept no validation record"):
        learning_curve.load_history(tmp_path)
