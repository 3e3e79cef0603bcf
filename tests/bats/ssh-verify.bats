#!/usr/bin/env bats
# stderr_lines is set by bats' run --separate-stderr:
# shellcheck disable=SC2154
# The remote verification over a real sshd on 127.0.0.1: the exact command string that
# infra/verification.ts builds runs through ssh against devbox-wait and devbox-verify installed
# under a temporary prefix (with the stub GPU tools and ML packages of tests/fixtures/verify), and
# its output is read back with the same parser Pulumi's side uses.
#
# Needs root (sshd logs in as root with a throwaway key), /usr/sbin/sshd, ssh, ssh-keygen, sudo
# and node_modules (tsx). Only 127.0.0.1 is used.

# shellcheck disable=SC2034  # read by bats
BATS_TEST_TIMEOUT=120
# run --separate-stderr: ssh carries stdout and stderr on separate channels, so their lines
# interleave unpredictably; each is asserted on its own.
bats_require_minimum_version 1.5.0

setup_file() {
  export REPO FIXTURES SSH_DIR SSH_PORT
  REPO="$(cd "${BATS_TEST_DIRNAME}/../.." && pwd)"
  FIXTURES="${REPO}/tests/fixtures/verify"
  SSH_DIR="${BATS_FILE_TMPDIR}/ssh"
  mkdir -p "${SSH_DIR}"
  chmod 700 "${SSH_DIR}"
  ssh-keygen -q -t ed25519 -N '' -C devbox-test-host -f "${SSH_DIR}/host_key"
  ssh-keygen -q -t ed25519 -N '' -C devbox-test-user -f "${SSH_DIR}/user_key"
  cp "${SSH_DIR}/user_key.pub" "${SSH_DIR}/authorized_keys"
  # sshd refuses to start without its privilege separation folder; Debian creates it at boot only.
  mkdir -p /run/sshd
  SSH_PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  cat >"${SSH_DIR}/sshd_config" <<EOF
Port ${SSH_PORT}
ListenAddress 127.0.0.1
HostKey ${SSH_DIR}/host_key
PidFile ${SSH_DIR}/sshd.pid
AuthorizedKeysFile ${SSH_DIR}/authorized_keys
PermitRootLogin prohibit-password
AllowUsers root
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
# The key files live in a bats temp folder whose parents sshd's ownership checks may not like.
StrictModes no
EOF
  # -D: stay in the foreground so that $! is sshd itself; -e: log to the file below. fd 3 is
  # bats' own and must not be held by a background process.
  /usr/sbin/sshd -D -e -f "${SSH_DIR}/sshd_config" >"${SSH_DIR}/sshd.log" 2>&1 3>&- &
  echo "$!" >"${SSH_DIR}/sshd.bats-pid"
  local deadline=$((SECONDS + 15))
  until ssh_test_ssh true >/dev/null 2>&1; do
    if ((SECONDS > deadline)) || ! kill -0 "$(cat "${SSH_DIR}/sshd.bats-pid")" 2>/dev/null; then
      echo "sshd did not accept a login on 127.0.0.1:${SSH_PORT}; its log:" >&2
      cat "${SSH_DIR}/sshd.log" >&2
      ssh_test_stop_sshd
      return 1
    fi
    sleep 0.1
  done
}

teardown_file() {
  ssh_test_stop_sshd
}

# Stops the sshd this file started (by its PID only) and waits until it has gone.
ssh_test_stop_sshd() {
  local pid deadline
  if [[ ! -f "${SSH_DIR}/sshd.bats-pid" ]]; then
    return 0
  fi
  pid="$(cat "${SSH_DIR}/sshd.bats-pid")"
  if kill -0 "${pid}" 2>/dev/null; then
    kill "${pid}"
    deadline=$((SECONDS + 10))
    while kill -0 "${pid}" 2>/dev/null; do
      if ((SECONDS > deadline)); then
        kill -KILL "${pid}"
        break
      fi
      sleep 0.1
    done
  fi
  rm -f "${SSH_DIR}/sshd.bats-pid"
}

