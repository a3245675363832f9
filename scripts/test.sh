#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it (.ci/run calls this and nothing else):
# installs what the tests need, then formatting, lints, every test of the workspace, the
# offline checks of the SAM template, and one Lambda built as `sam build` builds it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# A run from a fresh clone has no use for incremental state, which is 1.9 GiB of its target
# folder (a disk that filled up once failed CI in the linker); CARGO_INCREMENTAL=1 keeps it for
# a developer who runs this again and again.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

scripts/install-test-deps.sh >/dev/null
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# The workspace build unifies the features of `shared`; these build it as the README's first
# command does (the local stack: no `secrets`, no `eventbridge`) and with none at all (the
# Lambdas that read no secret and publish nothing), so a feature left out still compiles cleanly.
cargo clippy --locked -p local-stack -- -D warnings
cargo clippy --locked -p shared -p message-query -- -D warnings
# The template's checks, and the Lambda target kept buildable (arm64, release profile).
BUILD_LAMBDA=1 scripts/lint-infra.sh
# Fuzzing: the fuzz targets' checks run inside the tests below (the seeds, every input that once
# broke them, and a few thousand unguided mutations of the seeds, in about two seconds).
# cargo-fuzz itself is scripts/fuzz.sh: from cold, installing it and building the instrumented
# targets on nightly takes 13.5 minutes on a 2-core machine before the first execution
# (RELIABILITY.md, "Fuzzing"), too much for every run of this script.
# Last, so the test runner's summary closes the output.
cargo test --workspace --locked
