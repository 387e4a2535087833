"""The policy node as a ROS 2 managed (lifecycle) node, on rclpy.

    python -m deploy.nodes.lifecycle_policy_node --ros-args --params-file launch/config/quadrotor_robot.yaml

Transitions (lifecycle_msgs, driven with `ros2 lifecycle set /policy_node configure` or the
`/policy_node/change_state` service):

- configure: load and validate the policy file against the robot profile (contract, hash, sizes, a
  dry run) and create the topics; FAILURE, with the reason in the log, leaves it unconfigured.
- activate: start the control loop; arming is accepted from now on.
- deactivate: refuse arming, disarm (the runtime lands a flying vehicle, legged robots damp), keep
  the loop running so the safe output continues.
- cleanup: stop the loop and remove the topics and the runtime; configure may follow again.
- shutdown: as cleanup, from any state.

Transitions out of order (activate before configure, ...) are refused by rclpy's lifecycle state
machine, which answers the caller success=false and logs only the transition's number; this node
also logs the refusal by name, with the state it is in and the transitions it would accept
(`last_failure`), and carries on in that state.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from deploy.nodes.policy_node import NODE_NAME, PolicyNode

log = logging.getLogger("tether.lifecycle_policy_node")


class LifecyclePolicyNode:
    """Owns an rclpy LifecycleNode and, between configure and cleanup, a PolicyNode on it."""

    def __init__(self, args: list[str] | None = None, domain_id: int | None = None) -> None:
        from deploy.transport.rclpy.transport import RclpyTransport

        self.transport = RclpyTransport(
            NODE_NAME, domain_id=domain_id, args=args, node_factory=_managed_node_class()
        )
        self.node = self.transport.node
        self.node.owner = self  # the node's transition callbacks call back here
        self.policy: PolicyNode | None = None
        self._loop: threading.Thread | None = None
        self.last_failure: str | None = None

    # -- transitions (rclpy calls them on its executor thread) ----------------------------------

    def _on_configure(self, state: Any) -> Any:
        from rclpy.lifecycle import TransitionCallbackReturn

        try:
            self.policy = PolicyNode(self.transport, self.transport.parameters())
        except Exception as exc:  # a bad file or profile is a refused transition, never a crash
            self.last_failure = f"configure refused: {exc}"
            log.error("%s", self.last_failure)
            self.transport.destroy_entities()
            self.policy = None
            return TransitionCallbackReturn.FAILURE
        self.policy.commanding_allowed = False
        self.last_failure = None
        log.info("configured: %s", self.policy.contract.task)
        return TransitionCallbackReturn.SUCCESS

    def _on_activate(self, state: Any) -> Any:
        from rclpy.lifecycle import TransitionCallbackReturn

        assert self.policy is not None
        if self._loop is None:
            self._loop = threading.Thread(target=self.policy.run, name="policy-loop", daemon=True)
            self._loop.start()
        self.policy.commanding_allowed = True
        log.info("active: arming accepted")
        return TransitionCallbackReturn.SUCCESS

    def _on_deactivate(self, state: Any) -> Any:
        from rclpy.lifecycle import TransitionCallbackReturn

        assert self.policy is not None
        self.policy.commanding_allowed = False
        self.policy.runtime.disarm()
        log.info("inactive: disarmed, arming refused")
        return TransitionCallbackReturn.SUCCESS

    def _on_cleanup(self, state: Any) -> Any:
        from rclpy.lifecycle import TransitionCallbackReturn

        self._release()
        log.info("cleaned up")
        return TransitionCallbackReturn.SUCCESS

    def out_of_order(self, requested: str, state: str, allowed: list[str]) -> None:
        """A transition the lifecycle state machine refuses from `state` (rclpy answers the caller)."""
        self.last_failure = (
            f"transition '{requested}' refused: {NODE_NAME} is '{state}', which allows "
            f"{', '.join(repr(a) for a in allowed) or 'none'}"
        )
        log.warning("%s", self.last_failure)

    def _on_shutdown(self, state: Any) -> Any:
        from rclpy.lifecycle import TransitionCallbackReturn

        self._release()
        return TransitionCallbackReturn.SUCCESS

    def _release(self) -> None:
        if self.policy is not None:
            self.policy.commanding_allowed = False
            self.policy.stop()
        if self._loop is not None:
            self._loop.join(timeout=5.0)
            self._loop = None
        self.transport.destroy_entities()
        self.policy = None

    def spin(self) -> None:
        """Serve transitions and topics until the context shuts down (Ctrl-C)."""
        self.transport.start()
        try:
            while self.transport.ok():
                threading.Event().wait(0.2)
        except KeyboardInterrupt:
            pass
        finally:
            self._release()
            self.transport.close()


def _managed_node_class() -> type:
    """rclpy's LifecycleNode binds its transition callbacks when it is built, so the callbacks are
    methods that forward to the owner set right after."""
    from rclpy.lifecycle import LifecycleNode

    class ManagedPolicyNode(LifecycleNode):
        owner: LifecyclePolicyNode

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            serve = self._service_change_state.callback

            def change_state(request: Any, response: Any) -> Any:
                self._name_refusal(request.transition.id, request.transition.label)
                return serve(request, response)

            self._service_change_state.callback = change_state

        def _name_refusal(self, transition_id: int, label: str) -> None:
            """Tell the owner when the requested transition is not one the current state allows."""
            _, state = self._state_machine.current_state
            allowed = {t[1]: t[0] for t in self._state_machine.available_transitions}  # label: id
            if label in allowed or (not label and transition_id in allowed.values()):
                return
            names = {t[0]: t[1] for t in self._state_machine.transition_graph}
            requested = label or names.get(transition_id, f"transition id {transition_id}")
            self.owner.out_of_order(requested, state, sorted(allowed))

        def on_configure(self, state: Any) -> Any:
            return self.owner._on_configure(state)

        def on_activate(self, state: Any) -> Any:
            return self.owner._on_activate(state)

        def on_deactivate(self, state: Any) -> Any:
            return self.owner._on_deactivate(state)

        def on_cleanup(self, state: Any) -> Any:
            return self.owner._on_cleanup(state)

        def on_shutdown(self, state: Any) -> Any:
            return self.owner._on_shutdown(state)

    return ManagedPolicyNode


def main(argv: list[str] | None = None) -> int:
    import sys

    logging.basicConfig(level=logging.INFO, format=f"[{NODE_NAME}] %(levelname)s %(message)s")
    LifecyclePolicyNode(args=argv if argv is not None else sys.argv).spin()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
