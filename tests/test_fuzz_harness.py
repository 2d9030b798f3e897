"""tools/fuzz.py finds what it claims to: a crash, a hang, an exception other than
ValueError/TypeError and a silent wrong are each reported, counted, and make the exit
status 1; a clean seeded run exits 0 with a summary."""
import json
import os
import subprocess
import sys

import pytest

FUZZ = os.path.join(os.path.dirname(__file__), os.pardir, "tools", "fuzz.py")


def fuzz(*args, cwd):
    return subprocess.run([sys.executable, FUZZ, *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.skipif(not hasattr(os, "killpg"), reason="POSIX process groups")
def test_each_kind_of_finding_is_reported(tmp_path):
    probes = [{"kind": "probe", "id": f"p:{a}", "action": a}
              for a in ("ok", "refuse", "raise", "nan", "abort", "sleep", "ok")]
    (tmp_path / "cases.json").write_text(json.dumps(probes))
    res = fuzz("--replay", "cases.json", "--timeout", 5, "--json", "out.json", cwd=tmp_path)
    assert res.returncode == 1, res.stderr
    assert "fuzz: crashes 1, hangs 1, silent wrongs 1, other exceptions 1, cli failures 0" \
        in res.stdout
    report = json.loads((tmp_path / "out.json").read_text())
    found = {f["case"]["action"]: f["kinds"] for f in report["findings"]}
    assert found == {"raise": ["other exception"], "nan": ["silent wrong"],
                     "abort": ["crash"], "sleep": ["hang"]}
    # the child after a crash and after a hang runs the remaining cases
    assert report["outcomes"] == {"ok": 3, "refused": 1}


def test_a_short_seeded_run_is_clean(tmp_path):
    res = fuzz("--seed", 0, "--cases", 12, "--budget-s", 120, cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "fuzz: seed 0, 12 cases" in res.stdout
    assert "fuzz: crashes 0, hangs 0, silent wrongs 0, other exceptions 0, cli failures 0" \
        in res.stdout
