"""Drift from pushed distributions: the statistics by hand, against Evidently, and the service."""

import json
import math
import os
import subprocess
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from monitoring import drift
from monitoring.models import MetricSample, ReferenceDistribution
from monitoring.services.drift import distribution_push
from tests.factories import DeploymentFactory, MetricSourceFactory

BASE_DIR = Path(__file__).resolve().parents[2]
EVIDENTLY_SCRIPT = Path(__file__).with_name("evidently_figures.py")


def figures(kind, reference, current) -> dict[str, float]:
    return drift.compare(
        drift.parse_distribution(kind, reference), drift.parse_distribution(kind, current)
    ).as_metrics()


# The statistics, checked by hand --------------------------------------------------------------
def test_psi_js_and_chi_square_of_two_categories_match_hand_computation():
    # Shares 0.5/0.5 against 0.25/0.75.
    got = figures("categorical", {"counts": {"a": 50, "b": 50}}, {"counts": {"a": 25, "b": 75}})

    psi = (0.5 - 0.25) * math.log(0.5 / 0.25) + (0.5 - 0.75) * math.log(0.5 / 0.75)
    assert got["drift.psi"] == pytest.approx(psi, rel=1e-12)
    assert got["drift.psi"] == pytest.approx(0.274653, abs=1e-6)

    m = (0.375, 0.625)  # the mixture of the two
    kl_p = 0.5 * math.log(0.5 / m[0]) + 0.5 * math.log(0.5 / m[1])
    kl_q = 0.25 * math.log(0.25 / m[0]) + 0.75 * math.log(0.75 / m[1])
    assert got["drift.js"] == pytest.approx(math.sqrt((kl_p + kl_q) / 2), rel=1e-12)

    # Expected 50/50 of the 100 current; observed 25/75: (25^2 + 25^2) / 50 = 25, 1 degree.
    assert got["drift.chi2"] == pytest.approx(25.0)
    assert got["drift.chi2_p"] == pytest.approx(math.erfc(math.sqrt(25 / 2)), rel=1e-9)
    assert "drift.ks" not in got


def test_an_empty_bin_gets_a_share_of_one_ten_thousandth_before_psi():
    edges = [0, 1, 2, 3]
    got = figures(
        "numeric", {"edges": edges, "counts": [10, 10, 0]}, {"edges": edges, "counts": [10, 5, 5]}
    )

    ref, cur = (0.5, 0.5, 0.0001), (0.5, 0.25, 0.25)
    psi = sum((r - c) * math.log(r / c) for r, c in zip(ref, cur, strict=True))
    assert got["drift.psi"] == pytest.approx(psi, rel=1e-12)
    # Jensen-Shannon uses the empty share as it is (0 log 0 = 0), natural logarithm.
    m = [(r + c) / 2 for r, c in zip((0.5, 0.5, 0), cur, strict=True)]
    kl_p = sum(r * math.log(r / x) for r, x in zip((0.5, 0.5, 0), m, strict=True) if r)
    kl_q = sum(c * math.log(c / x) for c, x in zip(cur, m, strict=True))
    assert got["drift.js"] == pytest.approx(math.sqrt((kl_p + kl_q) / 2), rel=1e-12)
    # Binned KS: the largest gap of the cumulative shares (0.5, 1, 1) and (0.5, 0.75, 1).
    assert got["drift.ks"] == pytest.approx(0.25)
    assert "drift.ks_p" not in got


def test_a_tiny_share_makes_the_empty_bin_a_millionth_of_it():
    shares = drift._fill_empty(np.array([0.99995, 0.00005, 0.0]))
    assert shares[2] == pytest.approx(0.00005 / 10**6)


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        ("numeric", [1.0, 2.5, 2.5, 7.0, 9.0] * 10),
        ("numeric", list(np.linspace(0, 100, 101))),  # more than 20 distinct: Sturges bins
        ("numeric", {"edges": [0, 1, 2], "counts": [3, 0]}),
        ("categorical", ["a", "b", "b", "c"]),
        ("categorical", {"counts": {"a": 1, "b": 4}}),
    ],
)
def test_identical_distributions_show_no_drift(kind, data):
    got = figures(kind, data, data)
    assert got["drift.psi"] == 0
    assert got["drift.js"] == pytest.approx(0, abs=1e-7)
    if kind == "numeric":
        assert got["drift.ks"] == 0
        if "edges" not in data:
            assert got["drift.ks_p"] == 1
    else:
        assert got["drift.chi2"] == 0
        assert got["drift.chi2_p"] == 1


