#!/usr/bin/env bats
# cloud-init/bin/devbox-setup: runs the steps in order, keeps status.json, survives a reboot.
# The steps here are small stand-ins; cn-profile.bats runs the real ones.

load helpers/setup

setup() {
  devbox_test_setup
  RUNNER="${SRC}/bin/devbox-setup"
  export DEVBOX_PREFIX="${BATS_TEST_TMPDIR}/prefix"
  export SNAP="${BATS_TEST_TMPDIR}/snap"
  mkdir -p "${DEVBOX_PREFIX}/steps" "${SNAP}"
  ln -s "${SRC}/lib" "${DEVBOX_PREFIX}/lib"
  fake_step 10-alpha
  fake_step 20-beta
  fake_step 30-gamma
  write_env global
}

# A step that snapshots status.json while it runs, and fails or asks for a reboot when a file
# named after it says so.
fake_step() {
  local name="${1#*-}"
  printf '%s\n' '#!/bin/bash' 'set -euo pipefail' \
    '. "${BASH_SOURCE[0]%/*}/../lib/common.sh"' \
    'devbox_step_begin "$(devbox_step_name_of "${BASH_SOURCE[0]}")"' \
    "cp \"\${DEVBOX_STATE_DIR}/status.json\" \"\${SNAP}/${name}.json\"" \
    "echo \"${name} working\"" \
    "if [[ -e \"\${STUB_DIR}/fail-${name}\" ]]; then devbox_err 'told to fail'; exit 1; fi" \
    "if [[ -e \"\${STUB_DIR}/reboot-${name}\" ]]; then devbox_request_reboot 'told to'; fi" \
    >"${DEVBOX_PREFIX}/steps/$1.sh"
}

# One field of a status.json, read with python3 (no jq needed on the box or here).
json() {
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {"d": d}))' "$1" "$2"
}

@test "status.json moves through the steps to done" {
  run bash "${RUNNER}"
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "=> setup: starting: 3 step(s) in ${DEVBOX_PREFIX}/steps" ]
  [ "${lines[1]}" = "=> alpha: start" ]
  [ "${lines[2]}" = "alpha working" ]
  [[ "${lines[3]}" =~ ^"=> alpha: done in "[0-9]+" s"$ ]]
  [ "${lines[-1]}" = "=> setup: all steps done" ]

  # While beta ran: alpha done (with its times), beta running, gamma pending.
  [ "$(json "${SNAP}/beta.json" 'd["state"]')" = running ]
  [ "$(json "${SNAP}/beta.json" 'd["step"]')" = beta ]
  [ "$(json "${SNAP}/beta.json" '[s["state"] for s in d["steps"]]')" = "['done', 'running', 'pending']" ]
  [ "$(json "${SNAP}/beta.json" '[s["name"] for s in d["steps"]]')" = "['alpha', 'beta', 'gamma']" ]
  [ "$(json "${SNAP}/beta.json" 'd["steps"][0]["seconds"] == d["steps"][0]["ended"] - d["steps"][0]["started"]')" = True ]
  [ "$(json "${SNAP}/beta.json" '"ended" in d["steps"][1]')" = False ]

  final="${DEVBOX_STATE_DIR}/status.json"
  [ "$(json "${final}" 'd["state"]')" = "done" ]
  [ "$(json "${final}" '[s["state"] for s in d["steps"]]')" = "['done', 'done', 'done']" ]
  [ "$(json "${final}" 'd["error"]')" = "" ]
  [ -e "${DEVBOX_STATE_DIR}/setup.done" ]
  grep -qx "gamma working" "${DEVBOX_LOG_DIR}/gamma.log"
}

@test "a failing step stops the run and status.json names it with its error" {
  touch "${STUB_DIR}/fail-beta"
  run bash "${RUNNER}"
  [ "$status" -eq 1 ]
  [ "${lines[-1]}" = "devbox: setup: error: beta: told to fail; see ${DEVBOX_LOG_DIR}/beta.log" ]
  [ ! -e "${SNAP}/gamma.json" ]
  final="${DEVBOX_STATE_DIR}/status.json"
  [ "$(json "${final}" 'd["state"]')" = failed ]
  [ "$(json "${final}" 'd["step"]')" = beta ]
  [ "$(json "${final}" 'd["error"]')" = "beta: told to fail; see ${DEVBOX_LOG_DIR}/beta.log" ]
  [ "$(json "${final}" '[s["state"] for s in d["steps"]]')" = "['done', 'failed', 'pending']" ]
  [ ! -e "${DEVBOX_STATE_DIR}/setup.done" ]
}

