"""How FloralSVC stores its kernel: the machine's available memory and what
``cache_size="auto"`` and ``kernel="linear"`` make of it.

The compiled core keeps the Gram matrix as its packed lower triangle (float32 rows padded
to 16 floats) plus a few hot whole rows for the column updates; when that does not fit it
falls back to an LRU cache of rows that are recomputed as needed. The linear kernel needs
no n x n storage at all when d is small against n: the core works on X and w = X^T c.
"""
import ctypes
import math
import os
import sys
from typing import NamedTuple

__all__ = ["available_memory", "kernel_storage", "packed_gram_bytes", "plan_gram",
           "use_features"]

_MB = 2**20
# cache_size="auto" gives the kernel matrix at most this share of the available memory.
AUTO_SHARE = 0.5
# Used when the OS reports nothing: scikit-learn's SVC default order of magnitude, and
# floral's default before "auto".
FALLBACK_BYTES = 1024 * _MB
# The linear kernel runs in feature space when n >= FEATURES_MIN_RATIO * d. A round there
# reads X about three times (~24 n d bytes) where the Gram path makes one pass over the
# packed triangle (~2 n^2 bytes) after an O(n^2 d) setup. Measured (n = 8,000, 100 rounds,
# one thread): features 2x faster per round at d = n/4, Gram 1.4x faster per round at d = n/2
# but with a setup worth ~200 of its rounds, so 500 rounds take the same time at d = n/2.
FEATURES_MIN_RATIO = 2


def use_features(n, d):
    """Whether ``kernel="linear"`` should run in feature space for an n x d training set."""
    return n >= FEATURES_MIN_RATIO * d


def packed_gram_bytes(n):
    """Bytes of the core's packed lower triangle for n points (gram_cache.hpp's row_offset(n)).

    Row i holds K[i, :i+1] padded to a multiple of 16 float32, so the total is
    16 * sum_{t=1..n} ceil(t/16) floats = 16 (q + 1)(8q + r) with n = 16q + r.
    """
    q, r = divmod(int(n), 16)
    return 4 * 16 * (q + 1) * (8 * q + r)


