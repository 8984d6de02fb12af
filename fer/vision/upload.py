"""What a file is, told by its bytes, and whether it is small enough to decode.

Uploads come from anybody, and a name says nothing: ``clip.mp4`` may be an FFmpeg concat
script that makes the demuxer open other files on the server, and a PNG of a few hundred KB
may declare 20000x20000 pixels and take gigabytes once decoded. So before any decoder runs:

- :func:`identify` types the file by its first bytes against an allow-list (JPEG, PNG, WebP,
  BMP, GIF, TIFF; MP4/MOV, WebM/Matroska, AVI) and names what anything else looks like;
- :func:`image_header` reads an image's size, channels and bit depth from its header, so
  :func:`check_image` refuses an image whose decoded pixels would exceed the limit without
  allocating them;
- :func:`open_video` opens a video with the demuxer its bytes named (never FFmpeg's guess),
  with that demuxer as the only one allowed and no protocol at all, so no playlist, concat
  script or reference atom can make FFmpeg open another file or a URL, and with the decoder's
  own pixel limit set, so a frame larger than the header said is refused too.

The limits are passed in (:class:`UploadLimits`); the app builds them from its settings.
Every refusal is an :class:`~fer.errors.InputError` naming the file and the reason.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import BinaryIO

from fer.errors import InputError

#: How many leading bytes :func:`identify` needs.
SNIFF_BYTES = 64


@dataclass(frozen=True)
class MediaType:
    """An allowed file type: its name, ``"image"`` or ``"video"``, and its FFmpeg demuxer."""

    label: str
    kind: str
    demuxer: str | None = None


@dataclass(frozen=True)
class ImageHeader:
    """Size and sample layout of an image, read from its header without decoding it."""

    width: int
    height: int
    channels: int
    bits: int  # per sample

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def decoded_bytes(self) -> int:
        """Bytes of the decoded image at the file's own depth (what a decoder may buffer)."""
        return self.pixels * self.channels * max(1, (self.bits + 7) // 8)


@dataclass(frozen=True)
class UploadLimits:
    """Bounds on one file: before decoding (bytes, pixels) and while decoding (frames, time)."""

    max_bytes: int = 50 * 1024 * 1024
    #: Images: at most this many pixels, and at most 3 bytes per allowed pixel decoded, so a
    #: 16-bit or alpha image is allowed fewer pixels than an 8-bit colour one.
    max_image_pixels: int = 50_000_000
    #: Videos: pixels per frame, decoded frames, seconds of video, and seconds of analysis.
    max_video_pixels: int = 3840 * 2160
    max_video_frames: int = 3600
    max_video_s: float | None = 60.0
    max_analysis_s: float | None = 180.0

    @property
    def max_image_bytes(self) -> int:
        return self.max_image_pixels * 3


IMAGE_TYPES = ("JPEG", "PNG", "WebP", "BMP", "GIF", "TIFF")
VIDEO_TYPES = ("MP4/MOV", "WebM/Matroska", "AVI")
ALLOWED = ", ".join(IMAGE_TYPES) + " images; " + ", ".join(VIDEO_TYPES) + " videos"

_MOV_ATOMS = {b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}
#: ISO base media brands that are still pictures (HEIF, AVIF): the mov demuxer would take them.
_STILL_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis"}


def identify(head: bytes, name: str) -> MediaType:
    """The allowed type ``head`` (the file's first :data:`SNIFF_BYTES`) starts like, or refuse."""
    if not head:
        raise InputError(f"{name}: file is empty (0 bytes)")
    if head.startswith(b"\xff\xd8\xff"):
        return MediaType("JPEG", "image")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return MediaType("PNG", "image")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return MediaType("WebP", "image")
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return MediaType("AVI", "video", "avi")
    if head[:2] == b"BM" and (len(head) < 10 or head[6:10] == bytes(4)):  # reserved fields are zero
        return MediaType("BMP", "image")
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return MediaType("GIF", "image")
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return MediaType("TIFF", "image")
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return MediaType("WebM/Matroska", "video", "matroska")
    if head[4:8] in _MOV_ATOMS:
        if head[4:8] == b"ftyp" and head[8:12] in _STILL_BRANDS:
            raise InputError(f"{name}: is a HEIF/AVIF picture, which is not supported; "
                             f"save it as JPEG or PNG (allowed: {ALLOWED})")
        return MediaType("MP4/MOV", "video", "mov")
    raise InputError(f"{name}: neither an image nor a video that can be analyzed: it {_looks_like(head)} "
                     f"(allowed: {ALLOWED})")


def _looks_like(head: bytes) -> str:
    """What a refused file seems to be, for the message (never its content)."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"ffconcat"):
        return "is an FFmpeg concat script"
    if text.startswith(b"#EXTM3U"):
        return "is an HLS playlist"
    if text.startswith((b"<?xml", b"<MPD", b"<smil", b"<SMIL")):
        return "is an XML document (a playlist or manifest)"
    if text[:1] in (b"[", b"{") or text.lower().startswith((b"<!doctype", b"<html")):
        return "is a text document"
    if all(32 <= b < 127 or b in (9, 10, 13) for b in head):
        return "is a text file"
    return "has an unknown or unsupported format"


def image_header(data: bytes, media: MediaType, name: str) -> ImageHeader:
    """Width, height, channels and bit depth from the header of an image of type ``media``."""
    try:
        header = _READERS[media.label](data)
    except (struct.error, IndexError):
        header = None
    if header is None:
        raise InputError(f"{name}: the {media.label} header is truncated or corrupt")
    if header.width <= 0 or header.height <= 0:
        raise InputError(f"{name}: the {media.label} header declares {header.width}x{header.height} pixels")
    return header


def check_image(data: bytes, media: MediaType, name: str, limits: UploadLimits) -> ImageHeader:
    """The image's header, or refuse an image too large to decode (before decoding it)."""
    header = image_header(data, media, name)
    if header.pixels > limits.max_image_pixels:
        raise InputError(
            f"{name}: the image is {header.width}x{header.height} pixels ({header.pixels / 1e6:.0f} megapixels), "
            f"more than the {limits.max_image_pixels / 1e6:g} megapixels allowed; make it smaller"
        )
    if header.decoded_bytes > limits.max_image_bytes:
        raise InputError(
            f"{name}: the image is {header.width}x{header.height} pixels of {header.channels} channels at "
            f"{header.bits} bits, {header.decoded_bytes / 1e6:.0f} MB once decoded, more than the "
            f"{limits.max_image_bytes / 1e6:.0f} MB allowed; make it smaller or save it as 8-bit colour"
        )
    return header


def check_size(size: int, name: str, limits: UploadLimits) -> None:
    """Refuse a file larger than ``limits.max_bytes``."""
    if size > limits.max_bytes:
        raise InputError(f"{name}: {size / 1e6:.1f} MB is more than the {limits.max_bytes / 1024 / 1024:g} MB allowed")


def open_video(source: BinaryIO, name: str, media: MediaType, max_pixels: int):
    """An ``av`` input container of ``source`` read only by ``media``'s demuxer, or refuse.

    ``source`` is a file object (never a path: a path string could name an FFmpeg protocol).
    ``protocol_whitelist`` "none" stops every nested open (playlists, concat, references),
    ``format_whitelist`` keeps any nested demuxer to the same one, ``enable_drefs`` off keeps the
    mov demuxer from following data references, and ``max_pixels`` bounds the probing decoders.
    """
    import av

    if media.kind != "video" or not media.demuxer:
        raise InputError(f"{name}: is a {media.label} image, not a video")
    container_options = {"protocol_whitelist": "none", "format_whitelist": media.demuxer}
    if media.demuxer == "mov":
        container_options.update({"enable_drefs": "0", "use_absolute_path": "0"})
    try:
        container = av.open(source, format=media.demuxer, container_options=container_options,
                            options={"max_pixels": str(max_pixels)})
    except (av.FFmpegError, UnicodeDecodeError, ValueError, OSError) as exc:
        raise InputError(f"{name}: cannot be read as {media.label} video, it is truncated or corrupt ({_reason(exc)})") from None
    try:
        if not container.streams.video:
            raise InputError(f"{name}: has no video stream")
        context = container.streams.video[0].codec_context
        if context.width * context.height > max_pixels:
            raise InputError(
                f"{name}: the video is {context.width}x{context.height} pixels per frame, more than the "
                f"{max_pixels / 1e6:.3g} megapixels allowed (3840x2160 is 8.3)"
            )
        # The decoder refuses frames above the limit too (a stream may change size midway).
        context.options = {**(context.options or {}), "max_pixels": str(max_pixels)}
    except InputError:
        container.close()
        raise
    return container


def _reason(exc: Exception) -> str:
    """FFmpeg's message without the '<none>' file name PyAV adds for file objects."""
    text = getattr(exc, "strerror", None) or str(exc)
    return str(text).split(": '<none>'")[0].strip() or type(exc).__name__


# ---- image headers: each returns None when the bytes end before the field it needs


def _png(data: bytes) -> ImageHeader | None:
    if len(data) < 26 or data[12:16] != b"IHDR":
        return None
    width, height, bits, colour = struct.unpack(">IIBB", data[16:26])
    channels = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}.get(colour)
    return None if channels is None else ImageHeader(width, height, channels, bits)


