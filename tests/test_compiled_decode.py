"""The driving sensors decoded and checked in compiled C (deploy/transport/compiled_decode.py):
the same verdicts and the same values, bit for bit, as the Python path, on many random messages;
bounds-checked reads of truncated and garbage bytes; a library that disagrees is not used."""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np
import pytest

from deploy.transport import compiled_decode as cd

#: (random message maker, decoder method) per kind of sample
KINDS = [(cd.odometry_bytes, "odometry"), (cd.imu_bytes, "imu"), (cd.joint_state_bytes, "joint_states")]


@pytest.fixture(scope="module")
def decoders() -> cd.CompiledDecoders:
    d = cd.CompiledDecoders.load()
    if d is None:
        pytest.skip(f"no compiled sensor decoders here: {cd._library()[1]}")
    return d


def test_decoding_keeps_the_interpreter_lock(decoders):
    assert isinstance(cd._library()[0], ctypes.PyDLL)


def test_compiled_and_python_agree_on_verdicts_and_every_value(decoders):
    assert cd.verify(decoders, samples=3000, seed=1) == ""


@pytest.mark.parametrize(
    "make,kind",
    KINDS,
)
def test_the_random_messages_exercise_both_verdicts(decoders, make, kind):
    rng = np.random.default_rng(2)
    accepted = [getattr(decoders, kind)(make(rng)) is not None for _ in range(400)]
    assert 0.3 < sum(accepted) / len(accepted) < 0.95  # a check that sees both sides of each verdict


PYTHON = {"odometry": cd._python_odometry, "imu": cd._python_imu, "joint_states": cd._python_joint_states}


@pytest.mark.parametrize(
    "make,kind",
    KINDS,
)
def test_truncated_and_corrupted_bytes_are_read_within_bounds(decoders, make, kind):
    rng = np.random.default_rng(3)
    compiled = getattr(decoders, kind)
    for _ in range(40):
        data = make(rng)
        cuts = [data[:n] for n in range(len(data))]
        flipped = []
        for _ in range(30):  # a random byte changed: lengths and counts become anything
            b = bytearray(data)
            b[int(rng.integers(len(b)))] = int(rng.integers(256))
            flipped.append(bytes(b))
        for sample in [*cuts, *flipped, bytes(rng.integers(0, 256, 300, dtype=np.uint8))]:
            got = compiled(sample)
            if got is None:
                continue
            # accepted: then the Python path reads the same message and accepts it with the same values
            want = PYTHON[kind](sample)
            assert want is not None and got[:2] == want[:2]
            assert cd._fields(got[2]) == cd._fields(want[2])


def test_bytearrays_and_views_are_read_as_their_bytes(decoders):
    rng = np.random.default_rng(6)
    for make, kind in KINDS:
        data = make(rng)
        while getattr(decoders, kind)(data) is None:
            data = make(rng)
        want = getattr(decoders, kind)(data)
        for other in (bytearray(data), memoryview(data)):
            got = getattr(decoders, kind)(other)
            assert got is not None and got[:2] == want[:2] and cd._fields(got[2]) == cd._fields(want[2])


def test_a_library_that_disagrees_with_the_python_path_is_not_used(tmp_path: Path, decoders):
    source = cd.SOURCE.read_text()
    broken = source.replace("return 0.9 < n && n < 1.1;", "return 0.8 < n && n < 1.1;")
    assert broken != source
    (tmp_path / "sensor_decode.c").write_text(broken)
    lib, why = cd._build(tmp_path / "sensor_decode.c")
    assert lib is None and "disagree" in why and "odometry sample" in why
    skewed = source.replace("out[12] = t[5];", "out[12] = t[5] * 1.0000001;")
    assert skewed != source
    (tmp_path / "sensor_decode.c").write_text(skewed)
    lib, why = cd._build(tmp_path / "sensor_decode.c")
    assert lib is None and "values differ" in why


def test_a_source_that_does_not_compile_says_so(tmp_path: Path):
    (tmp_path / "sensor_decode.c").write_text("int broken( {")
    lib, why = cd._build(tmp_path / "sensor_decode.c")
    assert lib is None and "failed" in why


def test_a_payload_is_a_read_only_copy_the_next_sample_leaves_alone(decoders):
    rng = np.random.default_rng(7)
    for make, kind in KINDS:
        decode = getattr(decoders, kind)
        kept = []
        while len(kept) < 20:
            got = decode(make(rng))
            if got is not None:
                kept.append((got, cd._fields(got[2])))
        for got, fields in kept:  # what later samples were decoded into did not reach it
            assert cd._fields(got[2]) == fields
            for name, value in vars(got[2]).items():
                if name != "names":
                    assert not value.flags.writeable
                    with pytest.raises(ValueError):
                        value[...] = 0.0
