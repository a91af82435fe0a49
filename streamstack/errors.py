"""One exception type for every user-facing failure: a message that names the
problem and the fix, printed as `error: ...` without a traceback."""


class StreamstackError(Exception):
    """A failure the user can fix; str() is the one-line message (or lines, one per problem)."""

    exit_code = 1

    def __init__(self, message: str, *, lines: list[str] | None = None) -> None:
        self.lines = lines or [message]
        super().__init__("\n".join(self.lines))


class ParamsError(StreamstackError):
    """A params file is missing, malformed, or does not fit the templates."""

    exit_code = 2


class BuildError(StreamstackError):
    """A template failed rendering, lint, scan or quotas."""
