"""`python -m harvester` runs the same CLI as the `harvest` console script."""

from harvester.cli import main

main()
