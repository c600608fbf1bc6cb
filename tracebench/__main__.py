"""``python -m tracebench``."""

from tracebench.cli import main

main()
