"""A real coturn for the tests, and the smallest TURN client that asks it for a relay.

The credentials the app issues are only right if a real TURN server accepts them, so the
tests ask coturn (Debian's ``coturn`` package, ``turnserver``) for an allocation the way a
browser does (RFC 5766 Allocate over UDP with the long-term credential mechanism of RFC 5389):
a first request without credentials draws ``401`` with the realm and a nonce, the second one
carries USERNAME, REALM, NONCE and MESSAGE-INTEGRITY keyed by MD5(username:realm:password).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import shutil
import socket
import struct
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from waiting import end_process

TURNSERVER = shutil.which("turnserver")

_MAGIC = 0x2112A442
_ALLOCATE, _REFRESH, _CREATE_PERMISSION = 0x0003, 0x0004, 0x0008
_XOR_PEER_ADDRESS = 0x0012
_USERNAME, _MESSAGE_INTEGRITY, _ERROR_CODE, _LIFETIME = 0x0006, 0x0008, 0x0009, 0x000D
_REALM, _NONCE, _XOR_RELAYED_ADDRESS, _REQUESTED_TRANSPORT = 0x0014, 0x0015, 0x0016, 0x0019


@dataclass(frozen=True)
class AllocateResult:
    """``code`` 200 with the relayed address, or the TURN server's error code and reason;
    ``permission``: the answer to a CreatePermission for the peer asked about (200 or an error
    code such as 403), ``None`` when none was asked."""

    code: int
    reason: str
    relayed: tuple[str, int] | None = None
    permission: int | None = None

    @property
    def allocated(self) -> bool:
        return self.code == 200


def _attr(kind: int, value: bytes) -> bytes:
    return struct.pack("!HH", kind, len(value)) + value + b"\0" * (-len(value) % 4)


def _message(kind: int, txid: bytes, attrs: bytes, key: bytes | None = None) -> bytes:
    if key is None:
        return struct.pack("!HHI", kind, len(attrs), _MAGIC) + txid + attrs
    # MESSAGE-INTEGRITY covers the header with a length that already counts it (24 bytes).
    header = struct.pack("!HHI", kind, len(attrs) + 24, _MAGIC) + txid
    mac = hmac.new(key, header + attrs, hashlib.sha1).digest()
    return header + attrs + _attr(_MESSAGE_INTEGRITY, mac)


def _parse(data: bytes) -> tuple[int, dict[int, bytes]]:
    kind, length, _ = struct.unpack("!HHI", data[:8])
    attrs, pos = {}, 20
    while pos + 4 <= 20 + length:
        akind, alen = struct.unpack("!HH", data[pos:pos + 4])
        attrs.setdefault(akind, data[pos + 4:pos + 4 + alen])
        pos += 4 + alen + (-alen % 4)
    return kind, attrs


def _error(attrs: dict[int, bytes]) -> tuple[int, str]:
    value = attrs.get(_ERROR_CODE, b"\0\0\0\0")
    return value[2] * 100 + value[3], value[4:].decode(errors="replace")


def _xor_address(value: bytes) -> tuple[str, int]:
    port = struct.unpack("!H", value[2:4])[0] ^ (_MAGIC >> 16)
    address = struct.unpack("!I", value[4:8])[0] ^ _MAGIC
    return socket.inet_ntoa(struct.pack("!I", address)), port


def _xor_peer(ip: str) -> bytes:
    address = struct.unpack("!I", socket.inet_aton(ip))[0] ^ _MAGIC
    return _attr(_XOR_PEER_ADDRESS, struct.pack("!BBHI", 0, 1, 9 ^ (_MAGIC >> 16), address))


def allocate(host: str, port: int, username: str, password: str, timeout: float = 5.0,
             peer: str | None = None) -> AllocateResult:
    """Ask the TURN server at ``host:port`` (UDP) for a relay, and with ``peer`` (an IPv4
    address) for permission to relay to it; release the relay again if granted."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)

        def ask(kind: int, attrs: bytes, key: bytes | None = None) -> tuple[int, dict[int, bytes]]:
            txid = os.urandom(12)
            sock.sendto(_message(kind, txid, attrs, key), (host, port))
            deadline = time.monotonic() + timeout
            while True:
                sock.settimeout(max(0.05, deadline - time.monotonic()))
                data = sock.recv(4096)  # socket.timeout past the deadline: the server is silent
                if data[8:20] == txid:
                    return _parse(data)

        transport = _attr(_REQUESTED_TRANSPORT, bytes([17, 0, 0, 0]))  # UDP relay
        kind, attrs = ask(_ALLOCATE, transport)
        if kind != 0x0113 or _error(attrs)[0] != 401:
            return AllocateResult(*_error(attrs)) if kind == 0x0113 else AllocateResult(200, "allocated without login")
        realm, nonce = attrs[_REALM], attrs[_NONCE]
        key = hashlib.md5(username.encode() + b":" + realm + b":" + password.encode()).digest()
        login = _attr(_USERNAME, username.encode()) + _attr(_REALM, realm) + _attr(_NONCE, nonce)
        kind, attrs = ask(_ALLOCATE, transport + login, key)
        if kind != 0x0103:
            return AllocateResult(*_error(attrs))
        relayed = _xor_address(attrs[_XOR_RELAYED_ADDRESS])
        permission = None
        if peer is not None:
            kind, attrs = ask(_CREATE_PERMISSION, _xor_peer(peer) + login, key)
            permission = 200 if kind == 0x0108 else _error(attrs)[0]
        ask(_REFRESH, _attr(_LIFETIME, struct.pack("!I", 0)) + login, key)  # lifetime 0: release it
        return AllocateResult(200, "allocated", relayed, permission)


class CoturnServer:
    """One ``turnserver`` with the TURN REST scheme (``use-auth-secret``) on a free UDP port."""

    def __init__(self, directory: Path, secret: str, realm: str = "classmood.test"):
        import pytest

        if TURNSERVER is None:
            pytest.skip("turnserver is not installed (apt-get install coturn); the credentials need a real TURN server")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.secret, self.realm = secret, realm
        self.port = _free_udp_port()
        self.process: subprocess.Popen | None = None

    def start(self) -> "CoturnServer":
        # The secret in a file, not on the command line, as the deployment does (deploy/coturn).
        conf = self.directory / "turnserver.conf"
        conf.write_text(
            f"listening-ip=127.0.0.1\nlistening-port={self.port}\nrealm={self.realm}\nuse-auth-secret\n"
            f"static-auth-secret={self.secret}\nfingerprint\nno-cli\nno-tls\nno-dtls\nno-tcp\n"
            "min-port=49152\nmax-port=65535\nsimple-log\n"
            f"log-file={self.directory / 'turn.log'}\npidfile={self.directory / 'turn.pid'}\n"
        )
        self.process = subprocess.Popen([TURNSERVER, "-c", str(conf)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"turnserver exited with {self.process.returncode}: see {self.directory}")
            try:
                allocate("127.0.0.1", self.port, "0:probe", "x", timeout=0.5)
                return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"turnserver did not answer on UDP port {self.port} within 20 s")

    def stop(self) -> None:
        end_process(self.process, 10)
        self.process = None

    def __enter__(self) -> "CoturnServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
