# Tether: two commands on a fresh machine — `make demo` and `make test`.
# Both create .venv/ (Python 3.11) and install the pinned project first when
# it is missing or older than pyproject.toml.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.tether-installed

.PHONY: setup demo test test-slow lint clean render-libs

setup: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 (Debian: apt-get install python3.11 python3.11-venv)" >&2; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,ros]'
	@$(MAKE) --no-print-directory render-libs
	touch $(STAMP)

# Offscreen rendering (the demo's image strip) uses Mesa's EGL on the CPU.
# Installed from Debian when missing and we are root; otherwise the demo
# skips the strip with a message. Never fatal.
RENDER_PKGS := libegl1 libegl-mesa0 libgl1-mesa-dri
render-libs:
	@if ldconfig -p | grep -q libEGL_mesa; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing $(RENDER_PKGS) for offscreen rendering"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(RENDER_PKGS) >/dev/null) \
		|| echo "warning: could not install $(RENDER_PKGS); the demo will skip rendering"; \
	else echo "note: install $(RENDER_PKGS) (Debian) for the demo's rendered image strip"; fi

demo: $(STAMP)
	$(BIN)/tether demo

test: $(STAMP)
	$(BIN)/python -m pytest

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) build *.egg-info
