"""Reading IDX files, the format MNIST ships in (plain or gzipped).

An IDX file is a 4-byte magic number -- two zero bytes, a type code, the number of dimensions --
then one big-endian 32-bit size per dimension, then the data, big-endian, in C order. MNIST's
images have magic ``0x00000803`` (unsigned bytes, 3 dimensions: count x rows x columns) and its
labels ``0x00000801`` (unsigned bytes, 1 dimension). Anything that does not match -- a wrong
magic number, a header cut short, fewer or more data bytes than the header promises -- raises
:class:`IDXError` naming the file and what was expected.
"""

from __future__ import annotations

import gzip
import math
import struct
from pathlib import Path

import numpy as np

#: magic number of MNIST's image files: unsigned bytes, 3 dimensions
IMAGES_MAGIC = 0x00000803
#: magic number of MNIST's label files: unsigned bytes, 1 dimension
LABELS_MAGIC = 0x00000801

#: IDX type codes and the big-endian numpy dtype each stands for
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"


class IDXError(ValueError):
    """An IDX file that cannot be read; the message names the file and what was expected."""


#: the most bytes an IDX file may hold, decompressed (MNIST's largest, train images, is 47 MB):
#: a gzip bomb (a few MB expanding to GB) is refused in one line instead of exhausting memory
MAX_IDX_BYTES = 512 * 2**20


def _raw_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when it starts with the gzip magic (whatever its name); at
    most :data:`MAX_IDX_BYTES` either way, and only from a regular file (a FIFO is refused)."""
    import zlib

    from neural_ode.validation import UsageError, open_regular

    limit = f"{MAX_IDX_BYTES // 2**20} MiB"
    try:
        with open_regular(path) as handle:
            raw = handle.read(MAX_IDX_BYTES + 1)
    except UsageError as exc:
        raise IDXError(str(exc)) from None
    except OSError as exc:
        raise IDXError(f"{path}: cannot read IDX file ({exc.strerror or exc})") from exc
    if len(raw) > MAX_IDX_BYTES:
        raise IDXError(f"{path}: larger than {limit}, more than any IDX file of MNIST; refused")
    if raw[:2] != _GZIP_MAGIC:
        return raw
    out, data, size = [], raw, 0
    try:
        while data:  # member by member, like gzip.decompress, 16 MiB at a time, never past the limit
            stream = zlib.decompressobj(wbits=31)
            while data and not stream.eof:
                out.append(stream.decompress(data, 2**24))
                size += len(out[-1])
                if size > MAX_IDX_BYTES:
                    raise IDXError(
                        f"{path}: decompresses to more than {limit}, more than any IDX file of MNIST; refused"
                    )
                data = stream.unconsumed_tail
            if not stream.eof:
                raise EOFError("compressed file ended before the end-of-stream marker was reached")
            data = stream.unused_data.lstrip(b"\0")
    except (EOFError, zlib.error) as exc:
        raise IDXError(f"{path}: the gzip stream is damaged or truncated ({exc})") from exc
    return b"".join(out)


def read_idx(path: str | Path, expected_magic: int | None = None) -> np.ndarray:
    """The array stored in the IDX file ``path`` (gzipped or not), in native byte order.

    Args:
        path: the file.
        expected_magic: when given, the file's magic number must equal it (e.g.
            :data:`IMAGES_MAGIC`), otherwise :class:`IDXError`.

    Raises:
        IDXError: unreadable file, bad or unexpected magic number, header or data of the
            wrong length.
    """
    path = Path(path)
    raw = _raw_bytes(path)
    if len(raw) < 4:
        raise IDXError(f"{path}: too short for an IDX header ({len(raw)} bytes, expected at least 4)")
    (magic,) = struct.unpack(">I", raw[:4])
    if expected_magic is not None and magic != expected_magic:
        raise IDXError(f"{path}: wrong magic number 0x{magic:08X}, expected 0x{expected_magic:08X}")
    zeros, type_code, ndim = raw[0:2], raw[2], raw[3]
    if zeros != b"\x00\x00" or type_code not in IDX_DTYPES:
        codes = ", ".join(f"0x{code:02X}" for code in IDX_DTYPES)
        raise IDXError(
            f"{path}: not an IDX file (magic number 0x{magic:08X}; expected 0x0000TTDD with type code TT in {codes})"
        )
    header_bytes = 4 + 4 * ndim
    if len(raw) < header_bytes:
        raise IDXError(
            f"{path}: truncated header: {ndim} dimension sizes need {header_bytes} bytes, the file has {len(raw)}"
        )
    dims = struct.unpack(f">{ndim}I", raw[4:header_bytes])
    dtype = IDX_DTYPES[type_code]
    expected = math.prod(dims) * dtype.itemsize
    found = len(raw) - header_bytes
    if found != expected:
        shape = "x".join(map(str, dims)) or "scalar"
        problem = "truncated" if found < expected else "longer than its header says"
        raise IDXError(
            f"{path}: {problem}: the header promises {expected} data bytes ({shape} of {dtype.name}), found {found}"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header_bytes, count=math.prod(dims))
    return data.reshape(dims).astype(dtype.newbyteorder("="))


def write_idx(path: str | Path, array: np.ndarray, *, compress: bool = False) -> Path:
    """Write ``array`` as an IDX file (gzipped when ``compress``); the inverse of :func:`read_idx`.

    The array's dtype must be one IDX can hold (uint8, int8, int16, int32, float32, float64).
    """
    path = Path(path)
    array = np.asarray(array)
    for code, dtype in IDX_DTYPES.items():  # noqa: B007 (code is used after the loop)
        if array.dtype.kind == dtype.kind and array.dtype.itemsize == dtype.itemsize:
            break
    else:
        raise IDXError(f"{path}: IDX cannot hold dtype {array.dtype}")
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + np.ascontiguousarray(array, dtype=dtype).tobytes()
    path.write_bytes(gzip.compress(payload) if compress else payload)
    return path
