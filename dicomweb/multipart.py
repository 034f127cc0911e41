"""A small streaming parser for ``multipart/related`` bodies (RFC 2387), as STOW-RS sends them.

Django parses ``multipart/form-data`` only. This reads the body in chunks and
yields one part at a time, so a request of many instances holds one instance
(plus a chunk) in memory, never the whole body. Django-free.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesHeaderParser

CHUNK_BYTES = 1024 * 1024
MAX_HEADER_BYTES = 16 * 1024
MAX_PREAMBLE_BYTES = 64 * 1024


class MultipartError(ValueError):
    """The body is not a well-formed multipart body; the message says where."""


@dataclass
class Part:
    headers: Message
    data: bytes

    def content_type(self, default: str) -> str:
        """The part's media type in lower case, without parameters; ``default`` when it names none."""
        if "content-type" not in self.headers:
            return default
        return self.headers.get_content_type()


def content_type_params(header: str) -> tuple[str, dict[str, str]]:
    """``multipart/related; type="application/dicom"; boundary=x`` → (media type, {param: value})."""
    message = Message()
    message["content-type"] = header
    params = {}
    for key, value in message.get_params(failobj=[])[1:]:
        params[key.lower()] = str(value)
    return message.get_content_type(), params


class _Reader:
    """A buffer over ``read(n)`` that can read up to a separator."""

    def __init__(self, read: Callable[[int], bytes], chunk_bytes: int) -> None:
        self._read = read
        self._chunk = chunk_bytes
        self._buf = bytearray()
        self._eof = False

    def _fill(self) -> bool:
        if self._eof:
            return False
        data = self._read(self._chunk)
        if not data:
            self._eof = True
            return False
        self._buf += data
        return True

    def peek(self, n: int) -> bytes:
        while len(self._buf) < n and self._fill():
            pass
        return bytes(self._buf[:n])

    def skip(self, n: int) -> None:
        del self._buf[:n]

    def read_until(self, sep: bytes, *, limit: int | None, what: str) -> bytes:
        """The bytes before ``sep`` (consumed with it); MultipartError past ``limit`` or at the end."""
        start = 0
        while True:
            index = self._buf.find(sep, start)
            if index >= 0:
                # Checked here too: a separator found in the same chunk as the bytes before it
                # would otherwise let those bytes run past the limit.
                if limit is not None and index > limit:
                    raise MultipartError(f"{what} is longer than {limit} bytes")
                out = bytes(self._buf[:index])
                del self._buf[: index + len(sep)]
                return out
            if limit is not None and len(self._buf) > limit + len(sep):
                raise MultipartError(f"{what} is longer than {limit} bytes")
            start = max(0, len(self._buf) - len(sep) + 1)
            if not self._fill():
                raise MultipartError(f"the body ends inside {what}")


# RFC 2046 says at most 70, but real senders write longer ones (Orthanc's DICOMweb plugin: 73,
# two UUIDs): accept them, with a bound that still stops a boundary used as a memory sink.
MAX_BOUNDARY_CHARS = 200


def iter_parts(
    read: Callable[[int], bytes],
    boundary: str,
    *,
    max_parts: int,
    max_part_bytes: int | None = None,
    chunk_bytes: int = CHUNK_BYTES,
) -> Iterator[Part]:
    """The parts of a multipart body read through ``read(n)``; raises MultipartError where it breaks."""
    if not boundary or len(boundary) > MAX_BOUNDARY_CHARS:
        raise MultipartError(
            f"the Content-Type has no valid boundary parameter (1 to {MAX_BOUNDARY_CHARS} characters)"
        )
    delimiter = b"--" + boundary.encode("latin-1")
    reader = _Reader(read, chunk_bytes)
    reader.read_until(delimiter, limit=MAX_PREAMBLE_BYTES, what="the preamble (no boundary found)")
    count = 0
    while True:
        if reader.peek(2) == b"--":
            return  # the close delimiter; the epilogue is ignored
        rest = reader.read_until(b"\r\n", limit=1024, what="a boundary line")
        if rest.strip(b" \t"):
            raise MultipartError("a boundary line is followed by other text")
        count += 1
        if count > max_parts:
            raise MultipartError(f"more than {max_parts} parts")
        if reader.peek(2) == b"\r\n":  # a part with no header fields
            reader.skip(2)
            raw_headers = b""
        else:
            raw_headers = reader.read_until(
                b"\r\n\r\n", limit=MAX_HEADER_BYTES, what=f"part {count}'s headers"
            )
        headers = BytesHeaderParser().parsebytes(raw_headers + b"\r\n\r\n")
        data = reader.read_until(b"\r\n" + delimiter, limit=max_part_bytes, what=f"part {count}")
        yield Part(headers=headers, data=data)
