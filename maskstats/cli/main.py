"""``maskstats`` entry point: parse, run the subcommand, turn errors into one line + exit 2."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from maskstats._cleanup import Terminated, terminate_on_signals
from maskstats.cli.argtypes import UsageError
from maskstats.cli.parser import build_parser

CLEANS_UP = frozenset({"stats", "masks", "report", "bench"})
"""Commands run inside :func:`maskstats._cleanup.terminate_on_signals`: SIGTERM and SIGHUP
end them through their cleanup (temporaries removed), exit code 128 + the signal. (train
handles its signals itself: it saves a checkpoint.)"""


def _close_progress_bars() -> None:
    """End any open tqdm bar's line, so that an error message starts on its own line."""
    tqdm = sys.modules.get("tqdm")
    if tqdm is None:
        return
    for bar in list(getattr(tqdm.tqdm, "_instances", ())):
        try:
            bar.close()
        except Exception:  # pragma: no cover - a bar half torn down
            pass


def _error(message: str) -> int:
    _close_progress_bars()
    print(message.splitlines()[0] if message else "maskstats: error", file=sys.stderr)
    return 2


def _quiet_broken_pipe() -> int:
    """The reader went away (``maskstats stats | head``): stop without a message, as Unix
    tools do; stdout is pointed at /dev/null so the interpreter's final flush is silent."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # pragma: no cover - stdout without a file descriptor
        pass
    return 141


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (2 for bad input, with one line on stderr)."""
    parser = build_parser()
    given = list(sys.argv[1:] if argv is None else argv)
    if not given:  # bare `maskstats`: what it can do, and a usage error's exit code
        print(parser.format_help(), end="", file=sys.stderr)
        return 2
    try:
        args = parser.parse_args(given)
        args.argv = given
        if args.command in CLEANS_UP:
            with terminate_on_signals():
                code = args.func(args)
        else:
            code = args.func(args)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except UsageError as error:
        return _error(str(error))
    except (ValueError, TypeError, OSError, MemoryError, OverflowError) as error:
        text = str(error) or type(error).__name__
        return _error(f"maskstats: error: {text}")
    except Terminated as stop:
        _close_progress_bars()
        print(f"maskstats: {stop}; its unfinished files were removed", file=sys.stderr)
        return stop.code if isinstance(stop.code, int) else 1  # always 128 + the signal
    except KeyboardInterrupt:
        _close_progress_bars()
        print("maskstats: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
