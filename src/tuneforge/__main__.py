"""python -m tuneforge -> the CLI."""

from tuneforge.cli import main

main()
