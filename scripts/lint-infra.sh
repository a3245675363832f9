#!/usr/bin/env bash
# Static validation of infra/template.yaml, offline (no AWS account, no network beyond the
# first install of the tools from PyPI):
#
#   1. infra/check_template.py  references (Ref, GetAtt, Sub, DependsOn, conditions) and the
#                               template's own conventions, plus its self-test
#   2. cfn-lint                 CloudFormation and SAM schema and rules, informational ones too
#   3. checkov                  security rules; suppressions live in the template, with reasons
#   4. sam validate --lint      the SAM transform itself, then cfn-lint on its output
#
# BUILD_LAMBDA=1 also cross-compiles one function for Lambda (arm64, release profile) with
# cargo-lambda, as `sam build` does for each function: slow (fat LTO), so not by default.
#
# Tools come from scripts/install-infra-tools.sh (pinned, into .tools/). Exits non-zero on the
# first failing step.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
template=infra/template.yaml

step() { printf '\n== %s\n' "$*"; }
started=$SECONDS

step "install tools (scripts/install-infra-tools.sh)"
bins="$(scripts/install-infra-tools.sh)"
PATH="$(printf '%s' "$bins" | paste -sd: -):$PATH"
export PATH

# Offline and quiet: no telemetry, no update checks, no platform calls; a region for the SAM
# translator (it never calls AWS for this template) and no credentials at all.
export SAM_CLI_TELEMETRY=0
export BC_SKIP_MAPPING=TRUE
export AWS_DEFAULT_REGION=eu-west-1 AWS_REGION=eu-west-1
unset AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN

step "references and conventions (infra/check_template.py)"
python infra/check_template.py "$template"
python infra/check_template.py --self-test "$template" >/dev/null

step "cfn-lint $(cfn-lint --version | awk '{print $2}')"
cfn-lint --include-checks I -- "$template"
echo "cfn-lint: no findings"

step "checkov $(checkov --version)"
checkov --file "$template" --framework cloudformation --skip-download --compact --quiet

step "sam validate --lint ($(sam --version))"
sam validate --lint --template-file "$template"

if [[ "${BUILD_LAMBDA:-0}" == "1" ]]; then
    BUILD_LAMBDA=1 scripts/install-infra-tools.sh >/dev/null
    arch=--arm64
    if [[ ! -d "$(rustc --print sysroot)/lib/rustlib/aarch64-unknown-linux-gnu" ]]; then
        echo "WARNING: Rust's aarch64 target is not installed here; building for x86_64 to keep the Lambda build checked" >&2
        arch=--x86-64
    fi
    step "cargo lambda build --release $arch -p oauth-token"
    build_started=$SECONDS
    cargo lambda build --release "$arch" -p oauth-token
    echo "cargo lambda build: $((SECONDS - build_started)) s, ${CARGO_TARGET_DIR:-target}/lambda/oauth-token/bootstrap"
fi

step "infra lint passed in $((SECONDS - started)) s"
