"""The typer commands, one module per command group.

Each module imports only typer and ``adaptive.cli.options`` at the top; the
work (and its heavy imports: pydantic, SQLAlchemy, the runtime) is imported
inside the command, so ``adaptive --help`` starts fast.
"""
