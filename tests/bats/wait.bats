#!/usr/bin/env bats
# Each @test runs in a subshell of its own, so its exports are meant to stay local to it:
# shellcheck disable=SC2030,SC2031
# devbox-wait: waits for status.json to say done or failed, fails on a cloud-init error even when
# cloud-init exits 0 (focal), and gives up with exit 124 after its timeout.

# A test that hangs is a failure too: devbox-wait must end by itself.
# shellcheck disable=SC2034  # read by bats
BATS_TEST_TIMEOUT=60

setup() {
  WAIT="${BATS_TEST_DIRNAME}/../../cloud-init/bin/devbox-wait"
  export DEVBOX_STATE_DIR="${BATS_TEST_TMPDIR}/state"
  export DEVBOX_LOG_DIR="${BATS_TEST_TMPDIR}/log"
  export DEVBOX_WAIT_INTERVAL=0.2
  export DEVBOX_CLOUD_INIT="${BATS_TEST_DIRNAME}/../fixtures/wait/bin/cloud-init"
  export STUB_CLOUD_INIT_JSON="${BATS_TEST_TMPDIR}/cloud-init.json"
  export STUB_CLOUD_INIT_CALLS="${BATS_TEST_TMPDIR}/cloud-init.calls"
  unset DEVBOX_WAIT_TIMEOUT STUB_CLOUD_INIT_RC
  STATUS="${DEVBOX_STATE_DIR}/status.json"
  LOG="${DEVBOX_LOG_DIR}/setup.log"
  mkdir -p "${DEVBOX_STATE_DIR}" "${DEVBOX_LOG_DIR}"
  : >"${STUB_CLOUD_INIT_CALLS}"
  local i
  for ((i = 1; i <= 30; i++)); do
    echo "setup log line ${i}"
  done >"${LOG}"
  wait_test_cloud_init '{"status": "done", "extended_status": "done", "errors": [],
    "recoverable_errors": {}}'
  WRITER_PID=""
}

teardown() {
  if [[ -n "${WRITER_PID}" ]] && kill -0 "${WRITER_PID}" 2>/dev/null; then
    kill "${WRITER_PID}"
  fi
}

wait_test_cloud_init() {
  echo "$1" >"${STUB_CLOUD_INIT_JSON}"
}

wait_test_status() {
  # Written whole and renamed, as the setup runner does, so devbox-wait never reads half a file.
  echo "$1" >"${STATUS}.tmp"
  mv "${STATUS}.tmp" "${STATUS}"
}

# Lines of $output with the elapsed seconds, which vary run to run, written as N.
wait_test_normalized() {
  sed -E 's/\[[0-9]+ s\]/[N s]/; s/after [0-9]+ s of waiting/after N s of waiting/' <<<"${output}"
}

