#!/usr/bin/env python3
"""Checks that a binary is statically linked and runs: an ELF without a PT_INTERP program
header (no dynamic loader), without PT_DYNAMIC needing shared libraries, with its relative
relocations packed (DT_RELR), whose `--version` exits 0. Used by `make static` (the binary the container image ships)."""

from __future__ import annotations

import shutil
import struct
import subprocess
import sys
from pathlib import Path

PT_DYNAMIC, PT_INTERP = 2, 3
DT_NEEDED, DT_RELR = 1, 36


def program_headers(data: bytes) -> list[tuple[int, int, int]]:
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise SystemExit("not a little-endian 64-bit ELF file")
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    out = []
    for i in range(phnum):
        p_type, _flags, p_offset, _vaddr, _paddr, p_filesz = struct.unpack_from("<IIQQQQ", data, phoff + i * phentsize)
        out.append((p_type, p_offset, p_filesz))
    return out


def dynamic_tags(data: bytes, headers) -> list[int]:
    tags = []
    for p_type, offset, size in headers:
        if p_type == PT_DYNAMIC:
            for i in range(0, size, 16):
                tag, _ = struct.unpack_from("<qQ", data, offset + i)
                tags.append(tag)
    return tags


def main(path: str) -> int:
    binary = Path(path)
    data = binary.read_bytes()
    headers = program_headers(data)
    problems = []
    if any(h[0] == PT_INTERP for h in headers):
        problems.append("has a PT_INTERP header (needs a dynamic loader)")
    tags = dynamic_tags(data, headers)
    if DT_NEEDED in tags:
        problems.append("needs shared libraries (DT_NEEDED)")
    # Packed relative relocations (`-z pack-relative-relocs`): without them the start-up reads
    # half a megabyte of relocation entries, which stay resident (docs/decisions.md #78).
    if DT_RELR not in tags:
        problems.append("relative relocations are not packed (no DT_RELR): build with STATIC_RUSTFLAGS")
    if shutil.which("file"):
        print(subprocess.run(["file", "-b", str(binary)], capture_output=True, text=True).stdout.strip())
    done = subprocess.run([str(binary), "--version"], capture_output=True, text=True)
    if done.returncode != 0:
        problems.append(f"--version exited {done.returncode}: {done.stderr.strip()}")
    if problems:
        print(f"{binary}: " + "; ".join(problems), file=sys.stderr)
        return 1
    print(f"{binary}: static ({binary.stat().st_size // 1024} KiB), {done.stdout.strip()}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: check_static.py BINARY")
    sys.exit(main(sys.argv[1]))
