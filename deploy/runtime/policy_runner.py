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
(preallocated IOBinding, one intra-op thread, no spinning) or, with the
inference engine `auto` or `compiled`, through the policy compiled to C on
this machine and checked against ONNX Runtime at load
(deploy.runtime.compiled_policy), the observation then compiled too
(deploy.runtime.compiled_observation, equal to the float path bit for bit);
`inference_engine` and `observation_engine` say which run. The
recurrent state and the observation history are reset on every (re)arm.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from deploy.contract import Contract, ContractError
from deploy.observations import ObservationBuilder
from deploy.policy_file import BoundPolicy, PolicyFile, select_providers
from deploy.robot_state import RobotState
from deploy.runtime.compiled_observation import CompiledObservation
from deploy.runtime.compiled_policy import CompiledInferenceError, CompiledPolicy
from deploy.runtime.config import INFERENCE_ENGINES
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
        inference: str | None = None,
    ) -> None:
        """`model_bytes`: the policy file's content, already verified (deploy.provenance); loaded
        instead of reading `path` again. `fast_observation`: build the observation on the float
        fast path when the contract allows (False: always the shared builder). `inference`: the
        engine, auto | onnxruntime | compiled (runtime.yaml, `inference:`); None leaves it to the
        configuration of the Runtime built around this runner (ONNX Runtime until then)."""
        use, absent = select_providers(providers)
        if absent:
            log.warning("ONNX Runtime providers %s are not available here; running on %s", absent, use)
        if model_bytes is None and Path(path).is_file():
            # read once: ONNX Runtime and the compiled engine load the same bytes
            model_bytes = Path(path).read_bytes()
        self._model_bytes = model_bytes
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
        self._fast_observation = fast_observation and BatchOneObservation.supports(self.contract)
        self.builder: ObservationBuilder | BatchOneObservation | CompiledObservation
        if self._fast_observation:
            self.builder = BatchOneObservation(self.contract)
        else:
            self.builder = ObservationBuilder(self.contract, 1)
        #: What builds the observation: "compiled C (...)", "python floats" or "shared builder".
        self.observation_engine = "python floats" if self._fast_observation else "shared builder"
        self._action = np.zeros(self.contract.action_size)
        self.inference_requested = inference
        self.bound: BoundPolicy | CompiledPolicy = self.policy.bind(1)
        self.inference_engine = "onnxruntime"
        self._dry_run()
        if inference is not None:
            self.use_inference(inference)
        self.reset()

    def use_inference(self, engine: str) -> None:
        """Run the policy on `engine` from now on (at start-up, before the loop):
        - onnxruntime: ONNX Runtime (PolicyFile.bind);
        - compiled: the policy compiled to C and checked against ONNX Runtime
          (deploy.runtime.compiled_policy), or CompiledInferenceError naming why not;
        - auto: compiled where that works, else ONNX Runtime with one warning saying why.
        With a compiled engine the observation, where it has the float fast path, is compiled too
        (deploy.runtime.compiled_observation, checked bit for bit against that path at load);
        with onnxruntime it is built in Python.
        Records the engine in `inference_requested` and what runs in `inference_engine` and
        `observation_engine`."""
        if engine not in INFERENCE_ENGINES:
            raise ValueError(f"inference engine must be one of {list(INFERENCE_ENGINES)}, found {engine!r}")
        self.inference_requested = engine
        if engine != "onnxruntime" and not isinstance(self.bound, CompiledPolicy):
            try:
                self.bound = self._compile()
            except CompiledInferenceError as exc:
                self._compile_failed(engine, exc)
        if engine == "onnxruntime" or not isinstance(self.bound, CompiledPolicy):
            if not isinstance(self.bound, BoundPolicy):
                self.bound = self.policy.bind(1)
            self.inference_engine = "onnxruntime"
        else:
            self.inference_engine = self.bound.description
        self._use_observation(compiled=isinstance(self.bound, CompiledPolicy))
        self._dry_run()
        self.reset()

    def _compile_failed(self, engine: str, exc: CompiledInferenceError) -> None:
        """Engine `compiled`: refuse, naming why; `auto`: one warning, and ONNX Runtime / Python."""
        if engine == "compiled":
            raise CompiledInferenceError(
                f"inference.engine is 'compiled' but {self.policy.path} cannot run compiled here: "
                f"{exc}. Fix that, or set `inference: {{engine: auto}}` (ONNX Runtime where "
                "compiling fails) or `onnxruntime` in the runtime configuration"
            ) from exc
        log.warning(
            "inference: running %s on ONNX Runtime, not compiled C (inference.engine auto): %s. "
            "Each call costs more when the caches are cold; to silence this, fix the above or set "
            "`inference: {engine: onnxruntime}` in the runtime configuration",
            self.policy.path, exc,
        )  # fmt: skip

    def _use_observation(self, compiled: bool) -> None:
        """The observation's builder for the engine: compiled C beside a compiled policy (where the
        contract has the float fast path), else the float path (or the shared builder)."""
        if not self._fast_observation:
            return
        if not compiled:
            if not isinstance(self.builder, BatchOneObservation):
                self.builder = BatchOneObservation(self.contract)
                self.observation_engine = "python floats"
            return
        if isinstance(self.builder, CompiledObservation):
            return
        try:
            self.builder = CompiledObservation(self.contract)
            self.observation_engine = self.builder.description
        except CompiledInferenceError as exc:
            if self.inference_requested == "compiled":
                raise CompiledInferenceError(
                    f"inference.engine is 'compiled' but the observation of {self.contract.task} cannot "
                    f"run compiled here: {exc}. Set `inference: {{engine: auto}}` to build it in Python"
                ) from exc
            log.warning(
                "inference: building the observation of %s in Python, not compiled C (inference.engine "
                "auto): %s", self.contract.task, exc,
            )  # fmt: skip

    def _compile(self) -> CompiledPolicy:
        if self._model_bytes is None:  # PolicyFile refuses a missing file before this
            raise CompiledInferenceError(f"{self.policy.path}: the policy's bytes are not at hand")
        return CompiledPolicy(self.policy, self._model_bytes)

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

    def act_values(self, state: RobotState, lap: Callable[[str], None] | None = None) -> list[float]:
        """act() as plain floats (the runtime's cycle: a handful of values go on as floats), read
        straight from the engine's float32 output: the same numbers, no float64 copy."""
        self.builder.build(state, out=self.bound.obs)
        if lap is not None:
            lap("observation")
        values = self.bound.run()[0].tolist()
        if lap is not None:
            lap("inference")
        return values

    def act(self, state: RobotState, lap: Callable[[str], None] | None = None) -> np.ndarray:
        """The policy's raw action (A,) float64 for `state`; not yet clipped or checked. The
        observation is built straight into the bound inference input; the action is a buffer of
        this runner, overwritten by the next call. `lap` (profiling) is called after each stage."""
        self._action[:] = self.act_values(state, lap)
        return self._action
