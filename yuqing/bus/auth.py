"""Who may use the action bus: bearer tokens from a file, each with its scope, and TLS.

Every call carries `authorization: Bearer <token>` metadata. The token file
holds only the SHA-256 of each token (tokens are 256-bit random strings made
by `yuqing bus token`, so a fast unsalted hash is as safe as a slow salted one
and lets the server find the runner in one look-up) and the runner's scope:

    runners:
      itops-bot-1:
        token_sha256: 3f0a…            # printed by `yuqing bus token`
        departments: [tech, pr]        # absent or empty: every department
        brands: [星汇支付]               # the tenant's brands; absent: every brand
        categories: [outage]           # absent or empty: every category

A missing or unknown token is UNAUTHENTICATED; a subscription asking for a
department, brand or category outside the scope is PERMISSION_DENIED.
Brands outside the scope never reach the runner, in deliveries or incidents.
The file is read again when it changes. Without a token file the bus is
open (the embedded default, loopback only).
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import secrets
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc

from yuqing.core.yaml_text import YAMLError, load_yaml
from yuqing.errors import UserError
from yuqing.playbooks.schema import CATEGORIES, DEPARTMENTS

BEARER = "bearer "


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated runner and what it may see; an empty set means no limit."""

    runner_id: str
    departments: frozenset[str] = frozenset()
    brands: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()

    def sees_brand(self, brand: str) -> bool:
        return not self.brands or brand in self.brands

    def outside(self, departments: Iterable[str], brands: Iterable[str],
                categories: Iterable[str]) -> list[str]:
        """The requested values outside the scope, as `kind value` strings (empty when all in scope)."""
        out = []
        for kind, asked, allowed in (("department", departments, self.departments),
                                     ("brand", brands, self.brands),
                                     ("category", categories, self.categories)):
            out.extend(f"{kind} {v}" for v in asked if allowed and v not in allowed)
        return out


OPEN = Principal("")


class AuthError(Exception):
    """A refused call: the gRPC status code and a message safe to show the caller."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code


def hash_token(token: str) -> str:
    """The hex SHA-256 of a token, as the token file stores it.

    >>> hash_token("s3cret")[:16]
    '1ec1c26b50d5d3c5'
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """A fresh random token: 32 bytes, URL-safe base64."""
    return secrets.token_urlsafe(32)


def bearer_metadata(token: str) -> tuple[tuple[str, str], ...]:
    """The call metadata a client sends."""
    return (("authorization", f"Bearer {token}"),)


class TokenFile:
    """The runners of a token file; re-read when the file changes (checked every `recheck` s).

    It fails closed: `runners: {}` revokes every token, and while the file is
    missing, unreadable or invalid every call is refused (UNAVAILABLE).
    """

    def __init__(self, path: str | Path, *, recheck: float = 2.0) -> None:
        self.path = Path(path)
        self.recheck = recheck
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._checked = 0.0
        self._by_hash: dict[str, Principal] = {}
        self._broken = ""  # why the file could not be read at the last check ("" when fine)
        self._reload()

    def authenticate(self, metadata: Sequence[tuple[str, str | bytes]] | None) -> Principal:
        token = ""
        for key, value in metadata or ():
            if (key.lower() == "authorization" and isinstance(value, str)
                    and value[: len(BEARER)].lower() == BEARER):
                token = value[len(BEARER):].strip()
        if not token:
            raise AuthError(grpc.StatusCode.UNAUTHENTICATED,
                            "missing bearer token: send metadata `authorization: Bearer <token>`")
        self._maybe_reload()
        if self._broken:
            raise AuthError(grpc.StatusCode.UNAVAILABLE,
                            f"the token file cannot be read ({self._broken}); every call is refused "
                            "until it can")
        digest = hash_token(token)
        principal = self._by_hash.get(digest)
        if principal is None:
            raise AuthError(grpc.StatusCode.UNAUTHENTICATED, "invalid bearer token")
        return principal

    def _maybe_reload(self) -> None:
        now = time.monotonic()
        if now - self._checked < self.recheck:
            return
        with self._lock:
            self._checked = now
            try:
                stat = self.path.stat()
            except OSError as err:  # deleted: whatever it granted is revoked
                self._by_hash, self._stamp, self._broken = {}, None, err.strerror or "missing"
                return
            if (stat.st_mtime_ns, stat.st_size) != self._stamp or self._broken:
                try:
                    self._reload(allow_empty=True)
                    self._broken = ""
                except UserError as err:  # unreadable or invalid: fail closed, not open
                    self._by_hash, self._stamp, self._broken = {}, None, str(err)

    def _reload(self, allow_empty: bool = False) -> None:
        try:
            stat = self.path.stat()
            data = load_yaml(self.path.read_text(encoding="utf-8")) or {}
        except (OSError, UnicodeDecodeError, YAMLError) as err:
            raise UserError(f"token file {self.path}: cannot read it ({err}); "
                            "see docs/action_bus.md for the format") from None
        if allow_empty and isinstance(data, dict) and data.get("runners") in ({}, None):
            self._by_hash = {}  # `runners: {}` revokes every token
        else:
            self._by_hash = parse_tokens(data, str(self.path))
        self._stamp = (stat.st_mtime_ns, stat.st_size)


