"""The command line's files: what it reads (CSV dialects, pandas' index column, ID columns,
missing cells, oversized .npz files) and how it writes (atomically, never over an input),
and the requests too large for the machine that it refuses instead of failing mid-way."""
import codecs
import os
import signal
import subprocess
import sys
import time
import warnings
import zipfile

import numpy as np
import pytest
from sklearn.datasets import make_moons

from floral import cli
from floral.datasets import (
    UnnamedColumnWarning,
    load_embeddings,
    read_labelled,
    write_labelled,
)
from floral.experiments import Results, read_csv


def moons(n=60, seed=1):
    X, y = make_moons(n, noise=0.25, random_state=seed)
    return X, y


def write_csv(path, X, y, *, sep=",", index=False, extra=None, bom=False, label_first=False):
    """A CSV as pandas' DataFrame.to_csv would write it, without needing pandas."""
    header = ["a", "b", "label"] if not label_first else ["label", "a", "b"]
    if extra:
        header = [extra] + header
    if index:
        header = [""] + header
    lines = [sep.join(header)]
    for i, (row, label) in enumerate(zip(X, y)):
        fields = [repr(float(v)) for v in row]
        fields = fields + [str(label)] if not label_first else [str(label)] + fields
        if extra:
            fields = [f"id-{i:04d}"] + fields
        if index:
            fields = [str(i)] + fields
        lines.append(sep.join(fields))
    text = "\n".join(lines) + "\n"
    path.write_bytes((codecs.BOM_UTF8 if bom else b"") + text.encode())
    return path


def run(argv, capsys):
    """(exit code, stdout, stderr) of floral.cli.main in this process."""
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def error_line(err):
    return err.strip().splitlines()[-1]


# --- CSV reading ---------------------------------------------------------------------------

def test_pandas_index_column_is_not_a_feature(tmp_path, capsys):
    X, y = moons()
    write_csv(tmp_path / "pd.csv", X, y, index=True)
    with pytest.warns(UnnamedColumnWarning, match="first column has no name"):
        X2, y2, _ = read_labelled(tmp_path / "pd.csv", "label")
    np.testing.assert_array_equal(X2, X)  # the row numbers are not a feature
    np.testing.assert_array_equal(y2, y.astype(str))
    # the command line says so in a note and attacks the two real features
    code, out, err = run(["attack", tmp_path / "pd.csv", "--label", "label", "--attack",
                          "random", "--budget", 3, "--out", tmp_path / "p.csv"], capsys)
    assert code == 0, err
    assert "floral: note:" in err and "first column has no name" in err
    assert "Traceback" not in err
    # the written file keeps the index column, with the poisoned labels
    with pytest.warns(UnnamedColumnWarning):
        Xp, yp, _ = read_labelled(tmp_path / "p.csv", "label")
    np.testing.assert_array_equal(Xp, X)
    assert np.count_nonzero(yp != y.astype(str)) == 3
    assert (tmp_path / "p.csv").read_text().splitlines()[0] == ",a,b,label"


def test_run_reads_a_pandas_csv_without_the_index(tmp_path, capsys):
    X, y = moons(120)
    write_csv(tmp_path / "pd.csv", X, y, index=True)
    code, out, err = run(["run", "--dataset", tmp_path / "pd.csv", "--label", "label",
                          "--attack", "none", "--methods", "svm", "--seeds", 1, "--n-jobs", 1,
                          "--quiet"], capsys)
    assert code == 0, err
    notes = [ln for ln in err.splitlines() if ln.startswith("floral: note:")]
    assert len(notes) == 1 and "first column has no name" in notes[0]
    with pytest.warns(UnnamedColumnWarning):
        bunch = load_embeddings(tmp_path / "pd.csv", "label", scale=False, random_state=0)
    assert bunch.X_train.shape[1] == 2


