"""Import registered models and their versions from an MLflow tracking server.

MLflow is read first, in full, and only then is anything written, in one transaction: a
server that fails half way through leaves the register as it was. Rows are matched by
external_ref ("mlflow:<name>" and "mlflow:<name>/<version>"), so a re-import updates them
through the same services as the pages, and writes history only when something changed.
"""

from dataclasses import asdict, dataclass, field

from django.conf import settings
from django.db import transaction

from portal.access import require
from registry.mlflow import MLflowClient, MLflowModel, MLflowVersion
from registry.models import (
    DEFAULT_DESTINATION,
    AIModel,
    HostingPattern,
    ReleaseStage,
)
from registry.services.ai_models import (
    model_create,
    model_update,
    model_version_create,
    model_version_update,
)
from registry.services.releases import evaluation_import_run, model_version_set_stage

# Tags on a registered model that say what MLflow cannot know by itself.
PROVIDER_TAG = "steward.provider"
HOSTING_PATTERN_TAG = "steward.hosting_pattern"

# MLflow's (deprecated but common) stages. Staging means "being validated before production";
# shadow is the first of our stages that runs a version without its answers counting, and it
# does not claim customers are served by it, as canary would.
STAGES = {
    "None": ReleaseStage.CANDIDATE,
    "Staging": ReleaseStage.SHADOW,
    "Production": ReleaseStage.PRODUCTION,
    "Archived": ReleaseStage.RETIRED,
}
# Aliases, MLflow's successor to stages; an alias we know beats the stage.
ALIASES = {
    "champion": ReleaseStage.PRODUCTION,
    "production": ReleaseStage.PRODUCTION,
    "prod": ReleaseStage.PRODUCTION,
    "partial": ReleaseStage.PARTIAL,
    "canary": ReleaseStage.CANARY,
    "challenger": ReleaseStage.CANARY,
    "shadow": ReleaseStage.SHADOW,
    "staging": ReleaseStage.SHADOW,
    "candidate": ReleaseStage.CANDIDATE,
    "retired": ReleaseStage.RETIRED,
    "archived": ReleaseStage.RETIRED,
}
# When a version carries several aliases, the furthest along the release wins.
STAGE_ORDER = [
    ReleaseStage.CANDIDATE,
    ReleaseStage.SHADOW,
    ReleaseStage.CANARY,
    ReleaseStage.PARTIAL,
    ReleaseStage.PRODUCTION,
    ReleaseStage.RETIRED,
]
TAG_PREFIX = "tag."


@dataclass
class MLflowImportReport:
    tracking_uri: str
    models_created: list[str] = field(default_factory=list)
    models_updated: list[str] = field(default_factory=list)
    models_unchanged: list[str] = field(default_factory=list)
    versions_created: list[str] = field(default_factory=list)
    versions_updated: list[str] = field(default_factory=list)
    versions_unchanged: list[str] = field(default_factory=list)
    # Imported before, gone from MLflow now: left as they are, since deployments and history
    # may refer to them.
    versions_missing: list[str] = field(default_factory=list)
    # Versions whose MLflow run gave a new evaluation record.
    evaluations_imported: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        return (
            f"{len(self.models_created)} models created, {len(self.models_updated)} updated, "
            f"{len(self.models_unchanged)} unchanged; {len(self.versions_created)} versions "
            f"created, {len(self.versions_updated)} updated, "
            f"{len(self.versions_unchanged)} unchanged, "
            f"{len(self.versions_missing)} no longer in MLflow"
        )


def model_ref(name: str) -> str:
    return f"mlflow:{name}"


def version_ref(name: str, version: str) -> str:
    return f"mlflow:{name}/{version}"


def version_stage(version: MLflowVersion) -> str:
    from_aliases = [ALIASES[a.lower()] for a in version.aliases if a.lower() in ALIASES]
    if from_aliases:
        return max(from_aliases, key=STAGE_ORDER.index)
    return STAGES.get(version.current_stage, ReleaseStage.CANDIDATE)