def _row_bytes(n):
    return 4 * (-(-int(n) // 16) * 16)


# --- what the OS reports --------------------------------------------------------------

def parse_meminfo(text):
    """Available bytes from the text of Linux's /proc/meminfo, or None.

    MemAvailable where the kernel has it (3.14+); before that, MemFree + Buffers + Cached,
    the estimate MemAvailable replaced.
    """
    fields = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            scale = 1024 if len(parts) > 1 and parts[1].lower() == "kb" else 1
            fields[name.strip()] = int(parts[0]) * scale
    if "MemAvailable" in fields:
        return fields["MemAvailable"]
    if "MemFree" in fields:
        return fields["MemFree"] + fields.get("Buffers", 0) + fields.get("Cached", 0)
    return None


def parse_cgroup(limit_text, usage_text):
    """Bytes a cgroup still allows (limit minus usage), or None when it sets no limit.

    cgroup v2 writes "max" for no limit; v1 writes a huge number (about 2^63).
    """
    try:
        limit = limit_text.strip()
        if limit == "max":
            return None
        limit = int(limit)
        usage = int(usage_text.strip())
    except (ValueError, AttributeError):
        return None
    if limit >= 2**60:
        return None
    return max(limit - usage, 0)


def _read(path):
    try:
        with open(path) as fh:
            return fh.read()
    except OSError:
        return None


def _linux_available():
    text = _read("/proc/meminfo")
    avail = parse_meminfo(text) if text else None
    # a container's limit can be far below what the host has free
    for limit, usage in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                         ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                          "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        lt, ut = _read(limit), _read(usage)
        if lt is not None and ut is not None:
            room = parse_cgroup(lt, ut)
            if room is not None:
                avail = room if avail is None else min(avail, room)
            break
    return avail


def _macos_available():
    """Free + inactive + speculative pages (host_statistics64, HOST_VM_INFO64)."""
    libc = ctypes.CDLL("/usr/lib/libSystem.B.dylib")
    libc.mach_host_self.restype = ctypes.c_uint32
    count = ctypes.c_uint32(38)  # HOST_VM_INFO64_COUNT: vm_statistics64 in 32-bit words
    stats = (ctypes.c_uint32 * 38)()
    if libc.host_statistics64(libc.mach_host_self(), 4, stats, ctypes.byref(count)) != 0:
        return None
    # natural_t free_count [0], active [1], inactive [2], wire [3], then nine uint64 counters
    # and purgeable_count [22], speculative_count [23]
    pages = stats[0] + stats[2] + stats[23]
    return pages * os.sysconf("SC_PAGE_SIZE")


def _windows_available():
    class MEMORYSTATUSEX(ctypes.Structure):
        _fields_ = [("dwLength", ctypes.c_ulong), ("dwMemoryLoad", ctypes.c_ulong),
                    ("ullTotalPhys", ctypes.c_ulonglong), ("ullAvailPhys", ctypes.c_ulonglong),
                    ("ullTotalPageFile", ctypes.c_ulonglong),
                    ("ullAvailPageFile", ctypes.c_ulonglong),
                    ("ullTotalVirtual", ctypes.c_ulonglong),
                    ("ullAvailVirtual", ctypes.c_ulonglong),
                    ("ullAvailExtendedVirtual", ctypes.c_ulonglong)]

    status = MEMORYSTATUSEX()
    status.dwLength = ctypes.sizeof(MEMORYSTATUSEX)
    if not ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(status)):
        return None
    return int(status.ullAvailPhys)


def parse_vm_size(text):
    """This process's mapped bytes (``VmSize``) from the text of /proc/self/status, or
    None."""
    for line in text.splitlines():
        if line.startswith("VmSize:"):
            fields = line.split()
            if len(fields) >= 2 and fields[1].isdigit():
                return int(fields[1]) * 1024
    return None


def address_space_room():
    """Bytes the address-space limit (``RLIMIT_AS``, ``ulimit -v``) still lets this
    process map, or None when there is no such limit (or it cannot be read).

    A process under ``ulimit -v`` fails every allocation past the limit however much
    memory the machine has free, so this bounds what ``cache_size="auto"`` may use too.
    The mapped size is ``VmSize`` where /proc has it; elsewhere the whole limit counts.
    """
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    except (ImportError, OSError, ValueError, AttributeError):
        return None
    if soft == resource.RLIM_INFINITY or soft < 0:
        return None
    text = _read("/proc/self/status")
    used = (parse_vm_size(text) if text else None) or 0
    return max(0, soft - used)


def available_memory():
    """Bytes of memory available to this process, or None if unknown.

    What the OS reports as available, lowered to what the address-space limit still
    allows (``address_space_room``). Linux: ``MemAvailable`` from /proc/meminfo, lowered
    to what a cgroup limit still allows; macOS: free, inactive and speculative pages (Mach
    ``host_statistics64``); Windows: ``GlobalMemoryStatusEx``; other POSIX systems:
    ``sysconf(SC_AVPHYS_PAGES)``.
    """
    found = _os_available()
    room = address_space_room()
    if room is None:
        return found
    return room if found is None else min(found, room)


def _os_available():
    try:
        if sys.platform.startswith("linux"):
            found = _linux_available()
            if found is not None:
                return found
        elif sys.platform == "darwin":
            return _macos_available()
        elif sys.platform == "win32":
            return _windows_available()
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError, TypeError):
        return None


# --- the plan ---------------------------------------------------------------------------

class GramPlan(NamedTuple):
    """What ``cache_size="auto"`` decided for one fit."""

    cache_mb: float       # the budget handed to the core
    materialised: bool    # packed triangle (True) or row cache (False)
    packed_bytes: int     # the triangle's size
    available: int        # bytes the OS reported (or FALLBACK_BYTES / AUTO_SHARE)


