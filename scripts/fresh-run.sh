#!/usr/bin/env bash
# The README's test command on a fresh clone from a cold machine state, as CI runs it.
#
#   sudo scripts/fresh-run.sh [--busy] [REV]      (REV: a commit; default HEAD)
#
# What "cold" means here (run as root; a developer machine loses its warm state):
#   1. every vamen, jackd, scsynth, sclang and chromium process left over is killed;
#   2. the matplotlib and pip caches and pytest's temporary folders are removed;
#   3. the page cache is dropped (sync; echo 3 > /proc/sys/vm/drop_caches), so torch,
#      ghci, sclang and chromium load from disk as on a new machine;
#   4. the repository is cloned beside this checkout (../vamen-fresh-REV, next to
#      ../shared as CI has it, so the tests on the recorded breaks run, not skip);
#   5. `CI=true bash .ci/run` runs there: a new .venv, torch and the project from the
#      registry, then the whole suite.
# --busy keeps one core busy (`while :; do :; done`) for the whole run.
# The log is ../vamen-fresh-REV.log; the last line says the exit status and the time taken.
set -u
busy=
if [ "${1:-}" = "--busy" ]; then busy=1; shift; fi
here=$(cd "$(dirname "$0")/.." && pwd)
rev=$(git -C "$here" rev-parse --short "${1:-HEAD}") || exit 2
dest="$here/../vamen-fresh-$rev"
log="$dest.log"
if [ "$(id -u)" != 0 ]; then echo "fresh-run: run as root (it drops the page cache)" >&2; exit 2; fi

pkill -f -- "-m vamen|bin/vamen|vamen\.server" ; pkill jackd; pkill scsynth; pkill sclang; pkill -f chromium; sleep 1
rm -rf ~/.cache/matplotlib ~/.cache/pip /tmp/pytest-of-"$(id -un)" "$dest"
sync; echo 3 > /proc/sys/vm/drop_caches
git clone -q "$here" "$dest" && git -C "$dest" checkout -q "$rev" || exit 2
echo "commit $(git -C "$dest" rev-parse HEAD) start $(date -u +%FT%TZ) busy=${busy:-none}" > "$log"
if [ -n "$busy" ]; then sh -c 'while :; do :; done' & spinner=$!; fi
start=$(date +%s)
(cd "$dest" && CI=true bash .ci/run) >> "$log" 2>&1
rc=$?
[ -n "$busy" ] && kill "$spinner"
echo "rc $rc after $(( $(date +%s) - start )) s, end $(date -u +%FT%TZ)" >> "$log"
tail -n 3 "$log"
exit $rc
