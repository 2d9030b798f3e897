"""What the bench scripts share: the machine, mean ± std over seeds, the results files.

Poisoned labels come from :func:`floral.experiments.poison_labels` (the runner's path).
"""
import os
import platform

import numpy as np


def cpu_model():
    """The CPU's model name (/proc/cpuinfo where it exists; platform.processor() is often empty)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:  # not on every platform
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def load_average():
    """1/5/15-minute load averages, or None where the OS has none."""
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


def machine_info():
    """Platform, CPU, core count and the versions a result depends on, for JSON and markdown."""
    import scipy
    import sklearn

    from floral import __version__

    info = {"platform": platform.platform(), "cpu": cpu_model(), "cpu_count": os.cpu_count(),
            "python": platform.python_version(), "numpy": np.__version__,
            "scipy": scipy.__version__, "sklearn": sklearn.__version__, "floral": __version__}
    from threadpoolctl import threadpool_info

    info["blas"] = [{k: p.get(k) for k in ("internal_api", "num_threads", "version")}
                    for p in threadpool_info()]
    return info


def machine_line(info):
    """One markdown line from machine_info()."""
    return (f"{info['platform']}, {info['cpu']}, os.cpu_count() = {info['cpu_count']}; "
            f"Python {info['python']}, NumPy {info['numpy']}, SciPy {info['scipy']}, "
            f"scikit-learn {info['sklearn']}, floral {info['floral']}")


def mean_std(values):
    """Mean and sample standard deviation (ddof=1; 0 for a single value)."""
    values = np.asarray(values, dtype=float)
    return float(values.mean()), float(values.std(ddof=1)) if values.size > 1 else 0.0


def pm(values):
    """'mean ± std' to three decimals."""
    mean, std = mean_std(values)
    return f"{mean:.3f} ± {std:.3f}"


def quick_out(path):
    """Where a ``--quick`` run writes instead of ``path`` (the recorded results)."""
    import tempfile

    return os.path.join(tempfile.gettempdir(), "bench_quick", os.path.basename(path))


def write_results(stem, payload, text):
    """Write ``payload`` to ``{stem}.json`` and ``text`` to ``{stem}.md`` (folders made as
    needed) and print ``text``."""
    import json

    os.makedirs(os.path.dirname(os.path.abspath(stem)), exist_ok=True)
    with open(stem + ".json", "w") as fh:
        json.dump(payload, fh, indent=1)
    with open(stem + ".md", "w") as fh:
        fh.write(text)
    print(text)