def test_separator_drop_and_bom(tmp_path, capsys):
    X, y = moons()
    write_csv(tmp_path / "semi.csv", X, y, sep=";", extra="id", bom=True, label_first=True)
    # the comma default: one column, and the message suggests the separator
    with pytest.raises(ValueError, match=r"separated by ';'\? pass sep=';'"):
        read_labelled(tmp_path / "semi.csv", "label")
    with pytest.raises(ValueError, match=r"line 2, column 'id': the cell is not a number"):
        read_labelled(tmp_path / "semi.csv", "label", sep=";")
    X2, y2, table = read_labelled(tmp_path / "semi.csv", "label", sep=";", drop=["id"])
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(y2, y.astype(str))
    # written back with its separator and its byte-order mark
    write_labelled(tmp_path / "back.csv", X2, y2, table)
    assert (tmp_path / "back.csv").read_bytes() == (tmp_path / "semi.csv").read_bytes()
    code, out, err = run(["attack", tmp_path / "semi.csv", "--label", "label", "--sep", ";",
                          "--drop", "id", "--attack", "topk_sv", "--budget", 2], capsys)
    assert code == 0, err
    assert "flipped 2 of 60" in out
    code, out, err = run(["attack", tmp_path / "semi.csv", "--label", "label", "--sep", ";",
                          "--drop", "ID", "--attack", "random", "--budget", 2], capsys)
    assert code == 2 and error_line(err).startswith(
        "floral: error: argument --drop: ") and "no column 'ID' to drop" in err


def test_a_tab_separator_is_spelled_tab(tmp_path, capsys):
    X, y = moons()
    write_csv(tmp_path / "t.csv", X, y, sep="\t")
    for spelling in ("tab", "\\t", "\t"):
        code, out, err = run(["attack", tmp_path / "t.csv", "--label", "label", "--sep",
                              spelling, "--attack", "random", "--budget", 1], capsys)
        assert code == 0, (spelling, err)


def test_missing_cells_and_empty_labels_are_named_by_line_and_column(tmp_path, capsys):
    (tmp_path / "miss.csv").write_text("a,b,label\n1,2,x\n3,,y\n")
    (tmp_path / "nolabel.csv").write_text("a,b,label\n1,2,x\n3,4, \n5,6,y\n")
    cases = [("miss.csv", "miss.csv, line 3, column 'b': the cell is empty"),
             ("nolabel.csv", "nolabel.csv, line 3: the label (column 'label') is empty")]
    for name, message in cases:
        with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
            read_labelled(tmp_path / name, "label")
        code, _, err = run(["attack", tmp_path / name, "--label", "label", "--attack",
                            "random", "--budget", 1], capsys)
        assert code == 2 and message in error_line(err) and "Traceback" not in err


def test_a_field_over_csv_default_limit(tmp_path, capsys):
    # csv's default limit is 128 KiB per field; a long text column is legitimate data
    rows = [f"{i},{i % 2},{'w' * 200_000 if i == 0 else 'short'},{i % 2}" for i in range(20)]
    (tmp_path / "long.csv").write_text("a,b,text,label\n" + "\n".join(rows) + "\n")
    X, y, _ = read_labelled(tmp_path / "long.csv", "label", drop=["text"])
    assert X.shape == (20, 2)
    code, _, err = run(["attack", tmp_path / "long.csv", "--label", "label", "--attack",
                        "random", "--budget", 1], capsys)
    assert code == 2 and "column 'text': the cell is not a number" in error_line(err)
    assert "Traceback" not in err


def test_not_utf8_is_an_error_not_a_traceback(tmp_path, capsys):
    (tmp_path / "latin.csv").write_bytes("a,b,label\n1,2,caf\xe9\n".encode("latin-1"))
    code, _, err = run(["attack", tmp_path / "latin.csv", "--label", "label", "--attack",
                        "random", "--budget", 1], capsys)
    assert code == 2 and "is not UTF-8 text" in error_line(err)


@pytest.mark.parametrize("sep", ["", ";;", '"'])
def test_bad_separator_option(tmp_path, capsys, sep):
    X, y = moons()
    write_csv(tmp_path / "t.csv", X, y)
    code, _, err = run(["attack", tmp_path / "t.csv", "--label", "label", "--sep", sep,
                        "--attack", "random", "--budget", 1], capsys)
    assert code == 2 and error_line(err).startswith("floral: error: argument --sep: must be "
                                                    "one character")


