"""The authenticated command plane: Ed25519-signed commands, checked by the node that obeys them.

Why not DDS Security: neither DDS stack installed here can do it. The `cyclonedds` 11.0.1 wheel
ships libddsc without the security plugins (no libdds_security_auth / _ac / _crypto; its config
parser answers `//CycloneDDS/Domain: Security: unknown element`, and a participant with any
`dds.sec.*` QoS property is refused, DDS_RETCODE_ERROR), and the Fast DDS 3.2 library of the ROS 2
wheels is built without security ("Received PID_PERMISSIONS_TOKEN but security is disabled", no
builtin.PKI-DH plugin). README "Security" has the evidence and the threat model. On a robot whose
DDS has security, SROS2 enclaves can be used in addition; this scheme does not depend on it.

Where the signature travels: every command topic keeps its standard ROS 2 type (std_msgs/Bool on
/tether/arm, nav_msgs/Odometry on /tether/reference, ...), so `ros2 topic echo`, rosbag2 and
existing tools read it unchanged; beside it, on `<topic>/auth` (std_msgs/msg/UInt8MultiArray), the
writer publishes one token per message:

    offset  size  field
    0       1     version (1)
    1       8     key id: the first 8 bytes of SHA-256(raw 32-byte Ed25519 public key)
    9       8     counter, uint64 LE: the writer's wall clock in ns, strictly increasing per writer
    17      32    SHA-256 of the message's canonical encoding (below)
    49      64    Ed25519 signature over b"tether-command-v1\\0" + topic + b"\\0" + type + b"\\0" +
                  bytes 0..48 of this token

The receiver (`CommandGuard`) pairs each message with its token by the digest (either may arrive
first; an unpaired message is dropped after `pair_timeout_s`) and hands the message on only when
the key is in its authorized-keys file, the signature verifies, the counter is newer than the last
one it accepted from that key on that topic (replay) and within `max_age_s` of its own wall clock
(replay after a restart of the receiver; needs synchronized clocks; 0 turns the window off).
Everything else is dropped and counted by reason (REASONS); the first of each reason on each topic
is logged. The topic name is signed, so a token for /tether/reference does not arm.

Canonical encoding: the message's fields in definition order, packed little-endian without
alignment (bool 1 byte, integers and floats at their width, strings and sequences with a uint32
count first). It is not the CDR on the wire: Fast DDS leaves uninitialized bytes in CDR padding,
so two transports serialize one message differently; the canonical form depends only on the values.

Authorized-keys file: one key per line, `NAME BASE64` (the 32 raw public-key bytes; `tether keygen`
prints the line); `#` starts a comment. The private keys are those of `tether keygen`
(deploy/provenance.py: PKCS#8 PEM, mode 0600).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import logging
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from deploy.provenance import ProvenanceError, load_private_key

log = logging.getLogger("tether.command_auth")

AUTH_SUFFIX = "/auth"
AUTH_TYPE = "std_msgs/msg/UInt8MultiArray"
VERSION = 1
CONTEXT = b"tether-command-v1\0"
_HEAD = struct.Struct("<B8sQ32s")
TOKEN_BYTES = _HEAD.size + 64
KEY_ID_BYTES = 8

#: Why a command was dropped (diagnostics: command_auth.<reason>).
REASONS = ("unsigned", "malformed", "unknown_key", "bad_signature", "stale", "replayed")


class CommandAuthError(ValueError):
    """An authorized-keys file or key the command plane cannot use; the message says what to do."""


# -- canonical encoding --------------------------------------------------------------------------------

_INT_FORMATS = {
    "bool": "?", "int8": "b", "uint8": "B", "byte": "B", "char": "B", "int16": "h", "uint16": "H",
    "int32": "i", "uint32": "I", "int64": "q", "uint64": "Q", "float32": "f", "float64": "d",
}  # fmt: skip


@functools.cache
def _packer(ros_type: str) -> Callable[[Any, list[bytes]], None]:
    from rosbags.typesys.base import Nodetype

    from deploy.transport.messages import fields

    steps: list[Callable[[Any, list[bytes]], None]] = []
    for name, (kind, arg) in fields(ros_type):
        steps.append(_field_packer(name, kind, arg, Nodetype))

    def pack(msg: Any, out: list[bytes]) -> None:
        for step in steps:
            step(msg, out)

    return pack


def _field_packer(name: str, kind: Any, arg: Any, nt: Any) -> Callable[[Any, list[bytes]], None]:
    get = _getter(name)
    if kind == nt.BASE:
        return _value_packer(arg[0], get)
    if kind == nt.NAME:
        sub = _packer(arg)
        return lambda m, out: sub(get(m), out)
    (sub_kind, sub_arg), _n = arg
    with_count = kind == nt.SEQUENCE
    if sub_kind == nt.BASE and sub_arg[0] != "string":
        code = _INT_FORMATS[sub_arg[0]]

        def pack_numbers(m: Any, out: list[bytes]) -> None:
            values = [v[0] if isinstance(v, bytes) else v for v in get(m)]  # rclpy: byte items are bytes
            if with_count:
                out.append(struct.pack("<I", len(values)))
            out.append(struct.pack(f"<{len(values)}{code}", *values))

        return pack_numbers
    item = _packer(sub_arg) if sub_kind == nt.NAME else _value_packer("string", lambda x: x)

    def pack_items(m: Any, out: list[bytes]) -> None:
        seq = get(m)
        if with_count:
            out.append(struct.pack("<I", len(seq)))
        for x in seq:
            item(x, out)

    return pack_items


def _getter(name: str) -> Callable[[Any], Any]:
    return lambda m: getattr(m, name)


def _value_packer(base: str, get: Callable[[Any], Any]) -> Callable[[Any, list[bytes]], None]:
    if base == "string":

        def pack_string(m: Any, out: list[bytes]) -> None:
            b = str(get(m)).encode()
            out.append(struct.pack("<I", len(b)))
            out.append(b)

        return pack_string
    s = struct.Struct("<" + _INT_FORMATS[base])

    def pack_value(m: Any, out: list[bytes]) -> None:
        v = get(m)
        out.append(s.pack(v if not isinstance(v, bytes) else v[0]))

    return pack_value


def canonical_bytes(msg: Any, ros_type: str) -> bytes:
    """The canonical encoding of `msg` (a DDS or an rclpy message of `ros_type`): the same bytes for
    the same values whichever transport built or received it."""
    out: list[bytes] = []
    _packer(ros_type)(msg, out)
    return b"".join(out)


def message_digest(msg: Any, ros_type: str) -> bytes:
    return hashlib.sha256(canonical_bytes(msg, ros_type)).digest()


def _signed_bytes(topic: str, ros_type: str, head: bytes) -> bytes:
    return CONTEXT + topic.encode() + b"\0" + ros_type.encode() + b"\0" + head


def key_id(key: Ed25519PublicKey) -> bytes:
    """The 8-byte id of a public key on the wire: SHA-256 of its raw bytes, truncated."""
    return hashlib.sha256(_raw(key)).digest()[:KEY_ID_BYTES]


def _raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def authorized_line(name: str, key: Ed25519PublicKey) -> str:
    """The authorized-keys line of `key` under `name`."""
    if not name or any(c.isspace() for c in name):
        raise CommandAuthError(f"a key name must be one word without spaces, found {name!r}")
    return f"{name} {base64.b64encode(_raw(key)).decode()}"


# -- the writer's side ---------------------------------------------------------------------------------


class CommandSigner:
    """Signs commands with one Ed25519 private key (a `tether keygen` .key file)."""

    def __init__(self, key: Ed25519PrivateKey, clock_ns: Callable[[], int] = time.time_ns) -> None:
        self._key = key
        self.key_id = key_id(key.public_key())
        self._clock_ns = clock_ns
        self._last = 0
        self._lock = threading.Lock()

    @classmethod
    def from_file(cls, path: str | Path) -> CommandSigner:
        try:
            return cls(load_private_key(path))
        except ProvenanceError as exc:
            raise CommandAuthError(f"command signing key: {exc}") from None

    def next_counter(self) -> int:
        """The wall clock in ns, made strictly increasing: a restarted writer still counts upwards."""
        with self._lock:
            self._last = max(self._last + 1, self._clock_ns())
            return self._last

    def token(self, topic: str, ros_type: str, msg: Any, counter: int | None = None) -> bytes:
        return self.token_for_digest(topic, ros_type, message_digest(msg, ros_type), counter)

    def token_for_digest(self, topic: str, ros_type: str, digest: bytes, counter: int | None = None) -> bytes:
        """The token of a message given by the SHA-256 of its canonical encoding."""
        head = _HEAD.pack(VERSION, self.key_id, self.next_counter() if counter is None else counter, digest)
        return head + self._key.sign(_signed_bytes(topic, ros_type, head))


class SignedPublisher:
    """Publishes a command and, when it has a signer, its token on `<topic>/auth` right after it."""

    def __init__(
        self, transport: Any, topic: str, ros_type: str, qos: str, signer: CommandSigner | None
    ) -> None:
        self.t = transport
        self.topic, self.ros_type, self.signer = topic, ros_type, signer
        self._pub = transport.publisher(topic, ros_type, qos)
        self._auth = transport.publisher(topic + AUTH_SUFFIX, AUTH_TYPE, qos) if signer else None
        # one message reused: only its data changes (building one per command costs ~20 µs)
        self._auth_msg = transport.make(AUTH_TYPE) if signer else None
        self._lock = threading.Lock()

    @property
    def publish_cdr(self) -> Callable[[bytes], None] | None:
        """Where a serialized message is written directly (deploy.transport.cdr), when the transport
        writes such bytes (DDS) and no token is to follow it (the token signs the message object);
        None otherwise."""
        return None if self.signer is not None else getattr(self._pub, "publish_cdr", None)

    @property
    def publish_cdr_signed(self) -> Callable[[bytes, bytes], None] | None:
        """Where a message given as its serialized bytes (deploy.transport.cdr) and its canonical
        encoding is written, its token (as CDR too) right after it, when the transport writes such
        bytes (DDS) and there is a signer; None otherwise."""
        if self.signer is None or not all(hasattr(w, "publish_cdr") for w in (self._pub, self._auth)):
            return None
        from deploy.transport.cdr import UInt8ArrayEncoder

        token_cdr = UInt8ArrayEncoder(TOKEN_BYTES)
        write, write_token, signer = self._pub.publish_cdr, self._auth.publish_cdr, self.signer
        topic, ros_type = self.topic, self.ros_type

        def publish(data: bytes, canonical: bytes) -> None:
            write(data)
            token = signer.token_for_digest(topic, ros_type, hashlib.sha256(canonical).digest())
            with self._lock:
                write_token(token_cdr.encode(token))

        return publish

    def publish(self, msg: Any) -> None:
        """The message, then its token (from any thread; the reader acts once both are there)."""
        self._pub.publish(msg)
        if self.signer is not None and self._auth is not None:
            token = self.signer.token(self.topic, self.ros_type, msg)
            with self._lock:
                self._auth_msg.data = list(token)
                self._auth.publish(self._auth_msg)


def auth_message(transport: Any, token: bytes) -> Any:
    """A std_msgs/UInt8MultiArray carrying `token` (for tests that forge or replay one)."""
    return transport.make(AUTH_TYPE, data=list(token))


# -- the receiver's side -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuthorizedKeys:
    """Public keys allowed to command, by key id; `names` for the logs."""

    keys: dict[bytes, Ed25519PublicKey]
    names: dict[bytes, str]
    source: str

    @classmethod
    def from_file(cls, path: str | Path) -> AuthorizedKeys:
        p = Path(path)
        if not p.is_file():
            raise CommandAuthError(
                f"authorized-keys file {p} not found; create it with one `NAME BASE64` line per writer "
                "allowed to command (`tether keygen` prints the line for a new key)"
            )
        keys: dict[bytes, Ed25519PublicKey] = {}
        names: dict[bytes, str] = {}
        for n, line in enumerate(p.read_text().splitlines(), 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split()
            try:
                if len(parts) != 2:
                    raise ValueError(f"expected 2 words, found {len(parts)}")
                raw = base64.b64decode(parts[1], validate=True)
                if len(raw) != 32:
                    raise ValueError(f"the key has {len(raw)} bytes, an Ed25519 public key has 32")
                key = Ed25519PublicKey.from_public_bytes(raw)
            except ValueError as exc:
                raise CommandAuthError(
                    f"{p}:{n}: not an authorized-keys line ({exc}); expected `NAME BASE64` with the 32 raw "
                    "bytes of an Ed25519 public key, as `tether keygen` prints it"
                ) from None
            keys[key_id(key)] = key
            names[key_id(key)] = parts[0]
        if not keys:
            raise CommandAuthError(f"{p} lists no key: no writer could command; add a `NAME BASE64` line")
        return cls(keys, names, str(p))


class _Topic:
    def __init__(self, topic: str, ros_type: str, callback: Callable[[Any], None]) -> None:
        self.topic, self.ros_type, self.callback = topic, ros_type, callback
        self.data: deque[tuple[bytes, Any, float]] = deque()  # messages waiting for their token
        self.tokens: deque[tuple[bytes, float]] = deque()  # verified tokens waiting for their message


class CommandGuard:
    """Checks the command plane of one node. With `keys` None the plane is open: every message is
    passed on, and the node says so at start-up (`describe`)."""

    #: Messages (tokens) held at most per topic while waiting for their pair.
    MAX_PENDING = 64

    def __init__(
        self,
        keys: AuthorizedKeys | None,
        node_name: str,
        max_age_s: float = 2.0,
        pair_timeout_s: float = 0.5,
        wall_ns: Callable[[], int] = time.time_ns,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_age_s < 0 or pair_timeout_s <= 0:
            raise CommandAuthError(
                f"command_auth: max_age_s must be >= 0 (0: no clock window) and pair_timeout_s > 0, found "
                f"{max_age_s} and {pair_timeout_s}"
            )
        self.keys = keys
        self.node_name = node_name
        self.max_age_ns = int(max_age_s * 1e9)
        self.pair_timeout_s = pair_timeout_s
        self._wall_ns, self._mono = wall_ns, monotonic
        self._lock = threading.Lock()
        self._topics: dict[str, _Topic] = {}
        self._last: dict[tuple[bytes, str], int] = {}
        self.dropped: dict[str, int] = dict.fromkeys(REASONS, 0)
        self.accepted = 0
        self.unmatched_tokens = 0
        self._logged: set[tuple[str, str]] = set()

    @property
    def enabled(self) -> bool:
        return self.keys is not None

    def describe(self) -> str:
        if self.keys is None:
            return "open: any participant on the domain may command (command_auth.authorized_keys is empty)"
        return f"signed commands only, {len(self.keys.keys)} key(s) from {self.keys.source}"

    def subscribe(
        self, transport: Any, topic: str, ros_type: str, qos: str, callback: Callable[[Any], None]
    ) -> None:
        """Subscribe `callback` to `topic`; with keys, it sees only messages with a valid token."""
        if self.keys is None:
            transport.subscribe(topic, ros_type, qos, callback)
            return
        entry = self._topics[topic] = _Topic(topic, ros_type, callback)
        transport.subscribe(topic, ros_type, qos, lambda m: self.on_message(entry, m))
        transport.subscribe(topic + AUTH_SUFFIX, AUTH_TYPE, qos, lambda m: self.on_token(entry, m))

    # -- receive thread ---------------------------------------------------------------------------

    def on_message(self, entry: _Topic, msg: Any) -> None:
        digest = message_digest(msg, entry.ros_type)
        now = self._mono()
        with self._lock:
            self._expire(entry, now)
            for i, (d, _t) in enumerate(entry.tokens):
                if d == digest:
                    del entry.tokens[i]
                    break
            else:
                if len(entry.data) >= self.MAX_PENDING:
                    entry.data.popleft()
                    self._drop(entry.topic, "unsigned", "more messages than tokens")
                entry.data.append((digest, msg, now))
                return
            self.accepted += 1
        entry.callback(msg)

    def on_token(self, entry: _Topic, auth: Any) -> None:
        token = bytes(auth.data)
        now = self._mono()
        with self._lock:
            self._expire(entry, now)
            digest = self._check(entry, token)
            if digest is None:
                return
            i = next((i for i, (d, _m, _t) in enumerate(entry.data) if d == digest), None)
            if i is None:
                if len(entry.tokens) >= self.MAX_PENDING:
                    entry.tokens.popleft()
                    self.unmatched_tokens += 1
                entry.tokens.append((digest, now))
                return
            msg = entry.data[i][1]
            del entry.data[i]
            self.accepted += 1
        entry.callback(msg)

    def _check(self, entry: _Topic, token: bytes) -> bytes | None:
        """The digest a valid token vouches for, or None (dropped, counted by reason)."""
        assert self.keys is not None
        if len(token) != TOKEN_BYTES or token[0] != VERSION:
            found = f"{len(token)} bytes, version {token[0] if token else None}"
            return self._drop(
                entry.topic, "malformed", f"{found}, expected {TOKEN_BYTES} bytes, version {VERSION}"
            )
        head, signature = token[: _HEAD.size], token[_HEAD.size :]
        _v, kid, counter, digest = _HEAD.unpack(head)
        key = self.keys.keys.get(kid)
        if key is None:
            return self._drop(entry.topic, "unknown_key", f"key id {kid.hex()} is not in {self.keys.source}")
        try:
            key.verify(signature, _signed_bytes(entry.topic, entry.ros_type, head))
        except InvalidSignature:
            return self._drop(entry.topic, "bad_signature", f"key {self.keys.names[kid]}")
        if self.max_age_ns:
            skew = counter - self._wall_ns()
            if abs(skew) > self.max_age_ns:
                return self._drop(
                    entry.topic, "stale",
                    f"key {self.keys.names[kid]}: signed {skew / 1e9:+.3f} s from this node's clock, "
                    f"allowed ±{self.max_age_ns / 1e9:g} s (clocks not synchronized, or a replay)",
                )  # fmt: skip
        last = self._last.get((kid, entry.topic), 0)
        if counter <= last:
            detail = f"key {self.keys.names[kid]}: counter {counter} <= {last}, the last accepted"
            return self._drop(entry.topic, "replayed", detail)
        self._last[(kid, entry.topic)] = counter
        return bytes(digest)

    def _expire(self, entry: _Topic, now: float) -> None:
        limit = now - self.pair_timeout_s
        while entry.data and entry.data[0][2] < limit:
            entry.data.popleft()
            self._drop(entry.topic, "unsigned", f"no valid token within {self.pair_timeout_s:g} s")
        while entry.tokens and entry.tokens[0][1] < limit:
            entry.tokens.popleft()
            self.unmatched_tokens += 1

    def _drop(self, topic: str, reason: str, detail: str) -> None:
        self.dropped[reason] += 1
        if (topic, reason) not in self._logged:
            self._logged.add((topic, reason))
            log.warning(
                "%s: dropped a command on %s: %s (%s); further ones are counted as command_auth.%s",
                self.node_name, topic, reason, detail, reason,
            )  # fmt: skip
        return None

    def stats(self) -> dict[str, Any]:
        """Counters for the diagnostics; messages left waiting too long are counted first."""
        with self._lock:
            now = self._mono()
            for entry in self._topics.values():
                self._expire(entry, now)
            return {
                "mode": "signed" if self.keys is not None else "open",
                "accepted": self.accepted,
                **self.dropped,
                "unmatched_tokens": self.unmatched_tokens,
            }


def guard_from_params(
    p: dict[str, Any], node_name: str, resolve: Callable[[str], Path] = Path
) -> CommandGuard:
    """The guard a node's `command_auth` parameters describe (authorized_keys "" = open); `resolve`
    turns a parameter path into a file path."""
    path = str(p.get("authorized_keys") or "")
    keys = AuthorizedKeys.from_file(resolve(path)) if path else None
    return CommandGuard(keys, node_name, float(p["max_age_s"]), float(p["pair_timeout_s"]))
