"""SIP messages in and out, over the `sipmessage` library: parsing with the checks a server
needs before it may answer, stream framing for TCP, and responses built from a request.

SIP arrives from anywhere, so every bound is explicit: a message is at most MAX_MESSAGE
bytes, folded header lines are unfolded before parsing (RFC 3261 7.3.1), and a request
without the headers a response needs (Via, From, To, Call-ID, CSeq) cannot be answered.
"""

from __future__ import annotations

import re

from sipmessage import Address, CSeq, Message, Request, Response, Via

MAX_MESSAGE = 64 * 1024
SERVER = "ipo-emu"
PHRASES = {
    100: "Trying", 180: "Ringing", 200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
    404: "Not Found", 405: "Method Not Allowed", 413: "Request Entity Too Large", 416: "Unsupported URI Scheme",
    423: "Interval Too Brief", 481: "Call/Transaction Does Not Exist", 486: "Busy Here", 487: "Request Terminated",
    488: "Not Acceptable Here", 500: "Server Internal Error", 501: "Not Implemented", 503: "Service Unavailable",
    513: "Message Too Large",
}
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER"
_FOLDED = re.compile(rb"\r\n[ \t]+")
_LENGTH = re.compile(rb"^(?:content-length|l)[ \t]*:[ \t]*(\d{1,9})[ \t]*$", re.I | re.M)


class SipParseError(ValueError):
    """Not a SIP message we can use. `answerable`: a request whose Via (and the rest a
    response copies) is usable, so a 400 can be sent back; otherwise it is dropped."""

    def __init__(self, reason: str, request: Request | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.request = request


def parse(data: bytes) -> Request | Response:
    """A whole message (a datagram, or one framed from a stream)."""
    if len(data) > MAX_MESSAGE:
        raise SipParseError(f"a message of {len(data):,} bytes (at most {MAX_MESSAGE:,})")
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        raise SipParseError("no blank line after the headers")
    head = _FOLDED.sub(b" ", head.lstrip(b"\r\n"))
    try:
        message = Message.parse(head + b"\r\n\r\n" + body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SipParseError(f"unreadable: {exc}") from None
    length = message.headers.get("Content-Length")
    if length is not None:
        if not length.isdigit() or int(length) > len(body):
            if isinstance(message, Request) and _answerable(message):
                raise SipParseError(f"Content-Length {length[:12]!r} but {len(body)} bytes of body", message)
            raise SipParseError(f"Content-Length {length[:12]!r} but {len(body)} bytes of body")
        message.body = body[:int(length)]
    if isinstance(message, Request):
        problem = _missing(message)
        if problem:
            raise SipParseError(problem, message if _answerable(message) else None)
    return message


def _answerable(request: Request) -> bool:
    try:
        return bool(request.via) and bool(request.headers.get("Call-ID")) and request.headers.get("CSeq") is not None \
            and request.headers.get("From") is not None and request.headers.get("To") is not None
    except ValueError:
        return False


def _missing(request: Request) -> str | None:
    for name in ("Via", "From", "To", "Call-ID", "CSeq"):
        if not request.headers.get(name):
            return f"no {name} header"
    try:
        vias, cseq = request.via, request.cseq
        request.from_address, request.to_address  # noqa: B018 - parsed here, so later reads cannot fail
    except ValueError as exc:
        return f"a malformed header: {exc}"
    if not vias:
        return "no Via header"
    if cseq.method != request.method:
        return f"CSeq method {cseq.method} in a {request.method}"
    if request.uri.scheme not in ("sip", "sips"):
        return f"a {request.uri.scheme}: Request-URI"
    return None


def next_frame(buffer: bytearray) -> bytes | None:
    """The next whole message of a stream (TCP), taken off the buffer; None until one is
    there. CR LF keep-alives between messages are skipped. Raises SipParseError when the
    stream cannot be framed (its connection should be closed)."""
    while buffer[:2] == b"\r\n":
        del buffer[:2]
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        if len(buffer) > MAX_MESSAGE:
            raise SipParseError(f"headers longer than {MAX_MESSAGE:,} bytes")
        return None
    match = _LENGTH.search(_FOLDED.sub(b" ", bytes(buffer[:end])))
    length = int(match.group(1)) if match else 0
    total = end + 4 + length
    if total > MAX_MESSAGE:
        raise SipParseError(f"a message of {total:,} bytes (at most {MAX_MESSAGE:,})")
    if len(buffer) < total:
        return None
    frame = bytes(buffer[:total])
    del buffer[:total]
    return frame


def top_via_with_source(request: Request, host: str, port: int) -> str:
    """The top Via as a response copies it: `received` when the sender's address differs
    from its sent-by, `rport` filled in when asked for (RFC 3261 18.2.1, RFC 3581)."""
    via = request.via[0]
    changes: dict[str, str | None] = {}
    if via.host != host:
        changes["received"] = host
    if "rport" in via.parameters:
        changes["rport"] = str(port)
    if not changes:
        return _split_vias(request.headers.getlist("Via")[0])[0].strip()
    return str(Via(via.transport, via.host, via.port, via.parameters.replace(**changes)))


def reply_address(request: Request, host: str, port: int) -> tuple[str, int]:
    """Where a response over UDP goes: the source address, to the rport if asked, else the
    sent-by port (5060 by default)."""
    via = request.via[0]
    if "rport" in via.parameters:
        return host, port
    return host, via.port or 5060


def response(request: Request, code: int, top_via: str, *, to_tag: str | None = None,
             headers: tuple[tuple[str, str], ...] = (), body: bytes = b"", content_type: str | None = None) -> bytes:
    reply = Response(code, PHRASES.get(code, "Unknown"), body)
    vias = [v.strip() for value in request.headers.getlist("Via") for v in _split_vias(value)]
    reply.headers.add("Via", top_via)
    for via in vias[1:]:
        reply.headers.add("Via", via)
    reply.headers.add("From", request.headers["From"])
    to = request.headers["To"]
    if to_tag is not None and code > 100 and request.to_address.parameters.get("tag") is None:
        to = f"{to};tag={to_tag}"
    reply.headers.add("To", to)
    reply.headers.add("Call-ID", request.headers["Call-ID"])
    reply.headers.add("CSeq", request.headers["CSeq"])
    reply.headers.add("Server", SERVER)
    for name, value in headers:
        reply.headers.add(name, value)
    if content_type is not None:
        reply.headers.add("Content-Type", content_type)
    reply.headers.add("Content-Length", str(len(body)))
    return bytes(reply)


def _split_vias(value: str) -> list[str]:
    """A Via header line may carry several, separated by commas outside quotes."""
    parts, depth, current = [], False, ""
    for char in value:
        if char == '"':
            depth = not depth
        if char == "," and not depth:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [p for p in parts if p.strip()]


def user_of(address: Address) -> str:
    return address.uri.user or ""


__all__ = ["ALLOW", "CSeq", "MAX_MESSAGE", "Request", "Response", "SipParseError", "next_frame", "parse",
           "reply_address", "response", "top_via_with_source", "user_of"]
