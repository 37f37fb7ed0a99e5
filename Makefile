# Hearth: `make run` serves on http://127.0.0.1:8000, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
VENDOR := server/static/vendor/socket.io.esm.min.js
# The member page's modules as one minified file (server/bundles.py), built by esbuild from npm,
# with what they load by import() in chunks under server/static/js/chunks/ (built with it).
BUNDLE := server/static/js/member.bundle.min.js
ESBUILD := node_modules/.bin/esbuild
# axe-core, a devDependency: the browser tests inject it into pages; it is never served.
AXE := node_modules/axe-core/axe.min.js
DATA ?= data
QUICK ?=

.PHONY: run test check format bench setup vendor bundle clean

setup: $(STAMP) $(VENDOR) $(AXE) bundle

# The browser client and the page's bundle alone, e.g. before `pip install .` from a clone
# (docs/deployment.md).
vendor: $(VENDOR) bundle

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

# The Socket.IO browser client comes from npm (pinned in package-lock.json), served from our origin.
$(VENDOR): package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	mkdir -p server/static/vendor
	cp node_modules/socket.io-client/dist/socket.io.esm.min.js $(VENDOR)
	cp node_modules/socket.io-client/LICENSE server/static/vendor/socket.io-client.LICENSE
	cp node_modules/hash-wasm/dist/argon2.umd.min.js server/static/vendor/hash-wasm-argon2.umd.min.js
	cp node_modules/hash-wasm/LICENSE server/static/vendor/hash-wasm.LICENSE

# npm ci (above) installs it; a checkout whose vendored client predates it gets it here.
$(AXE): package.json package-lock.json
	test -f $(AXE) || npm ci --no-audit --no-fund --silent
	touch $(AXE)

# Rebuilt whenever the bundle's manifest no longer matches the files it was built from and into
# (a script or JSON module it includes, or one of its chunks, changed or went); until then the
# server serves the modules unbundled. Checking takes a few milliseconds.
bundle: $(VENDOR) package-lock.json
	test -x $(ESBUILD) || npm ci --no-audit --no-fund --silent
	$(PYTHON) -m server.bundles --esbuild $(ESBUILD) --if-stale

run: setup
	test -f $(DATA)/config.toml || $(BIN)/hearth init --dir $(DATA)
	$(BIN)/hearth serve --config $(DATA)/config.toml

check: setup
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: setup check
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: setup
	$(BIN)/python -m bench $(if $(QUICK),--quick,)

clean:
	rm -rf $(VENV) node_modules server/static/vendor $(BUNDLE) server/static/js/chunks .pytest_cache .mypy_cache .ruff_cache
