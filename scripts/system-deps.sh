#!/usr/bin/env bash
# System packages vamen and its tests use. Installs them when run as root
# with apt (CI, containers); otherwise says which are missing and goes on,
# since vamen still renders and records to files without them.
set -euo pipefail

packages=(
  libsndfile1     # soundfile: reading and writing audio files
  libportaudio2   # sounddevice: playing to the sound card
  jackd2          # JACK with its dummy driver: the sound card in tests; its jack_metro is
                  # the peer of vamen bench soak --peer
  sonic-pi-samples  # CC0 recorded drums: vamen dataset recorded, the default model's corpus
  # the clients in patches/, run for real by tests/server/sinks/test_clients_*.py
  # (about 1.1 GB installed, 25-30 s from a near mirror; ghc is most of it)
  supercollider-server    # scsynth: plays the supercollider sink's buffers
  supercollider-language  # sclang: runs patches/supercollider/vamen.scd
  puredata-core           # pd -nogui: runs patches/pd/vamen.pd
  ghc                     # ghci: runs TidalCycles
  libghc-tidal-dev        # Tidal 1.7 (patches/tidal/BootVamen.ghci)
  # the web page's tests (tests/server/web/) drive a real headless browser through selenium
  chromium
  chromium-driver
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "note: missing system packages: ${missing[*]}" >&2
  echo "      (sudo apt-get install ${missing[*]}); vamen records to a file without a sound card" >&2
fi
