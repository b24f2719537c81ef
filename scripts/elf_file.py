"""Read and strip the 64-bit little-endian ELF files of a layer, in Python, so every build host does the same.

A strip tool differs by host (GNU strip reads only its own machine's files, macOS has none for ELF,
llvm-strip may be missing) and each writes slightly different bytes; ``strip`` here depends only on the
file. It removes what the dynamic loader never reads: the static symbol table (``.symtab`` and its
``.strtab``) and debug sections (``.debug_*``), which come after every loaded section in the files that
linkers write. Everything the loader maps (the ELF header, program headers, every segment, every allocated
section, ``.dynsym``/``.dynstr``) stays at its offset, byte for byte; the remaining unloaded sections
(``.comment``, ``.shstrtab``, ...) and the section header table follow. A file laid out otherwise is left
as it is. Format: System V ABI, "ELF-64 Object File Format" (sections and program headers).
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import NamedTuple

MAGIC = b"\x7fELF"
SHF_ALLOC = 0x2
SHF_INFO_LINK = 0x40
SHT_SYMTAB, SHT_RELA, SHT_NOBITS, SHT_REL, SHT_SYMTAB_SHNDX = 2, 4, 8, 9, 18
SECTION = struct.Struct("<IIQQQQIIQQ")
SEGMENT = struct.Struct("<IIQQQQQQ")


class Section(NamedTuple):
    name: int
    type: int
    flags: int
    addr: int
    offset: int
    size: int
    link: int
    info: int
    addralign: int
    entsize: int


def is_elf(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(4) == MAGIC


def sections(data: bytes) -> list[Section]:
    """The section headers; ValueError when ``data`` is not a 64-bit little-endian ELF file, as every Lambda
    platform's are."""
    if data[:4] != MAGIC or data[4] != 2 or data[5] != 1:
        raise ValueError("not a 64-bit little-endian ELF file")
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    return [Section(*SECTION.unpack_from(data, shoff + i * shentsize)) for i in range(shnum)]


def cstring(data: bytes, offset: int) -> bytes:
    return data[offset : data.index(b"\0", offset)]


def section_names(data: bytes) -> list[bytes]:
    table = sections(data)
    (shstrndx,) = struct.unpack_from("<H", data, 0x3E)
    return [cstring(data, table[shstrndx].offset + s.name) for s in table]


def _removable(data: bytes, table: list[Section], shstrndx: int) -> set[int]:
    names = section_names(data)
    remove = {
        i
        for i, s in enumerate(table)
        if i
        and not s.flags & SHF_ALLOC
        and (s.type == SHT_SYMTAB or names[i].startswith((b".debug", b".zdebug")))
    }
    # What only the removed symbol table used: its string table and extended section indexes.
    for i, s in enumerate(table):
        if (
            i
            and not s.flags & SHF_ALLOC
            and s.type in (SHT_REL, SHT_RELA, SHT_SYMTAB_SHNDX)
            and s.link in remove
        ):
            remove.add(i)
    for i in [table[i].link for i in remove if table[i].type == SHT_SYMTAB]:
        users = [k for k, s in enumerate(table) if s.link == i and k not in remove]
        if i != shstrndx and not table[i].flags & SHF_ALLOC and not users:
            remove.add(i)
    return remove


def stripped(data: bytes) -> bytes | None:
    """``data`` without its static symbols and debug sections, or None when there is nothing to remove or
    the file is not laid out as linkers write shared libraries (then it is better left alone)."""
    table = sections(data)
    if len(data) < 64 or not table:
        return None
    (phoff,) = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum, _shentsize, _shnum, shstrndx = struct.unpack_from("<HHHHH", data, 0x36)
    remove = _removable(data, table, shstrndx)
    allocated = [i for i, s in enumerate(table) if s.flags & SHF_ALLOC]
    # Only sections after every loaded one go, so section indexes in .dynsym and links stay valid.
    if not remove or (allocated and min(remove) <= max(allocated)):
        return None
    kept = [i for i in range(len(table)) if i not in remove]
    for i in kept:
        s = table[i]
        info_is_index = s.type in (SHT_REL, SHT_RELA) or s.flags & SHF_INFO_LINK
        if s.link in remove or (info_is_index and s.info in remove):
            return None
    segments = [SEGMENT.unpack_from(data, phoff + i * phentsize) for i in range(phnum)]
    end = max(
        [64, phoff + phnum * phentsize]
        + [offset + filesz for _type, _flags, offset, _vaddr, _paddr, filesz, _memsz, _align in segments]
        + [table[i].offset + (0 if table[i].type == SHT_NOBITS else table[i].size) for i in allocated]
    )
    out = bytearray(data[:end])
    index = {old: new for new, old in enumerate(kept)}
    headers = []
    for i in kept:
        s = table[i]
        offset = s.offset
        if i and s.type != SHT_NOBITS and s.offset + s.size > end:
            out += bytes(-len(out) % max(s.addralign, 1))
            offset = len(out)
            out += data[s.offset : s.offset + s.size]
        info_is_index = s.type in (SHT_REL, SHT_RELA) or s.flags & SHF_INFO_LINK
        headers.append(
            s._replace(
                offset=offset,
                link=index[s.link] if s.link else 0,
                info=index[s.info] if info_is_index and s.info else s.info,
            )
        )
    out += bytes(-len(out) % 8)
    struct.pack_into("<Q", out, 0x28, len(out))
    struct.pack_into("<HHH", out, 0x3A, SECTION.size, len(headers), index[shstrndx])
    for header in headers:
        out += SECTION.pack(*header)
    return bytes(out)


def strip(path: Path) -> int:
    """Strip ``path`` in place (see ``stripped``); the bytes freed."""
    data = path.read_bytes()
    try:
        smaller = stripped(data)
    except (ValueError, KeyError, IndexError, struct.error):  # not an ELF file this can read: leave it
        return 0
    if smaller is None or len(smaller) >= len(data):
        return 0
    partial = path.with_name(path.name + ".strip")
    partial.write_bytes(smaller)
    os.chmod(partial, path.stat().st_mode)
    os.replace(partial, path)
    return len(data) - len(smaller)
