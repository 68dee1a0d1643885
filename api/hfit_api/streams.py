"""Response bodies produced while sending: a file or a byte span of it, gzip of the SQL and a tar of the
Parquet files.

Both read the package in fixed-size chunks and yield as they go, so memory stays flat whatever the size.
The tar is written by hand (header blocks from ``tarfile``, contents streamed, padding computed), which
also gives its exact length up front for Content-Length.
"""

from __future__ import annotations

import hashlib
import tarfile
import zlib
from collections.abc import Iterator
from pathlib import Path

CHUNK = 1 << 20
_BLOCK = tarfile.BLOCKSIZE
_RECORD = tarfile.RECORDSIZE


def file_chunks(path: Path, first: int, length: int) -> Iterator[bytes]:
    """``length`` bytes of ``path`` from offset ``first``; a file that shrank while sending is an error."""
    sent = 0
    with path.open("rb") as handle:
        handle.seek(first)
        while sent < length and (chunk := handle.read(min(CHUNK, length - sent))):
            sent += len(chunk)
            yield chunk
    if sent != length:
        raise OSError(f"{path.name} changed while it was being sent")


def gzip_chunks(path: Path, level: int = 6) -> Iterator[bytes]:
    compressor = zlib.compressobj(level, zlib.DEFLATED, 31)  # wbits 31: gzip container, mtime 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            if out := compressor.compress(chunk):
                yield out
    yield compressor.flush()


class TarStream:
    """A ustar/pax archive of ``members`` (name in the archive → file), streamed."""

    def __init__(self, members: list[tuple[str, Path]]) -> None:
        self.members = []
        for name, path in members:
            info = tarfile.TarInfo(name)
            stat = path.stat()
            info.size, info.mtime, info.mode = stat.st_size, int(stat.st_mtime), 0o644
            self.members.append((info.tobuf(format=tarfile.PAX_FORMAT), info.size, path))

    @property
    def length(self) -> int:
        body = sum(len(header) + _padded(size) for header, size, _path in self.members) + 2 * _BLOCK
        return body + (-body % _RECORD)

    def etag(self, digests: list[str]) -> str:
        return hashlib.sha256("\n".join(digests).encode()).hexdigest()

    def __iter__(self) -> Iterator[bytes]:
        written = 0
        for header, size, path in self.members:
            yield header
            sent = 0
            with path.open("rb") as handle:
                while sent < size and (chunk := handle.read(min(CHUNK, size - sent))):
                    sent += len(chunk)
                    yield chunk
            if sent != size:
                raise OSError(f"{path.name} changed while it was being sent")
            if pad := _padded(size) - size:
                yield b"\0" * pad
            written += len(header) + _padded(size)
        end = 2 * _BLOCK
        yield b"\0" * (end + (-(written + end) % _RECORD))


def _padded(size: int) -> int:
    return size + (-size % _BLOCK)