ssh_test_ssh() {
  ssh -F /dev/null -i "${SSH_DIR}/user_key" -p "${SSH_PORT}" \
    -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes \
    -o IdentitiesOnly=yes -o LogLevel=ERROR -o ConnectTimeout=5 root@127.0.0.1 "$@"
}

setup() {
  # The box, as far as the two programs can tell: an install prefix, state, logs and settings.
  PREFIX="${BATS_TEST_TMPDIR}/opt-devbox"
  STATE="${BATS_TEST_TMPDIR}/state"
  LOGS="${BATS_TEST_TMPDIR}/log"
  ENV_FILE="${BATS_TEST_TMPDIR}/devbox.env"
  mkdir -p "${PREFIX}/bin" "${STATE}" "${LOGS}"
  install -m 0755 "${REPO}/cloud-init/bin/devbox-wait" "${REPO}/cloud-init/bin/devbox-verify" \
    "${PREFIX}/bin/"
  cat >"${ENV_FILE}" <<'EOF'
DEVBOX_GPU_NAME='NVIDIA A100'
DEVBOX_GPU_COUNT='2'
DEVBOX_NVSWITCH='1'
DEVBOX_BF16='1'
DEVBOX_DATA_MOUNT='/'
DEVBOX_HF_MIRRORS='https://hf-mirror.com'
EOF
  for ((i = 1; i <= 25; i++)); do
    echo "setup log line ${i}"
  done >"${LOGS}/setup.log"
}

# Prints the command infra/verification.ts builds for this temporary box; extra environment
# (JSON object members, such as the stubs' switches) is given as $2.
ssh_test_command() {
  local timeout_minutes="$1" extra_env="${2:-}"
  local options
  options="$(
    cat <<EOF
{"timeoutMinutes": ${timeout_minutes}, "model": "bert-base-uncased", "prefix": "${PREFIX}",
 "environment": {"PATH": "${FIXTURES}/bin:/usr/bin:/bin", "DEVBOX_ENV_FILE": "${ENV_FILE}",
   "DEVBOX_STATE_DIR": "${STATE}", "DEVBOX_LOG_DIR": "${LOGS}",
   "DEVBOX_PYTHON": "${FIXTURES}/bin/stub-python", "DEVBOX_VERIFY_MATRIX": "16",
   "DEVBOX_WAIT_INTERVAL": "0.2", "DEVBOX_CLOUD_INIT": ""${extra_env:+, ${extra_env}}}}
EOF
  )"
  "${REPO}/node_modules/.bin/tsx" "${FIXTURES}/verification-cli.ts" command "${options}"
}

# The parser's verdict on $output, as JSON.
ssh_test_parse() {
  "${REPO}/node_modules/.bin/tsx" "${FIXTURES}/verification-cli.ts" parse <<<"${output}"
}

@test "over SSH: a finished setup and a healthy box end with DEVBOX_VERIFY_OK and exit 0" {
  echo '{"state":"done","step":"","error":""}' >"${STATE}/status.json"
  local cmd
  cmd="$(ssh_test_command 1)"
  # The command as Pulumi runs it, through sudo; only the paths are this test's.
  [ "${cmd}" = "sudo -n env PATH=${FIXTURES}/bin:/usr/bin:/bin DEVBOX_ENV_FILE=${ENV_FILE} DEVBOX_STATE_DIR=${STATE} DEVBOX_LOG_DIR=${LOGS} DEVBOX_PYTHON=${FIXTURES}/bin/stub-python DEVBOX_VERIFY_MATRIX=16 DEVBOX_WAIT_INTERVAL=0.2 DEVBOX_CLOUD_INIT= ${PREFIX}/bin/devbox-wait --timeout 60 && sudo -n env PATH=${FIXTURES}/bin:/usr/bin:/bin DEVBOX_ENV_FILE=${ENV_FILE} DEVBOX_STATE_DIR=${STATE} DEVBOX_LOG_DIR=${LOGS} DEVBOX_PYTHON=${FIXTURES}/bin/stub-python DEVBOX_VERIFY_MATRIX=16 DEVBOX_WAIT_INTERVAL=0.2 DEVBOX_CLOUD_INIT= DEVBOX_VERIFY_MODEL=bert-base-uncased ${PREFIX}/bin/devbox-verify" ]
  run --separate-stderr ssh_test_ssh "${cmd}"
  [ "${status}" -eq 0 ]
  [ "${lines[-1]}" = "DEVBOX_VERIFY_OK" ]
  [ "$(ssh_test_parse)" = '{"ok":true,"stage":"verify","summary":"all 9 checks passed"}' ]
}

