"""`python -m warroom.cli ...` is the `warroom` console script."""

from warroom.cli import main

main()
