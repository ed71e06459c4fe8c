# TinyDiff: `make book` (set up + build the book) and `make test` (set up + run every check).
# Both create or refresh the project-local virtual environment .venv; a second run reinstalls nothing.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# Where MNIST lives (tinydiff_lib.data): $TINYDIFF_DATA from the environment or the command line, else the
# cache. A relative path means a folder relative to where `make` was typed (the repository root), but the
# notebooks run with notebooks/ as their working folder, so it is made absolute here, once, before any
# recipe sees it (`override` so that `make test TINYDIFF_DATA=rel` is converted too; a leading ~ is the
# home folder). `make data-root` prints the value every recipe gets.
# The same for TINYDIFF_CHECKPOINTS (tinydiff_lib.hub: a folder of checkpoints to use instead of checkpoints/),
# when it is set.
absolute = $(if $(strip $1),$(abspath $(patsubst ~%,$(HOME)%,$(strip $1))))
TINYDIFF_DATA ?= $(HOME)/.cache/tinydiff
override TINYDIFF_DATA := $(call absolute,$(TINYDIFF_DATA))
export TINYDIFF_DATA
ifdef TINYDIFF_CHECKPOINTS
override TINYDIFF_CHECKPOINTS := $(call absolute,$(TINYDIFF_CHECKPOINTS))
export TINYDIFF_CHECKPOINTS
endif

# CPU-only machines: `make setup TORCH_INDEX=https://download.pytorch.org/whl/cpu` (before the first set-up)
# installs PyTorch's CPU wheels of the pinned torch/torchvision first (about 1 GB instead of about 6 GB for
# the default Linux wheels, which bundle CUDA); everything else then comes from the usual index.
TORCH_INDEX ?=

.PHONY: setup book book-assets check-book test test-unit test-notebooks lint checkpoints clean data-root env-paths

