# The two commands a new user needs:  make serve   and   make test
# Both set up everything first: system packages (when run as root on Debian
# or Ubuntu), a virtual environment in .venv, and vamen installed into it.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# A tested CPU build of torch; on a CUDA machine install your own torch
# into .venv first and this pin is left alone.
TORCH  ?= torch==2.13.0

.PHONY: serve test system-deps install default-model bench fuzz clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[test,report,bench]"
	touch $@

install: system-deps $(VENV)/.installed

system-deps:
	@bash scripts/system-deps.sh

serve: install
	$(BIN)/vamen serve $(ARGS)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Re-create the shipped default model from scratch (CC0 recordings only).
default-model: install
	bash scripts/train-default-model.sh

bench: install
	$(BIN)/vamen bench render

# Bad input at every door (README, "Bad input"): 200,000 mutated OSC datagrams and 10,000
# MIDI messages over JACK MIDI at a live vamen serve, 1,000 mutated checkpoints and 1,000
# audio files through the real loaders, then the property-based tests fifty times longer
# than CI runs them. About half an hour.
fuzz: install
	$(BIN)/python scripts/fuzz.py $(FUZZ_ARGS)
	VAMEN_FUZZ_LONG=1 $(BIN)/python -m pytest -q tests/server/sources/test_osc_fuzz.py \
		tests/server/midi/test_midi_fuzz.py tests/server/test_config_fuzz.py \
		tests/model/test_checkpoint_fuzz.py tests/model/test_audio_fuzz.py

clean:
	rm -rf $(VENV) build *.egg-info
