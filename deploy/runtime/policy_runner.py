"""A policy file validated for one robot: RobotState in, raw action out, nothing allocated per call.

Load order, each step refusing to go on with a ContractError that names the
mismatch and the fix: (in the policy node, before this: the file's Ed25519
signature verifies, deploy.provenance, and its verified bytes are handed in as
`model_bytes`) the ONNX file loads; its embedded contract matches its
recorded SHA-256 (PolicyFile); the graph has the `obs`/`action` interface with
the contract's sizes (PolicyFile); the contract equals the one the robot's
task expects, when given, and hashes to the SHA-256 the robot was
commissioned with (policy node parameter expected_contract_sha256), when
given; the robot profile fits the contract (robot_profile.check_profile); a
dry run on a zero observation gives an action of the contract's size. Only then can a Runtime arm with it.

Observations are built by deploy.observations.ObservationBuilder, the same
code the simulator trains with, or for the batch of one by its float fast path
(deploy.runtime.fast_observation, tested to give the same numbers) when the
contract's terms all have one; inference runs through PolicyFile.bind()
(preallocated IOBinding, one intra-op thread, no spinning). The recurrent
state and the observation history are reset on every (re)arm.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from deploy.contract import Contract, ContractError
from deploy.observations import ObservationBuilder
from deploy.policy_file import PolicyFile, select_providers
from deploy.robot_state import RobotState
from deploy.runtime.fast_observation import BatchOneObservation
from deploy.runtime.robot_profile import RobotProfile, check_profile

log = logging.getLogger("tether.runtime.policy")


class PolicyRunner:
    def __init__(
        self,
        path: str | Path,
        profile: RobotProfile,
        expected_contract: Contract | None = None,
        providers: Sequence[str] | None = None,
        expected_contract_sha256: str | None = None,
        model_bytes: bytes | None = None,
        fast_observation: bool = True,
    ) -> None:
        """`model_bytes`: the policy file's content, already verified (deploy.provenance); loaded
        instead of reading `path` again. `fast_observation`: build the observation on the float
        fast path when the contract allows (False: always the shared builder)."""
        use, absent = select_providers(providers)
        if absent:
            log.warning("ONNX Runtime providers %s are not available here; running on %s", absent, use)
        self.policy = PolicyFile(path, providers=use, model_bytes=model_bytes)
        self.providers = self.policy.session.get_providers()
        self.contract = self.policy.contract
        self.profile = profile
        if expected_contract is not None:
            self.policy.check_matches(expected_contract)
        sha = self.contract.sha256()
        if expected_contract_sha256 is not None and sha != expected_contract_sha256.strip().lower():
            raise ContractError(
                f"{self.policy.path}: its contract hashes to {sha}, the robot expects "
                f"{expected_contract_sha256}; deploy the policy this robot was commissioned with, or update "
                "expected_contract_sha256 after checking the new contract (`tether export` prints it)"
            )
        check_profile(self.contract, profile, policy=str(self.policy.path))
        self.builder: ObservationBuilder | BatchOneObservation = (
            BatchOneObservation(self.contract)
            if fast_observation and BatchOneObservation.supports(self.contract)
            else ObservationBuilder(self.contract, 1)
        )
        self.bound = self.policy.bind(1)
        self._action = np.zeros(self.contract.action_size)
        self._dry_run()
        self.reset()

    def _dry_run(self) -> None:
        try:
            out = self.bound.run()
        except Exception as exc:  # onnxruntime raises its own types
            raise ContractError(
                f"{self.policy.path}: inference on a zero observation of size "
                f"{self.contract.observation_size} failed: {exc}; the graph does not take the contract's "
                "observation, re-export it"
            ) from exc
        if out.shape != (1, self.contract.action_size):
            raise ContractError(
                f"{self.policy.path}: the graph returned an action of shape {out.shape}, the contract "
                f"defines {(1, self.contract.action_size)}; re-export the policy"
            )

    def reset(self) -> None:
        """Forget observation history and recurrent state (on every arm)."""
        self.builder.reset()
        self.bound.reset()

    def observe(self, state: RobotState) -> np.ndarray:
        """The contract observation (1, D) float32 for a batch-of-one state (advances history)."""
        return self.builder.build(state)

    def act(self, state: RobotState, lap: Callable[[str], None] | None = None) -> np.ndarray:
        """The policy's raw action (A,) float64 for `state`; not yet clipped or checked. The
        observation is built straight into the bound inference input; the action is a buffer of
        this runner, overwritten by the next call. `lap` (profiling) is called after each stage."""
        self.builder.build(state, out=self.bound.obs)
        if lap is not None:
            lap("observation")
        self._action[:] = self.bound.run()[0]
        if lap is not None:
            lap("inference")
        return self._action
