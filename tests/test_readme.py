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