def _model_data(model: MLflowModel, *, host: str, existing: AIModel | None) -> dict:
    data: dict = {"name": model.name[:200], "description": model.description}
    if model.tags.get(PROVIDER_TAG):
        data["provider"] = model.tags[PROVIDER_TAG][:120]
    elif existing is None:
        data["provider"] = f"MLflow: {host}"[:120]
    pattern = model.tags.get(HOSTING_PATTERN_TAG)
    if pattern in HostingPattern.values:
        data["hosting_pattern"] = pattern
    elif existing is None:
        data["hosting_pattern"] = HostingPattern.IN_HOUSE
    if "hosting_pattern" in data and (
        existing is None or existing.hosting_pattern != data["hosting_pattern"]
    ):
        data["data_destination"] = DEFAULT_DESTINATION[data["hosting_pattern"]]
    return data


def _version_data(version: MLflowVersion) -> dict:
    evaluation: dict = dict(version.metrics)
    evaluation.update({TAG_PREFIX + k: v for k, v in version.tags.items()})
    return {
        "version": version.version,
        "artefact": version.source,
        "evaluation": evaluation,
        "external_ref": version_ref(version.name, version.version),
    }


def models_import_mlflow(*, actor, tracking_uri: str, business_unit, owner) -> MLflowImportReport:
    """Create or update an AI model per registered model and a version per model version.

    New models start under evaluation with the given unit and owner; a re-import never moves
    a model to another unit or owner and never touches its approval. Raises MLflowError when
    the server cannot be read, before anything is written.
    """
    require(actor, "registry.add_aimodel")
    tracking_uri = tracking_uri or settings.MLFLOW_TRACKING_URI
    client = MLflowClient(tracking_uri, timeout=settings.MLFLOW_TIMEOUT_SECONDS)
    registered = client.registered_models()  # all reads before any write
    return _write(actor, client.host, tracking_uri, registered, business_unit, owner)


@transaction.atomic
def _write(actor, host, tracking_uri, registered, business_unit, owner) -> MLflowImportReport:
    report = MLflowImportReport(tracking_uri=tracking_uri)
    for mlflow_model in registered:
        ref = model_ref(mlflow_model.name)
        model = AIModel.objects.filter(external_ref=ref).order_by("pk").first()
        data = _model_data(mlflow_model, host=host, existing=model)
        if model is None:
            data |= {"external_ref": ref, "business_unit": business_unit, "owner": owner}
            model = model_create(actor=actor, data=data)
            report.models_created.append(ref)
        else:
            before = model.updated_at
            model = model_update(actor=actor, model=model, data=data)
            changed = model.updated_at != before
            (report.models_updated if changed else report.models_unchanged).append(ref)

        existing = {
            v.external_ref: v for v in model.versions.filter(external_ref__startswith=ref + "/")
        }
        by_number = {v.version: v for v in model.versions.all()}
        for mlflow_version in mlflow_model.versions:
            data = _version_data(mlflow_version)
            vref = data["external_ref"]
            # A version typed by hand with the same number is adopted rather than duplicated.
            row = existing.pop(vref, None) or by_number.get(mlflow_version.version)
            stage = version_stage(mlflow_version)
            if row is None:
                row = model_version_create(
                    actor=actor,
                    model=model,
                    data=data,
                    initial_stage=stage,
                    stage_why=f"{stage} (MLflow)",
                )
                report.versions_created.append(vref)
            else:
                before = row.updated_at
                row = model_version_update(actor=actor, version=row, data=data)
                # MLflow is where these versions are released: its stage is imported as the
                # system's move, on the record with who ran the import.
                model_version_set_stage(
                    version=row, stage=stage, actor=actor, reason=f"Stage from MLflow: {stage}"
                )
                (
                    report.versions_updated
                    if row.updated_at != before
                    else report.versions_unchanged
                ).append(vref)
            # The run behind the version: its metrics become an evaluation record.
            if evaluation_import_run(
                actor=actor,
                version=row,
                run_id=mlflow_version.run_id,
                metrics=mlflow_version.metrics,
                tags=mlflow_version.tags,
            ):
                report.evaluations_imported.append(vref)
        report.versions_missing += sorted(existing)
    return report