@test "a re-run after a failure skips the steps already done" {
  touch "${STUB_DIR}/fail-beta"
  run bash "${RUNNER}"
  [ "$status" -eq 1 ]
  rm "${STUB_DIR}/fail-beta" "${SNAP}/alpha.json"
  run bash "${RUNNER}"
  [ "$status" -eq 0 ]
  [ "${lines[1]}" = "=> setup: alpha: already done" ]
  [ ! -e "${SNAP}/alpha.json" ]
  [ -e "${SNAP}/gamma.json" ]
  [ "$(json "${DEVBOX_STATE_DIR}/status.json" 'd["state"]')" = "done" ]
}

@test "a step asking for a reboot: status rebooting, reboot, and the rest after the boot" {
  touch "${STUB_DIR}/reboot-beta"
  run bash "${RUNNER}"
  [ "$status" -eq 0 ]
  [ "${lines[-1]}" = "=> setup: rebooting for beta (reboot 1 of at most 2)" ]
  [ "$(calls_of systemctl)" = "systemctl reboot" ]
  [ ! -e "${SNAP}/gamma.json" ]
  final="${DEVBOX_STATE_DIR}/status.json"
  [ "$(json "${final}" 'd["state"]')" = rebooting ]
  [ "$(json "${final}" 'd["step"]')" = beta ]
  [ "$(json "${final}" '[s["state"] for s in d["steps"]]')" = "['done', 'pending', 'pending']" ]

  # After the boot the unit starts the runner again.
  rm "${STUB_DIR}/reboot-beta"
  run bash "${RUNNER}"
  [ "$status" -eq 0 ]
  [ -e "${SNAP}/gamma.json" ]
  [ "$(json "${final}" 'd["state"]')" = "done" ]
}

@test "a step that keeps asking for reboots fails after DEVBOX_MAX_REBOOTS" {
  touch "${STUB_DIR}/reboot-beta"
  run bash "${RUNNER}"
  run bash "${RUNNER}"
  [ "$(calls_of systemctl | wc -l)" -eq 2 ]
  run bash "${RUNNER}"
  [ "$status" -eq 1 ]
  [ "$(calls_of systemctl | wc -l)" -eq 2 ]
  [ "$(json "${DEVBOX_STATE_DIR}/status.json" 'd["state"]')" = failed ]
  [ "$(json "${DEVBOX_STATE_DIR}/status.json" 'd["error"]')" = "beta: asked for a reboot again after 2 reboot(s); see ${DEVBOX_LOG_DIR}/beta.log" ]
}

@test "once done, the runner does nothing" {
  run bash "${RUNNER}"
  [ "$status" -eq 0 ]
  rm "${SNAP}"/*.json
  run bash "${RUNNER}"
  [ "$status" -eq 0 ]
  [[ "${lines[0]}" =~ ^"=> setup: setup already done ("[0-9T:-]+Z")"$ ]]
  [ "${#lines[@]}" -eq 1 ]
  [ "$(ls "${SNAP}")" = "" ]
}

@test "a step that dies before recording anything is still reported failed" {
  printf '%s\n' '#!/bin/bash' 'exit 3' >"${DEVBOX_PREFIX}/steps/20-beta.sh"
  run bash "${RUNNER}"
  [ "$status" -eq 1 ]
  [ "$(json "${DEVBOX_STATE_DIR}/status.json" 'd["error"]')" = "beta: exit 3; see ${DEVBOX_LOG_DIR}/beta.log" ]
  [ "$(json "${DEVBOX_STATE_DIR}/status.json" '[s["state"] for s in d["steps"]]')" = "['done', 'failed', 'pending']" ]
}

@test "an error text with quotes and backslashes still gives valid JSON" {
  printf '%s\n' '#!/bin/bash' 'set -euo pipefail' '. "${BASH_SOURCE[0]%/*}/../lib/common.sh"' \
    'devbox_step_begin beta' "devbox_err 'bad \"quote\" and \\\\ slash'" 'exit 1' \
    >"${DEVBOX_PREFIX}/steps/20-beta.sh"
  run bash "${RUNNER}"
  [ "$status" -eq 1 ]
  [ "$(json "${DEVBOX_STATE_DIR}/status.json" 'd["error"]')" = "beta: bad \"quote\" and \\\\ slash; see ${DEVBOX_LOG_DIR}/beta.log" ]
}
