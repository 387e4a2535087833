"""Provenance of a policy file: Ed25519 keys, detached signatures, and the check a robot makes.

Files (all readable by OpenSSL 3, so a signature can be checked without Tether):

  KEY.key        private key, PKCS#8 PEM, unencrypted, mode 0600 (refused when group/others can read it)
  KEY.pub        public key, SubjectPublicKeyInfo PEM
  POLICY.onnx.sig  detached signature: the 64 raw bytes of an Ed25519 (RFC 8032) signature over the
                 exact bytes of POLICY.onnx; nothing else (no header, no encoding)

    openssl pkeyutl -verify -pubin -inkey KEY.pub -rawin -in POLICY.onnx -sigfile POLICY.onnx.sig

A key is named by its fingerprint: the first 16 hex digits of the SHA-256 of its 32 raw public bytes.
The robot side (check_policy_provenance) reads the policy's bytes once, verifies them, and hands
those same bytes to ONNX Runtime, so the file cannot change between the check and the load.
Needs only `cryptography`; no network, no key server.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

log = logging.getLogger("tether.provenance")

SIGNATURE_SUFFIX = ".sig"
SIGNATURE_BYTES = 64
PRIVATE_KEY_SUFFIX = ".key"
PUBLIC_KEY_SUFFIX = ".pub"
DEFAULT_KEY_NAME = "tether_policy"


class ProvenanceError(ValueError):
    """A key, signature or policy file that fails the provenance check; the message says what to do."""


@dataclass(frozen=True)
class Verified:
    """A policy whose bytes verified against a public key."""

    policy: Path
    signature: Path
    key_fingerprint: str
    size_bytes: int
    sha256: str


def signature_path(policy: str | Path) -> Path:
    """Where the detached signature of `policy` lives: next to it, with `.sig` appended."""
    p = Path(policy)
    return p.with_name(p.name + SIGNATURE_SUFFIX)


def fingerprint(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


# -- keys -----------------------------------------------------------------------------------------


def generate_keypair(
    out_dir: str | Path, name: str = DEFAULT_KEY_NAME, force: bool = False
) -> tuple[Path, Path]:
    """Write a new Ed25519 key pair as OUT_DIR/NAME.key (0600) and OUT_DIR/NAME.pub; returns both paths.

    Refuses to overwrite an existing key unless `force`.
    """
    out = Path(out_dir)
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    private, public = out / f"{name}{PRIVATE_KEY_SUFFIX}", out / f"{name}{PUBLIC_KEY_SUFFIX}"
    if not force:
        for p in (private, public):
            if p.exists():
                raise ProvenanceError(
                    f"{p} already exists; keygen does not overwrite keys (policies signed with it would no "
                    "longer verify against a new public key). Choose another --out or --name, or pass --force"
                )
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    private.unlink(missing_ok=True)
    # Created 0600 from the start (O_EXCL): the private key is never readable by others, not even briefly.
    fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


def load_private_key(path: str | Path) -> Ed25519PrivateKey:
    """The Ed25519 private key in `path`; refused when others can read the file or it is not such a key."""
    p = Path(path)
    if not p.is_file():
        raise ProvenanceError(f"private key {p} not found; create a key pair with `tether keygen --out DIR`")
    mode = stat.S_IMODE(p.stat().st_mode)
    if mode & 0o077:
        raise ProvenanceError(
            f"private key {p} has mode {mode:04o}, expected 0600 (readable by its owner only); "
            f"run `chmod 600 {p}`, and treat the key as exposed if others could read it"
        )
    try:
        key = serialization.load_pem_private_key(p.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise ProvenanceError(
            f"{p} is not an unencrypted PEM private key ({exc}); use the .key file `tether keygen` wrote"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ProvenanceError(
            f"{p} holds a {type(key).__name__}, expected an Ed25519 private key; use `tether keygen`"
        )
    return key


def load_public_key(path: str | Path) -> Ed25519PublicKey:
    """The Ed25519 public key in `path` (PEM, as `tether keygen` writes it)."""
    p = Path(path)
    if not p.is_file():
        raise ProvenanceError(
            f"public key {p} not found; copy the .pub file written by `tether keygen` to the robot and point "
            "policy_public_key (or --public-key) at it"
        )
    try:
        key = serialization.load_pem_public_key(p.read_bytes())
    except ValueError as exc:
        raise ProvenanceError(
            f"{p} is not a PEM public key ({exc}); use the .pub file `tether keygen` wrote"
        ) from None
    if not isinstance(key, Ed25519PublicKey):
        raise ProvenanceError(f"{p} holds a {type(key).__name__}, expected an Ed25519 public key")
    return key


# -- signing and verifying ------------------------------------------------------------------------


def sign_policy(policy: str | Path, private_key: str | Path | Ed25519PrivateKey) -> Path:
    """Sign the bytes of `policy`: writes POLICY.sig (atomically replacing an old one); returns its path."""
    key = private_key if isinstance(private_key, Ed25519PrivateKey) else load_private_key(private_key)
    data = Path(policy).read_bytes()
    sig = signature_path(policy)
    tmp = sig.with_name(sig.name + ".tmp")
    tmp.write_bytes(key.sign(data))
    os.replace(tmp, sig)
    return sig


def verify_bytes(
    data: bytes, public_key: str | Path, signature: str | Path, policy: str | Path = "policy"
) -> Verified:
    """Verify `data` (the policy's bytes) against the detached `signature`, or ProvenanceError saying why."""
    key = load_public_key(public_key)
    sig_path = Path(signature)
    if not sig_path.is_file():
        raise ProvenanceError(
            f"{policy}: no signature at {sig_path}; expected the detached signature written by "
            f"`tether export ... --sign KEY` (or `tether sign {policy} --key KEY`), deployed with the file"
        )
    sig = sig_path.read_bytes()
    if len(sig) != SIGNATURE_BYTES:
        raise ProvenanceError(
            f"{sig_path}: {len(sig)} bytes, expected a raw {SIGNATURE_BYTES}-byte Ed25519 signature; "
            "re-sign the policy with `tether sign POLICY --key KEY`"
        )
    try:
        key.verify(sig, data)
    except InvalidSignature:
        raise ProvenanceError(
            f"{policy}: the signature {sig_path} does not verify with public key {public_key} (fingerprint "
            f"{fingerprint(key)}): the file was modified after signing, or it was signed with another key. "
            "Deploy the file exactly as it was signed, or re-sign it with the private key matching this "
            "public key"
        ) from None
    return Verified(Path(policy), sig_path, fingerprint(key), len(data), hashlib.sha256(data).hexdigest())


def verify_policy(
    policy: str | Path, public_key: str | Path, signature: str | Path | None = None
) -> Verified:
    """Verify the file `policy` against its detached signature (POLICY.sig by default)."""
    p = Path(policy)
    if not p.is_file():
        raise ProvenanceError(f"policy file {p} not found")
    return verify_bytes(p.read_bytes(), public_key, signature or signature_path(p), p)


def check_policy_provenance(
    policy: str | Path, public_key: str | Path | None, require_signature: bool
) -> bytes:
    """What a policy node does before loading `policy`: returns the bytes to load, or ProvenanceError.

    - require_signature without a public key: refused (nothing to verify against);
    - with a public key and a signature: the signature must verify over the file's bytes;
    - with a public key and no signature: refused if require_signature, else accepted with a warning;
    - without a public key: accepted unverified (logged).
    The returned bytes are the ones verified: load those, not the path again.
    """
    p = Path(policy)
    if not p.is_file():
        raise FileNotFoundError(
            f"policy file {p} not found; export one with `tether export RUN_DIR -o FILE.onnx`"
        )
    data = p.read_bytes()
    sig = signature_path(p)
    if public_key is None:
        if require_signature:
            raise ProvenanceError(
                f"{p}: require_signature is true but no policy_public_key is set, so the signature cannot "
                "be checked; set policy_public_key to the .pub file of the key the policy was signed with"
            )
        log.info("%s: provenance not checked (no policy_public_key set)", p)
        return data
    if not sig.exists():
        if require_signature:
            raise ProvenanceError(
                f"{p}: unsigned, and require_signature is true: expected a detached signature at {sig}. "
                f"Sign the policy where the private key is (`tether sign {p.name} --key KEY.key`, or export "
                "with `tether export RUN_DIR --sign KEY.key`) and deploy POLICY.onnx.sig beside it"
            )
        log.warning(
            "%s: no signature at %s; loading it UNVERIFIED because require_signature is false "
            "(set require_signature: true to refuse unsigned policies)",
            p,
            sig,
        )
        return data
    v = verify_bytes(data, public_key, sig, p)
    log.info("%s: signature verified (key %s, sha256 %s)", p, v.key_fingerprint, v.sha256)
    return data
