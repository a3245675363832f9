#!/usr/bin/env bash
# Fuzzes the payload parser, the access-token verifier and the management validators with
# cargo-fuzz (libFuzzer), each target for SECONDS seconds (default 60), one after the other:
#
#   scripts/fuzz.sh [seconds-per-target] [target...]      # targets: payload token management
#
# Installs the pinned cargo-fuzz when it is missing; needs the nightly toolchain, whose flags
# the coverage instrumentation uses. What each target checks is in fuzz/src/. The seeds
# (tests/fixtures/insider, fuzz/seeds/<target>) are only read; new inputs go to
# fuzz/corpus/<target>, crashes to fuzz/artifacts/<target>, libFuzzer's output to
# target/fuzz-logs/<target>.log (all ignored by git). A crash, once fixed, belongs in
# fuzz/regressions/<target>/, which `cargo test -p fuzz` replays.
#
# Prints one summary line per target and exits non-zero when any target found a crash.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

CARGO_FUZZ_VERSION=0.13.2
ALL_TARGETS=(payload token management)

seconds="${1:-60}"
shift || true
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=("${ALL_TARGETS[@]}")

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz: the nightly toolchain is missing: rustup toolchain install nightly" >&2
    exit 1
fi
if [[ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]]; then
    echo "fuzz: installing cargo-fuzz $CARGO_FUZZ_VERSION" >&2
    cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
fi

# The workspace's release profile is the Lambdas' (fat LTO, one codegen unit, stripped): slow to
# build instrumented, and without the symbols a crash report needs.
export CARGO_PROFILE_RELEASE_LTO=false
export CARGO_PROFILE_RELEASE_STRIP=false
# No sanitizer: the workspace forbids unsafe code, and AddressSanitizer would halve the
# executions; debug assertions instead, for the integer overflows that safe code can still hit.
build_flags=(--features libfuzzer --sanitizer none --debug-assertions --codegen-units 16)

lock_before="$(sha256sum Cargo.lock)"
cargo +nightly fuzz build "${build_flags[@]}"
if [[ "$(sha256sum Cargo.lock)" != "$lock_before" ]]; then
    echo "fuzz: the build changed Cargo.lock; the fuzz crate must build from the workspace's lock" >&2
    exit 1
fi

mkdir -p target/fuzz-logs
failed=()
summary=()
for target in "${targets[@]}"; do
    case "$target" in
        payload) seeds=tests/fixtures/insider ;;
        token | management) seeds="fuzz/seeds/$target" ;;
        *) echo "fuzz: unknown target $target (known: ${ALL_TARGETS[*]})" >&2; exit 2 ;;
    esac
    corpus="fuzz/corpus/$target"
    log="target/fuzz-logs/$target.log"
    mkdir -p "$corpus"
    echo "fuzz: $target for ${seconds}s (log: $log)" >&2
    status=0
    cargo +nightly fuzz run "${build_flags[@]}" "$target" "$corpus" "$seeds" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -dict=fuzz/fuzz.dict -print_final_stats=1 >"$log" 2>&1 || status=$?
    stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -n 1; }
    coverage="$(grep -E '^#[0-9]+' "$log" | tail -n 1 | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' || true)"
    line="$target: $(stat number_of_executed_units) executions, $(stat average_exec_per_sec)/s, $coverage"
    if [[ $status -ne 0 ]]; then
        failed+=("$target")
        line="$line, FAILED (exit $status): see $log and fuzz/artifacts/$target/"
    else
        line="$line, no crash"
    fi
    summary+=("$line")
done

printf '%s\n' "${summary[@]}"
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "fuzz: crashes in ${failed[*]}" >&2
    exit 1
fi
