"""What build.py and deploy.py share: user errors print as `error: ...` lines (no
traceback) with the error's exit code; Ctrl-C exits 130."""

from __future__ import annotations

import sys
from collections.abc import Callable

from streamstack.errors import StreamstackError


def run(main: Callable[[], int | None]) -> int:
    try:
        return main() or 0
    except StreamstackError as exc:
        for line in exc.lines:
            print(f"error: {line}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
