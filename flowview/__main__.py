"""`python -m flowview`: the same as the `flowview` command."""

from flowview.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