def test_a_category_seen_only_in_current_is_a_category_of_its_own():
    got = figures("categorical", ["a", "a", "b", "b"], ["a", "b", "new"])
    # Shares a .5/.333, b .5/.333, new 0.0001 (filled)/.333.
    third = 1 / 3
    psi = 2 * (0.5 - third) * math.log(0.5 / third) + (0.0001 - third) * math.log(0.0001 / third)
    assert got["drift.psi"] == pytest.approx(psi, rel=1e-12)
    # The reference says "new" never happens: the chi-square statistic is unbounded, so only
    # its p-value (0) is given.
    assert "drift.chi2" not in got
    assert got["drift.chi2_p"] == 0


def test_raw_values_are_counted_into_a_binned_reference_with_open_outer_bins():
    reference = {"edges": [0, 10, 20], "counts": [5, 5]}
    got = figures("numeric", reference, [-100, 5, 15, 500])  # 2 in each bin, shares equal
    assert got["drift.psi"] == 0
    assert got["drift.ks"] == 0


def test_few_distinct_numbers_are_each_a_bin():
    # Ratings 1..3 against 1..4: four bins, the "4" empty in the reference.
    got = figures("numeric", [1, 2, 3, 3], [1, 2, 3, 4])
    ref, cur = (0.25, 0.25, 0.5, 0.0001), (0.25, 0.25, 0.25, 0.25)
    psi = sum((r - c) * math.log(r / c) for r, c in zip(ref, cur, strict=True))
    assert got["drift.psi"] == pytest.approx(psi, rel=1e-12)


@pytest.mark.parametrize(
    ("kind", "data", "message"),
    [
        ("numeric", [], "at least one observation"),
        ("numeric", [1, "two"], "Values must be numbers"),
        ("numeric", [1, float("nan")], "finite"),
        ("numeric", [True, 2], "Values must be numbers"),
        ("numeric", {"edges": [0, 1, 1], "counts": [1, 2]}, "strictly increasing"),
        ("numeric", {"edges": [0, 1], "counts": [1, 2]}, "2 counts need 3 edges, not 2"),
        ("numeric", {"edges": [0, 1, 2], "counts": [1, -2]}, "cannot be negative"),
        ("numeric", {"edges": [0, 1, 2], "counts": [0, 0]}, "at least one observation"),
        ("numeric", {"counts": {"a": 1}}, "Binned numbers are"),
        ("categorical", {"counts": {"a": 0}}, "at least one observation"),
        ("categorical", {"counts": {"a": float("inf")}}, "finite"),
        ("categorical", {"counts": [1, 2]}, "Categorical counts are"),
        ("categorical", ["a", 3], "Categories are non-empty text"),
        ("categorical", "abc", "Send a list of values"),
        ("ordinal", [1], "'numeric' or 'categorical'"),
    ],
)
def test_bad_distributions_are_refused_with_a_clear_message(kind, data, message):
    with pytest.raises(drift.DistributionError, match=message):
        drift.parse_distribution(kind, data)


def test_binned_sides_must_share_their_edges():
    with pytest.raises(drift.DistributionError, match="edges must be the reference's"):
        figures(
            "numeric",
            {"edges": [0, 1, 2], "counts": [1, 1]},
            {"edges": [0, 1, 3], "counts": [1, 1]},
        )


# Agreement with Evidently ---------------------------------------------------------------------
def _evidently_python(unavailable) -> str:
    python = os.environ.get("EVIDENTLY_PYTHON") or str(BASE_DIR / ".venv-mlflow" / "bin" / "python")
    if not Path(python).exists():
        unavailable(f"{python} is missing: `make .venv-mlflow/.installed` installs Evidently")
    # Only whether it is installed (cheap); a broken install fails the test itself, loudly.
    find = "import importlib.util, sys; sys.exit(importlib.util.find_spec('evidently') is None)"
    if subprocess.run([python, "-c", find], timeout=60).returncode != 0:
        unavailable(f"Evidently is not installed in {python}: `make .venv-mlflow/.installed`")
    return python


def _bins_as_categories(counts: list[int]) -> list[str]:
    """Binned counts as Evidently reads them: each bin's label repeated count times."""
    return [f"bin{i}" for i, n in enumerate(counts) for _ in range(n)]