@test "over SSH: a failed check exits 1 and its marker names the step and the log" {
  echo '{"state":"done","step":"","error":""}' >"${STATE}/status.json"
  local cmd
  cmd="$(ssh_test_command 1 '"STUB_FABRICMANAGER": "failed"')"
  run --separate-stderr ssh_test_ssh "${cmd}"
  [ "${status}" -eq 1 ]
  [ "${lines[-1]}" = "DEVBOX_VERIFY_FAILED step=fabricmanager log=${LOGS}/verify.log" ]
  [ "$(ssh_test_parse)" = "{\"ok\":false,\"stage\":\"verify\",\"failedStep\":\"fabricmanager\",\"summary\":\"check fabricmanager failed: nvidia-fabricmanager is 'failed', not active; see journalctl -u nvidia-fabricmanager (its version must equal the driver's); read ${LOGS}/verify.log on the box\"}" ]
}

@test "over SSH: a failed setup step stops before the check, exit 1 with the step and log tail" {
  echo '{"state":"failed","step":"cuda","error":"apt-get install cuda-toolkit-11-8 failed"}' \
    >"${STATE}/status.json"
  local cmd
  cmd="$(ssh_test_command 1)"
  run --separate-stderr ssh_test_ssh "${cmd}"
  [ "${status}" -eq 1 ]
  [ "${stderr_lines[0]}" = "devbox-wait: setup failed at step 'cuda': apt-get install cuda-toolkit-11-8 failed" ]
  [ "${stderr_lines[1]}" = "devbox-wait: last 20 lines of ${LOGS}/setup.log:" ]
  [ "${stderr_lines[2]}" = "setup log line 6" ]
  [ "${stderr_lines[21]}" = "setup log line 25" ]
  [ "${#stderr_lines[@]}" -eq 22 ]
  [ "${lines[-1]}" = "DEVBOX_SETUP_FAILED step=cuda log=${LOGS}/setup.log" ]
  # The check never ran.
  [ ! -e "${LOGS}/verify.log" ]
  [ "$(ssh_test_parse)" = "{\"ok\":false,\"stage\":\"setup\",\"failedStep\":\"cuda\",\"summary\":\"setup step cuda failed; read ${LOGS}/setup.log on the box\"}" ]
}

@test "over SSH: a setup that never finishes times out with exit 124 and says where it was" {
  echo '{"state":"running","step":"conda","error":""}' >"${STATE}/status.json"
  local cmd
  # 0.05 minutes: the command waits 3 s.
  cmd="$(ssh_test_command 0.05)"
  run --separate-stderr ssh_test_ssh "${cmd}"
  [ "${status}" -eq 124 ]
  [ "${lines[1]}" = "=> [0 s] running: conda" ]
  [ "${stderr_lines[0]}" = "devbox-wait: timed out after 3 s; setup was still on step 'conda' (running); read ${LOGS}/setup.log" ]
  [ "${lines[-1]}" = "DEVBOX_SETUP_TIMEOUT step=conda seconds=3 log=${LOGS}/setup.log" ]
  [ ! -e "${LOGS}/verify.log" ]
  [ "$(ssh_test_parse)" = "{\"ok\":false,\"stage\":\"setup\",\"failedStep\":\"conda\",\"timedOut\":true,\"summary\":\"setup did not finish within 3 s (still at conda); read ${LOGS}/setup.log on the box, or raise verify.timeoutMinutes\"}" ]
}
