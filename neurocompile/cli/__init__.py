"""Command-line interface (placeholder until the CLI module lands)."""


def main() -> None:  # pragma: no cover - replaced below
    raise SystemExit("neurocompile CLI not yet built")