def test_figures_agree_with_evidently_on_the_same_data(unavailable):
    python = _evidently_python(unavailable)
    rng = np.random.default_rng(20261123)
    edges = [0, 10, 20, 30, 40, 50]
    binned_ref, binned_cur = [120, 80, 0, 40, 10], [90, 60, 30, 0, 70]
    cases = {
        "numeric, drifted": (
            "numeric",
            rng.normal(50, 10, 800).round(3).tolist(),
            rng.normal(56, 14, 600).round(3).tolist(),
        ),
        "numeric, not drifted": (
            "numeric",
            rng.normal(50, 10, 800).round(3).tolist(),
            rng.normal(50, 10, 700).round(3).tolist(),
        ),
        "numeric, few distinct values": (
            "numeric",
            rng.integers(1, 6, 300).tolist(),
            rng.integers(2, 8, 250).tolist(),
        ),
        "categorical, new category": (
            "categorical",
            rng.choice(["web", "branch", "phone"], 500, p=[0.5, 0.3, 0.2]).tolist(),
            rng.choice(["web", "branch", "phone", "app"], 400, p=[0.4, 0.2, 0.1, 0.3]).tolist(),
        ),
        "categorical, same categories": (
            "categorical",
            rng.choice(["low", "mid", "high"], 500, p=[0.5, 0.3, 0.2]).tolist(),
            rng.choice(["low", "mid", "high"], 450, p=[0.45, 0.3, 0.25]).tolist(),
        ),
    }
    ours = {name: figures(kind, ref, cur) for name, (kind, ref, cur) in cases.items()}
    # Binned counts with an empty bin on each side: Evidently takes raw values only, so it
    # gets each bin as a category of that many observations (same shares, same empty-bin rule).
    ours["binned, empty bins"] = figures(
        "numeric", {"edges": edges, "counts": binned_ref}, {"edges": edges, "counts": binned_cur}
    )
    cases["binned, empty bins"] = (
        "categorical",
        _bins_as_categories(binned_ref),
        _bins_as_categories(binned_cur),
    )

    payload = [{"kind": k, "reference": r, "current": c} for k, r, c in cases.values()]
    run = subprocess.run(
        [python, str(EVIDENTLY_SCRIPT)],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    theirs = dict(zip(cases, json.loads(run.stdout), strict=True))

    for name, library in theirs.items():
        mine = ours[name]
        assert mine["drift.psi"] == pytest.approx(library["psi"], rel=1e-9), name
        assert mine["drift.js"] == pytest.approx(library["js"], rel=1e-9), name
        if "ks_p" in library:
            assert mine["drift.ks_p"] == pytest.approx(library["ks_p"], rel=1e-9, abs=1e-300)
        if "chi2_p" in library and cases[name][0] == "categorical" and "binned" not in name:
            assert mine["drift.chi2_p"] == pytest.approx(library["chi2_p"], rel=1e-9, abs=1e-300)
    # The data do what their names say.
    assert ours["numeric, drifted"]["drift.psi"] > 0.1 > ours["numeric, not drifted"]["drift.psi"]
    assert ours["categorical, new category"]["drift.chi2_p"] == 0
    assert ours["numeric, few distinct values"]["drift.ks_p"] < 0.05


# The service ----------------------------------------------------------------------------------
@pytest.fixture
def deployment(db):
    return DeploymentFactory()


def _series(deployment, feature="age") -> dict[str, float]:
    rows = MetricSample.objects.filter(deployment=deployment, feature=feature)
    return {s.metric: s.value for s in rows}


def test_a_reference_is_stored_and_later_currents_are_compared_with_it(deployment):
    first = timezone.now() - timedelta(hours=1)
    distribution_push(
        deployment=deployment,
        feature="age",
        kind="numeric",
        reference={"edges": [18, 30, 45, 65, 100], "counts": [30, 40, 20, 10]},
        current={"edges": [18, 30, 45, 65, 100], "counts": [30, 40, 20, 10]},
        at=first,
    )
    reference = ReferenceDistribution.objects.get(deployment=deployment, feature="age")
    assert reference.kind == "numeric"
    assert reference.data == {"edges": [18, 30, 45, 65, 100], "counts": [30, 40, 20, 10]}

    # The next push sends only the current distribution, as raw ages.
    returned = distribution_push(
        deployment=deployment, feature="age", kind="numeric", current=[20, 25, 70, 80, 90, 95]
    )

    assert set(returned) == {"drift.psi", "drift.js", "drift.ks"}
    assert returned["drift.psi"] > 0.25
    latest = MetricSample.objects.filter(deployment=deployment, feature="age").latest("at")
    written = {
        s.metric: s.value
        for s in MetricSample.objects.filter(deployment=deployment, feature="age", at=latest.at)
    }
    assert written == returned
    assert (
        MetricSample.objects.filter(deployment=deployment, at=first, metric="drift.psi")
        .get(feature="age")
        .value
        == 0
    )


def test_raw_numeric_pushes_write_ks_and_its_p_value(deployment):
    source = MetricSourceFactory(deployment=deployment, kind="push", url="")
    at = timezone.now().replace(microsecond=0)
    values = distribution_push(
        deployment=deployment,
        feature="score",
        kind="numeric",
        reference=[0.1, 0.2, 0.3, 0.4, 0.5] * 20,
        current=[0.6, 0.7, 0.8, 0.9, 1.0] * 20,
        at=at.isoformat(),
        source=source,
    )
    assert values["drift.ks"] == 1
    assert values["drift.ks_p"] < 1e-10
    samples = MetricSample.objects.filter(deployment=deployment, feature="score")
    assert {s.metric for s in samples} == {"drift.psi", "drift.js", "drift.ks", "drift.ks_p"}
    assert {(s.at, s.source_id) for s in samples} == {(at, source.pk)}


def test_categorical_pushes_write_chi_square(deployment):
    values = distribution_push(
        deployment=deployment,
        feature="channel",
        kind="categorical",
        reference={"counts": {"web": 50, "branch": 50}},
        current=["web"] * 25 + ["branch"] * 75,
    )
    assert values["drift.chi2"] == pytest.approx(25)
    assert set(_series(deployment, "channel")) == {
        "drift.psi",
        "drift.js",
        "drift.chi2",
        "drift.chi2_p",
    }


def test_a_push_without_any_reference_asks_for_one(deployment):
    with pytest.raises(ValidationError) as caught:
        distribution_push(deployment=deployment, feature="age", kind="numeric", current=[1, 2])
    assert caught.value.message_dict == {
        "reference": ["No reference distribution for 'age' yet: send one."]
    }
    assert not MetricSample.objects.exists()


def test_the_current_kind_must_match_the_stored_reference(deployment):
    distribution_push(
        deployment=deployment, feature="age", kind="numeric", reference=[1, 2], current=[1, 2]
    )
    with pytest.raises(ValidationError) as caught:
        distribution_push(deployment=deployment, feature="age", kind="categorical", current=["a"])
    assert "The reference of 'age' is numeric" in caught.value.message_dict["kind"][0]


def test_a_new_reference_replaces_the_old_one(deployment):
    for reference in ([1, 2, 3], ["x", "y"]):
        kind = "numeric" if isinstance(reference[0], int) else "categorical"
        distribution_push(
            deployment=deployment, feature="f", kind=kind, reference=reference, current=reference
        )
    stored = ReferenceDistribution.objects.get(deployment=deployment, feature="f")
    assert (stored.kind, stored.data) == ("categorical", {"counts": {"x": 1, "y": 1}})


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"current": {"edges": [0, 1], "counts": [-1]}}, "current"),
        ({"reference": {"edges": [1, 0], "counts": [1]}}, "reference"),
        ({"feature": "  "}, "feature"),
        ({"kind": "ordinal"}, "kind"),
        ({"at": "yesterday"}, "at"),
        ({"at": timezone.now() + timedelta(days=1)}, "at"),
    ],
)
def test_bad_pushes_name_the_field_at_fault_and_write_nothing(deployment, kwargs, field):
    push = {"feature": "age", "kind": "numeric", "reference": [1, 2, 3], "current": [1, 2]}
    with pytest.raises(ValidationError) as caught:
        distribution_push(deployment=deployment, **{**push, **kwargs})
    assert list(caught.value.message_dict) == [field]
    assert not MetricSample.objects.exists()
    assert not ReferenceDistribution.objects.exists()


def test_a_source_of_another_deployment_is_refused(deployment):
    other = MetricSourceFactory(kind="push", url="")
    with pytest.raises(ValidationError, match="another deployment"):
        distribution_push(
            deployment=deployment,
            feature="age",
            kind="numeric",
            reference=[1, 2],
            current=[1, 2],
            source=other,
        )
