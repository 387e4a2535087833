"""Policy provenance: Ed25519 keys, detached signatures over the ONNX file, and the policy node's
refusal to start on a missing, wrong or broken signature (deploy/provenance.py)."""

from __future__ import annotations

import logging
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from deploy.nodes.policy_node import PolicyNode
from deploy.provenance import (
    ProvenanceError,
    check_policy_provenance,
    generate_keypair,
    sign_policy,
    signature_path,
    verify_policy,
)
from tests.runtime_helpers import NullTransport, hover_policy
from tether.cli import main as tether_main


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> tuple[Path, Path]:
    return generate_keypair(tmp_path_factory.mktemp("keys") / "signing")


@pytest.fixture(scope="module")
def other_keys(tmp_path_factory) -> tuple[Path, Path]:
    return generate_keypair(tmp_path_factory.mktemp("other"), "intruder")


@pytest.fixture(scope="module")
def unsigned_policy(tmp_path_factory) -> Path:
    return hover_policy(tmp_path_factory.mktemp("policy") / "hover.onnx")


@pytest.fixture
def policy(unsigned_policy, tmp_path) -> Path:
    """A fresh copy of the fixture policy, unsigned."""
    return Path(shutil.copy(unsigned_policy, tmp_path / "hover.onnx"))


def _flip_byte(path: Path, offset: int = 200) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_keygen_writes_a_private_key_only_its_owner_reads_and_never_overwrites(tmp_path):
    private, public = generate_keypair(tmp_path / "k")
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert private.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert public.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    with pytest.raises(ProvenanceError, match="already exists"):
        generate_keypair(tmp_path / "k")
    old = private.read_bytes()
    generate_keypair(tmp_path / "k", force=True)
    assert private.read_bytes() != old and stat.S_IMODE(private.stat().st_mode) == 0o600


def test_a_private_key_others_can_read_is_refused(tmp_path, policy):
    private, _ = generate_keypair(tmp_path / "k")
    private.chmod(0o644)
    with pytest.raises(ProvenanceError, match=r"mode 0644, expected 0600.*chmod 600"):
        sign_policy(policy, private)


def test_sign_then_verify_round_trip(keys, policy):
    private, public = keys
    sig = sign_policy(policy, private)
    assert sig == signature_path(policy) == policy.with_name("hover.onnx.sig")
    assert len(sig.read_bytes()) == 64  # the raw Ed25519 signature, nothing else
    v = verify_policy(policy, public)
    assert v.size_bytes == policy.stat().st_size and len(v.key_fingerprint) == 16
    assert check_policy_provenance(policy, public, require_signature=True) == policy.read_bytes()


def test_a_flipped_byte_in_the_policy_is_refused(keys, policy):
    private, public = keys
    sign_policy(policy, private)
    _flip_byte(policy)
    with pytest.raises(ProvenanceError, match="modified after signing, or it was signed with another key"):
        verify_policy(policy, public)
    with pytest.raises(ProvenanceError, match="does not verify"):
        check_policy_provenance(policy, public, require_signature=False)  # a present signature must verify


def test_a_signature_made_with_another_key_is_refused(keys, other_keys, policy):
    sign_policy(policy, other_keys[0])
    with pytest.raises(ProvenanceError, match=f"does not verify with public key {keys[1]}"):
        verify_policy(policy, keys[1])


def test_a_truncated_signature_file_is_refused(keys, policy):
    sign_policy(policy, keys[0])
    sig = signature_path(policy)
    sig.write_bytes(sig.read_bytes()[:10])
    with pytest.raises(ProvenanceError, match="10 bytes, expected a raw 64-byte Ed25519 signature"):
        verify_policy(policy, keys[1])


def test_missing_signature_is_refused_when_required_and_allowed_with_a_warning_otherwise(
    keys, policy, caplog
):
    with pytest.raises(ProvenanceError, match=r"unsigned, and require_signature is true.*hover\.onnx\.sig"):
        check_policy_provenance(policy, keys[1], require_signature=True)
    with caplog.at_level(logging.WARNING, logger="tether.provenance"):
        assert check_policy_provenance(policy, keys[1], require_signature=False) == policy.read_bytes()
    assert any("UNVERIFIED" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)


def test_requiring_a_signature_without_a_public_key_is_refused(policy):
    with pytest.raises(ProvenanceError, match="no policy_public_key is set"):
        check_policy_provenance(policy, None, require_signature=True)
    assert check_policy_provenance(policy, None, require_signature=False) == policy.read_bytes()


