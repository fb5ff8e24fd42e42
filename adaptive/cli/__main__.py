"""``python -m adaptive.cli``, the same as the ``adaptive`` script."""

from adaptive.cli import main

main()
