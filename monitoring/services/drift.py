"""Drift from pushed distributions: keep a feature's reference, compare each current with it.

The statistics live in monitoring/drift.py (pure, documented there); this module reads the
push, keeps the reference (one per deployment and feature) and writes the figures as samples
through ``samples_write``, so rules and charts see them like any other metric.
"""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from monitoring import drift
from monitoring.models import DistributionKind, MetricSource, ReferenceDistribution, SourceKind
from monitoring.services.samples import (
    FUTURE_SLACK,
    Sample,
    parse_instant,
    samples_write,
    source_mark_received,
)

FEATURE_MAX_LENGTH = 120


def _clean_feature(feature) -> str:
    if not isinstance(feature, str) or not feature.strip():
        raise ValidationError({"feature": "Name the feature or score the distribution is of."})
    feature = feature.strip()
    if len(feature) > FEATURE_MAX_LENGTH:
        raise ValidationError(
            {"feature": f"A feature name is at most {FEATURE_MAX_LENGTH} characters."}
        )
    return feature


def _clean_at(at) -> datetime:
    if at is None:
        return timezone.now()
    if not isinstance(at, datetime):
        try:
            at = parse_instant(at)
        except ValueError as exc:
            raise ValidationError({"at": str(exc)}) from None
    elif timezone.is_naive(at):
        raise ValidationError({"at": "Give the time with its offset."})
    if at > timezone.now() + FUTURE_SLACK:
        raise ValidationError({"at": "The time is in the future."})
    return at


def _parse(kind: str, raw, field: str) -> drift.Distribution:
    try:
        return drift.parse_distribution(kind, raw)
    except drift.DistributionError as exc:
        raise ValidationError({field: str(exc)}) from None


@transaction.atomic
def distribution_push(
    *,
    deployment,
    feature: str,
    kind: str,
    current,
    reference=None,
    at=None,
    source: MetricSource | None = None,
) -> dict[str, float]:
    """Compare a feature's current distribution with its reference and record the figures.

    A ``reference`` sent along replaces the stored one (and may change its kind); without
    one, the stored reference is used and must be of the same kind. Returns the figures
    written, by metric name (``{"drift.psi": 0.31, "drift.js": 0.2, ...}``). A second push
    for the same instant leaves the first figures in place (a series instant holds one value).
    """
    feature = _clean_feature(feature)
    if kind not in DistributionKind.values:
        raise ValidationError({"kind": "The kind is 'numeric' or 'categorical'."})
    when = _clean_at(at)
    if source is not None and source.deployment_id != deployment.pk:
        raise ValidationError({"source": "This source belongs to another deployment."})
    current_dist = _parse(kind, current, "current")

    stored: ReferenceDistribution | None
    if reference is not None:
        reference_dist = _parse(kind, reference, "reference")
        stored, _ = ReferenceDistribution.objects.update_or_create(
            deployment=deployment,
            feature=feature,
            defaults={"kind": kind, "data": reference_dist.as_data()},
        )
    else:
        stored = ReferenceDistribution.objects.filter(
            deployment=deployment, feature=feature
        ).first()
        if stored is None:
            raise ValidationError(
                {"reference": f"No reference distribution for {feature!r} yet: send one."}
            )
        if stored.kind != kind:
            raise ValidationError(
                {
                    "kind": f"The reference of {feature!r} is {stored.kind}: send a {stored.kind} "
                    "distribution, or a new reference with this one."
                }
            )
        reference_dist = _parse(kind, stored.data, "reference")

    try:
        figures = drift.compare(reference_dist, current_dist).as_metrics()
    except drift.DistributionError as exc:
        raise ValidationError({"current": str(exc)}) from None
    if stored.current_at is None or when >= stored.current_at or reference is not None:
        # The newest current is what the page draws against the reference.
        ReferenceDistribution.objects.filter(pk=stored.pk).update(
            current=current_dist.as_data(), current_at=when
        )
    samples_write(
        deployment_id=deployment.pk,
        samples=[Sample(metric=m, at=when, value=v, feature=feature) for m, v in figures.items()],
        source_id=source.pk if source is not None else None,
    )
    if source is not None and source.kind == SourceKind.PUSH:
        source_mark_received(source=source, count=len(figures))
    return figures
