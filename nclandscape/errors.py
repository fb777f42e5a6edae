"""Error types. Any ``ValueError`` reaching the CLI becomes exit code 2 with its message."""


class ConfigError(ValueError):
    """A bad user input: the message names the bad value and what is allowed."""