# Book checks: Debian's Chromium (installed by `make check-book` when missing, as root) and local copies of
# the scripts the book loads from CDNs (MathJax, require.js, the widget embedder), from the npm registry.
CHROMIUM      ?= /usr/bin/chromium
BOOK_ASSETS   := .book-assets
ASSETS_STAMP  := $(BOOK_ASSETS)/.installed
NBVAL_TIMEOUT ?= 1800
# pytest-xdist workers of test-unit and test-notebooks (one per core; 0 runs everything in one process). The
# tests run on one thread each (tests/conftest.py), the notebooks too (their num_threads parameter); every cell
# of a notebook stays in one worker (--dist loadfile), so each still runs top to bottom in a fresh kernel
TEST_WORKERS ?= 2

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null || \
	  { echo "setup: needs Python 3.10 or newer as $(PYTHON) (found: $$($(PYTHON) --version 2>/dev/null || echo nothing there)); pass PYTHON=python3.12 or similar"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) >/dev/null || \
	  { rm -rf $(VENV); echo "setup: '$(PYTHON) -m venv' failed; on Debian/Ubuntu install python3-venv (sudo apt-get install -y python3-venv)"; exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(if $(TORCH_INDEX),$(BIN)/python -m pip install --quiet -c constraints.txt --index-url $(TORCH_INDEX) torch torchvision)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[book,test]"
	@touch $(STAMP)

# The MNIST folder every recipe gets (see TINYDIFF_DATA above); env-paths: both folders as recipes see them.
data-root:
	@echo "$$TINYDIFF_DATA"

env-paths:
	@echo "TINYDIFF_DATA=$$TINYDIFF_DATA"
	@echo "TINYDIFF_CHECKPOINTS=$${TINYDIFF_CHECKPOINTS-(not set)}"

# Renders the committed notebook outputs (nothing is executed); any Sphinx warning fails the build.
# Sphinx copies book/_static (the book's CSS) only when some page is out of date, so when a file there differs
# from its copy in the build, every page is rebuilt (--all).
book: $(STAMP)
	@echo "== $@: started at $$(date +%T)"
	$(BIN)/jupyter-book build . -W --keep-going \
	  $$(for f in book/_static/*; do cmp -s "$$f" "_build/html/_static/$${f#book/_static/}" || { echo --all; break; }; done)
	@echo "The book is in _build/html/index.html (open it in a browser; publish: .github/workflows/pages.yml)"

test-unit: $(STAMP)
	@echo "== $@: started at $$(date +%T)"
	$(BIN)/python -m pytest tests -q -n $(TEST_WORKERS)

# Cheap, so `make test` runs it first. Notebook code is formatted to 80 columns, the width of the book's
# code boxes (book/_static/tinydiff.css; scripts/check_book.py measures it on the rendered pages).
lint: $(STAMP)
	@echo "== $@: started at $$(date +%T)"
	$(BIN)/ruff check tinydiff_lib tests scripts notebooks
	$(BIN)/ruff format --check tinydiff_lib tests scripts
	$(BIN)/ruff format --check --line-length 80 notebooks

# Every notebook, top to bottom, in a fresh kernel (cwd notebooks/; TEST_WORKERS at a time): any error fails; cells marked
# `# NBVAL_CHECK_OUTPUT` are compared with their stored output.
test-notebooks: $(STAMP)
	@echo "== $@: started at $$(date +%T)"
	@if ls notebooks/*.ipynb >/dev/null 2>&1; then \
	  $(BIN)/python -m pytest -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile --nbval-lax --nbval-current-env \
	    --nbval-cell-timeout=$(NBVAL_TIMEOUT) --nbval-sanitize-with notebooks/nbval_sanitize.cfg notebooks/; \
	else echo "test-notebooks: no notebooks yet"; fi

# Installed here only as root on Debian/Ubuntu; anyone else gets one line saying what to install.
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "check-book: installing Debian's chromium (apt-get, about 300 MB)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "check-book: needs Chromium at $(CHROMIUM): install it as root (Debian/Ubuntu: sudo apt-get install -y chromium) or pass CHROMIUM=/path/to/chromium"; exit 1; fi

book-assets: $(ASSETS_STAMP)

NPM ?= npm
$(ASSETS_STAMP): scripts/book-assets.json
	@command -v $(NPM) >/dev/null || \
	  { echo "check-book: needs npm (Node.js) to fetch MathJax and the widget scripts once: install it (Debian/Ubuntu: sudo apt-get install -y npm)"; exit 1; }
	mkdir -p $(BOOK_ASSETS)
	cp scripts/book-assets.json $(BOOK_ASSETS)/package.json
	cd $(BOOK_ASSETS) && $(NPM) install --no-package-lock --no-audit --no-fund --ignore-scripts --loglevel=error
	@touch $@

# Internal links/images/anchors (LinkChecker) and every page in headless Chromium (scripts/check_book.py).
check-book: $(STAMP) $(ASSETS_STAMP) $(CHROMIUM)
	@echo "== $@: started at $$(date +%T)"
	@test -f _build/html/index.html || { echo "check-book: build the book first (make book)"; exit 1; }
	$(BIN)/python scripts/check_book.py

# Cheapest first: lint (seconds), unit tests (about a minute), notebooks (minutes), the book and its check.
test: lint test-unit test-notebooks book check-book

clean:
	rm -rf _build .pytest_cache $(BOOK_ASSETS)

# The shipped ladder of checkpoints, the best FiLM U-Net, and their cards (hours on a 2-core CPU;
# resumes a half-finished run).
checkpoints: $(STAMP)
	$(BIN)/python scripts/make_checkpoints.py
	$(BIN)/python scripts/render_results.py

# The library U-Net comparison (after `make checkpoints`; about an hour on 2 cores). diffusers is installed
# here only: nothing else needs it. The recipe study and the guidance sweep have their own scripts
# (scripts/run_recipes.py + score_recipes.py, scripts/guidance_sweep.py; see README), run as one-thread workers.
studies: $(STAMP)
	$(BIN)/pip install -c constraints.txt -e ".[benchmark]"
	$(BIN)/python scripts/compare_diffusers.py
	$(BIN)/python scripts/render_results.py

# The MNIST feature network behind `evaluate` (tinydiff_lib.metrics): a few minutes on a CPU.
.PHONY: features studies
features: $(STAMP)
	$(BIN)/python scripts/train_feature_net.py
