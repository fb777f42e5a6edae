"""Error types. Any ``ValueError`` reaching the CLI becomes exit code 2 with its message."""


class ConfigError(ValueError):
    """A bad user input: the message names the bad value and what is allowed."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised by the command line's handler at the next Python instruction (like Ctrl-C's
    KeyboardInterrupt), so that the same safe-point handling applies to both."""
