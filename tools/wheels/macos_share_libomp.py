"""Make a delocated macOS wheel load scikit-learn's libomp when there is one.

Why: two copies of LLVM's OpenMP runtime (libomp) in one process abort it as soon as the
second one initialises ("OMP: Error #15: Initializing libomp.dylib, but found libomp.dylib
already initialized"). scikit-learn, a dependency of floral, bundles its own libomp in
its macOS wheels (sklearn/.dylibs/), and threadpoolctl (floral.show_config(), the BLAS
limits around the core's dgemm calls) initialises every OpenMP runtime it finds. A floral
wheel with a second, private libomp would therefore crash next to scikit-learn.

What: delocate-wheel has already copied libomp.dylib into floral/.dylibs/ and pointed
the extension at it (@loader_path/../.dylibs/libomp.dylib). This script changes that
reference to @rpath/libomp.dylib and gives the extension these run-path entries, in order:

1. @loader_path/../../sklearn/.dylibs  -- scikit-learn's wheel copy, in the same
   site-packages: both packages then load the very same file, one runtime;
2. @loader_path/../../../..            -- <prefix>/lib of a conda-style installation,
   where a conda scikit-learn gets its libomp;
3. @loader_path/../.dylibs             -- floral's own bundled copy, when neither exists.

Every other LC_RPATH is removed (a build-machine path would win on the build machine
itself), the extension is re-signed ad hoc (arm64 refuses to load a binary whose
signature an edit invalidated), and the wheel's RECORD is rewritten. The new load
commands need header room: the extension is linked with -headerpad_max_install_names.

Usage (cibuildwheel's repair-wheel-command, after delocate-wheel):
    python macos_share_libomp.py WHEEL [WHEEL ...]      (rewrites the wheels in place)
"""
import base64
import hashlib
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

LIBOMP = "libomp.dylib"
WANTED = "@rpath/" + LIBOMP
RPATHS = [
    "@loader_path/../../sklearn/.dylibs",
    "@loader_path/../../../..",
    "@loader_path/../.dylibs",
]


def _run(*args):
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def dependencies(binary):
    """Install names the binary loads (otool -L, without its own id line)."""
    lines = _run("otool", "-L", str(binary)).splitlines()[1:]
    return [line.strip().split(" (compatibility")[0] for line in lines if line.strip()]


def rpaths(binary):
    """The binary's LC_RPATH entries, in load-command order."""
    text = _run("otool", "-l", str(binary))
    return re.findall(r"cmd LC_RPATH\s+cmdsize \d+\s+path (.+?) \(offset \d+\)", text)


def share_libomp(binary):
    """Point one extension at @rpath/libomp.dylib with RPATHS; True when it changed."""
    omp = [d for d in dependencies(binary) if os.path.basename(d) == LIBOMP]
    if not omp:
        return False
    if len(omp) > 1:
        raise SystemExit(f"{binary}: several libomp references: {omp}")
    current = rpaths(binary)
    if omp[0] == WANTED and current == RPATHS:
        return False
    if current:
        _run("install_name_tool", *[a for p in current for a in ("-delete_rpath", p)],
             str(binary))
    args = ["-change", omp[0], WANTED] if omp[0] != WANTED else []
    args += [a for p in RPATHS for a in ("-add_rpath", p)]
    _run("install_name_tool", *args, str(binary))
    _run("codesign", "--force", "--sign", "-", str(binary))
    got_deps, got_rpaths = dependencies(binary), rpaths(binary)
    assert WANTED in got_deps and got_rpaths == RPATHS, (got_deps, got_rpaths)
    return True


def _record_line(root, name):
    data = (root / name).read_bytes()
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def rewrite_wheel(wheel, edit):
    """Unpack ``wheel``, call ``edit(root) -> changed names``, repack with a new RECORD."""
    wheel = Path(wheel)
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(wheel) as zf:
        root = Path(tmp)
        infos = zf.infolist()
        zf.extractall(root)
        changed = edit(root)
        if not changed:
            return []
        record = next(i.filename for i in infos if i.filename.endswith(".dist-info/RECORD"))
        names = [i.filename for i in infos if not i.filename.endswith("/")]
        lines = [f"{n},," if n == record else _record_line(root, n) for n in names]
        (root / record).write_text("\n".join(lines) + "\n")
        out = wheel.with_suffix(".tmp")
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as new:
            for info in infos:
                if info.filename.endswith("/"):
                    continue
                new_info = zipfile.ZipInfo(info.filename, info.date_time)
                new_info.external_attr = info.external_attr
                new_info.compress_type = zipfile.ZIP_DEFLATED
                new.writestr(new_info, (root / info.filename).read_bytes())
        out.replace(wheel)
        return changed


def _edit(root):
    bundled = list(root.glob("*/.dylibs/" + LIBOMP))
    changed = []
    for binary in sorted(root.rglob("*.so")):
        if ".dylibs" not in binary.parts and share_libomp(binary):
            changed.append(binary.relative_to(root).as_posix())
    if changed and not bundled:
        raise SystemExit("libomp is referenced but was not bundled by delocate-wheel")
    return changed


def main(argv):
    if not argv:
        raise SystemExit(__doc__)
    for wheel in argv:
        changed = rewrite_wheel(wheel, _edit)
        print(f"{wheel}: libomp via @rpath ({', '.join(RPATHS)}) in: "
              + (", ".join(changed) or "nothing (no libomp reference)"))


if __name__ == "__main__":
    main(sys.argv[1:])
