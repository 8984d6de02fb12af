"""fer/classroom/sdp.py: the send-bitrate cap, on real aiortc offers and answers."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription, VideoStreamTrack
from av import VideoFrame

from fer.classroom.sdp import cap_video_bitrate, video_bitrate_cap


class Still(VideoStreamTrack):
    async def recv(self):
        pts, time_base = await self.next_timestamp()
        frame = VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="bgr24")
        frame.pts, frame.time_base = pts, time_base
        return frame


async def offer_and_answer(with_data_channel: bool = True) -> tuple[RTCPeerConnection, str, RTCPeerConnection]:
    """A browser-like offerer sending video, and the server's real answer to it."""
    sender, receiver = RTCPeerConnection(), RTCPeerConnection()
    sender.addTransceiver(Still(), direction="sendonly")
    if with_data_channel:
        sender.createDataChannel("chat")
    await sender.setLocalDescription(await sender.createOffer())
    await receiver.setRemoteDescription(sender.localDescription)
    await receiver.setLocalDescription(await receiver.createAnswer())
    return sender, receiver.localDescription.sdp, receiver


def sections(sdp: str) -> dict[str, list[str]]:
    out, kind = {"session": []}, "session"
    for line in sdp.splitlines():
        if line.startswith("m="):
            kind = line[2:].split(" ", 1)[0]
            out[kind] = []
        out[kind].append(line)
    return out


@pytest.fixture
def answer():
    loop = asyncio.new_event_loop()
    sender, sdp, receiver = loop.run_until_complete(offer_and_answer())
    yield sdp, sender, loop
    loop.run_until_complete(sender.close())
    loop.run_until_complete(receiver.close())
    pending = asyncio.all_tasks(loop)
    for task in pending:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.close()


def test_the_video_section_of_a_real_answer_carries_the_cap_before_its_attributes(answer):
    sdp, _, _ = answer
    capped = sections(cap_video_bitrate(sdp, 150))
    video = capped["video"]
    at = video.index("b=AS:150")
    assert video[at + 1] == "b=TIAS:150000"
    assert all(line[:2] in ("m=", "i=", "c=") for line in video[:at])  # RFC 4566 order
    assert all(line.startswith("a=") for line in video[at + 2:] if line)
    assert video_bitrate_cap(cap_video_bitrate(sdp, 150)) == 150


def test_other_sections_and_the_line_endings_are_untouched(answer):
    sdp, _, _ = answer
    capped = cap_video_bitrate(sdp, 150)
    assert "\r\n" in sdp and capped.count("\r\n") == sdp.count("\r\n") + 2
    before, after = sections(sdp), sections(capped)
    assert after["session"] == before["session"] and after["application"] == before["application"]
    assert [line for line in after["video"] if not line.startswith("b=")] == before["video"]


def test_capping_twice_replaces_the_cap_instead_of_adding_one(answer):
    sdp, _, _ = answer
    twice = cap_video_bitrate(cap_video_bitrate(sdp, 400), 150)
    assert twice == cap_video_bitrate(sdp, 150)
    assert twice.count("b=AS:") == 1


def test_zero_means_no_cap(answer):
    sdp, _, _ = answer
    assert cap_video_bitrate(sdp, 0) == sdp
    assert video_bitrate_cap(sdp) is None


def test_the_offerer_accepts_the_capped_answer(answer):
    sdp, sender, loop = answer
    loop.run_until_complete(sender.setRemoteDescription(RTCSessionDescription(cap_video_bitrate(sdp, 150), "answer")))
    assert sender.signalingState == "stable"
