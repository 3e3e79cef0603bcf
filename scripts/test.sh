#!/usr/bin/env bash
# Runs every test: type check and format, jest (TypeScript, Pulumi mocks), bats (shell).
# On a fresh machine without the Debian test tools the shell tests are skipped with a message
# naming the packages; CI sets DEVBOX_REQUIRE_ALL_TOOLS=1 so that a missing tool fails instead.
set -euo pipefail
cd "$(dirname "$0")/.."

test_require() {
  local tool="$1"
  if command -v "$tool" >/dev/null 2>&1; then
    return 0
  fi
  if [[ "${DEVBOX_REQUIRE_ALL_TOOLS:-0}" == "1" ]]; then
    echo "test: $tool is not installed and DEVBOX_REQUIRE_ALL_TOOLS=1" >&2
    exit 1
  fi
  echo "=> skipping shell tests: $tool is not installed" \
    "(apt-get install -y bats shellcheck cloud-init openssh-server xfsprogs e2fsprogs mdadm)"
  return 1
}

echo "=> lint (tsc, prettier)"
npm run -s lint
echo "=> jest"
npx jest --runInBand
echo "=> policy pack (policy/)"
if [[ ! -d policy/node_modules ]]; then
  echo "=> installing the policy pack's own dependencies (npm ci in policy/)"
  npm ci --prefix policy --no-audit --no-fund
fi
npm --prefix policy test
if test_require bats; then
  echo "=> bats"
  bats -r tests/bats
fi
