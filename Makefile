# The two commands at the top of README.md: `make harvest` and `make test`.
# Each creates .venv and installs what it needs, so a fresh machine needs nothing by hand.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install harvest test bench lint clean

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

## The tests. pytest's exit code 5 (no tests collected) is a failure here, said in words:
## a green run must have tested something.
test: $(STAMP)
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
