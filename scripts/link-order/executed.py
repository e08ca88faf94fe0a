"""Functions of one binary that callgrind saw run, one symbol name a line, each once.

Usage: executed.py BINARY_NAME CALLGRIND_OUT... > names.txt

Reads callgrind output files written with --demangle=no (so names are the symbol table's) and
prints each function of the binary whose file is called BINARY_NAME named in them (as a
function or as a callee) once, in the order of the files given and of first mention within each. Names that cannot be linker symbols are
skipped: callgrind's recursion marks ("name'2" is stripped to "name"), "(below main)" and bare
addresses.
"""

import os
import re
import sys

SYMBOL = re.compile(r"[A-Za-z_.$][A-Za-z0-9_.$]*")
COMPRESSED = re.compile(r"\((\d+)\)(?: (.*))?$")


def named(table, token):
    """Resolves callgrind's name compression: "(12) name" defines 12, "(12)" refers to it."""
    match = COMPRESSED.match(token)
    if not match:
        return token
    key, name = match.groups()
    if name is not None:
        table[key] = name
    return table.get(key)


def functions(path, binary):
    objects, names = {}, {}
    current_object = callee_object = None
    for line in open(path, encoding="utf-8", errors="replace"):
        line = line.rstrip("\n")
        key, _, value = line.partition("=")
        if key == "ob":
            current_object, callee_object = named(objects, value), None
        elif key == "cob":
            callee_object = named(objects, value)
        elif key in ("fn", "cfn"):
            name = named(names, value)
            owner = callee_object if key == "cfn" and callee_object else current_object
            if key == "fn":
                callee_object = None
            if owner and os.path.basename(owner) == binary and name:
                yield re.sub(r"'\d+$", "", name)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    binary, seen = sys.argv[1], set()
    for path in sys.argv[2:]:
        for name in functions(path, binary):
            if name not in seen and SYMBOL.fullmatch(name):
                seen.add(name)
                print(name)


if __name__ == "__main__":
    main()
