#!/bin/bash
# Step 50: Anaconda (DEVBOX_ANACONDA_RELEASE) under DEVBOX_CONDA_PREFIX, owned by the login
# user so that they can manage environments without sudo, and `conda init` for that user.
#
# The installer is a shell script that runs as soon as it is executed, so its SHA-256 is
# compared with DEVBOX_ANACONDA_SHA256 (pinned in the kit, checked against ContinuumIO's own
# Dockerfiles) BEFORE it runs. A mismatch deletes the file and fails the step: it is a signal
# for a person, not something to work around by trying other mirrors.
#
# Channels come from the login user's ~/.condarc, written by step 10 for the mirror profile.
# Anaconda's terms require a paid licence for organisations over 200 people that use its
# `defaults` channel; Miniforge (conda-forge only) avoids that.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=../lib/common.sh
. "${BASH_SOURCE[0]%/*}/../lib/common.sh"

: "${DEVBOX_CONDA_PREFIX:=/opt/anaconda3}"

anaconda_installer_name() {
  printf 'Anaconda3-%s-Linux-x86_64.sh\n' "${DEVBOX_ANACONDA_RELEASE}"
}

anaconda_sha256() {
  local sum
  sum="$(sha256sum "$1")"
  printf '%s\n' "${sum%% *}"
}

anaconda_fetch() {
  devbox_download "$1" "${2%/}/$(anaconda_installer_name)"
}

# Downloads the installer (unless a verified copy is already there) and checks its hash.
anaconda_download() {
  local file="$1" found
  if [[ -f "${file}" && "$(anaconda_sha256 "${file}")" == "${DEVBOX_ANACONDA_SHA256}" ]]; then
    devbox_log "$(anaconda_installer_name) already downloaded and verified"
    return 0
  fi
  rm -f "${file}"
  devbox_with_mirrors anaconda "${DEVBOX_ANACONDA_MIRRORS:-}" anaconda_fetch "${file}" || return 1
  found="$(anaconda_sha256 "${file}")"
  if [[ "${found}" != "${DEVBOX_ANACONDA_SHA256}" ]]; then
    rm -f "${file}"
    devbox_err "checksum mismatch for $(anaconda_installer_name) from ${DEVBOX_MIRROR}: expected ${DEVBOX_ANACONDA_SHA256}, found ${found}"
    return 1
  fi
  devbox_log "SHA-256 of $(anaconda_installer_name) verified: ${found}"
}

anaconda_install() {
  local file
  file="${DEVBOX_RUN_DIR}/$(anaconda_installer_name)"
  mkdir -p "${DEVBOX_RUN_DIR}"
  anaconda_download "${file}"
  # The prefix is made for the user first; -u lets the installer use an existing directory
  # (also one left half-filled by an interrupted run).
  mkdir -p "${DEVBOX_CONDA_PREFIX}"
  chown "${DEVBOX_USER}:" "${DEVBOX_CONDA_PREFIX}"
  chmod 0644 "${file}"
  devbox_log "installing Anaconda ${DEVBOX_ANACONDA_RELEASE} into ${DEVBOX_CONDA_PREFIX}"
  devbox_as_user bash "${file}" -b -u -p "${DEVBOX_CONDA_PREFIX}"
  rm -f "${file}"
}

anaconda_init_user() {
  local home bashrc
  home="$(devbox_user_home)"
  bashrc="${home}/.bashrc"
  if [[ -f "${bashrc}" ]] && grep -q '>>> conda initialize >>>' "${bashrc}"; then
    devbox_log "conda init already done for ${DEVBOX_USER}"
    return 0
  fi
  devbox_as_user "${DEVBOX_CONDA_PREFIX}/bin/conda" init bash
  devbox_log "conda init done for ${DEVBOX_USER}"
}

anaconda_main() {
  devbox_step_begin "$(devbox_step_name_of "${BASH_SOURCE[0]}")"
  if [[ -z "${DEVBOX_ANACONDA_RELEASE:-}" || -z "${DEVBOX_ANACONDA_SHA256:-}" ]]; then
    devbox_die "DEVBOX_ANACONDA_RELEASE and DEVBOX_ANACONDA_SHA256 must both be set"
  fi
  if [[ -x "${DEVBOX_CONDA_PREFIX}/bin/conda" ]]; then
    devbox_log "Anaconda already installed in ${DEVBOX_CONDA_PREFIX}"
  else
    anaconda_install
  fi
  anaconda_init_user
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  anaconda_main "$@"
fi
