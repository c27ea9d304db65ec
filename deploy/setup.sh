#!/usr/bin/env bash
# One-step set-up on Debian 12: installs every Debian package Hutong needs
# (idempotent, non-interactive), then configures and builds.
#
#   deploy/setup.sh            install packages, build the default preset (build/)
#   deploy/setup.sh debug      ... the ASan + UBSan preset (build-debug/)
#   deploy/setup.sh --no-build install packages only
set -euo pipefail

preset=default
build=1
for arg in "$@"; do
  case "$arg" in
    default|debug) preset=$arg ;;
    --no-build) build=0 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown argument '$arg'" >&2; exit 2 ;;
  esac
done

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# The packages, one group a line: toolchain; wire and plugins; logs and config;
# text and crypto; storage; tests and benchmarks; the Python feed client example.
packages=(
  build-essential cmake ninja-build ccache pkg-config git
  libprotobuf-dev protobuf-compiler libzmq3-dev cppzmq-dev libboost-dev
  libspdlog-dev libfmt-dev nlohmann-json3-dev libyaml-cpp-dev
  libopencc-dev libopencc-data opencc libssl-dev
  libsqlite3-dev sqlite3 libpq-dev postgresql
  libzip-dev libexpat1-dev libxlsxwriter-dev libjemalloc-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  python3 python3-zmq python3-protobuf
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "setup.sh: run as root or install sudo" >&2; exit 1; }
    sudo=(sudo)
  fi
  echo "setup.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -q
  "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
else
  echo "setup.sh: all ${#packages[@]} Debian packages present"
fi

((build)) || exit 0

cd "$root"
export CCACHE_DIR=${CCACHE_DIR:-$root/.cache/ccache}
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" -- -j"$(nproc)"
echo "setup.sh: built preset '$preset'"
