"""Hostile files made on the spot for the upload tests (nothing stored in the repository)."""

from __future__ import annotations

import struct
import zlib


def png_bomb(width: int, height: int, bits: int = 8, colour: int = 0) -> bytes:
    """A complete, valid PNG of zeros: small on disk, ``width * height`` pixels once decoded."""
    channels = {0: 1, 2: 3, 6: 4}[colour]
    row = b"\0" + bytes(width * channels * bits // 8)
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, bits, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
