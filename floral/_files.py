"""Writing a user's files so that an interrupted write never leaves a damaged one.

Every file floral writes (``write_labelled``, ``Results.save``, the figures, the command
line's outputs) goes through :func:`atomic_output`: the content is written to a temporary
file in the destination's directory, flushed to disk, and renamed over the destination
with :func:`os.replace`, which is atomic on POSIX and Windows within one file system. A
Ctrl-C, a crash or a full disk mid-write leaves the old file (or no file) and at most a
stray ``.name.*.tmp`` that is removed when Python gets the chance.
"""
import contextlib
import os
import tempfile

__all__ = ["atomic_output", "human_bytes", "same_file"]


@contextlib.contextmanager
def atomic_output(path, mode="w", **open_kwargs):
    """Open a temporary file beside ``path``; on success it replaces ``path``.

    Yields the open file object (``mode`` "w" or "wb", ``open_kwargs`` as for
    :func:`open`). The destination is only touched by the final :func:`os.replace`; on any
    exception (KeyboardInterrupt included) the temporary file is removed and ``path`` is
    left as it was.
    """
    path = os.fspath(path)
    directory, name = os.path.split(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, mode, **open_kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp creates 0600; give the file the permissions a plain open() would have
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def same_file(a, b):
    """Whether paths ``a`` and ``b`` name one file (links and spellings included); False
    when either does not exist."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def human_bytes(nbytes):
    """A size for a message: GiB from 1 GiB up, MiB below."""
    return f"{nbytes / 2**30:,.1f} GiB" if nbytes >= 2**30 else f"{nbytes / 2**20:,.1f} MiB"
