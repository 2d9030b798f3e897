"""Results of a grid: the records, the paper-style table, and CSV / JSON files."""
import csv
import io
import json
import math
import numbers
import os

import numpy as np
from sklearn.utils._param_validation import StrOptions, validate_params

from .._files import atomic_output
from .._validation import check_option
from ._methods import available_methods, display_name

__all__ = ["FIELDS", "IMBALANCE_RATIO", "Results", "read_csv", "read_json"]

# The order of a record's fields (and of CSV columns).
# Fields added later go at the end, so the columns of older CSV files keep their places.
FIELDS = ("dataset", "attack", "budget", "method", "seed", "best_accuracy", "last_accuracy",
          "fit_seconds", "attack_seconds", "best_val_accuracy", "last_val_accuracy",
          "best_round", "n_flipped", "n_train", "C", "gamma", "best_balanced_accuracy",
          "last_balanced_accuracy", "best_minority_recall", "last_minority_recall",
          "n_classes", "minority_share", "model_accuracy", "model_val_accuracy",
          "model_balanced_accuracy", "model_minority_recall")
_TEXT_FIELDS = {"dataset", "attack", "method"}
_INT_FIELDS = {"seed", "best_round", "n_flipped", "n_train", "n_classes"}

# A dataset is imbalanced (and the table shows balanced accuracy and minority recall) when
# minority_share * n_classes < IMBALANCE_RATIO: the smallest class has less than this
# fraction of the share it would have if the classes were equal (0.4 with two classes).
IMBALANCE_RATIO = 0.8


def setting_label(attack, budget):
    if attack == "none":
        return "clean"
    if isinstance(budget, numbers.Integral):
        return f"{attack} {budget}"
    return f"{attack} {100 * float(budget):g}%"


def _fmt(x):
    """Paper style: .968 (1.000 stays 1.000)."""
    if x is None or not math.isfinite(x):
        return "n/a"
    text = f"{x:.3f}"
    return text[1:] if text.startswith("0.") else text


# table columns -> their names, and what a title says about them
_COLUMNS = {"model": "Model", "best": "Best", "last": "Last"}
_COLUMN_NOTES = {"model": "Model = what the method returns given the validation split",
                 "best": "Best = round selected on the validation split"}

# summary / table metrics -> how a table title names them
_METRICS = {"accuracy": "accuracy", "balanced_accuracy": "balanced accuracy",
            "minority_recall": "recall of the minority class ({share:.1%} of the training "
                               "labels)"}


