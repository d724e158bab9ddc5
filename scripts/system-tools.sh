#!/usr/bin/env bash
# Makes sure the Debian tools the test suite talks to are installed: the stock `age` CLI
# (interoperability of exports), openssl (test certificates), ffmpeg (real Opus streams) and
# espeak-ng (speech for the call simulator), chromium (the browser tests drive it with
# playwright-core; no browser is downloaded) and strace (a test watches the ingest journal's
# system calls). Installs them with apt-get when run as root;
# otherwise says exactly what is missing.
set -euo pipefail

declare -A PACKAGE_OF=([age]=age [age-keygen]=age [openssl]=openssl [ffmpeg]=ffmpeg [espeak-ng]=espeak-ng [chromium]=chromium [strace]=strace)
missing=()
for tool in "${!PACKAGE_OF[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("${PACKAGE_OF[$tool]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian packages the tests need: ${missing[*]}"
  if ! apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1; then
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}"
  fi
else
  echo "The tests need these Debian packages: ${missing[*]}" >&2
  echo "Install them with: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
