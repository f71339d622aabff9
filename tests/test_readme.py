"""The README documents every key of every component, so docs and models cannot drift."""

from __future__ import annotations

import re

import pytest

from collector.cli.components import builtin_registry
from collector.component import Factory, Kind
from tests.conftest import REPO

README = (REPO / "README.md").read_text()
FACTORIES = [f for kind in Kind for f in builtin_registry().factories(kind)]


def section(factory: Factory) -> str:
    heading = f"### `{factory.type}` {factory.kind.singular}"
    assert heading in README, f"README has no section {heading!r}"
    return README.split(heading, 1)[1].split("\n### ", 1)[0].split("\n## ", 1)[0]


@pytest.mark.parametrize("factory", FACTORIES, ids=lambda f: f"{f.kind.singular}-{f.type}")
def test_readme_lists_every_config_key(factory: Factory) -> None:
    """Each config key of a component appears in its README section's table."""
    text = section(factory)
    for name in factory.config_model.model_fields:
        assert re.search(rf"`{name}(\.\w+)?`", text), f"{factory.type}: key {name!r} undocumented"


def test_readme_quick_start_names_the_make_targets() -> None:
    """The two quick-start commands are the ones CI and the Makefile provide."""
    assert "make run" in README and "make test" in README
    assert "make test" in (REPO / ".ci" / "run").read_text()


def test_readme_names_every_variable_the_shipped_configs_read() -> None:
    """Each ``${env:VAR}`` of the built-in default and of ``config/*.yaml`` is in the
    README's table of variables, with the files that read it."""
    files = [REPO / "collector" / "cli" / "default_config.yaml", *(REPO / "config").glob("*.yaml")]
    table = README.split("**Variables the shipped configs read**", 1)[1].split("\n\n", 2)[1]
    for path in files:
        for name in set(re.findall(r"\$\{env:([A-Z0-9_]+)", path.read_text())):
            assert f"`{name}`" in table, f"{path.name} reads {name}, which the README does not name"
