"""A small read-only client for an MLflow tracking server's REST API (api/2.0/mlflow).

No MLflow SDK: the portal reads three endpoints. Every request goes through the portal's one
way out, ``portal.outbound.fetch``: the tracking URI is typed by a person, so the same address
rule as metric sources applies (loopback, private and metadata addresses refused unless
allow-listed in ``MONITORING_ALLOWED_NETWORKS``), with a timeout and a size cap. Every failure
is an MLflowError; a server that does not answer says so in one message whatever the cause, so
the import cannot be used to map which ports listen.
"""

import json
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from portal import outbound

# Large enough for a page of 100 registered models with long descriptions; small enough that
# a misconfigured URL pointing at a file server cannot fill the worker's memory.
MAX_RESPONSE_BYTES = 5 * 1024 * 1024
PAGE_SIZE = 100


class MLflowError(Exception):
    """The tracking server could not be read; nothing should be written from a partial read."""


@dataclass(frozen=True)
class MLflowVersion:
    name: str
    version: str
    source: str
    current_stage: str
    run_id: str
    status: str
    aliases: tuple[str, ...]
    tags: dict[str, str]
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class MLflowModel:
    name: str
    description: str
    tags: dict[str, str]
    aliases: dict[str, str]  # alias → version
    versions: tuple[MLflowVersion, ...]


def _tags(items: Any) -> dict[str, str]:
    return {str(t["key"]): str(t.get("value", "")) for t in items or []}


class MLflowClient:
    def __init__(self, tracking_uri: str, *, timeout: float = 10.0):
        parts = urllib.parse.urlsplit(tracking_uri.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise MLflowError(
                f"The MLflow tracking URI must be an http(s) URL, not {tracking_uri!r}."
            )
        self.base = tracking_uri.strip().rstrip("/")
        self.host = urllib.parse.urlsplit(outbound.redact(self.base)).netloc  # no password
        self.timeout = timeout

    def get(self, endpoint: str, **params: Any) -> dict:
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v not in (None, "")})
        url = f"{self.base}/api/2.0/mlflow/{endpoint}" + (f"?{query}" if query else "")
        try:
            response = outbound.fetch(
                url,
                headers={"Accept": "application/json"},
                timeout=self.timeout,
                max_bytes=MAX_RESPONSE_BYTES,
            )
        except outbound.OutboundError as exc:
            raise MLflowError(f"Could not read MLflow at {self.host}: {exc.message}") from None
        try:
            data = json.loads(response.body or b"{}")
        except ValueError as exc:
            raise MLflowError(f"MLflow's answer to {endpoint} is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise MLflowError(f"MLflow's answer to {endpoint} is not a JSON object.")
        return data

    def _pages(self, endpoint: str, key: str, **params: Any) -> Iterator[dict]:
        token = None
        seen: set[str] = set()
        while True:
            data = self.get(endpoint, max_results=PAGE_SIZE, page_token=token, **params)
            items = data.get(key, [])
            if not isinstance(items, list):
                raise MLflowError(f"MLflow's {endpoint} answer has no list of {key}.")
            yield from items
            token = data.get("next_page_token")
            if not token:
                return
            if token in seen:  # a server repeating a token would loop forever
                raise MLflowError(f"MLflow's {endpoint} repeated page token {token!r}.")
            seen.add(token)

    def run_metrics(self, run_id: str) -> dict[str, float]:
        """The latest value of each metric the run logged."""
        run = self.get("runs/get", run_id=run_id).get("run", {})
        return {str(m["key"]): m["value"] for m in run.get("data", {}).get("metrics", []) or []}

    def registered_models(self) -> list[MLflowModel]:
        """Every registered model with its versions and their runs' metrics."""
        try:
            return [
                self._model(raw)
                for raw in self._pages("registered-models/search", "registered_models")
            ]
        except (KeyError, TypeError, AttributeError) as exc:
            raise MLflowError(f"MLflow's answer is missing a field: {exc!r}") from exc

    def _model(self, raw: dict) -> MLflowModel:
        name = str(raw["name"])
        aliases = {str(a["alias"]): str(a["version"]) for a in raw.get("aliases", []) or []}
        versions = []
        escaped = name.replace("'", "\\'")
        for v in self._pages("model-versions/search", "model_versions", filter=f"name='{escaped}'"):
            number = str(v["version"])
            run_id = str(v.get("run_id") or "")
            versions.append(
                MLflowVersion(
                    name=name,
                    version=number,
                    source=str(v.get("source") or v.get("storage_location") or ""),
                    current_stage=str(v.get("current_stage") or "None"),
                    run_id=run_id,
                    status=str(v.get("status") or ""),
                    aliases=tuple(
                        sorted(
                            set(v.get("aliases", []) or [])
                            | {a for a, n in aliases.items() if n == number}
                        )
                    ),
                    tags=_tags(v.get("tags")),
                    metrics=self.run_metrics(run_id) if run_id else {},
                )
            )
        versions.sort(key=lambda v: (len(v.version), v.version))
        return MLflowModel(
            name=name,
            description=str(raw.get("description") or ""),
            tags=_tags(raw.get("tags")),
            aliases=aliases,
            versions=tuple(versions),
        )
