"""The docs stand on their own and keep up with the code: every behaviour id the repo
cites is defined in docs/behaviour.md, every variable the code reads and every metric it
exports is in docs/operations.md, every Redis key family is in docs/design.md, and every
link between the docs resolves inside the repo."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

from workers.runtime.settings import VARIABLES
from workers.state.keys import families

ROOT = Path(__file__).parents[2]
DOCS = ROOT / "docs"
CODE = ("workers", "schemas", "harness", "tests")
SKIP = {"node_modules", "__pycache__", ".venv", ".cache"}

# A behaviour id: one of the seven sections' letters and a number, as a whole word
# (`R4`, `SPEC C3`); a range `C1-C6` or `R5–R8` cites every id in between too.
BEHAVIOUR_ID = re.compile(r"\b([AIRNCHX])(\d{1,2})\b(?:\s*[-–]\s*\1?(\d{1,2})\b)?")
DEFINITION = re.compile(r"^### ([AIRNCHX]\d{1,2}): ", re.MULTILINE)
VARIABLE = re.compile(r"\bTICKETFLOW_[A-Z0-9_]*[A-Z0-9]\b")
SECRET_PREFIX = "TICKETFLOW_SECRET_"
METRIC = re.compile(r"""(?:Counter|Gauge|Histogram|Summary)\(\s*"(ticketflow_[a-z_]+)\"""")
LINK = re.compile(r"\]\(([^)\s]+)\)")


def files(*tops: str, suffixes: tuple[str, ...]) -> list[Path]:
    """Text files under the given top-level folders, our own only."""
    found = []
    for top in tops:
        for path in sorted((ROOT / top).rglob("*")):
            if path.suffix in suffixes and not SKIP & set(path.relative_to(ROOT).parts):
                found.append(path)
    return found


def cited_ids(text: str) -> set[str]:
    """Every behaviour id a text cites, ranges expanded."""
    ids = set()
    for letter, first, last in BEHAVIOUR_ID.findall(text):
        end = int(last) if last else int(first)
        ids.update(f"{letter}{n}" for n in range(int(first), max(int(first), end) + 1))
    return ids


def test_cited_ids_are_found_in_prose_and_ranges() -> None:
    assert cited_ids("SPEC C1-C3, R5–R8 and (X4); not TIER1, A1B or C12345") == {
        "C1", "C2", "C3", "R5", "R6", "R7", "R8", "X4"}


def test_every_behaviour_id_the_repo_cites_is_defined() -> None:
    defined = set(DEFINITION.findall((DOCS / "behaviour.md").read_text()))
    sources = files(*CODE, "deploy", "docs", suffixes=(".py", ".lua", ".md", ".yaml", ".yml"))
    sources.append(ROOT / "README.md")
    missing = {}
    for path in sources:
        for found in sorted(cited_ids(path.read_text()) - defined):
            missing.setdefault(found, str(path.relative_to(ROOT)))
    assert not missing, f"cited but not defined in docs/behaviour.md: {missing}"


def test_behaviour_defines_each_id_once_in_order() -> None:
    defined = DEFINITION.findall((DOCS / "behaviour.md").read_text())
    assert len(defined) == len(set(defined))
    for letter in "AIRNCHX":
        numbers = [int(d[1:]) for d in defined if d[0] == letter]
        assert numbers == list(range(1, len(numbers) + 1)), letter


def variables_read() -> dict[str, str]:
    """Every `TICKETFLOW_*` name our code spells -> one file that spells it (helpdesk
    secrets are examples of a pattern, not variables of their own)."""
    read: dict[str, str] = {}
    for path in files(*CODE, suffixes=(".py",)):
        for name in VARIABLE.findall(path.read_text()):
            if not name.startswith(SECRET_PREFIX):
                read.setdefault(name, str(path.relative_to(ROOT)))
    return read


def test_every_variable_the_code_reads_is_in_operations() -> None:
    documented = set(VARIABLE.findall((DOCS / "operations.md").read_text()))
    read = variables_read()
    assert VARIABLES <= set(read)
    missing = {name: where for name, where in read.items() if name not in documented}
    assert not missing, f"read by the code but not in docs/operations.md: {missing}"
    assert f"{SECRET_PREFIX}<ACCOUNT>_<NAME>" in (DOCS / "operations.md").read_text()


def test_operations_names_no_variable_the_code_does_not_read() -> None:
    documented = {name for name in VARIABLE.findall((DOCS / "operations.md").read_text())
                  if not name.startswith(SECRET_PREFIX)}
    assert documented <= set(variables_read())


def test_every_metric_is_in_operations() -> None:
    text = (DOCS / "operations.md").read_text()
    metrics = {name for path in files("workers", suffixes=(".py",))
               for name in METRIC.findall(path.read_text())}
    assert "ticketflow_records" in metrics
    assert not {m for m in metrics if f"`{m}" not in text}


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower()
    return "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LN") \
        .replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.DOTALL)
    return {slug(h) for h in re.findall(r"^#+ (.+)$", text, flags=re.MULTILINE)}


MARKDOWN = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


@pytest.mark.parametrize("page", MARKDOWN, ids=lambda p: p.name)
def test_links_resolve_inside_the_repo(page: Path) -> None:
    text = page.read_text()
    assert "../shared" not in text and "/work/" not in text
    for target in LINK.findall(text):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        file, _, anchor = target.partition("#")
        resolved = (page.parent / file).resolve() if file else page
        assert resolved.is_relative_to(ROOT) and resolved.exists(), f"{page.name}: {target}"
        if anchor and resolved.suffix == ".md":
            assert anchor in anchors(resolved), f"{page.name}: no heading for {target}"


def test_readme_is_short_and_starts_with_the_two_commands() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) < 200
    assert any(line.startswith("make run") for line in lines[:6])
    assert any(line.startswith("make test") for line in lines[:6])


def test_every_key_family_of_the_catalogue_is_in_the_design() -> None:
    section = (DOCS / "design.md").read_text().split("## Redis data model", 1)[1]
    section = section.split("\n## ", 1)[0]
    missing = []
    for family in families():
        if family.type in ("prefix", "pattern"):
            continue
        head = family.pattern.removeprefix("tf:{<account_id>}:").split("<", 1)[0]
        if f"`{head}" not in section:
            missing.append(family.pattern)
    assert not missing, f"key families not in docs/design.md's Redis data model: {missing}"


def test_every_module_is_in_the_design_layout() -> None:
    section = (DOCS / "design.md").read_text().split("## Layout", 1)[1].split("\n## ", 1)[0]
    modules = [path for path in files("workers", "schemas", "harness", suffixes=(".py", ".lua"))
               if path.name not in ("__init__.py", "__main__.py")]
    missing = [str(path.relative_to(ROOT)) for path in modules if path.name not in section]
    assert not missing, f"add a line for each to docs/design.md's Layout: {missing}"
