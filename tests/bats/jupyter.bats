#!/usr/bin/env bats
# cloud-init/steps/70-jupyter.sh

load helpers/setup

setup() {
  devbox_test_setup
  STEP="${SRC}/steps/70-jupyter.sh"
  JUPYTER="${BATS_TEST_TMPDIR}/anaconda3/envs/large_model_env/bin/jupyter"
  mkdir -p "${JUPYTER%/*}"
  printf '#!/bin/bash\nexit 0\n' >"${JUPYTER}"
  chmod +x "${JUPYTER}"
  UNIT="${DEVBOX_ROOT}/etc/systemd/system/devbox-jupyter.service"
  TOKEN_FILE="${DEVBOX_USER_HOME}/.jupyter/devbox-token"
}

@test "runs Jupyter as the user on 127.0.0.1 with a token kept on the box" {
  write_env global "DEVBOX_JUPYTER_PORT=8899"
  run bash "${STEP}"
  [ "$status" -eq 0 ]
  [ "${lines[1]}" = "=> jupyter: new Jupyter token kept in ${TOKEN_FILE} (mode 0600)" ]
  [ "${lines[2]}" = "=> jupyter: Jupyter runs as nobody on 127.0.0.1:8899 (devbox-jupyter.service)" ]
  grep -qx "User=nobody" "${UNIT}"
  grep -qx "ExecStart=/bin/bash -lc 'exec ${JUPYTER} notebook --no-browser --ip=127.0.0.1 --port=8899'" "${UNIT}"
  grep -qx "EnvironmentFile=${DEVBOX_ROOT}/etc/devbox/jupyter.env" "${UNIT}"
  [ "$(stat -c '%a %U' "${TOKEN_FILE}")" = "600 nobody" ]
  [ "$(stat -c '%a %U' "${DEVBOX_ROOT}/etc/devbox/jupyter.env")" = "600 root" ]
  token="$(cat "${TOKEN_FILE}")"
  [[ "${token}" =~ ^[0-9a-f]{48}$ ]]
  [ "$(cat "${DEVBOX_ROOT}/etc/devbox/jupyter.env")" = "JUPYTER_TOKEN=${token}" ]
  [ -e "${STUB_DIR}/enabled/devbox-jupyter.service" ]
  [ -e "${STUB_DIR}/active/devbox-jupyter.service" ]
}

@test "the token appears in no log, no output, no unit and no command line" {
  write_env global
  run bash "${STEP}"
  [ "$status" -eq 0 ]
  token="$(cat "${TOKEN_FILE}")"
  [ -n "${token}" ]
  [[ "$output" != *"${token}"* ]]
  run grep -rlF -- "${token}" "${DEVBOX_LOG_DIR}" "${STUB_DIR}/calls" "${UNIT}"
  [ "$status" -eq 1 ]
  [ "$output" = "" ]
}

@test "the token is made once: a second run keeps it and restarts nothing" {
  write_env global
  run bash "${STEP}"
  [ "$status" -eq 0 ]
  first="$(cat "${TOKEN_FILE}")"
  : >"${STUB_DIR}/calls"
  run bash "${STEP}"
  [ "$status" -eq 0 ]
  [ "$(cat "${TOKEN_FILE}")" = "${first}" ]
  [ "$(calls_of systemctl)" = "$(printf '%s\n' "systemctl is-enabled --quiet devbox-jupyter.service" \
    "systemctl is-active --quiet devbox-jupyter.service")" ]
}

@test "nothing is done when Jupyter is disabled" {
  write_env global "DEVBOX_JUPYTER_ENABLED=0"
  run bash "${STEP}"
  [ "$status" -eq 0 ]
  [ "${lines[1]}" = "=> jupyter: Jupyter disabled (DEVBOX_JUPYTER_ENABLED=0); nothing to do" ]
  [ ! -e "${UNIT}" ]
  [ ! -e "${TOKEN_FILE}" ]
  [ "$(calls_of systemctl)" = "" ]
}

@test "without the env's jupyter the step fails and names the step that installs it" {
  write_env global
  rm "${JUPYTER}"
  run bash "${STEP}"
  [ "$status" -eq 1 ]
  [ "${lines[1]}" = "devbox: jupyter: error: no ${JUPYTER}; step 60-pyenv installs notebook" ]
}
