# The two commands at the top of README.md: `make harvest` and `make test`.
# Each creates .venv and installs what it needs, so a fresh machine needs nothing by hand.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install harvest test bench lint clean tools

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## The main job: watch the identifiers listed in config/identifiers.txt and run the nightly
## harvest (what is due, then the configured feeds) into data/harvest.db.
harvest: $(STAMP)
	$(BIN)/harvest track --from-file config/identifiers.txt
	$(BIN)/harvest run

## Debian packages the tests use as the real consumers of what the harvester makes (a browser
## for the Datasette work page, pandoc for CSL-JSON, biber for BibTeX): installed when missing
## and apt-get can (as root, as in CI);
## else the tests that need them skip, each kind with one line saying why.
TOOLS := chromium chromium-driver pandoc biber
tools:
	@missing=$$(for p in $(TOOLS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get install -y -qq $$missing >/dev/null 2>&1 || \
	    { apt-get update -qq && apt-get install -y -qq $$missing >/dev/null; }; \
	  else echo "note: not installed: $$missing (needs root and apt-get); the tests that use them skip" >&2; fi; \
	fi

## The tests. pytest's exit code 5 (no tests collected) is a failure here, said in words:
## a green run must have tested something.
test: $(STAMP) tools
	$(BIN)/ruff check harvester tests
	@$(BIN)/pytest -q; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing, a green run must test" >&2; fi; \
	exit $$rc

## The benchmarks (issue 7): the harvester beside habanero, pyalex and a requests loop against
## a local simulator of Crossref, OpenAlex and DataCite with their limits; a few minutes.
bench: $(STAMP)
	$(BIN)/pip install --quiet -r bench/requirements.txt
	$(BIN)/python bench/run.py

lint: $(STAMP)
	$(BIN)/ruff check harvester tests
	$(BIN)/ruff format --check harvester tests

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
