"""harvester: resolve DOIs and RePEc handles against public metadata services into SQLite."""

__version__ = "0.1.0"

#: Named in the User-Agent so that upstream operators know who is calling and where to read about it.
PROJECT_URL = "https://github.com/harvester-dev/harvester"
