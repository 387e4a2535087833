"""Child process of training.report: draw recorded MuJoCo states (quadrotor or quadruped) into one PNG strip.

Usage: python -m training.render_frames SCENE.json OUT.png, with MUJOCO_GL set
to the backend to try. Exits non-zero (message on stderr) if it cannot render.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable

import mujoco
import numpy as np
from PIL import Image, ImageDraw

from deploy.quadrotor_params import QuadrotorParams
from sim.robots.quadrotor_mujoco import BASE_BODY, build_model

HEIGHT_PX, WIDTH_PX = 240, 320
#: Camera distance = CAMERA_DISTANCE_ARMS arm lengths + CAMERA_DISTANCE_MIN_M (Crazyflie: 0.51 m).
CAMERA_DISTANCE_ARMS = 6.0
CAMERA_DISTANCE_MIN_M = 0.25


#: Quadruped: camera distance (m) and elevation; the trunk is followed, the captions come from the scene.
QUADRUPED_CAMERA_DISTANCE_M = 1.6
QUADRUPED_CAMERA_ELEVATION_DEG = -15.0


def main(argv: list[str]) -> int:
    scene_path, out_path = argv
    with open(scene_path) as f:
        scene = json.load(f)
    if scene.get("robot", "quadrotor") == "quadruped":
        return _quadruped_strip(scene, out_path)
    params = QuadrotorParams.from_dict(scene["params"])
    model = build_model(params, scene["physics_dt_s"])
    # The camera follows the vehicle (it starts up to a metre from the target), close enough
    # that a 9 cm Crazyflie fills a good part of the frame; the caption gives the target error.
    distance_m = CAMERA_DISTANCE_ARMS * params.arm_length_m + CAMERA_DISTANCE_MIN_M
    target = np.asarray(scene["target_pos_m"], dtype=np.float64)

    def caption(k: int, vehicle_m: np.ndarray) -> str:
        error_cm = 100.0 * float(np.linalg.norm(vehicle_m - target))
        return f"t = {scene['times_s'][k]:.1f} s   {error_cm:.1f} cm from target"

    _render_strip(model, BASE_BODY, distance_m, -20.0, scene["states"], caption, out_path)
    return 0


def _quadruped_strip(scene: dict, out_path: str) -> int:
    from sim.robots.quadruped import QuadrupedParams
    from sim.robots.quadruped_mujoco import TRUNK_BODY
    from sim.robots.quadruped_mujoco import build_model as build_quadruped

    model = build_quadruped(QuadrupedParams.from_dict(scene["params"]), scene["physics_dt_s"])
    _render_strip(
        model, TRUNK_BODY, QUADRUPED_CAMERA_DISTANCE_M, QUADRUPED_CAMERA_ELEVATION_DEG, scene["states"],
        lambda k, _: scene["captions"][k], out_path,
    )  # fmt: skip
    return 0


def _render_strip(
    model: mujoco.MjModel,
    body: str,
    distance_m: float,
    elevation_deg: float,
    states: list,
    caption: Callable[[int, np.ndarray], str],
    out_path: str,
) -> None:
    """One frame per state, the camera following `body`, captioned (lines split on newlines)."""
    data = mujoco.MjData(model)
    cam = mujoco.MjvCamera()
    cam.distance, cam.azimuth, cam.elevation = distance_m, 135.0, elevation_deg
    body_id = model.body(body).id
    images = []
    with mujoco.Renderer(model, HEIGHT_PX, WIDTH_PX) as renderer:
        for k, state in enumerate(states):
            mujoco.mj_setState(model, data, np.asarray(state), mujoco.mjtState.mjSTATE_FULLPHYSICS)
            mujoco.mj_forward(model, data)
            position = data.xpos[body_id].copy()
            cam.lookat[:] = position
            renderer.update_scene(data, camera=cam)
            img = Image.fromarray(renderer.render().copy())
            draw = ImageDraw.Draw(img)
            for row, line in enumerate(caption(k, position).split("\n")):
                draw.text((8, 8 + 14 * row), line, fill=(255, 255, 255))
            images.append(np.asarray(img))
    Image.fromarray(np.concatenate(images, axis=1)).save(out_path)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
