#!/bin/bash
# Step 40: the CUDA toolkit (DEVBOX_CUDA_VERSION, 11.8) from NVIDIA's apt repository, without
# a driver (step 30 owns the driver), and nvcc on PATH for every login shell.
#
# The repository is reached through DEVBOX_NVIDIA_MIRRORS (developer.download.nvidia.com, or
# developer.download.nvidia.cn in mainland China, which serves the same paths). The keyring
# package writes its own sources file naming the .com host; it is rewritten to the mirror.
#
# Known limit: the cuda-keyring .deb is trusted on HTTPS alone; no published checksum for it
# has been verified for this kit.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=../lib/common.sh
. "${BASH_SOURCE[0]%/*}/../lib/common.sh"

: "${DEVBOX_CUDA_VERSION:=11.8}"

CUDA_KEYRING_VERSION="1.1-1"
CUDA_KEYRING_FILE="/usr/share/keyrings/cuda-archive-keyring.gpg"

# "ubuntu2004" for Ubuntu 20.04: NVIDIA's name for the repository.
cuda_distro() {
  local version
  version="$(devbox_os_field VERSION_ID)"
  printf 'ubuntu%s\n' "${version//./}"
}

cuda_repo_url() {
  printf '%s/compute/cuda/repos/%s/x86_64/\n' "${1%/}" "$(cuda_distro)"
}

cuda_list_file() {
  printf '%s/etc/apt/sources.list.d/cuda-%s-x86_64.list\n' "${DEVBOX_ROOT}" "$(cuda_distro)"
}

cuda_profile() {
  local home="/usr/local/cuda-${DEVBOX_CUDA_VERSION}"
  printf '%s\n' "# Written by llm-devbox (40-cuda): CUDA ${DEVBOX_CUDA_VERSION} for login shells." \
    "case \":\${PATH}:\" in *\":${home}/bin:\"*) ;; *) export PATH=\"${home}/bin:\${PATH}\" ;; esac" \
    "case \":\${LD_LIBRARY_PATH:-}:\" in *\":${home}/lib64:\"*) ;; *) export LD_LIBRARY_PATH=\"${home}/lib64\${LD_LIBRARY_PATH:+:\${LD_LIBRARY_PATH}}\" ;; esac"
}

# Installed through apt-get rather than dpkg -i: apt waits for the dpkg lock, which
# unattended-upgrades often holds on a first boot.
cuda_fetch_keyring() {
  local deb="${DEVBOX_RUN_DIR}/cuda-keyring_${CUDA_KEYRING_VERSION}_all.deb"
  mkdir -p "${DEVBOX_RUN_DIR}" &&
    devbox_download "${deb}" "$(cuda_repo_url "$1")cuda-keyring_${CUDA_KEYRING_VERSION}_all.deb" &&
    devbox_apt install "${deb}" && rm -f "${deb}"
}

cuda_write_list() {
  devbox_install_file "$(cuda_list_file)" 0644 \
    "deb [signed-by=${CUDA_KEYRING_FILE}] $(cuda_repo_url "$1") /"
}

cuda_install_from() {
  devbox_probe "$(cuda_repo_url "$1")InRelease" &&
    cuda_write_list "$1" &&
    devbox_apt update &&
    devbox_apt install --no-install-recommends "$(cuda_package)"
}

cuda_package() {
  printf 'cuda-toolkit-%s\n' "${DEVBOX_CUDA_VERSION//./-}"
}

cuda_main() {
  local pkg profile="${DEVBOX_ROOT}/etc/profile.d/cuda.sh" version keyring
  devbox_step_begin "$(devbox_step_name_of "${BASH_SOURCE[0]}")"
  pkg="$(cuda_package)"
  if version="$(devbox_pkg_version "${pkg}")"; then
    devbox_log "${pkg} ${version} already installed"
  else
    keyring="$(devbox_pkg_version cuda-keyring)" || keyring=""
    if [[ "${keyring}" != "${CUDA_KEYRING_VERSION}" ]]; then
      devbox_with_mirrors nvidia "${DEVBOX_NVIDIA_MIRRORS:-}" cuda_fetch_keyring
    fi
    devbox_with_mirrors nvidia "${DEVBOX_NVIDIA_MIRRORS:-}" cuda_install_from
    version="$(devbox_pkg_version "${pkg}")"
    devbox_log "installed ${pkg} ${version}"
  fi
  devbox_install_file "${profile}" 0644 "$(cuda_profile)"
  if ((DEVBOX_FILE_CHANGED == 1)); then
    devbox_log "${profile} puts /usr/local/cuda-${DEVBOX_CUDA_VERSION}/bin on PATH"
  fi
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  cuda_main "$@"
fi
