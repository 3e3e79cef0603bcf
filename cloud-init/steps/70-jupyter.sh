#!/bin/bash
# Step 70: Jupyter as a systemd service of the login user, listening on 127.0.0.1 only
# (reached through an SSH tunnel), when DEVBOX_JUPYTER_ENABLED is 1.
#
# The token is made once on the box and kept in ~/.jupyter/devbox-token (mode 0600, for the
# user and the tunnel helper) and in a root-only environment file that systemd reads before it
# drops to the user. It never appears in user-data, in the unit file (readable by everyone),
# on a command line, or in a log.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=../lib/common.sh
. "${BASH_SOURCE[0]%/*}/../lib/common.sh"

: "${DEVBOX_JUPYTER_ENABLED:=1}"
: "${DEVBOX_JUPYTER_PORT:=8888}"
: "${DEVBOX_CONDA_PREFIX:=/opt/anaconda3}"
: "${DEVBOX_CONDA_ENV:=large_model_env}"
: "${DEVBOX_DATA_MOUNT:=/data}"

JUPYTER_UNIT="devbox-jupyter.service"
JUPYTER_ENV_FILE="${DEVBOX_ROOT}/etc/devbox/jupyter.env"
# 24 random bytes: 192 bits, as hex.
JUPYTER_TOKEN_BYTES=24

jupyter_new_token() {
  od -An -N"${JUPYTER_TOKEN_BYTES}" -tx1 /dev/urandom | tr -d ' \n'
}

# Makes the token once; later runs keep it, so a tunnel that works keeps working.
jupyter_token() {
  local home="$1" file token
  file="${home}/.jupyter/devbox-token"
  if [[ -s "${file}" ]]; then
    token="$(<"${file}")"
  else
    token="$(jupyter_new_token)"
    if ((${#token} != JUPYTER_TOKEN_BYTES * 2)); then
      devbox_err "could not read ${JUPYTER_TOKEN_BYTES} random bytes for the Jupyter token"
      return 1
    fi
    mkdir -p "${home}/.jupyter"
    chown "${DEVBOX_USER}:" "${home}/.jupyter"
    devbox_install_file "${file}" 0600 "${token}"
    chown "${DEVBOX_USER}:" "${file}"
    devbox_log "new Jupyter token kept in ${file} (mode 0600)"
  fi
  devbox_install_file "${JUPYTER_ENV_FILE}" 0600 "JUPYTER_TOKEN=${token}"
}

jupyter_unit() {
  local bin="$1"
  # bash -l reads /etc/profile.d: CUDA on PATH, HF_ENDPOINT, HF_HOME and PIP_CACHE_DIR.
  printf '%s\n' "[Unit]" \
    "Description=Jupyter for ${DEVBOX_USER} on 127.0.0.1:${DEVBOX_JUPYTER_PORT} (llm-devbox)" \
    "After=network.target" \
    "" \
    "[Service]" \
    "Type=simple" \
    "User=${DEVBOX_USER}" \
    "WorkingDirectory=${DEVBOX_DATA_MOUNT}" \
    "EnvironmentFile=${JUPYTER_ENV_FILE}" \
    "ExecStart=/bin/bash -lc 'exec ${bin} notebook --no-browser --ip=127.0.0.1 --port=${DEVBOX_JUPYTER_PORT}'" \
    "Restart=on-failure" \
    "RestartSec=5" \
    "" \
    "[Install]" \
    "WantedBy=multi-user.target"
}

jupyter_main() {
  local home bin unit changed=0
  devbox_step_begin "$(devbox_step_name_of "${BASH_SOURCE[0]}")"
  if [[ "${DEVBOX_JUPYTER_ENABLED}" != 1 ]]; then
    devbox_log "Jupyter disabled (DEVBOX_JUPYTER_ENABLED=${DEVBOX_JUPYTER_ENABLED}); nothing to do"
    return 0
  fi
  bin="${DEVBOX_CONDA_PREFIX}/envs/${DEVBOX_CONDA_ENV}/bin/jupyter"
  if [[ ! -x "${bin}" ]]; then
    devbox_die "no ${bin}; step 60-pyenv installs notebook"
  fi
  home="$(devbox_user_home)"
  jupyter_token "${home}"
  changed="${DEVBOX_FILE_CHANGED}"
  unit="${DEVBOX_ROOT}/etc/systemd/system/${JUPYTER_UNIT}"
  devbox_install_file "${unit}" 0644 "$(jupyter_unit "${bin}")"
  if ((DEVBOX_FILE_CHANGED == 1)); then
    changed=1
    systemctl daemon-reload
  fi
  if ! systemctl is-enabled --quiet "${JUPYTER_UNIT}"; then
    systemctl enable "${JUPYTER_UNIT}"
  fi
  if ((changed == 1)) && systemctl is-active --quiet "${JUPYTER_UNIT}"; then
    systemctl restart "${JUPYTER_UNIT}"
  elif ! systemctl is-active --quiet "${JUPYTER_UNIT}"; then
    systemctl start "${JUPYTER_UNIT}"
  fi
  devbox_log "Jupyter runs as ${DEVBOX_USER} on 127.0.0.1:${DEVBOX_JUPYTER_PORT} (${JUPYTER_UNIT})"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  jupyter_main "$@"
fi
