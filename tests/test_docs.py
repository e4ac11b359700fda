"""The documentation names only things that exist: repository paths, make targets, other docs.

Reads README.md and every docs/**/*.md as text; needs no database. A path is taken from
inline code (`registry/gate.py`) and from relative markdown link targets. Inline code counts
as a path when it has a slash, or ends in a file extension the repository uses; portal URLs
(`/register/use-cases/`), URLs with a scheme, anchors, globs (`*`) and placeholders (`<id>`,
`…`) are not paths. Inline code is relative to the repository root, a link to its document.
"""

import functools
import os
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"

# Extensions that make a slash-less word a file name (not `drift.js`, a metric, nor
# `portal.access.can`, a Python name).
FILE_EXTENSIONS = {"py", "md", "html", "txt", "toml", "json", "cfg", "ini", "yml", "yaml", "css"}

# Inline code that looks like a path and is not one: a time zone.
NOT_PATHS = {"Europe/London"}

FENCED_BLOCK = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`([^`\n]+)`")
LINK_TARGET = re.compile(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
PATH_LIKE = re.compile(r"^[\w.-]+(?:/[\w.-]+)*/?$")
BRACES = re.compile(r"\{([\w.-]+(?:,[\w.-]+)+)\}")
SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)
MAKE_IN_CODE = re.compile(r"^\s*(?:\$\s+)?make\s+([A-Za-z][\w.-]*)", re.MULTILINE)
MAKE_TARGET_LINE = re.compile(r"^([A-Za-z0-9][\w.-]*)\s*:(?!=)", re.MULTILINE)
PHONY_LINE = re.compile(r"^\.PHONY\s*:(.*)$", re.MULTILINE)


def doc_files() -> list[Path]:
    return [README, *sorted(DOCS.rglob("*.md"))]


def _name(doc: Path) -> str:
    return str(doc.relative_to(ROOT))


def _prose(text: str) -> str:
    """The text without fenced code blocks (shell sessions, JSON, diagrams)."""
    return FENCED_BLOCK.sub("", text)


def _strip_suffix(candidate: str) -> str:
    """`path::name` and `path:line` name a place in a file; the file is what must exist."""
    candidate = candidate.split("::", 1)[0]
    return re.sub(r":\d+(?:-\d+)?$", "", candidate)


def _expand_braces(candidate: str) -> list[str]:
    """`registry/views/{use_cases,ai_models}.py` names two files."""
    match = BRACES.search(candidate)
    if not match:
        return [candidate]
    head, tail = candidate[: match.start()], candidate[match.end() :]
    return [
        expanded
        for choice in match.group(1).split(",")
        for expanded in _expand_braces(head + choice + tail)
    ]


def _is_repository_path(candidate: str) -> bool:
    if candidate in NOT_PATHS:
        return False
    if not candidate or candidate.startswith(("/", "#", "~")) or SCHEME.match(candidate):
        return False
    if "*" in candidate or "<" in candidate or "…" in candidate or "..." in candidate:
        return False
    if not PATH_LIKE.match(candidate) or not re.search(r"[A-Za-z]", candidate):
        return False  # prose, JSON, commands, networks such as 10.20.0.0/16
    if "/" in candidate:
        return True
    return candidate.rsplit(".", 1)[-1] in FILE_EXTENSIONS and "." in candidate


def code_paths(text: str) -> Iterator[str]:
    """Repository paths named in inline code, relative to the repository root."""
    for match in INLINE_CODE.finditer(_prose(text)):
        for candidate in _expand_braces(_strip_suffix(match.group(1).strip())):
            if _is_repository_path(candidate):
                yield candidate


def link_targets(text: str) -> Iterator[str]:
    """Relative markdown link targets, without their anchors, relative to the document."""
    for match in LINK_TARGET.finditer(_prose(text)):
        target = match.group(1).split("#", 1)[0]
        if target and not SCHEME.match(target) and not target.startswith("/"):
            yield target


# Installed or generated trees: a doc naming a file by its bare name means one of ours.
NOT_OURS = {".git", ".venv", ".venv-mlflow", "node_modules", "staticfiles", "media"}


@functools.cache
def repository_file_names() -> frozenset[str]:
    names = set()
    for _directory, subdirectories, files in os.walk(ROOT):
        subdirectories[:] = [d for d in subdirectories if d not in NOT_OURS]
        names.update(files)
    return frozenset(names)


def _exists_as_named(candidate: str) -> bool:
    if (ROOT / candidate).exists():
        return True
    # A bare file name (`hooks.py`, `conftest.py`) names a file somewhere in the tree.
    return "/" not in candidate and candidate in repository_file_names()


def test_every_path_the_docs_name_exists():
    missing = []
    for doc in doc_files():
        text = doc.read_text(encoding="utf-8")
        for candidate in sorted(set(code_paths(text))):
            if not _exists_as_named(candidate):
                missing.append(f"{_name(doc)}: `{candidate}`")
        for target in sorted(set(link_targets(text))):
            if not (doc.parent / target).exists():
                missing.append(f"{_name(doc)}: link ({target})")
    assert not missing, "Paths the docs name that do not exist:\n" + "\n".join(missing)


def make_targets() -> set[str]:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(MAKE_TARGET_LINE.findall(makefile))
    for line in PHONY_LINE.findall(makefile):
        targets.update(line.split())
    return targets


def make_invocations(text: str) -> Iterator[str]:
    """Targets of `make <target>` in inline code and at the start of lines in code blocks."""
    for block in FENCED_BLOCK.findall(text):
        yield from MAKE_IN_CODE.findall(block)
    for match in INLINE_CODE.finditer(_prose(text)):
        yield from MAKE_IN_CODE.findall(match.group(1))


def test_every_make_target_the_docs_name_exists():
    targets = make_targets()
    missing = [
        f"{_name(doc)}: make {target}"
        for doc in doc_files()
        for target in sorted(set(make_invocations(doc.read_text(encoding="utf-8"))))
        if target not in targets
    ]
    assert not missing, "Make targets the docs name that the Makefile lacks:\n" + "\n".join(missing)


def _linked_docs(doc: Path) -> set[Path]:
    linked = set()
    for target in link_targets(doc.read_text(encoding="utf-8")):
        path = (doc.parent / target).resolve()
        if path.is_dir():
            path = path / "README.md"
        if path.suffix == ".md" and path.is_file():
            linked.add(path)
    return linked


def test_every_doc_is_reachable_by_links_from_the_readme():
    reached = {README.resolve()}
    waiting = [README.resolve()]
    while waiting:
        for linked in _linked_docs(waiting.pop()):
            if linked not in reached:
                reached.add(linked)
                waiting.append(linked)
    orphans = [_name(doc) for doc in sorted(DOCS.rglob("*.md")) if doc.resolve() not in reached]
    assert not orphans, "Docs no link leads to from README.md:\n" + "\n".join(orphans)


def test_the_path_finder_reads_code_and_links_as_documented():
    text = (
        "See `registry/gate.py:170`, `portal/history/tracked.py::register`, "
        "`registry/views/{use_cases,ai_models}.py`, `hooks.py`, `drift.js`, "
        "`portal.access.can`, `/register/use-cases/`, `<app>/templates/`, `10.20.0.0/16`, "
        "`https://example.com/x.py`, [api](docs/api.md#errors) and [w](https://w.org/a.md).\n"
        "```\nmake nothing-here-is-a-path/x.py\n```\n"
    )

    assert sorted(code_paths(text)) == [
        "hooks.py",
        "portal/history/tracked.py",
        "registry/gate.py",
        "registry/views/ai_models.py",
        "registry/views/use_cases.py",
    ]
    assert list(link_targets(text)) == ["docs/api.md"]
    assert list(make_invocations(text)) == ["nothing-here-is-a-path"]
