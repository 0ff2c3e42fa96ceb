"""The frame protocol between the evaluator and the sandboxed child (both sides import it).

frame := MAGIC, uint32 BE header length, UTF-8 JSON header, then the arrays
whose byte lengths the header lists under ``"arrays"`` (``np.save`` format
each, loaded with ``allow_pickle=False``). Frames never contain pickles.

Light on purpose: the child imports this before its resource limits and
namespaces are in place, so numpy is imported only inside the functions.
"""

from __future__ import annotations

import json
import os
import struct

MAGIC = b"EZL1"
MAX_HEADER = 64 * 1024
NOBODY = 65534  # the uid/gid the child drops to when started as root


def encode_frame(header: dict, arrays: list | tuple = ()) -> bytes:
    """One protocol frame: ``header`` (JSON-able dict) and numeric ``arrays`` (np.save bytes, no pickle)."""
    import io

    import numpy as np

    blobs = []
    for array in arrays:
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(array), allow_pickle=False)
        blobs.append(buffer.getvalue())
    head = json.dumps({**header, "arrays": [len(b) for b in blobs]}, separators=(",", ":")).encode()
    if len(head) > MAX_HEADER:
        raise ValueError("frame header too large")
    return b"".join([MAGIC, struct.pack(">I", len(head)), head, *blobs])


def decode_array(blob: bytes | bytearray | memoryview):
    """np.load of one array's bytes with pickles refused."""
    import io

    import numpy as np

    return np.load(io.BytesIO(bytes(blob)), allow_pickle=False)


class Channel:
    """Blocking frame I/O on two fds: the child's side (the parent is trusted there).

    The parent reads with its own bounded, deadline-aware reader
    (:meth:`evaluator.sandbox.parent.SandboxedModel._recv`), since the child is not.
    """

    def __init__(self, rfd: int, wfd: int):
        self.rfd, self.wfd = rfd, wfd

    def _read(self, n: int) -> bytes:
        out = bytearray(n)
        view, got = memoryview(out), 0
        while got < n:
            k = os.readv(self.rfd, [view[got:]])
            if k == 0:
                raise EOFError
            got += k
        return bytes(out)

    def recv(self) -> tuple[dict, list]:
        """The next frame as (header dict, list of arrays); EOFError at end or on a malformed start."""
        if self._read(4) != MAGIC:
            raise EOFError
        (size,) = struct.unpack(">I", self._read(4))
        if size > MAX_HEADER:
            raise EOFError
        header = json.loads(self._read(size))
        return header, [decode_array(self._read(int(n))) for n in header.get("arrays", [])]

    def send(self, header: dict, arrays: list | tuple = ()) -> None:
        data = memoryview(encode_frame(header, arrays))
        while data:
            data = data[os.write(self.wfd, data):]
