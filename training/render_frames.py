"""Child process of training.report: draw recorded MuJoCo states (quadrotor or quadruped) into one PNG strip.

Usage: python -m training.render_frames SCENE.json OUT.png, with MUJOCO_GL set
to the backend to try. Exits non-zero (message on stderr) if it cannot render.
"""

from __future__ import annotations

import json
import sys

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
    data = mujoco.MjData(model)
    cam = mujoco.MjvCamera()
    # The camera follows the vehicle (it starts up to a metre from the target), close enough
    # that a 9 cm Crazyflie fills a good part of the frame; the caption gives the target error.
    cam.distance = CAMERA_DISTANCE_ARMS * params.arm_length_m + CAMERA_DISTANCE_MIN_M
    cam.azimuth, cam.elevation = 135.0, -20.0
    target = np.asarray(scene["target_pos_m"], dtype=np.float64)
    vehicle_body = model.body(BASE_BODY).id
    images = []
    with mujoco.Renderer(model, HEIGHT_PX, WIDTH_PX) as renderer:
        for state, t in zip(scene["states"], scene["times_s"], strict=True):
            mujoco.mj_setState(model, data, np.asarray(state), mujoco.mjtState.mjSTATE_FULLPHYSICS)
            mujoco.mj_forward(model, data)
            vehicle = data.xpos[vehicle_body].copy()
            cam.lookat[:] = vehicle
            renderer.update_scene(data, camera=cam)
            img = Image.fromarray(renderer.render().copy())
            error_cm = 100.0 * float(np.linalg.norm(vehicle - target))
            ImageDraw.Draw(img).text(
                (8, 8), f"t = {t:.1f} s   {error_cm:.1f} cm from target", fill=(255, 255, 255)
            )
            images.append(np.asarray(img))
    Image.fromarray(np.concatenate(images, axis=1)).save(out_path)
    return 0


def _quadruped_strip(scene: dict, out_path: str) -> int:
    from sim.robots.quadruped import QuadrupedParams
    from sim.robots.quadruped_mujoco import TRUNK_BODY
    from sim.robots.quadruped_mujoco import build_model as build_quadruped

    model = build_quadruped(QuadrupedParams.from_dict(scene["params"]), scene["physics_dt_s"])
    data = mujoco.MjData(model)
    cam = mujoco.MjvCamera()
    cam.distance, cam.azimuth = QUADRUPED_CAMERA_DISTANCE_M, 135.0
    cam.elevation = QUADRUPED_CAMERA_ELEVATION_DEG
    trunk = model.body(TRUNK_BODY).id
    images = []
    with mujoco.Renderer(model, HEIGHT_PX, WIDTH_PX) as renderer:
        for state, caption in zip(scene["states"], scene["captions"], strict=True):
            mujoco.mj_setState(model, data, np.asarray(state), mujoco.mjtState.mjSTATE_FULLPHYSICS)
            mujoco.mj_forward(model, data)
            cam.lookat[:] = data.xpos[trunk]
            renderer.update_scene(data, camera=cam)
            img = Image.fromarray(renderer.render().copy())
            draw = ImageDraw.Draw(img)
            for row, line in enumerate(caption.split("\n")):
                draw.text((8, 8 + 14 * row), line, fill=(255, 255, 255))
            images.append(np.asarray(img))
    Image.fromarray(np.concatenate(images, axis=1)).save(out_path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
