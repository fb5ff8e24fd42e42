"""The ``adaptive`` command for operators: ingest traces, inspect what was learned,
run analytics and reports, manage the schema, and the demo.

``commands/`` holds the typer commands (one module per command group); the
modules beside it do the work they print: batch ingest, inspection, rendering,
tables, the demo.
"""


def main() -> None:
    """Entry point of the ``adaptive`` script."""
    from adaptive.cli.app import main as run_app

    run_app()
