"""The deployment files (deploy/) are ones an operator can install as they are.

Needs no database: it reads the systemd units, the environment file example, the settings
module's source and the requirements.
"""

import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UNITS = sorted((ROOT / "deploy" / "systemd").glob("*.service"))
ENV_EXAMPLE = ROOT / "deploy" / "steward.env.example"
INSTALL = "/opt/steward"


def _directives(unit: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in unit.read_text().splitlines():
        if re.match(r"^[A-Za-z]+=", line):
            key, value = line.split("=", 1)
            found.setdefault(key, []).append(value)
    return found


def _installed_programs() -> set[str]:
    """Console scripts of the packages requirements.txt pins (by distribution name)."""
    names = set()
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==", line)
        if match:
            names.add(match.group(1).lower())
    return names


def _env_example_names() -> set[str]:
    return set(re.findall(r"^(?:# )?([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), re.M))


def test_there_is_a_unit_for_web_worker_and_beat():
    assert {unit.name for unit in UNITS} >= {
        "steward-web.service",
        "steward-worker.service",
        "steward-beat.service",
    }


def test_every_unit_runs_a_program_the_repository_installs_from_its_checkout():
    installed = _installed_programs()
    for unit in UNITS:
        directives = _directives(unit)
        assert directives.get("WorkingDirectory") == [INSTALL], unit.name
        assert directives.get("EnvironmentFile") == ["/etc/steward/steward.env"], unit.name
        (exec_start,) = directives["ExecStart"]
        program, *args = shlex.split(exec_start)
        assert program.startswith(f"{INSTALL}/.venv/bin/"), unit.name
        assert Path(program).name in installed, f"{unit.name}: {program} is not in requirements"
        if Path(program).name == "celery":
            assert args[:2] == ["-A", "portal"], unit.name


def test_exactly_one_unit_runs_beat_and_no_worker_embeds_it():
    beats = [u.name for u in UNITS if " beat" in _directives(u)["ExecStart"][0]]
    assert beats == ["steward-beat.service"]
    for unit in UNITS:
        assert "--beat" not in _directives(unit)["ExecStart"][0].split(), unit.name


def test_the_metrics_folder_the_units_name_is_one_systemd_makes():
    for unit in UNITS:
        directives = _directives(unit)
        for value in directives.get("Environment", []):
            if value.startswith("PROMETHEUS_MULTIPROC_DIR="):
                folder = value.split("=", 1)[1]
                assert folder == f"/run/{directives['RuntimeDirectory'][0]}", unit.name
                assert directives.get("RuntimeDirectoryPreserve") == ["yes"], unit.name


def test_the_environment_example_names_every_setting_the_deploy_checks_read():
    read_by_checks = set(
        re.findall(r"settings\.([A-Z][A-Z0-9_]*)", (ROOT / "portal" / "checks.py").read_text())
    )
    assert read_by_checks >= {"SECRET_KEY", "MONITORING_CREDENTIAL_KEYS", "SITE_URL"}
    assert read_by_checks <= _env_example_names()


def _settings_read_from_the_environment() -> set[str]:
    source = (ROOT / "portal" / "settings.py").read_text()
    names = set(re.findall(r"\benv(?:\.[a-z_]+)?\(\s*\"([A-Z][A-Z0-9_]*)\"", source))
    return names - {"XDG_STATE_HOME"}  # only a fallback for STATE_DIR's default


def test_the_environment_example_names_every_setting():
    missing = _settings_read_from_the_environment() - _env_example_names()
    assert not missing, f"add to deploy/steward.env.example: {sorted(missing)}"


def test_the_configuration_guide_describes_every_setting():
    guide = (ROOT / "docs" / "configuration.md").read_text()
    missing = {name for name in _settings_read_from_the_environment() if f"`{name}`" not in guide}
    assert not missing, f"add to docs/configuration.md: {sorted(missing)}"
