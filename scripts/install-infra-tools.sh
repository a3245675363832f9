#!/usr/bin/env bash
# Installs the tools that validate, build and deploy infra/template.yaml, at the versions pinned
# (with every transitive dependency) in scripts/infra-requirements*.txt, from PyPI:
#
#   .tools/venv          aws-sam-cli (sam), cfn-lint, cargo-lambda (with ziglang, its linker)
#   .tools/venv-checkov  checkov (its boto3 pin conflicts with aws-sam-cli's, so it lives apart)
#
# Idempotent: a venv whose stamp matches its requirements file is left alone, so a second run
# takes a few milliseconds. Safe to run concurrently (the runs serialise on a lock file).
# Prints the venvs' bin folders on stdout, one a line (put them on PATH); progress on stderr.
#
#   BUILD_LAMBDA=1  also adds Rust's aarch64-unknown-linux-gnu target (rustup), which
#                   `cargo lambda build --arm64` and `sam build` need.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools"
python="${PYTHON:-python3}"

mkdir -p "$tools"
exec 9>"$tools/.infra-install.lock"
flock 9

if ! "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)' 2>/dev/null; then
    echo "install-infra-tools: Python 3.9+ is needed (aws-sam-cli, checkov); found: $("$python" --version 2>&1 || echo none)" >&2
    exit 1
fi

# install_venv DIR REQUIREMENTS: (re)creates DIR from the pinned REQUIREMENTS unless its stamp
# says it already holds exactly them (same pins, same interpreter, same place: a venv's scripts
# name its own path, so a moved checkout gets new venvs).
install_venv() {
    local venv="$1" requirements="$2" wanted stamp
    wanted="$( (sha256sum <"$requirements"; echo "$venv"; "$python" -c 'import sys; print(sys.version)') | sha256sum | cut -d' ' -f1)"
    stamp="$venv/.installed"
    if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$wanted" ]]; then
        return 0
    fi
    echo "install-infra-tools: installing ${requirements#"$root"/} into ${venv#"$root"/}" >&2
    # Start clean so nothing from an older pin lingers; the stamp is written last, so an
    # interrupted install is redone next time.
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
        -r "$requirements" >&2
    "$venv/bin/python" -m pip check >&2
    echo "$wanted" >"$stamp"
}

install_venv "$tools/venv" "$root/scripts/infra-requirements.txt"
install_venv "$tools/venv-checkov" "$root/scripts/infra-requirements-checkov.txt"

if [[ "${BUILD_LAMBDA:-0}" == "1" ]]; then
    target=aarch64-unknown-linux-gnu
    if ! rustc --print sysroot >/dev/null 2>&1; then
        echo "install-infra-tools: BUILD_LAMBDA=1 needs a Rust toolchain (rustup)" >&2
        exit 1
    fi
    if [[ ! -d "$(rustc --print sysroot)/lib/rustlib/$target" ]]; then
        echo "install-infra-tools: adding the Rust target $target" >&2
        # rustup fetches the target's standard library from outside the package registries;
        # where that is refused, scripts/lint-infra.sh builds for x86_64 instead and says so.
        rustup target add "$target" >&2 ||
            echo "install-infra-tools: WARNING: could not add $target" >&2
    fi
fi

echo "$tools/venv/bin"
echo "$tools/venv-checkov/bin"