def hot_rows(n, flip_budget, candidate_factor):
    """Whole rows worth keeping beside the triangle: the attacker's candidates (and so the
    rows its flips touch) plus a quarter, at least 64, at most n / 8 (the core's cap)."""
    candidates = math.ceil(candidate_factor * flip_budget - 1e-9) if flip_budget else 0
    return int(min(n // 8, max(64, math.ceil(1.25 * candidates))))


def auto_share(available=None):
    """(bytes "auto" may give a kernel matrix: AUTO_SHARE of the available memory, the
    available bytes, or FALLBACK_BYTES / AUTO_SHARE when the OS reports nothing)."""
    if available is None:
        available = available_memory()
    if available is None:
        available = int(FALLBACK_BYTES / AUTO_SHARE)
    return AUTO_SHARE * available, available


def plan_gram(n, flip_budget=0, candidate_factor=2.0, available=None):
    """The budget for ``cache_size="auto"``: materialise the packed triangle (with hot rows
    for the attacker's flips) when it fits in AUTO_SHARE of the available memory,
    otherwise a row cache of that share. Never the square: packed + n/8 rows < n^2."""
    share, available = auto_share(available)
    packed = packed_gram_bytes(n)
    if packed <= share:
        # half a row of slack so the core's floor() still sees every hot row
        want = packed + (hot_rows(n, flip_budget, candidate_factor) + 0.5) * _row_bytes(n)
        return GramPlan(min(want, share) / _MB, True, packed, available)
    return GramPlan(share / _MB, False, packed, available)


def row_cache_round_seconds(X, kernel_params, cache_mb, n_jobs=None, sample_rows=16):
    """Seconds a round of the row cache's dense pass should take for this X, measured.

    Times whole kernel rows through the core and scales to the entries that pass
    recomputes: the prefixes K[i, :i+1] of the rows that are not resident, about
    (n - capacity)^2 / 2 entries.
    """
    from . import _core

    n = X.shape[0]
    q = min(n, sample_rows)
    seconds = _core.kernel_rows_seconds(X, q, cache_size=64 * _row_bytes(n) / _MB,
                                        n_jobs=n_jobs, **kernel_params)
    per_entry = seconds / (q * n)
    capacity = min(n, int(cache_mb * _MB / _row_bytes(n)))
    return per_entry * (n - capacity) ** 2 / 2


def row_cache_warning(n, plan, seconds):
    """The text of the warning FloralSVC gives when "auto" falls back to the row cache."""
    return (
        f"FloralSVC: the kernel matrix for n={n} ({plan.packed_bytes / 1e9:.1f} GB as a packed "
        f"triangle) does not fit in half of the available memory "
        f"({plan.available / 1e9:.1f} GB); kernel rows will be recomputed through a "
        f"{plan.cache_mb:.0f} MB row cache instead, about {seconds:.3g} s per round on this "
        f"machine. For large n use explicit features and the linear kernel: "
        f"make_pipeline(StandardScaler(), Nystroem(gamma=..., n_components=1024), "
        f"FloralSVC(kernel='linear'))."
    )


def kernel_storage(est, X, kernel_params, flip_budget):
    """floral_fit's storage and cache_size for FloralSVC ``est``: feature space for the
    linear kernel when d is small against n, else the Gram matrix with cache_size resolved
    ("auto": plan_gram); warns once when "auto" cannot materialise."""
    from ._validation import is_sparse, warn_caller

    n, d = X.shape
    if est.kernel == "linear" and (is_sparse(X) or use_features(n, d)):
        # sparse X: O(nnz) per round on its CSR rows, whatever d is against n
        return {"storage": "features", "cache_size": 1.0}
    if est.cache_size != "auto":
        return {"storage": "gram", "cache_size": float(est.cache_size)}
    plan = plan_gram(n, flip_budget, float(est.candidate_factor))
    if not plan.materialised:
        seconds = row_cache_round_seconds(X, kernel_params, plan.cache_mb, est.n_jobs)
        warn_caller(row_cache_warning(n, plan, seconds), UserWarning)
    return {"storage": "gram", "cache_size": plan.cache_mb}
