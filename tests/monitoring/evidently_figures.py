"""Evidently's drift figures for one reference and one current sample: JSON in, JSON out.

Run by tests/monitoring/test_drift.py with .venv-mlflow's Python (Evidently is a test-only
library, installed from requirements-test.txt, never imported by the portal):

    [{"kind": "numeric" | "categorical", "reference": [...], "current": [...]}, ...]  on stdin
    [{"psi": ..., "js": ..., "ks_p": ...} or {"psi": ..., "js": ..., "chi2_p": ...}, ...]  out

(a list, so that Evidently's few seconds of importing are paid once per test run).

It calls Evidently's public stat tests (``evidently.legacy.calculations.stattests``) with
their default settings, so what it prints is what an Evidently user would see.
"""

import json
import sys
import warnings

import pandas as pd
from evidently.legacy.calculations.stattests import (
    chi_stat_test,
    jensenshannon_stat_test,
    ks_stat_test,
    psi_stat_test,
)
from evidently.legacy.core import ColumnType


def figures(data: dict) -> dict[str, float]:
    reference = pd.Series(data["reference"])
    current = pd.Series(data["current"])
    numeric = data["kind"] == "numeric"
    column_type = ColumnType.Numerical if numeric else ColumnType.Categorical

    def score(test) -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # chisquare's division by a zero expectation
            return float(test(reference, current, column_type, None).drift_score)

    result = {"psi": score(psi_stat_test), "js": score(jensenshannon_stat_test)}
    if numeric:
        result["ks_p"] = score(ks_stat_test)
    else:
        result["chi2_p"] = score(chi_stat_test)
    return result


def main() -> None:
    json.dump([figures(case) for case in json.load(sys.stdin)], sys.stdout)


if __name__ == "__main__":
    main()
