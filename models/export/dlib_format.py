"""Reader for dlib's binary serialization format (export-time only).

dlib writes integers as a control byte (low 4 bits: byte count, bit 7: sign) followed by
that many little-endian bytes; floats as an integer mantissa and exponent
(value = mantissa * 2**exponent); strings as a length and the bytes; tensors as a version,
four dimensions and raw little-endian float32 values.
"""

from __future__ import annotations

import math
import struct

import numpy as np


class DlibStream:
    """Sequential reader over the bytes of a dlib ``.dat`` file."""

    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def read_int(self) -> int:
        ctrl = self.data[self.pos]
        self.pos += 1
        size = ctrl & 0x0F
        if size > 8 or (ctrl & 0x70):
            raise ValueError(f"bad integer control byte {ctrl:#x} at offset {self.pos - 1}")
        value = int.from_bytes(self.data[self.pos:self.pos + size], "little")
        self.pos += size
        return -value if ctrl & 0x80 else value

    def read_bool(self) -> bool:
        return bool(self.read_int())

    def read_float(self) -> float:
        mantissa = self.read_int()
        exponent = self.read_int()
        if exponent >= 32000:  # dlib's markers for inf / -inf / nan
            return {32000: math.inf, 32001: -math.inf}.get(exponent, math.nan)
        return math.ldexp(mantissa, exponent)

    def read_string(self) -> str:
        n = self.read_int()
        s = self.data[self.pos:self.pos + n].decode("latin-1")
        self.pos += n
        return s

    def peek_string(self) -> str | None:
        """The string at the current position, or None if the bytes there are not one."""
        saved = self.pos
        try:
            n = self.read_int()
            if not 0 < n < 64:
                return None
            raw = self.data[self.pos:self.pos + n]
            return raw.decode("ascii") if all(32 <= b < 127 for b in raw) else None
        except (ValueError, IndexError):
            return None
        finally:
            self.pos = saved

    def read_tensor(self) -> np.ndarray:
        version = self.read_int()
        if version != 2:
            raise ValueError(f"unexpected tensor version {version}")
        shape = tuple(self.read_int() for _ in range(4))
        count = int(np.prod(shape))
        values = np.frombuffer(self.data, "<f4", count, self.pos).reshape(shape).copy()
        self.pos += 4 * count
        return values

    def read_alias_tensor(self) -> tuple[int, int, int, int]:
        version = self.read_int()
        if version != 1:
            raise ValueError(f"unexpected alias_tensor version {version}")
        return tuple(self.read_int() for _ in range(4))

    def read_float_matrix(self) -> np.ndarray:
        """A dlib::matrix<float> (rows and columns stored negated, then row-major values)."""
        rows, cols = -self.read_int(), -self.read_int()
        return np.array([self.read_float() for _ in range(rows * cols)], np.float32).reshape(rows, cols)

    def read_vector(self, read_item):
        return [read_item() for _ in range(self.read_int())]

    def read_raw_float32(self) -> float:
        value = struct.unpack_from("<f", self.data, self.pos)[0]
        self.pos += 4
        return value
