"""The error of a bad configuration."""

from __future__ import annotations


class ConfigError(Exception):
    """A configuration problem; ``problems`` holds one line per problem, each naming its key."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))