# --- writing ---------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".csv", ".npz"])
def test_out_equal_to_an_input_is_refused_before_work(tmp_path, capsys, suffix, monkeypatch):
    X, y = moons()
    if suffix == ".csv":
        write_csv(tmp_path / "data.csv", X, y)
    else:
        np.savez(tmp_path / "data.npz", X=X, y=y)
    data = tmp_path / f"data{suffix}"
    before = data.read_bytes()
    os.symlink(data, tmp_path / f"link{suffix}")
    monkeypatch.chdir(tmp_path)
    label = ["--label", "label"] if suffix == ".csv" else []
    for out in (data, f"data{suffix}", f"./sub/../data{suffix}", tmp_path / f"link{suffix}"):
        (tmp_path / "sub").mkdir(exist_ok=True)
        code, _, err = run(["attack", data, *label, "--attack", "random", "--budget", 3,
                            "--out", out], capsys)
        assert code == 2, out
        assert error_line(err).startswith("floral: error: argument --out: ")
        assert "is the input file" in err
    # --test is an input too
    code, _, err = run(["attack", data, *label, "--attack", "random", "--budget", 3,
                        "--test", data, "--out", data], capsys)
    assert code == 2 and "is the input file" in err
    assert data.read_bytes() == before


def test_run_out_never_overwrites_a_dataset_file(tmp_path, capsys):
    X, y = moons(120)
    (tmp_path / "res").mkdir()
    write_csv(tmp_path / "res" / "results.csv", X, y)
    before = (tmp_path / "res" / "results.csv").read_bytes()
    code, _, err = run(["run", "--dataset", tmp_path / "res" / "results.csv", "--label",
                        "label", "--methods", "svm", "--seeds", 1, "--n-jobs", 1,
                        "--out", tmp_path / "res"], capsys)
    assert code == 2 and "is the input file" in error_line(err)
    assert (tmp_path / "res" / "results.csv").read_bytes() == before


