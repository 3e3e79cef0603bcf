#!/usr/bin/env bats
# cloud-init/steps/05-lifecycle.sh: installs the auto-stop and TTL units and enables the timers,
# and a second run changes nothing.

load helpers/setup

UNITS=(devbox-autostop.service devbox-autostop.timer devbox-ttl.service devbox-ttl.timer)

setup() {
  devbox_test_setup
  STEP="${SRC}/steps/05-lifecycle.sh"
  write_env global DEVBOX_AUTOSTOP_MINUTES=60 DEVBOX_TTL_HOURS=4
}

assert_units_installed() {
  local unit
  for unit in "${UNITS[@]}"; do
    cmp "${SRC}/systemd/${unit}" "${DEVBOX_ROOT}/etc/systemd/system/${unit}"
    [ "$(stat -c %a "${DEVBOX_ROOT}/etc/systemd/system/${unit}")" = 644 ]
  done
}

@test "first run installs the four units, reloads systemd and enables both timers" {
  run bash "${STEP}"
  [ "$status" -eq 0 ]
  assert_units_installed
  [ "$(calls_of systemctl)" = "$(printf '%s\n' 'systemctl daemon-reload' \
    'systemctl enable --now devbox-autostop.timer' 'systemctl enable --now devbox-ttl.timer')" ]
  [ "${lines[0]}" = "=> lifecycle: start" ]
  [ "${lines[1]}" = "=> lifecycle: auto-stop: 60 idle min, time-to-live: 4 h (0: off)" ]
  [[ "${lines[2]}" =~ ^"=> lifecycle: done in "[0-9]+" s"$ ]]
  [ "$(cut -d' ' -f1 "${DEVBOX_STATE_DIR}/steps/lifecycle")" = "done" ]
}

@test "a second run rewrites nothing and does not reload systemd" {
  run bash "${STEP}"
  [ "$status" -eq 0 ]
  : >"${STUB_DIR}/calls"
  run bash "${STEP}"
  [ "$status" -eq 0 ]
  assert_units_installed
  [ "$(calls_of systemctl)" = "$(printf '%s\n' 'systemctl enable --now devbox-autostop.timer' \
    'systemctl enable --now devbox-ttl.timer')" ]
}

@test "a unit changed on disk is put back and systemd reloaded" {
  run bash "${STEP}"
  echo "# edited" >>"${DEVBOX_ROOT}/etc/systemd/system/devbox-autostop.service"
  : >"${STUB_DIR}/calls"
  run bash "${STEP}"
  [ "$status" -eq 0 ]
  assert_units_installed
  [ "$(calls_of systemctl | head -n 1)" = "systemctl daemon-reload" ]
}

@test "without a TTL the TTL timer is disabled, auto-stop still enabled" {
  write_env global DEVBOX_AUTOSTOP_MINUTES=0 DEVBOX_TTL_HOURS=0
  run bash "${STEP}"
  [ "$status" -eq 0 ]
  [ "$(calls_of systemctl)" = "$(printf '%s\n' 'systemctl daemon-reload' \
    'systemctl enable --now devbox-autostop.timer' 'systemctl disable --now devbox-ttl.timer')" ]
  [ "${lines[1]}" = "=> lifecycle: auto-stop: 0 idle min, time-to-live: 0 h (0: off)" ]
}

@test "a failing systemctl fails the step, named in the log" {
  echo 1 >"${STUB_DIR}/fail/systemctl"
  run bash "${STEP}"
  [ "$status" -eq 1 ]
  [ "$(cut -d' ' -f1 "${DEVBOX_STATE_DIR}/steps/lifecycle")" = "failed" ]
  grep -q "lifecycle: error: command failed (exit 1)" "${DEVBOX_LOG_DIR}/setup.log"
}
