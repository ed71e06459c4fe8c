# TinyDiff: `make book` (set up + build the book) and `make test` (set up + run every check).
# Both create or refresh the project-local virtual environment .venv; a second run reinstalls nothing.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export TINYDIFF_DATA ?= $(HOME)/.cache/tinydiff

.PHONY: setup book test test-unit test-notebooks lint checkpoints clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[book,test]"
	@touch $(STAMP)

book: $(STAMP)
	$(BIN)/jupyter-book build . -W --keep-going
	@echo "The book is in _build/html/index.html"

test-unit: $(STAMP)
	$(BIN)/python -m pytest tests -q

lint: $(STAMP)
	$(BIN)/ruff check tinydiff_lib tests scripts
	$(BIN)/ruff format --check tinydiff_lib tests scripts

test: test-unit

clean:
	rm -rf _build .pytest_cache