def test_openssl_verifies_the_signature_without_tether(keys, policy):
    """The formats are standard: OpenSSL 3 checks a Tether signature with the Tether public key."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed here")
    sign_policy(policy, keys[0])
    cmd = [openssl, "pkeyutl", "-verify", "-pubin", "-inkey", str(keys[1]), "-rawin",
           "-in", str(policy), "-sigfile", str(signature_path(policy))]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    if "rawin" in out.stderr and out.returncode != 0:
        pytest.skip(f"this openssl cannot verify Ed25519 over a file (-rawin): {out.stderr.strip()}")
    assert out.returncode == 0 and "Verified Successfully" in out.stdout, out.stderr
    _flip_byte(policy)
    assert subprocess.run(cmd, capture_output=True, timeout=30, check=False).returncode != 0


# -- the policy node: the same start-up path as on the robot (PolicyNode.__init__) -----------------


def _node(policy: Path, **params) -> PolicyNode:
    return PolicyNode(NullTransport(), {"policy_file": str(policy), "airborne_start": True, **params})


def test_the_policy_node_refuses_to_start_on_a_modified_signed_policy(keys, policy):
    sign_policy(policy, keys[0])
    node = _node(policy, policy_public_key=str(keys[1]), require_signature=True)
    assert node.runtime.contract.task == "quadrotor-hover"  # signed and intact: it starts
    _flip_byte(policy)
    with pytest.raises(ProvenanceError, match=rf"{policy.name}: the signature .* does not verify"):
        _node(policy, policy_public_key=str(keys[1]), require_signature=True)


def test_the_policy_node_refuses_an_unsigned_policy_only_when_a_signature_is_required(keys, policy, caplog):
    with pytest.raises(ProvenanceError, match="unsigned, and require_signature is true"):
        _node(policy, policy_public_key=str(keys[1]), require_signature=True)
    with caplog.at_level(logging.WARNING, logger="tether.provenance"):
        node = _node(policy, policy_public_key=str(keys[1]))
    assert node.runtime.contract.task == "quadrotor-hover"
    assert any("UNVERIFIED" in r.getMessage() for r in caplog.records)


def test_the_policy_node_refuses_a_policy_signed_with_another_key(keys, other_keys, policy):
    sign_policy(policy, other_keys[0])
    with pytest.raises(ProvenanceError, match="signed with another key"):
        _node(policy, policy_public_key=str(keys[1]))


def test_require_signature_must_be_a_boolean(policy):
    with pytest.raises(ValueError, match="require_signature must be true or false, found 'false'"):
        _node(policy, require_signature="false")


def test_the_node_loads_the_bytes_it_verified(keys, policy, monkeypatch):
    """The file is read once: replacing it after the check cannot change what ONNX Runtime loads."""
    import deploy.nodes.policy_node as policy_node

    sign_policy(policy, keys[0])
    verified = policy.read_bytes()
    check = policy_node.check_policy_provenance

    def check_then_swap(*args, **kwargs):
        data = check(*args, **kwargs)
        policy.write_bytes(b"not an onnx file")  # an attacker's swap right after the check
        return data

    monkeypatch.setattr(policy_node, "check_policy_provenance", check_then_swap)
    node = _node(policy, policy_public_key=str(keys[1]), require_signature=True)
    assert node.runtime.contract.task == "quadrotor-hover" and verified != policy.read_bytes()


# -- the command line ------------------------------------------------------------------------------


def _tether(*argv: str) -> int:
    with pytest.raises(SystemExit) as exc:
        tether_main(list(argv))
    return int(exc.value.code)


def test_cli_keygen_sign_verify(tmp_path, policy, capsys):
    assert _tether("keygen", "--out", str(tmp_path / "keys")) == 0
    private, public = tmp_path / "keys" / "tether_policy.key", tmp_path / "keys" / "tether_policy.pub"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600 and public.exists()
    assert _tether("keygen", "--out", str(tmp_path / "keys")) == 2  # never overwrites silently
    assert _tether("sign", str(policy), "--key", str(private)) == 0
    assert _tether("verify", str(policy), "--public-key", str(public)) == 0
    assert "verified:" in capsys.readouterr().out
    _flip_byte(policy)
    assert _tether("verify", str(policy), "--public-key", str(public)) == 1
    assert "NOT VERIFIED" in capsys.readouterr().err
