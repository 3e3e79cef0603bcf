#!/usr/bin/env bats
# Every shell script of the kit (found by its shebang, in cloud-init/ and scripts/) passes
# shellcheck, and every step keeps the house rules that tests rely on.

load helpers/setup

shell_scripts() {
  local f first
  while IFS= read -r -d '' f; do
    first="$(head -n 1 "${f}")"
    if [[ "${first}" =~ ^#!.*(/|env\ )(ba)?sh([[:space:]]|$) ]]; then
      printf '%s\n' "${f}"
    fi
  done < <(find "${REPO_ROOT}/cloud-init" "${REPO_ROOT}/scripts" "${REPO_ROOT}/tests/bats/helpers" \
    -type f -print0 2>/dev/null | sort -z)
}

@test "shellcheck passes on every shell script in cloud-init/ and scripts/" {
  mapfile -t files < <(shell_scripts)
  [ "${#files[@]}" -ge 9 ]
  cd "${REPO_ROOT}"
  run shellcheck -x "${files[@]}"
  echo "$output"
  [ "$status" -eq 0 ]
  [ "$output" = "" ]
}

@test "every step sets -euo pipefail, sources common.sh and runs only when executed" {
  local step
  for step in "${SRC}"/steps/[0-9][0-9]-*.sh; do
    grep -qx 'set -euo pipefail' "${step}"
    grep -qx '. "${BASH_SOURCE\[0\]%/\*}/../lib/common.sh"' "${step}"
    grep -qE '^if \[\[ "\$\{BASH_SOURCE\[0\]\}" == "\$0" \]\]; then$' "${step}"
    # Sourcing a step runs nothing.
    run bash -c '. "$1"' _ "${step}"
    [ "$status" -eq 0 ]
    [ "$output" = "" ]
  done
}