class Results(list):
    """Records of :func:`run_grid`: a list of dicts with the fields of :data:`FIELDS`.

    Attributes
    ----------
    meta : dict
        The grid's settings (datasets, attacks, budgets, methods, seeds, C, gamma, method
        and attack parameters, training set sizes); written by :meth:`to_json`.
    models : dict
        With ``keep_models=True``: ``(dataset, attack, budget, seed) -> Bunch(data,
        y_poisoned, estimators)``, ``estimators`` mapping each method to its fitted
        model.
    """

    def __init__(self, records=()):
        super().__init__(records)
        self.meta = {}
        self.models = {}

    def to_frame(self):
        """The records as a :class:`pandas.DataFrame` (needs pandas)."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("Results.to_frame needs pandas: pip install pandas") from None
        return pd.DataFrame(list(self), columns=self._fields())

    def _fields(self):
        extra = [k for rec in self for k in rec if k not in FIELDS]
        return list(FIELDS) + list(dict.fromkeys(extra))

    def to_csv(self, path):
        """Write the records as CSV (a header row, one row per record; None is empty).

        The file is written beside ``path`` and renamed over it once complete, so an
        interruption never leaves a truncated file.

        Floats are written with ``repr``, so :func:`read_csv` gives them back exactly.
        """
        fields = self._fields()
        with atomic_output(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=fields)
            writer.writeheader()
            for rec in self:
                writer.writerow({k: "" if rec.get(k) is None else
                                 (repr(float(rec[k])) if isinstance(rec[k], float)
                                  else rec[k]) for k in fields})

    def to_json(self, path):
        """Write ``{"meta": ..., "records": [...]}`` as JSON; :func:`read_json` reads it."""
        # one record per line: compact, and still diff- and grep-friendly
        records = [json.dumps({k: jsonable(v) for k, v in rec.items()}) for rec in self]
        with atomic_output(path, "w", encoding="utf-8") as fh:
            fh.write('{"meta": ' + json.dumps(_jsonable_tree(self.meta))
                     + ',\n "records": [\n  ' + ",\n  ".join(records) + "\n]}\n")

    def save(self, directory):
        """Write ``results.csv`` and ``results.json`` into ``directory`` (which must exist).

        Parameters
        ----------
        directory : str or os.PathLike

        Returns
        -------
        paths : list of str
            The two files written.
        """
        paths = [os.path.join(directory, "results.csv"), os.path.join(directory, "results.json")]
        self.to_csv(paths[0])
        self.to_json(paths[1])
        return paths

    @validate_params({"metric": [StrOptions(set(_METRICS))]},
                     prefer_skip_nested_validation=True)
    def summary(self, metric="accuracy"):
        """Mean and standard deviation over seeds per dataset, setting and method.

        Parameters
        ----------
        metric : {"accuracy", "balanced_accuracy", "minority_recall"}, default="accuracy"
            The test score summarised: the records' ``model_<metric>``,
            ``best_<metric>`` and ``last_<metric>``. Records without it (files written
            before it existed) count as NaN.

        Returns
        -------
        rows : list of dict
            ``dataset, attack, budget, method, n_seeds, model_mean, model_std, best_mean,
            best_std, last_mean, last_std, flipped_fraction`` in the records' order. The
            standard deviation is the sample one (``ddof=1``); NaN with a single seed.
        """
        groups = {}
        for rec in self:
            key = (rec["dataset"], rec["attack"], rec["budget"], rec["method"])
            groups.setdefault(key, []).append(rec)
        rows = []
        for (dataset, attack, budget, method), recs in groups.items():
            row = dict(dataset=dataset, attack=attack, budget=budget, method=method,
                       n_seeds=len(recs))
            for which in _COLUMNS:
                values = np.array([_score(r, f"{which}_{metric}") for r in recs], dtype=float)
                row[f"{which}_mean"] = float(values.mean())
                row[f"{which}_std"] = float(np.std(values, ddof=1)) if values.size > 1 \
                    else float("nan")
            row["flipped_fraction"] = float(np.mean([r["n_flipped"] / r["n_train"]
                                                     for r in recs]))
            rows.append(row)
        return rows

    def _imbalance(self, dataset):
        """The minority share of ``dataset``'s training labels if it is imbalanced, else None.

        Imbalanced means ``minority_share * n_classes < IMBALANCE_RATIO`` (0.8) in a
        record of the dataset: the least frequent class has less than 0.8 of a balanced
        share (below 0.4 with two classes). Records without these fields are not.
        """
        shares = [r["minority_share"] * r["n_classes"] for r in self
                  if r.get("dataset") == dataset and r.get("minority_share") is not None
                  and r.get("n_classes")]
        if shares and min(shares) < IMBALANCE_RATIO:
            return min(r["minority_share"] for r in self if r.get("dataset") == dataset
                       and r.get("minority_share") is not None)
        return None

    @validate_params({"fmt": [StrOptions({"text", "markdown"})],
                      "columns": ["array-like", StrOptions(set(_COLUMNS))]},
                     prefer_skip_nested_validation=True)
    def table(self, fmt="text", columns=("model",)):
        """A row per setting, a column per method: the returned model's test accuracy, or
        the paper's Best / Last.

        Each cell holds the requested scores separated by `` / `` (``columns=("best",
        "last")`` is the paper's table), each the mean over seeds ``± `` the sample
        standard deviation (omitted with one seed). One block per dataset; an imbalanced
        dataset gets two more, the same cells in balanced accuracy and in recall of the
        minority class. Imbalanced: ``minority_share * n_classes < IMBALANCE_RATIO``
        (0.8) in the dataset's records, i.e. a minority share of the training labels
        below 0.4 with two classes; records read from files that predate these fields
        show accuracy only.

        Parameters
        ----------
        fmt : {"text", "markdown"}, default="text"
        columns : sequence of {"model", "best", "last"}, default=("model",)
            The scores in each cell: ``model`` (what the method returns, see the module
            docstring), ``best`` (the round or epoch selected on the validation split),
            ``last`` (the final round or epoch).

        Returns
        -------
        table : str
        """
        columns = tuple(columns) if not isinstance(columns, str) else (columns,)
        if not columns:
            raise ValueError("columns must name at least one of "
                             f"{', '.join(map(repr, _COLUMNS))}")
        for c in columns:
            check_option(c, "columns", [StrOptions(set(_COLUMNS))], "Results.table")
        blocks = []
        for dataset in dict.fromkeys(r["dataset"] for r in self):
            share = self._imbalance(dataset)
            metrics = ["accuracy"] if share is None else list(_METRICS)
            for metric in metrics:
                blocks.append(self._block(dataset, metric, share, fmt, columns))
        return "\n\n".join(blocks)

    def _block(self, dataset, metric, share, fmt, columns):
        rows = [r for r in self.summary(metric) if r["dataset"] == dataset]
        methods = [m for m in available_methods() if any(r["method"] == m for r in rows)]
        methods += [m for m in dict.fromkeys(r["method"] for r in rows)
                    if m not in methods]
        settings = list(dict.fromkeys((r["attack"], r["budget"]) for r in rows))
        cells = {(r["attack"], r["budget"], r["method"]): r for r in rows}
        n_seeds = max(r["n_seeds"] for r in rows)
        sep = " ± " if fmt == "markdown" else "±"

        def cell(r):
            if r is None:
                return "n/a"
            parts = []
            for c in columns:
                m, s = r[f"{c}_mean"], r[f"{c}_std"]
                parts.append(_fmt(m) + (sep + _fmt(s) if math.isfinite(s) else ""))
            return " / ".join(parts)

        header = ["setting"] + [display_name(m) for m in methods]
        body = [[setting_label(a, b)] + [cell(cells.get((a, b, m))) for m in methods]
                for a, b in settings]
        seeds = f"mean{sep}std over {n_seeds} seeds" if n_seeds > 1 else "1 seed"
        what = _METRICS[metric].format(share=share)
        names = " / ".join(_COLUMNS[c] for c in columns)
        notes = [_COLUMN_NOTES[c] for c in columns if c in _COLUMN_NOTES]
        title = f"{dataset}: test {what}, {names} ({'; '.join([seeds] + notes)})"
        return _render(title, header, body, fmt)


def _score(record, field):
    value = record.get(field)
    return float("nan") if value is None else value


def _jsonable_tree(value):
    if isinstance(value, dict):
        return {str(k): _jsonable_tree(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable_tree(v) for v in value]
    return jsonable(value)


def _render(title, header, body, fmt):
    if fmt == "markdown":
        lines = [f"**{title}**", "", "| " + " | ".join(header) + " |",
                 "| " + " | ".join("---" for _ in header) + " |"]
        lines += ["| " + " | ".join(row) + " |" for row in body]
        return "\n".join(lines)
    widths = [max(len(row[j]) for row in [header] + body) for j in range(len(header))]
    out = io.StringIO()
    out.write(title + "\n")
    line = "  ".join(h.ljust(w) if j == 0 else h.center(w)
                     for j, (h, w) in enumerate(zip(header, widths)))
    out.write(line.rstrip() + "\n" + "-" * len(line.rstrip()) + "\n")
    for row in body:
        out.write("  ".join(c.ljust(w) if j == 0 else c.rjust(w)
                            for j, (c, w) in enumerate(zip(row, widths))).rstrip() + "\n")
    return out.getvalue().rstrip("\n")


def _parse_number(text):
    if text == "":
        return None
    if any(ch in text for ch in ".eEn"):  # nan / inf too
        return float(text)
    return int(text)


@validate_params({"path": [str, os.PathLike]}, prefer_skip_nested_validation=True)
def read_csv(path):
    """Read records written by :meth:`Results.to_csv`.

    Text fields stay text, counts become ints, accuracies and timings floats, empty cells
    None; a budget written as an int (a count) stays an int.

    Returns
    -------
    results : Results
    """
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    records = []
    for row in rows:
        rec = {}
        for key, text in row.items():
            if key in _TEXT_FIELDS:
                rec[key] = text
            elif key in _INT_FIELDS:
                rec[key] = None if text == "" else int(text)
            else:
                try:
                    rec[key] = _parse_number(text)
                except ValueError:
                    rec[key] = text
        records.append(rec)
    return Results(records)


@validate_params({"path": [str, os.PathLike]}, prefer_skip_nested_validation=True)
def read_json(path):
    """Read records written by :meth:`Results.to_json` (or a plain JSON list of records).

    Returns
    -------
    results : Results
        With :attr:`Results.meta` restored.
    """
    with open(path) as fh:
        payload = json.load(fh)
    if isinstance(payload, list):
        return Results(payload)
    results = Results(payload["records"])
    results.meta = payload.get("meta", {})
    return results


def jsonable(value):
    if isinstance(value, (tuple, list)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)