# Plays a setup that moves through the given status.json contents. It moves on only after
# devbox-wait has polled twice (it asks the stub cloud-init once per poll), so every state is
# seen whatever the machine's speed. "-" leaves the status file absent. The last state is written
# and left: devbox-wait ends on it.
wait_test_play_setup() {
  local i state polls deadline
  for ((i = 1; i <= $#; i++)); do
    state="${!i}"
    if [[ "${state}" != "-" ]]; then
      wait_test_status "${state}"
    fi
    if ((i == $#)); then
      return 0
    fi
    polls="$(wc -l <"${STUB_CLOUD_INIT_CALLS}")"
    deadline=$((SECONDS + 20))
    while (($(wc -l <"${STUB_CLOUD_INIT_CALLS}") < polls + 2)); do
      if ((SECONDS > deadline)); then
        echo "wait_test_play_setup: devbox-wait stopped polling at ${state}" >&2
        return 1
      fi
      sleep 0.05
    done
  done
}

@test "exits 0 when setup is already done" {
  wait_test_status '{"state":"done","step":"","steps":[],"error":""}'
  run "${WAIT}"
  [ "${status}" -eq 0 ]
  [ "$(wait_test_normalized)" = "=> waiting up to 3600 s for setup to finish (${STATUS})
=> [N s] done
=> setup done after N s of waiting" ]
}

@test "waits through a setup that has not started, then shows each step once as it changes" {
  wait_test_play_setup - \
    '{"state":"running","step":"mirrors","error":""}' \
    '{"state":"running","step":"driver","error":""}' \
    '{"state":"rebooting","step":"driver","error":""}' \
    '{"state":"running","step":"cuda","error":""}' \
    '{"state":"done","step":"","error":""}' &
  WRITER_PID=$!
  run "${WAIT}" --timeout 30
  wait "${WRITER_PID}"
  [ "${status}" -eq 0 ]
  [ "$(wait_test_normalized)" = "=> waiting up to 30 s for setup to finish (${STATUS})
=> [N s] setup has not started yet
=> [N s] running: mirrors
=> [N s] running: driver
=> [N s] rebooting: driver
=> [N s] running: cuda
=> [N s] done
=> setup done after N s of waiting" ]
}

@test "exits 1 on a failed step, naming it and showing the last 20 lines of the setup log" {
  wait_test_status '{"state":"failed","step":"driver","error":"apt-get install nvidia-driver-535-server failed (exit 100)"}'
  run "${WAIT}"
  [ "${status}" -eq 1 ]
  local expected i
  expected="=> waiting up to 3600 s for setup to finish (${STATUS})
=> [N s] failed: driver
devbox-wait: setup failed at step 'driver': apt-get install nvidia-driver-535-server failed (exit 100)
devbox-wait: last 20 lines of ${LOG}:"
  for ((i = 11; i <= 30; i++)); do
    expected+=$'\n'"setup log line ${i}"
  done
  expected+=$'\n'"DEVBOX_SETUP_FAILED step=driver log=${LOG}"
  [ "$(wait_test_normalized)" = "${expected}" ]
}

@test "gives up with exit 124 after --timeout, naming the step it was still on" {
  wait_test_status '{"state":"running","step":"cuda","error":""}'
  local started="${EPOCHREALTIME//[!0-9]/}" elapsed_ms
  run "${WAIT}" --timeout 1
  elapsed_ms=$(((${EPOCHREALTIME//[!0-9]/} - started) / 1000))
  [ "${status}" -eq 124 ]
  [ "${lines[1]}" = "=> [0 s] running: cuda" ]
  [ "${lines[2]}" = "devbox-wait: timed out after 1 s; setup was still on step 'cuda' (running); read ${LOG}" ]
  [ "${lines[3]}" = "devbox-wait: last 20 lines of ${LOG}:" ]
  [ "${lines[4]}" = "setup log line 11" ]
  [ "${lines[23]}" = "setup log line 30" ]
  [ "${lines[24]}" = "DEVBOX_SETUP_TIMEOUT step=cuda seconds=1 log=${LOG}" ]
  [ "${#lines[@]}" -eq 25 ]
  # It waited the whole second, and not much more (one poll interval plus start-up).
  ((elapsed_ms >= 1000 && elapsed_ms < 4000))
}

@test "a setup that never starts times out (DEVBOX_WAIT_TIMEOUT) with exit 124, not a failure" {
  export DEVBOX_WAIT_TIMEOUT=1
  run "${WAIT}"
  [ "${status}" -eq 124 ]
  [ "${lines[0]}" = "=> waiting up to 1 s for setup to finish (${STATUS})" ]
  [ "${lines[1]}" = "=> [0 s] setup has not started yet" ]
  [ "${lines[2]}" = "devbox-wait: timed out after 1 s; setup had not started (no ${STATUS}); read ${LOG} and /var/log/cloud-init.log" ]
  [ "${lines[-1]}" = "DEVBOX_SETUP_TIMEOUT step=not-started seconds=1 log=${LOG}" ]
}

@test "a half-written status file is waited on, not taken for a failure" {
  echo '{"state": "runn' >"${STATUS}"
  run "${WAIT}" --timeout 1
  [ "${status}" -eq 124 ]
  [[ "${lines[1]}" == "=> [0 s] status file unreadable: "* ]]
  [ "${lines[-1]}" = "DEVBOX_SETUP_TIMEOUT step=unknown seconds=1 log=${LOG}" ]
}

@test "a degraded boot with an ERROR fails the wait although cloud-init exits 0 (focal)" {
  wait_test_status '{"state":"done","step":"","error":""}'
  wait_test_cloud_init '{"status": "done", "extended_status": "degraded done", "errors": [],
    "recoverable_errors": {"ERROR": ["Failed to write /etc/devbox/devbox.env"]}}'
  export STUB_CLOUD_INIT_RC=0
  run "${WAIT}"
  [ "${status}" -eq 1 ]
  [ "${lines[2]}" = "devbox-wait: cloud-init reported an error: ERROR: Failed to write /etc/devbox/devbox.env" ]
  [ "${lines[3]}" = "devbox-wait: last 20 lines of ${LOG}:" ]
  [ "${lines[-1]}" = "DEVBOX_SETUP_FAILED step=cloud-init log=/var/log/cloud-init.log" ]
}

@test "a cloud-init error before setup started fails at once instead of waiting for the timeout" {
  wait_test_cloud_init '{"status": "error", "extended_status": "error - done",
    "errors": ["(\"write_files\", ValueError(\"Unknown encoding type gz+bas64\"))"],
    "recoverable_errors": {}}'
  export STUB_CLOUD_INIT_RC=1
  run "${WAIT}" --timeout 30
  [ "${status}" -eq 1 ]
  [ "${lines[1]}" = "=> [0 s] setup has not started yet" ]
  [ "${lines[2]}" = "devbox-wait: cloud-init reported an error: (\"write_files\", ValueError(\"Unknown encoding type gz+bas64\"))" ]
  [ "${lines[-1]}" = "DEVBOX_SETUP_FAILED step=cloud-init log=/var/log/cloud-init.log" ]
}

@test "a degraded boot with warnings only is reported once but does not fail a finished setup" {
  wait_test_play_setup '{"state":"running","step":"cuda","error":""}' \
    '{"state":"done","step":"","error":""}' &
  WRITER_PID=$!
  wait_test_cloud_init '{"status": "done", "extended_status": "degraded done", "errors": [],
    "recoverable_errors": {"DEPRECATED": ["Key ssh_authorized_keys is deprecated"]}}'
  run "${WAIT}" --timeout 30
  wait "${WRITER_PID}"
  [ "${status}" -eq 0 ]
  [ "$(wait_test_normalized)" = "=> waiting up to 30 s for setup to finish (${STATUS})
=> [N s] running: cuda
devbox-wait: warning: cloud-init status degraded: DEPRECATED: Key ssh_authorized_keys is deprecated
=> [N s] done
=> setup done after N s of waiting" ]
}

@test "skips the cloud-init check where cloud-init is not installed (bring-your-own host)" {
  export DEVBOX_CLOUD_INIT="${BATS_TEST_TMPDIR}/no-such/cloud-init"
  wait_test_status '{"state":"done","step":"","error":""}'
  run "${WAIT}"
  [ "${status}" -eq 0 ]
  [ "${lines[0]}" = "=> ${DEVBOX_CLOUD_INIT} not found: not checking its status (a host set up over SSH)" ]
  [ "${lines[-1]}" = "=> setup done after 0 s of waiting" ]
}

@test "refuses a timeout that is not whole seconds, with exit 2" {
  run "${WAIT}" --timeout 5m
  [ "${status}" -eq 2 ]
  [ "${output}" = "devbox-wait: timeout must be whole seconds (got '5m')" ]
}

@test "reads cloud-init's JSON: errors fail, ERROR-level recoverable errors fail, warnings only warn" {
  # Sourcing defines the functions without running the wait.
  # shellcheck source=/dev/null  # devbox-wait is shellchecked on its own
  source "${WAIT}"
  local sep=$'\x1f'
  run wait_parse_cloud_init '{"status": "done", "errors": [], "recoverable_errors": {}}'
  [ "${output}" = "ok${sep}done" ]
  run wait_parse_cloud_init '{"status": "running", "errors": []}'
  [ "${output}" = "ok${sep}running" ]
  run wait_parse_cloud_init '{"status": "error", "errors": []}'
  [ "${output}" = "error${sep}status is error" ]
  run wait_parse_cloud_init '{"status": "done", "errors": ["a", "b"]}'
  [ "${output}" = "error${sep}a; b" ]
  run wait_parse_cloud_init '{"status": "done", "errors": [], "recoverable_errors": {"CRITICAL": ["c"], "WARNING": ["w"]}}'
  [ "${output}" = "error${sep}CRITICAL: c" ]
  run wait_parse_cloud_init '{"status": "done", "errors": [], "recoverable_errors": {"WARNING": ["w1", "w2"]}}'
  [ "${output}" = "degraded${sep}WARNING: w1; WARNING: w2" ]
  run wait_parse_cloud_init 'usage: cloud-init status [-h] [--long] [--wait]'
  [ "${output}" = "unknown${sep}usage: cloud-init status [-h] [--long] [--wait]" ]
}
