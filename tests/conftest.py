import numpy as np
import pytest

from deploy.robot_state import RobotState


def make_state(
    n: int = 1,
    pos=(0.0, 0.0, 2.0),
    quat=(1.0, 0.0, 0.0, 0.0),
    vel=(0.0, 0.0, 0.0),
    omega=(0.0, 0.0, 0.0),
    actions: int = 0,
    command_size: int = 0,
) -> RobotState:
    return RobotState(
        base_pos_m=np.tile(np.asarray(pos, dtype=float), (n, 1)),
        base_quat_wxyz=np.tile(np.asarray(quat, dtype=float), (n, 1)),
        base_lin_vel_m_s=np.tile(np.asarray(vel, dtype=float), (n, 1)),
        base_ang_vel_rad_s=np.tile(np.asarray(omega, dtype=float), (n, 1)),
        last_action=np.zeros((n, actions)),
        command=np.zeros((n, command_size)),
    )


@pytest.fixture
def state_factory():
    return make_state


@pytest.fixture
def dds_domain():
    """A DDS domain id leased for this test (tether.hil.domains): concurrent test sessions and HIL
    runs on the machine never get the same one."""
    from tether.hil.domains import DomainLease

    with DomainLease() as lease:
        yield lease.domain_id


@pytest.fixture(autouse=True)
def _test_process_keeps_its_scheduling(monkeypatch):
    """Loops run inside the test process (node.run, Runtime.run) leave its scheduling, CPU affinity
    and memory as they are: SCHED_FIFO or mlockall there would put the whole suite's process at
    real-time priority (or lock gigabytes) for the loop's duration. The other options (GC frozen,
    timer slack) still apply, and node processes started by tests apply everything
    (tests/test_hil_load.py); tests/test_runtime_realtime.py calls apply_realtime_options itself."""
    import dataclasses

    from deploy.runtime import rt_loop

    real = rt_loop.apply_realtime_options

    def without_privileges(options):
        return real(
            dataclasses.replace(options, sched_fifo_priority=None, lock_memory=False, cpu_affinity=None)
        )

    monkeypatch.setattr(rt_loop, "apply_realtime_options", without_privileges)


@pytest.fixture(scope="module")
def px4_types():
    """The px4_msgs types registered for the transport; the test is skipped, with the reason, where
    their definitions are absent (deploy/px4/messages.py says where they are looked for)."""
    from deploy.px4 import messages

    try:
        return messages.register()
    except messages.Px4DefinitionsMissingError as exc:
        pytest.skip(str(exc))
