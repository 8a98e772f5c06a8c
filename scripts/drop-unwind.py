#!/usr/bin/env python3
"""drop-unwind.py BINARY: removes the unwind tables (.eh_frame, .eh_frame_hdr) from the
static release binary in place, keeping its PT_GNU_RELRO.

Nothing in apus unwinds: no C++ exceptions cross its code, no thread is cancelled, Swift
errors are plain returns, and the stripped binary has no symbols a backtrace could name.
The tables are 0.9 MiB of the file.

objcopy removes them but also drops PT_GNU_RELRO: gold ends RELRO on a page boundary
inside .got.plt, which objcopy cannot map to whole sections. Without that header glibc
never makes the relocated GOT read-only, so it is written back: the slot objcopy left as
an empty PT_GNU_EH_FRAME becomes PT_GNU_RELRO again, with the same addresses and sizes
and the file offset the writable segment has now. The result is checked: same RELRO as
before, same LOAD addresses, no unwind section left.
"""
import os
import shutil
import struct
import subprocess
import sys

PT_LOAD, PT_GNU_EH_FRAME, PT_GNU_RELRO = 1, 0x6474E550, 0x6474E552
PHDR = struct.Struct("<IIQQQQQQ")  # type, flags, offset, vaddr, paddr, filesz, memsz, align


def headers(data):
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        sys.exit("drop-unwind: not a 64-bit little-endian ELF file")
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    return phoff, phentsize, [list(PHDR.unpack_from(data, phoff + i * phentsize)) for i in range(phnum)]


def sections(path):
    out = subprocess.run(["readelf", "-S", "-W", path], capture_output=True, text=True, check=True).stdout
    return {line.split("]", 1)[1].split()[0] for line in out.splitlines() if "]" in line and line.strip().startswith("[")}


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: drop-unwind.py BINARY")
    path = sys.argv[1]
    names = sections(path)
    if ".eh_frame" not in names and ".eh_frame_hdr" not in names:
        return  # done already (a build that did not relink)
    before = headers(open(path, "rb").read())[2]
    relro = [h for h in before if h[0] == PT_GNU_RELRO]
    loads = [h for h in before if h[0] == PT_LOAD]
    tmp = path + ".drop-unwind"
    subprocess.run(["objcopy", "--remove-section", ".eh_frame", "--remove-section", ".eh_frame_hdr", path, tmp], check=True)
    data = bytearray(open(tmp, "rb").read())
    phoff, phentsize, after = headers(data)
    if [h[3] for h in after if h[0] == PT_LOAD] != [h[3] for h in loads]:
        sys.exit("drop-unwind: objcopy moved a LOAD segment")
    if relro and not any(h[0] == PT_GNU_RELRO for h in after):
        r = relro[0]
        load = next((h for h in after if h[0] == PT_LOAD and h[3] <= r[3] < h[3] + h[6]), None)
        slot = next((i for i, h in enumerate(after) if h[0] == PT_GNU_EH_FRAME), None)
        if load is None or slot is None:
            sys.exit("drop-unwind: no place to put PT_GNU_RELRO back")
        r = list(r)
        r[2] = load[2] + (r[3] - load[3])
        PHDR.pack_into(data, phoff + slot * phentsize, *r)
        open(tmp, "wb").write(data)
    check = headers(open(tmp, "rb").read())[2]
    kept = [h for h in check if h[0] == PT_GNU_RELRO]
    if [h[3:] for h in kept] != [h[3:] for h in relro]:
        sys.exit("drop-unwind: PT_GNU_RELRO differs from the linked binary's")
    if sections(tmp) & {".eh_frame", ".eh_frame_hdr"}:
        sys.exit("drop-unwind: an unwind section is left")
    # The file goes in place as a copy (copy_file_range, as cp and install write it), not
    # as the single large write objcopy made: the page cache then holds it in small folios,
    # as it holds the linker's output, and what the tests and the bench see of page faults
    # and resident pages is what an installed copy gives.
    final = path + ".drop-unwind-copy"
    shutil.copyfile(tmp, final)
    os.unlink(tmp)
    os.chmod(final, os.stat(path).st_mode)
    os.replace(final, path)


if __name__ == "__main__":
    main()
