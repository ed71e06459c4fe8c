# TinyDiff: `make book` (set up + build the book) and `make test` (set up + run every check).
# Both create or refresh the project-local virtual environment .venv; a second run reinstalls nothing.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export TINYDIFF_DATA ?= $(HOME)/.cache/tinydiff

.PHONY: setup book book-assets check-book test test-unit test-notebooks lint checkpoints clean

# Book checks: Debian's Chromium (installed by `make check-book` when missing, as root) and local copies of
# the scripts the book loads from CDNs (MathJax, require.js, the widget embedder), from the npm registry.
CHROMIUM      ?= /usr/bin/chromium
BOOK_ASSETS   := .book-assets
ASSETS_STAMP  := $(BOOK_ASSETS)/.installed
NBVAL_TIMEOUT ?= 1800

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[book,test]"
	@touch $(STAMP)

# Renders the committed notebook outputs (nothing is executed); any Sphinx warning fails the build.
book: $(STAMP)
	@echo "== $@: started at $$(date +%T)"
	$(BIN)/jupyter-book build . -W --keep-going
	@echo "The book is in _build/html/index.html (open it in a browser; publish: .github/workflows/pages.yml)"

test-unit: $(STAMP)
	@echo "== $@: started at $$(date +%T)"
	$(BIN)/python -m pytest tests -q

lint: $(STAMP)
	$(BIN)/ruff check tinydiff_lib tests scripts
	$(BIN)/ruff format --check tinydiff_lib tests scripts

# Every notebook, top to bottom, in a fresh kernel (cwd notebooks/): any error fails; cells marked
# `# NBVAL_CHECK_OUTPUT` are compared with their stored output.
test-notebooks: $(STAMP)
	@echo "== $@: started at $$(date +%T)"
	@if ls notebooks/*.ipynb >/dev/null 2>&1; then \
	  $(BIN)/python -m pytest -p no:cacheprovider --nbval-lax --nbval-current-env \
	    --nbval-cell-timeout=$(NBVAL_TIMEOUT) --nbval-sanitize-with notebooks/nbval_sanitize.cfg notebooks/; \
	else echo "test-notebooks: no notebooks yet"; fi

$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "Chromium is missing: sudo apt-get install -y chromium (Debian/Ubuntu)"; exit 1; fi

book-assets: $(ASSETS_STAMP)

$(ASSETS_STAMP): scripts/book-assets.json
	mkdir -p $(BOOK_ASSETS)
	cp scripts/book-assets.json $(BOOK_ASSETS)/package.json
	cd $(BOOK_ASSETS) && npm install --no-package-lock --no-audit --no-fund --ignore-scripts --loglevel=error
	@touch $@

# Internal links/images/anchors (LinkChecker) and every page in headless Chromium (scripts/check_book.py).
check-book: $(STAMP) $(ASSETS_STAMP) $(CHROMIUM)
	@echo "== $@: started at $$(date +%T)"
	@test -f _build/html/index.html || { echo "check-book: build the book first (make book)"; exit 1; }
	$(BIN)/python scripts/check_book.py

test: test-unit test-notebooks book check-book

clean:
	rm -rf _build .pytest_cache $(BOOK_ASSETS)

# The shipped ladder of checkpoints, the best FiLM U-Net, and their cards (hours on a 2-core CPU;
# resumes a half-finished run).
checkpoints: $(STAMP)
	$(BIN)/python scripts/make_checkpoints.py
	$(BIN)/python scripts/render_results.py

# The best FiLM U-Net's sampler / EMA / dtype study and the library U-Net comparison (after `make
# checkpoints`; about an hour on 2 cores). diffusers is installed here only: nothing else needs it.
studies: $(STAMP)
	$(BIN)/python scripts/study_sampling.py
	$(BIN)/pip install -c constraints.txt -e ".[benchmark]"
	$(BIN)/python scripts/compare_diffusers.py
	$(BIN)/python scripts/render_results.py

# The MNIST feature network behind `evaluate` (tinydiff_lib.metrics): a few minutes on a CPU.
.PHONY: features studies
features: $(STAMP)
	$(BIN)/python scripts/train_feature_net.py
