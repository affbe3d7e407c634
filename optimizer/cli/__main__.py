"""``python -m optimizer.cli`` runs the command line, as the ``regionopt`` script does."""

from .main import main

main()