def parse_tokens(data: object, name: str = "token file") -> dict[str, Principal]:
    """Runner principals by token hash; UserError naming the runner and field when invalid."""
    runners = data.get("runners") if isinstance(data, dict) else None
    if not isinstance(runners, dict) or not runners:
        raise UserError(f"{name}: expected `runners:` with one entry per runner id")
    out: dict[str, Principal] = {}
    for runner_id, entry in runners.items():
        where = f"{name}: runners.{runner_id}"
        if not isinstance(entry, dict):
            raise UserError(f"{where}: expected a mapping with token_sha256 (and scope lists)")
        digest = str(entry.get("token_sha256") or "").strip().lower()
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise UserError(f"{where}.token_sha256: expected 64 hex digits; "
                            "run `yuqing bus token` and paste the line it prints")
        if digest in out:
            raise UserError(f"{where}.token_sha256: same token as runner {out[digest].runner_id}; "
                            "give each runner its own token")
        scope = {}
        for field, vocabulary in (("departments", DEPARTMENTS), ("brands", None),
                                  ("categories", CATEGORIES)):
            values = entry.get(field) or []
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise UserError(f"{where}.{field}: expected a list of names")
            unknown = [v for v in values if vocabulary is not None and v not in vocabulary]
            if unknown:
                raise UserError(f"{where}.{field}: unknown {unknown[0]!r}; use {', '.join(vocabulary)}")
            scope[field] = frozenset(values)
        out[digest] = Principal(str(runner_id), **scope)
    return out


class OpenAccess:
    """No token file: every caller is the unlimited principal (embedded default on loopback)."""

    def authenticate(self, metadata: object) -> Principal:
        return OPEN


@dataclass(frozen=True)
class ServerTLS:
    """Server certificate and key (PEM files); with `client_ca`, clients must show a certificate."""

    cert: str | Path
    key: str | Path
    client_ca: str | Path | None = None

    def credentials(self) -> grpc.ServerCredentials:
        ca = _read(self.client_ca) if self.client_ca else None
        return grpc.ssl_server_credentials([(_read(self.key), _read(self.cert))],
                                           root_certificates=ca, require_client_auth=ca is not None)


@dataclass(frozen=True)
class ClientTLS:
    """CA to trust (default: the system's), and a client certificate and key for mTLS."""

    ca: str | Path | None = None
    cert: str | Path | None = None
    key: str | Path | None = None
    server_name: str = ""

    def credentials(self) -> grpc.ChannelCredentials:
        if bool(self.cert) != bool(self.key):
            raise UserError("give both --tls-cert and --tls-key for a client certificate, or neither")
        return grpc.ssl_channel_credentials(
            root_certificates=_read(self.ca) if self.ca else None,
            private_key=_read(self.key) if self.key else None,
            certificate_chain=_read(self.cert) if self.cert else None)


def _read(path: str | Path | None) -> bytes:
    try:
        return Path(os.fspath(path or "")).read_bytes()
    except OSError as err:
        raise UserError(f"cannot read {path} ({err.strerror}); give the path of a PEM file") from None


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses: a bus there needs no tokens to be safe."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def exposure_problem(host: str, tokens: bool, tls: bool, *, allow_open: bool = False,
                     allow_plaintext: bool = False) -> str | None:
    """Why serving the bus on ``host`` this way is unsafe, or None.

    Off loopback a bus needs tokens (else anyone reads activations), and tokens
    need TLS (else bearer tokens cross the network in the clear); each can be
    waived by an explicit opt-out.

    >>> exposure_problem("127.0.0.1", tokens=False, tls=False) is None
    True
    >>> exposure_problem("0.0.0.0", tokens=True, tls=False)[:40]
    'bearer tokens would cross the network in'
    """
    if is_loopback(host):
        return None
    if not tokens and not allow_open:
        return "without tokens anyone on the network can read activations"
    if tokens and not tls and not allow_plaintext:
        return "bearer tokens would cross the network in the clear without TLS"
    return None
