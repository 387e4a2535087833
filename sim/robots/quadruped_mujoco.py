"""MuJoCo model of a quadruped, generated from a QuadrupedParams with MjSpec.

Layout: a ground plane ("ground") and a free body "trunk" (box collision
geometry) with four legs. Each leg is a chain hip → thigh → calf of hinge
joints named by JOINT_NAMES (hip about x, thigh and calf about y), with
capsule thigh and calf geometry and a sphere foot at the end of the calf.
Robot geometry collides with the ground only (no self-collision).

Actuation: one MuJoCo position actuator per joint, named like its joint.
MuJoCo evaluates it inside every physics step, so the PD loop runs at the
physics rate: force = kp (ctrl − q) − kv q̇, clipped to ±forcerange. With
kp = s·Kp, kv = s·Kd and forcerange = torque limit this is exactly the
robot's τ = clip(s (Kp (q* − q) − Kd q̇), ±τmax), where q* = q0 + scale·a is
the control (the task computes it from the contract's action terms).

Sensors, in this order: contact ("found") of the trunk, of each foot, of each
thigh and of each calf with the ground, then the actuator force of each
joint.
"""

from __future__ import annotations

import mujoco
import numpy as np

from sim.robots.quadruped import GRAVITY_M_S2, JOINT_NAMES, LEG_NAMES, QuadrupedParams, leg_signs

TRUNK_BODY = "trunk"
TRUNK_GEOM = "trunk"
GROUND_GEOM = "ground"
LEG_GEOM_RADIUS_M = 0.016
CALF_GEOM_RADIUS_M = 0.6 * LEG_GEOM_RADIUS_M
#: Contact sensor names, in sensordata order (one value each).
TRUNK_CONTACT_SENSOR = "trunk_contact"
FOOT_CONTACT_SENSORS = tuple(f"{leg}_foot_contact" for leg in LEG_NAMES)
THIGH_CONTACT_SENSORS = tuple(f"{leg}_thigh_contact" for leg in LEG_NAMES)
CALF_CONTACT_SENSORS = tuple(f"{leg}_calf_contact" for leg in LEG_NAMES)
CONTACT_SENSORS = (TRUNK_CONTACT_SENSOR, *FOOT_CONTACT_SENSORS, *THIGH_CONTACT_SENSORS, *CALF_CONTACT_SENSORS)
TORQUE_SENSORS = tuple(f"{j}_torque" for j in JOINT_NAMES)


def _body(joint: str) -> str:
    return f"{joint}_link"


def _mirror(v: tuple[float, float, float], fx: float, sy: float, mirror_x: bool) -> list[float]:
    return [v[0] * (fx if mirror_x else 1.0), v[1] * sy, v[2]]


