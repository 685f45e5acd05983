#!/usr/bin/env bash
# Installs what `make bench` needs, like .ci/run does on a fresh Debian 12 machine (root).
# Each tool is checked first, so a second run costs a few milliseconds.
#   apt: GNU parallel, GNU time, PARI/GP (anchor for the u128 factor classes), openssl,
#        coreutils (factor, timeout), util-linux (taskset), procps, python3
#   crates.io: rust-parallel, into bench/out/tools (skipped with a note if it fails)
# The input generator needs no Python package (its own Miller-Rabin, fixed seeds).
set -uo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
out=bench/out
mkdir -p "$out/tools"

missing=()
command -v parallel >/dev/null || missing+=(parallel)
[ -x /usr/bin/time ] || missing+=(time)
command -v gp >/dev/null || missing+=(pari-gp)
command -v openssl >/dev/null || missing+=(openssl)
command -v factor >/dev/null || missing+=(coreutils)
command -v taskset >/dev/null || missing+=(util-linux)
command -v ps >/dev/null || missing+=(procps)
command -v python3 >/dev/null || missing+=(python3)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "bench: missing ${missing[*]} and not root: install them, or the rows that need them show the error" >&2
    else
        echo "bench: installing ${missing[*]} (apt)" >&2
        apt-get update -qq >&2 || echo "bench: apt-get update failed" >&2
        apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 \
            || echo "bench: apt-get install ${missing[*]} failed; the rows that need them show the error" >&2
    fi
fi

# rust-parallel: an anchor for `orchestrator run`, built once from crates.io.
rp="$out/tools/bin/rust-parallel"
note="$out/tools/rust-parallel.note"
if [ ! -x "$rp" ] && [ ! -e "$note" ] && [ "${BENCH_SKIP_RUST_PARALLEL:-0}" != 1 ]; then
    echo "bench: cargo install --locked --root $out/tools rust-parallel (once; a few minutes on 2 cores)" >&2
    if ! cargo install --locked --quiet --root "$out/tools" rust-parallel >"$out/tools/rust-parallel.log" 2>&1; then
        echo "cargo install rust-parallel failed: $(tail -n 3 "$out/tools/rust-parallel.log" | tr '\n' ' ')" >"$note"
        echo "bench: rust-parallel did not install (see $out/tools/rust-parallel.log); its rows are skipped" >&2
    fi
fi
exit 0
