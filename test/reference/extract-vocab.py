#!/usr/bin/env python3
"""Write a vocabulary-only GGUF: every metadata key/value of a GGUF file and
no tensors.

    extract-vocab.py INPUT.gguf OUTPUT.gguf

Only the header and the metadata section of INPUT are read, so a file whose
tensor data is truncated (a partial download) is fine.  The key/value records
are copied byte for byte; the output is the GGUF header with the tensor count
set to zero, the records, and padding up to general.alignment (the data
section is empty).  llama.cpp loads such a file with vocab_only.
"""

import struct
import sys

SCALAR_SIZE = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
T_STRING = 8
T_ARRAY = 9


class Reader:
    def __init__(self, f):
        self.f = f
        self.raw = bytearray()

    def take(self, n):
        b = self.f.read(n)
        if len(b) != n:
            raise SystemExit("truncated metadata section")
        self.raw += b
        return b

    def u32(self):
        return struct.unpack("<I", self.take(4))[0]

    def u64(self):
        return struct.unpack("<Q", self.take(8))[0]

    def string(self):
        return self.take(self.u64())

    def value(self, vtype):
        """Skip one value of type vtype; return it for scalars and strings."""
        if vtype in SCALAR_SIZE:
            return self.take(SCALAR_SIZE[vtype])
        if vtype == T_STRING:
            return self.string()
        if vtype == T_ARRAY:
            etype = self.u32()
            n = self.u64()
            if etype in SCALAR_SIZE:
                self.take(SCALAR_SIZE[etype] * n)
            else:
                for _ in range(n):
                    self.value(etype)
            return None
        raise SystemExit("unknown value type %d" % vtype)


def main():
    if len(sys.argv) != 3:
        raise SystemExit("usage: extract-vocab.py INPUT.gguf OUTPUT.gguf")
    with open(sys.argv[1], "rb") as f:
        r = Reader(f)
        if r.take(4) != b"GGUF":
            raise SystemExit("not a GGUF file")
        version = r.u32()
        if version not in (2, 3):
            raise SystemExit("unsupported GGUF version %d" % version)
        r.u64()                         # tensor count: dropped
        n_kv = r.u64()
        r.raw = bytearray()             # from here on: the records to copy
        alignment = 32
        for _ in range(n_kv):
            key = r.string()
            vtype = r.u32()
            val = r.value(vtype)
            if key == b"general.alignment" and vtype == 4:
                alignment = struct.unpack("<I", val)[0]
        records = bytes(r.raw)

    out = b"GGUF" + struct.pack("<IQQ", version, 0, n_kv) + records
    out += b"\0" * (-len(out) % alignment)
    with open(sys.argv[2], "wb") as f:
        f.write(out)


if __name__ == "__main__":
    main()