def build_spec(params: QuadrupedParams) -> mujoco.MjSpec:
    spec = mujoco.MjSpec()
    spec.modelname = f"quadruped_{params.name}"
    spec.compiler.degree = False  # joint ranges in radians
    spec.option.gravity = [0.0, 0.0, -GRAVITY_M_S2]
    spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    spec.option.cone = mujoco.mjtCone.mjCONE_PYRAMIDAL
    # Ground: contype 1 / conaffinity 0; robot geometry: contype 0 / conaffinity 1, so the robot
    # touches the ground and never itself.
    spec.worldbody.add_geom(
        name=GROUND_GEOM, type=mujoco.mjtGeom.mjGEOM_PLANE, size=[0.0, 0.0, 1.0],
        contype=1, conaffinity=0, rgba=[0.5, 0.55, 0.6, 1],
    )
    spec.worldbody.add_light(pos=[0, 0, 4], dir=[0, 0, -1])
    robot_geom = dict(contype=0, conaffinity=1, condim=3, mass=0.0)
    trunk = spec.worldbody.add_body(name=TRUNK_BODY, pos=[0.0, 0.0, params.standing_height_m()])
    trunk.add_freejoint(name="trunk_free")
    trunk.explicitinertial = True
    trunk.mass = params.trunk_mass_kg
    trunk.ipos = list(params.trunk_com_m)
    trunk.inertia = list(params.trunk_inertia_kg_m2)
    trunk.add_geom(
        name=TRUNK_GEOM, type=mujoco.mjtGeom.mjGEOM_BOX, size=list(params.trunk_half_extents_m),
        rgba=[0.15, 0.15, 0.2, 1], **robot_geom,
    )
    trunk.add_site(name="imu", pos=[0.0, 0.0, 0.0])
    ranges = params.joint_range_rad
    masses = params.link_masses_kg
    for k, leg in enumerate(LEG_NAMES):
        fx, sy = leg_signs(leg)
        names = JOINT_NAMES[3 * k : 3 * k + 3]
        hip = trunk.add_body(name=_body(names[0]), pos=list(params.hip_position_m(leg)))
        thigh = hip.add_body(name=_body(names[1]), pos=[0.0, sy * params.thigh_offset_y_m, 0.0])
        calf = thigh.add_body(name=_body(names[2]), pos=[0.0, 0.0, -params.thigh_length_m])
        links = (
            (hip, params.hip_com_m, params.hip_inertia_kg_m2, True, [1.0, 0.0, 0.0]),
            (thigh, params.thigh_com_m, params.thigh_inertia_kg_m2, False, [0.0, 1.0, 0.0]),
            (calf, params.calf_com_m, params.calf_inertia_kg_m2, False, [0.0, 1.0, 0.0]),
        )
        for j, (body, com, inertia, mirror_x, axis) in enumerate(links):
            body.explicitinertial = True
            body.mass = masses[3 * k + j]
            body.ipos = _mirror(com, fx, sy, mirror_x)
            body.inertia = list(np.asarray(inertia) * params.link_mass_scale[3 * k + j])
            body.add_joint(
                name=names[j], type=mujoco.mjtJoint.mjJNT_HINGE, axis=axis,
                range=list(ranges[3 * k + j]), limited=mujoco.mjtLimited.mjLIMITED_TRUE,
                damping=params.joint_damping_nm_s_per_rad[3 * k + j],
                armature=params.joint_armature_kg_m2[3 * k + j],
                frictionloss=params.joint_friction_nm[3 * k + j],
            )
        thigh.add_geom(
            name=f"{leg}_thigh", type=mujoco.mjtGeom.mjGEOM_CAPSULE,
            fromto=[0.0, 0.0, 0.0, 0.0, 0.0, -params.thigh_length_m], size=[LEG_GEOM_RADIUS_M, 0, 0],
            rgba=[0.7, 0.7, 0.75, 1], **robot_geom,
        )
        calf.add_geom(
            name=f"{leg}_calf", type=mujoco.mjtGeom.mjGEOM_CAPSULE,
            fromto=[0.0, 0.0, 0.0, 0.0, 0.0, -(params.calf_length_m - params.foot_radius_m)],
            size=[CALF_GEOM_RADIUS_M, 0, 0], rgba=[0.3, 0.3, 0.35, 1], **robot_geom,
        )
        calf.add_geom(
            name=f"{leg}_foot", type=mujoco.mjtGeom.mjGEOM_SPHERE, pos=[0.0, 0.0, -params.calf_length_m],
            size=[params.foot_radius_m, 0, 0], rgba=[0.05, 0.05, 0.05, 1], **robot_geom,
        )
    for name in JOINT_NAMES:
        act = spec.add_actuator(name=name, target=name, trntype=mujoco.mjtTrn.mjTRN_JOINT)
        act.set_to_position(kp=1.0, kv=0.0)
        act.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE
        act.forcerange = [-1.0, 1.0]
        act.ctrllimited = mujoco.mjtLimited.mjLIMITED_FALSE
    pairs = [(TRUNK_CONTACT_SENSOR, TRUNK_GEOM)]
    pairs += [(s, f"{leg}_foot") for s, leg in zip(FOOT_CONTACT_SENSORS, LEG_NAMES, strict=True)]
    pairs += [(s, f"{leg}_thigh") for s, leg in zip(THIGH_CONTACT_SENSORS, LEG_NAMES, strict=True)]
    pairs += [(s, f"{leg}_calf") for s, leg in zip(CALF_CONTACT_SENSORS, LEG_NAMES, strict=True)]
    for sensor, geom in pairs:
        spec.add_sensor(
            name=sensor, type=mujoco.mjtSensor.mjSENS_CONTACT, objtype=mujoco.mjtObj.mjOBJ_GEOM,
            objname=geom, reftype=mujoco.mjtObj.mjOBJ_GEOM, refname=GROUND_GEOM,
            intprm=[1, 0, 1],  # data = "found", reduce = none, num = 1
        )
    for sensor, joint in zip(TORQUE_SENSORS, JOINT_NAMES, strict=True):
        spec.add_sensor(
            name=sensor, type=mujoco.mjtSensor.mjSENS_ACTUATORFRC, objtype=mujoco.mjtObj.mjOBJ_ACTUATOR,
            objname=joint,
        )
    return spec


def build_model(params: QuadrupedParams, physics_dt_s: float) -> mujoco.MjModel:
    spec = build_spec(params)
    spec.option.timestep = physics_dt_s
    model = spec.compile()
    apply_params(model, params)
    return model


def apply_params(model: mujoco.MjModel, params: QuadrupedParams) -> None:
    """Write a parameter set into a compiled model in place: the same model as rebuilding it, in
    about 0.16 ms against 2.2 ms for build_model, Go2, 2 cores.

    Covers everything randomization changes: masses, inertias, trunk centre of
    mass, friction, joint damping/armature/friction loss, PD gains, motor
    strength and torque limits. Geometry (link lengths, hip offsets) is fixed
    at build time. Tests check the result equals build_model(params).
    """
    if model.nu != len(JOINT_NAMES):
        raise ValueError(
            f"model has {model.nu} actuators, a quadruped has {len(JOINT_NAMES)}; build it with build_model()"
        )
    t = model.body(TRUNK_BODY).id
    model.body_mass[t] = params.trunk_mass_kg
    model.body_ipos[t] = params.trunk_com_m
    model.body_inertia[t] = params.trunk_inertia_kg_m2
    masses = params.link_masses_kg
    nominal = {"hip": params.hip_inertia_kg_m2, "thigh": params.thigh_inertia_kg_m2,
               "calf": params.calf_inertia_kg_m2}
    for k, name in enumerate(JOINT_NAMES):
        b = model.body(_body(name)).id
        model.body_mass[b] = masses[k]
        model.body_inertia[b] = np.asarray(nominal[name.split("_")[1]]) * params.link_mass_scale[k]
        dof = model.jnt_dofadr[model.joint(name).id]
        model.dof_damping[dof] = params.joint_damping_nm_s_per_rad[k]
        model.dof_armature[dof] = params.joint_armature_kg_m2[k]
        model.dof_frictionloss[dof] = params.joint_friction_nm[k]
        a = model.actuator(name).id
        s = params.motor_strength[k]
        kp, kd = s * params.kp_nm_per_rad[k], s * params.kd_nm_s_per_rad[k]
        model.actuator_gainprm[a, 0] = kp
        model.actuator_biasprm[a, :3] = [0.0, -kp, -kd]
        tau = params.torque_limits_nm[k]
        model.actuator_forcerange[a] = [-tau, tau]
    for g in range(model.ngeom):
        model.geom_friction[g, 0] = params.friction_coefficient
