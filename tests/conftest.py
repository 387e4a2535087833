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