_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg(data: bytes) -> ImageHeader | None:
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # no length field
            at += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image, or scan data before any frame header
            return None
        (length,) = struct.unpack(">H", data[at + 2:at + 4])
        if marker in _SOF:
            if at + 10 > len(data):
                return None
            bits, height, width, channels = struct.unpack(">BHHB", data[at + 4:at + 10])
            return ImageHeader(width, height, channels, bits)
        at += 2 + length
    return None


def _webp(data: bytes) -> ImageHeader | None:
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return ImageHeader(width & 0x3FFF, height & 0x3FFF, 3, 8)
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        (bits,) = struct.unpack("<I", data[21:25])
        return ImageHeader((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, 4 if bits >> 28 & 1 else 3, 8)
    if chunk == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return ImageHeader(width, height, 4 if data[20] & 0x10 else 3, 8)
    return None


def _bmp(data: bytes) -> ImageHeader | None:
    (size,) = struct.unpack("<I", data[14:18])
    if size == 12:
        width, height, _planes, bits = struct.unpack("<HHHH", data[18:26])
    elif len(data) >= 30:
        width, height, _planes, bits = struct.unpack("<iiHH", data[18:30])
    else:
        return None
    return ImageHeader(abs(width), abs(height), 4 if bits == 32 else 3, 8)


def _gif(data: bytes) -> ImageHeader | None:
    """The larger of the logical screen and the first frame (a decoder may allocate either)."""
    width, height, flags = struct.unpack("<HHB", data[6:11])
    at = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    while at < len(data):
        block = data[at]
        if block == 0x2C:  # image descriptor
            frame_w, frame_h = struct.unpack("<HH", data[at + 5:at + 9])
            return ImageHeader(max(width, frame_w), max(height, frame_h), 4, 8)
        if block == 0x21:  # extension: label, then sub-blocks up to a zero length
            at += 2
            while data[at] != 0:
                at += data[at] + 1
            at += 1
            continue
        return None
    return None


def _tiff(data: bytes) -> ImageHeader | None:
    """The first directory's size, samples and bits (the page a decoder reads)."""
    order = "<" if data[:2] == b"II" else ">"
    (offset,) = struct.unpack(order + "I", data[4:8])
    (count,) = struct.unpack(order + "H", data[offset:offset + 2])
    tags: dict[int, int] = {}
    for i in range(count):
        entry = data[offset + 2 + 12 * i:offset + 14 + 12 * i]
        tag, kind, n = struct.unpack(order + "HHI", entry[:8])
        if kind == 3:  # SHORT: the first value sits in the first two bytes of the field
            (value,) = struct.unpack(order + "H", entry[8:10])
        elif kind == 4:  # LONG
            (value,) = struct.unpack(order + "I", entry[8:12])
        else:
            continue
        if tag == 258 and n > (2 if kind == 3 else 1):  # several BitsPerSample stored elsewhere
            size = 2 if kind == 3 else 4
            (value,) = struct.unpack(order + ("H" if kind == 3 else "I"), data[value:value + size])
        tags[tag] = value
    if 256 not in tags or 257 not in tags:
        return None
    return ImageHeader(tags[256], tags[257], max(tags.get(277, 1), 1), tags.get(258, 1))


_READERS = {"PNG": _png, "JPEG": _jpeg, "WebP": _webp, "BMP": _bmp, "GIF": _gif, "TIFF": _tiff}
