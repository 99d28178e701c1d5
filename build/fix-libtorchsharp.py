#!/usr/bin/env python3
"""Makes TorchSharp 0.107.0's libLibTorchSharp.so load on Debian 12 (libstdc++ without GLIBCXX_3.4.32).

Usage: fix-libtorchsharp.py OUTPUT_DIR SHIM_SOURCE SHIM_CACHE_DIR

1. If the system libstdc++ already has GLIBCXX_3.4.32 (Ubuntu 24.04, the GPU host), nothing is done.
2. Builds libstdcxx_ios_compat.so (std::ios_base_library_init) once into SHIM_CACHE_DIR and copies it next to the library.
3. `patchelf --add-needed libstdcxx_ios_compat.so libLibTorchSharp.so`, so the symbol is found when the library loads.
4. Sets VER_FLG_WEAK on the GLIBCXX_3.4.32 entry of .gnu.version_r, so ld.so no longer refuses the library.
Idempotent: a library that already needs the shim is left alone. See DEPENDENCIES.md §3.1.
"""
import os
import shutil
import struct
import subprocess
import sys

VERSION = b"GLIBCXX_3.4.32"
SHIM = "libstdcxx_ios_compat.so"
SHT_GNU_VERNEED = 0x6FFFFFFE
VER_FLG_WEAK = 0x2


def system_has_version():
    for path in ("/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/lib/x86_64-linux-gnu/libstdc++.so.6", "/usr/lib64/libstdc++.so.6"):
        if os.path.exists(path):
            with open(path, "rb") as f:
                return VERSION in f.read()
    return False


def needed(lib):
    out = subprocess.run(["patchelf", "--print-needed", lib], check=True, capture_output=True, text=True).stdout
    return out.split()


def set_weak(lib):
    with open(lib, "r+b") as f:
        data = bytearray(f.read())
        if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
            raise SystemExit(f"{lib}: not a 64-bit little-endian ELF file")
        shoff, = struct.unpack_from("<Q", data, 0x28)
        shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
        sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
        patched = 0
        for (_, sh_type, _, _, offset, _, link, info, _, _) in sections:
            if sh_type != SHT_GNU_VERNEED:
                continue
            strtab = sections[link][4]
            entry = offset
            for _ in range(info):
                _, count, _, aux, nxt = struct.unpack_from("<HHIII", data, entry)
                a = entry + aux
                for _ in range(count):
                    _, flags, _, name, anext = struct.unpack_from("<IHHII", data, a)
                    end = data.index(b"\0", strtab + name)
                    if bytes(data[strtab + name:end]) == VERSION:
                        struct.pack_into("<H", data, a + 4, flags | VER_FLG_WEAK)
                        patched += 1
                    a += anext
                entry += nxt
        f.seek(0)
        f.write(data)
    return patched


def main():
    out_dir, shim_source, cache_dir = sys.argv[1:4]
    lib = os.path.join(out_dir, "libLibTorchSharp.so")
    if not os.path.exists(lib) or system_has_version():
        return 0
    if SHIM in needed(lib):
        return 0
    os.makedirs(cache_dir, exist_ok=True)
    shim = os.path.join(cache_dir, SHIM)
    if not os.path.exists(shim) or os.path.getmtime(shim) < os.path.getmtime(shim_source):
        tmp = f"{shim}.{os.getpid()}.tmp"          # parallel builds: compile aside, then rename atomically
        subprocess.run(["g++", "-shared", "-fPIC", "-O2", "-o", tmp, shim_source], check=True)
        os.replace(tmp, shim)
    shutil.copyfile(shim, os.path.join(out_dir, SHIM))
    # Patch a private copy: the output file may be a hard link into the NuGet cache, which must stay untouched.
    tmp = f"{lib}.{os.getpid()}.tmp"
    shutil.copyfile(lib, tmp)
    subprocess.run(["patchelf", "--add-needed", SHIM, tmp], check=True)
    if set_weak(tmp) == 0:
        os.remove(tmp)
        raise SystemExit(f"{lib}: no {VERSION.decode()} entry found in .gnu.version_r")
    os.replace(tmp, lib)
    print(f"fix-libtorchsharp: patched {lib} for a libstdc++ without {VERSION.decode()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
