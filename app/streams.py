"""A seekable stream over bytes held elsewhere (numpy-free: the Pyodide worker reads dataset
ZIPs through it before numpy is imported)."""
from __future__ import annotations

import io


class RandomAccessStream(io.RawIOBase):
    """A seekable read-only stream of ``size`` bytes whose reads copy only the bytes asked for
    (``_copy(start, view)`` fills ``view`` from offset ``start``), so headers are read without
    copying a whole file and cubes are converted block by block. Subclasses: the page's
    JavaScript arrays (app/quickopen.py), the notebook's in-memory arrays (app/notebook.py)."""

    def __init__(self, size: int):
        super().__init__()
        self._size = int(size)
        self._pos = 0

    def _copy(self, start: int, view: memoryview) -> None:
        raise NotImplementedError

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self._pos

    def seek(self, offset, whence=io.SEEK_SET):
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer):
        view = memoryview(buffer).cast("B")
        count = max(0, min(len(view), self._size - self._pos))
        if count:
            self._copy(self._pos, view[:count])
            self._pos += count
        return count