class _Interrupting:
    """A file object that raises KeyboardInterrupt once `after` bytes were written."""

    def __init__(self, fh, after):
        self.fh, self.left = fh, after

    def write(self, data):
        self.left -= len(data)
        if self.left < 0:
            raise KeyboardInterrupt
        return self.fh.write(data)

    def __getattr__(self, name):
        return getattr(self.fh, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return self.fh.__exit__(*exc_info)


def test_an_interrupted_write_leaves_the_old_file(tmp_path, monkeypatch):
    from floral import _files

    X, y = moons(2000)
    write_csv(tmp_path / "out.csv", X[:5], y[:5])
    old = (tmp_path / "out.csv").read_bytes()
    real = os.fdopen
    monkeypatch.setattr(_files.os, "fdopen",
                        lambda *a, **k: _Interrupting(real(*a, **k), 10_000))
    X2, y2, table = read_labelled(write_csv(tmp_path / "big.csv", X, y), "label")
    with pytest.raises(KeyboardInterrupt):
        write_labelled(tmp_path / "out.csv", X2, y2, table)
    with pytest.raises(KeyboardInterrupt):
        Results([{"dataset": "d", "x": 1.0}] * 1000).to_csv(tmp_path / "out.csv")
    with pytest.raises(KeyboardInterrupt):
        write_labelled(tmp_path / "new.npz", X, y)
    assert (tmp_path / "out.csv").read_bytes() == old
    assert sorted(os.listdir(tmp_path)) == ["big.csv", "out.csv"]  # no temporary left


def test_writes_replace_the_file_whole(tmp_path):
    X, y = moons()
    write_labelled(tmp_path / "a.npz", X, y)
    write_labelled(tmp_path / "a.npz", X[:3], y[:3])
    with np.load(tmp_path / "a.npz") as data:
        assert data["X"].shape == (3, 2)
    res = Results([{"dataset": "d", "method": "svm", "model_accuracy": 0.5}])
    res.to_csv(tmp_path / "r.csv")
    assert read_csv(tmp_path / "r.csv")[0]["model_accuracy"] == 0.5
    mode = os.stat(tmp_path / "r.csv").st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask  # as open() would have made it, not mkstemp's 0600


# --- sizes -----------------------------------------------------------------------------------

def _npz_with_header(path, shape, dtype="<f8"):
    """An .npz whose X member declares ``shape`` but holds no data (a few hundred bytes)."""
    from numpy.lib import format as npy

    header = {"descr": dtype, "fortran_order": False, "shape": shape}
    with zipfile.ZipFile(path, "w") as zf:
        with zf.open("X.npy", "w") as fh:
            npy.write_array_header_1_0(fh, header)
        with zf.open("y.npy", "w") as fh:
            npy.write_array(fh, np.zeros(3))


def test_an_npz_declaring_a_huge_shape_is_refused_from_its_header(tmp_path, capsys):
    _npz_with_header(tmp_path / "huge.npz", (10**7, 2 * 10**6))  # 149 TiB
    assert os.path.getsize(tmp_path / "huge.npz") < 1000
    with pytest.raises(ValueError, match=r"array 'X' would take .* more than the .* "
                                         "available now"):
        read_labelled(tmp_path / "huge.npz")
    code, _, err = run(["attack", tmp_path / "huge.npz", "--attack", "random", "--budget", 1],
                       capsys)
    assert code == 2 and "array 'X' would take" in error_line(err)
    assert "Traceback" not in err


def test_an_npz_bomb_is_refused_before_decompressing(tmp_path, monkeypatch):
    from floral.datasets import _io

    # 64 MiB of zeros compress to ~64 KiB; with the limit at 16 MiB the zip directory's
    # declared size refuses it, and nothing is inflated
    with zipfile.ZipFile(tmp_path / "bomb.npz", "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("X.npy", "w") as fh:
            from numpy.lib import format as npy

            npy.write_array_header_1_0(fh, {"descr": "<f8", "fortran_order": False,
                                            "shape": (2**20, 8)})
            zeros = bytes(2**20)
            for _ in range(64):
                fh.write(zeros)
        with zf.open("y.npy", "w") as fh:
            npy.write_array(fh, np.zeros(2**20))
    assert os.path.getsize(tmp_path / "bomb.npz") < 2**20
    monkeypatch.setattr(_io, "_npz_max_bytes", lambda: 16 * 2**20)
    inflated = []
    real_read = zipfile.ZipExtFile.read
    monkeypatch.setattr(zipfile.ZipExtFile, "read",
                        lambda self, n=-1: inflated.append(n) or real_read(self, n))
    with pytest.raises(ValueError, match=r"array 'X' would take 64.0 MiB in memory \(0.1 MiB "
                                         r"compressed"):
        read_labelled(tmp_path / "bomb.npz")
    assert sum(max(n, 0) for n in inflated) < 4096  # the magic and the header only


def test_an_svm_attack_too_large_for_memory_is_refused_before_it_starts(tmp_path, capsys,
                                                                          monkeypatch):
    from floral import _memory

    X, y = moons(2000)
    np.savez(tmp_path / "d.npz", X=X, y=y)
    monkeypatch.setattr(_memory, "available_memory", lambda: 8 * 2000 * 2000 - 1)
    code, out, err = run(["attack", tmp_path / "d.npz", "--attack", "alfa_tilt", "--budget",
                          0.1], capsys)
    assert code == 2, err
    assert error_line(err).startswith("floral: error: argument --attack: alfa_tilt on the "
                                      "2,000 rows of")
    assert "needs a kernel matrix of 30.5 MiB, more than the 30.5 MiB available" in err
    assert out == ""  # refused before any work
    # the random attack needs no kernel
    code, out, err = run(["attack", tmp_path / "d.npz", "--attack", "random", "--budget",
                          0.1], capsys)
    assert code == 0, err


def test_a_memory_error_is_reported_not_raised(tmp_path, capsys, monkeypatch):
    from floral.attacks import _registry

    X, y = moons()
    np.savez(tmp_path / "d.npz", X=X, y=y)

    def no_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setitem(_registry._REGISTRY, "alfa", no_memory)
    code, _, err = run(["attack", tmp_path / "d.npz", "--attack", "alfa", "--budget", 2],
                       capsys)
    assert code == 2 and error_line(err).startswith("floral: error: out of memory")
    # and in a grid's cell (alfa_tilt on a file too large for its kernel matrix)
    monkeypatch.setitem(_registry._REGISTRY, "alfa_tilt", no_memory)
    code, _, err = run(["run", "--methods", "svm", "--seeds", 1, "--n-jobs", 1, "--budget",
                        0.1, "--quiet"], capsys)
    assert code == 2 and error_line(err).startswith("floral: error: out of memory")
    assert "Traceback" not in err


# features near 1e300 overflow every kernel (squared distances, dot products); so does a
# poly kernel with gamma 1e300 on standardised features
@pytest.mark.parametrize("attack, scale, extra", [
    ("alfa", 1e300, []), ("alfa_tilt", 1e300, []), ("topk_sv", 1e300, []), ("lfa", 1e300, []),
    ("alfa", 1.0, ["--kernel", "poly", "--gamma", "1e300"]),
    ("random", 1.0, ["--kernel", "poly", "--gamma", "1e300", "--test", "TEST"]),
])
def test_kernels_beyond_float64_are_an_error(tmp_path, capsys, attack, scale, extra):
    X, y = moons()
    np.savez(tmp_path / "d.npz", X=X * scale, y=y)
    np.savez(tmp_path / "t.npz", X=X * scale, y=y)
    extra = [tmp_path / "t.npz" if e == "TEST" else e for e in extra]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code, _, err = run(["attack", tmp_path / "d.npz", "--attack", attack, "--budget", 3,
                            *extra], capsys)
    assert code == 2, err
    assert error_line(err).startswith("floral: error: argument --attack: the kernel matrix "
                                      "of")
    assert "Traceback" not in err


# --- Ctrl-C and the workers --------------------------------------------------------------------

@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and pgrep")
def test_run_workers_do_not_take_the_terminal_sigint(tmp_path):
    """A terminal's Ctrl-C reaches every process of the group; only the parent may act on
    it (and stop the workers), or each worker prints its own traceback. Sent to the workers
    alone, a SIGINT must change nothing: the run completes."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "floral", "run", "--attack", "random", "--budget", "0.1",
         "--methods", "svm", "floral", "--rounds", "300", "--seeds", "4", "--n-jobs", "2",
         "--quiet"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True)
    def working(pid):  # the worker has imported floral's core: it is running a cell
        try:
            with open(f"/proc/{pid}/maps") as maps:
                return "floral/_core/_lib" in maps.read()
        except OSError:
            return False

    # both workers at work, or one of them for a few seconds (the other may be slow)
    workers, deadline, first = [], time.monotonic() + 120, None
    while len(workers) < 2 and proc.poll() is None and time.monotonic() < deadline:
        found = subprocess.run(["pgrep", "-g", str(proc.pid), "-f", "LokyProcess"],
                               capture_output=True, text=True).stdout.split()
        workers = [int(p) for p in found if working(int(p))]
        first = first or (time.monotonic() if workers else None)
        if first is not None and time.monotonic() - first > 5:
            break
        time.sleep(0.02)
    assert workers, "no loky worker started"
    for pid in workers:
        # started with SIGINT blocked (SigBlk, a hex mask with bit signum - 1): a Ctrl-C
        # can never reach it, at start-up (where it printed "Failed to import the site
        # module" and a traceback) or later
        with open(f"/proc/{pid}/status") as status:
            blocked = int(next(ln for ln in status if ln.startswith("SigBlk:")).split()[1], 16)
        assert blocked & (1 << (signal.SIGINT - 1)), f"worker {pid} can take SIGINT"
        os.kill(pid, signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert "random" in out


def test_run_on_features_too_large_to_standardise(tmp_path, capsys):
    # found by tools/fuzz.py: 1e300 features overflow StandardScaler's variance, and the
    # NaN that followed reached an attack mid-run as "Input X contains NaN" (a traceback)
    X, y = moons(40)
    write_csv(tmp_path / "big.csv", X * 1e300, y)
    with pytest.raises(ValueError, match=r"standardising the features gives non-finite "
                                         r"values: .* \(\|x\| up to 2.\d+e\+300\)"):
        load_embeddings(tmp_path / "big.csv", "label")
    assert load_embeddings(tmp_path / "big.csv", "label", scale=False).X_train.max() > 1e299
    code, out, err = run(["run", "--dataset", tmp_path / "big.csv", "--label", "label",
                          "--attack", "alfa-tilt", "--methods", "curie", "--seeds", 1,
                          "--n-jobs", 1, "--quiet"], capsys)
    assert code == 2 and "Traceback" not in err
    assert error_line(err).startswith("floral: error: argument --dataset: ")
    assert "standardising the features gives non-finite values" in err and out == ""
