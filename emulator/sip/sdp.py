"""The codecs of an SDP offer, and the answer to it: only what call admission needs.

An offer's audio m-line lists payload types; static ones (RFC 3551) name their codec, and
a=rtpmap lines name the dynamic ones. They map to the codecs the rules know: G.711 (PCMU 0,
PCMA 8), G.723.1 (4), G.729(A) (18). G.722 (9) and anything else is carried but not one of
ours. Sans-IO and small on purpose: SIP bodies are hostile input, so every line is bounded
and nothing here can raise on text.
"""

from __future__ import annotations

from dataclasses import dataclass

STATIC = {0: ("PCMU", "g711"), 8: ("PCMA", "g711"), 4: ("G723", "g723"), 18: ("G729", "g729a"), 9: ("G722", None)}
BY_NAME = {"PCMU": "g711", "PCMA": "g711", "G723": "g723", "G729": "g729a", "G729A": "g729a"}
ANSWER_PAYLOAD = {"g711": (0, "PCMU"), "g723": (4, "G723"), "g729a": (18, "G729")}
MAX_SDP_BYTES = 16 * 1024


@dataclass(frozen=True)
class Offer:
    codecs: tuple[str, ...]
    """Our codecs the offer allows, in its order of preference (no repeats)."""
    payloads: tuple[int, ...]
    """Every payload type of its audio line."""
    address: str
    port: int


class SdpError(ValueError):
    """Not an SDP offer with an audio stream."""


def parse_offer(body: bytes) -> Offer:
    if len(body) > MAX_SDP_BYTES:
        raise SdpError(f"an SDP body of {len(body):,} bytes (at most {MAX_SDP_BYTES:,})")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise SdpError("SDP that is not UTF-8 text") from None
    address, port, payloads, names = "", -1, (), {}
    in_audio = False
    for raw in text.replace("\r\n", "\n").split("\n"):
        line = raw.strip()
        if line.startswith("c=") and (not address or in_audio):
            parts = line[2:].split()
            if len(parts) == 3:
                address = parts[2].split("/")[0]
        elif line.startswith("m="):
            parts = line[2:].split()
            in_audio = bool(parts) and parts[0] == "audio" and port < 0
            if in_audio:
                if len(parts) < 4 or not parts[1].split("/")[0].isdigit():
                    raise SdpError("an audio m-line without port and payload types")
                port = int(parts[1].split("/")[0])
                payloads = tuple(int(p) for p in parts[3:] if p.isdigit() and int(p) < 128)
        elif line.startswith("a=rtpmap:") and in_audio:
            pt, _, rest = line[9:].partition(" ")
            if pt.isdigit():
                names[int(pt)] = rest.split("/")[0].upper()
    if port < 0:
        raise SdpError("no audio m-line")
    codecs: list[str] = []
    for pt in payloads:
        codec = BY_NAME.get(names[pt]) if pt in names else (STATIC.get(pt) or (None, None))[1]
        if codec is not None and codec not in codecs:
            codecs.append(codec)
    return Offer(tuple(codecs), payloads, address, port)


def answer(codec: str, address: str, port: int, session_id: int) -> bytes:
    """An SDP answer (or offer, for an INVITE without one) with one audio codec."""
    payload, name = ANSWER_PAYLOAD[codec]
    return (f"v=0\r\no=ipo-emu {session_id} {session_id} IN IP4 {address}\r\ns=ipo-emu\r\n"
            f"c=IN IP4 {address}\r\nt=0 0\r\nm=audio {port} RTP/AVP {payload}\r\n"
            f"a=rtpmap:{payload} {name}/8000\r\na=sendrecv\r\n").encode()
