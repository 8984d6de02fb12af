"""A send-bitrate cap for the student's camera, written into the server's SDP answer.

A browser sends its camera at whatever bitrate the network allows; on a LAN that is far more
than the server needs to find a face in a 320-pixel frame. Every extra kilobit is more RTP
packets, and the server pays per packet (aiortc's receive path, its bandwidth estimator and
the VP8 decoder), not per analysed frame. The answer's video section carries ``b=AS`` (RFC
4566, kilobits a second) and ``b=TIAS`` (RFC 3890, bits a second); browsers take them as the
most they may send, so the cap costs nothing on the client and needs no change to
streamlit-webrtc's frontend.
"""

from __future__ import annotations

import re

_BANDWIDTH = re.compile(r"^b=(AS|TIAS):")


def cap_video_bitrate(sdp: str, kbps: int) -> str:
    """``sdp`` with every video section limited to ``kbps``; other sections are untouched.

    The lines go where RFC 4566 puts them (after ``c=`` and ``i=``, before any attribute) and
    replace any bandwidth line already there, so capping twice gives the same answer.
    ``kbps`` of 0 returns ``sdp`` unchanged (no cap).
    """
    if kbps <= 0:
        return sdp
    newline = "\r\n" if "\r\n" in sdp else "\n"
    lines = sdp.split(newline)
    out: list[str] = []
    section: str | None = None  # the media kind of the section being copied; None in the session part
    inserted = False
    for line in lines:
        if line.startswith("m="):
            section, inserted = line[2:].split(" ", 1)[0], False
            out.append(line)
            continue
        if section == "video":
            if _BANDWIDTH.match(line):
                continue
            if not inserted and not line.startswith(("i=", "c=")):
                out += [f"b=AS:{kbps}", f"b=TIAS:{kbps * 1000}"]
                inserted = True
        out.append(line)
    return newline.join(out)


def video_bitrate_cap(sdp: str) -> int | None:
    """The ``b=AS`` of the first video section, in kilobits a second, or None (no cap)."""
    section = None
    for line in sdp.splitlines():
        if line.startswith("m="):
            section = line[2:].split(" ", 1)[0]
        elif section == "video" and line.startswith("b=AS:"):
            return int(line[5:])
    return None
