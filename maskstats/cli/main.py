"""``maskstats`` entry point: parse, run the subcommand, turn errors into one line + exit 2."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from maskstats.cli.argtypes import UsageError
from maskstats.cli.parser import build_parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (2 for bad input, with one line on stderr)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return args.func(args)
    except UsageError as error:
        print(str(error), file=sys.stderr)
        return 2
    except (ValueError, TypeError, OSError) as error:
        print(f"maskstats: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("maskstats: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
