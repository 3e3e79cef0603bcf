#!/bin/bash
# Step 10: point apt, pip, conda and the Hugging Face hub at the profile's mirrors.
#
# Each source's list (DEVBOX_*_MIRRORS, space-separated) is probed in order and the first URL
# that answers is written; a failing mirror is logged and the next one tried. A file that
# already names one of the configured URLs is left alone and nothing is probed, so a second
# run sends no request. An empty list keeps what the image has.
#
# pip gets ONE index-url, the first that answers the probe, rather than index-url plus
# extra-index-url fallbacks: pip merges candidates from every index it is given and takes the
# highest version from any of them, so a stale or hostile extra index could win, and every
# package lookup would wait on every index. pip's own retries cover a flaky mirror; a dead one
# is skipped by the probe.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=../lib/common.sh
. "${BASH_SOURCE[0]%/*}/../lib/common.sh"

mirrors_apt_probe() {
  devbox_probe "${2%/}/dists/$1/Release"
}

mirrors_apt_sources() {
  local url="${1%/}/" codename="$2" pocket
  printf '%s\n' "# devbox apt mirror: $1"
  printf '%s\n' "# Written by llm-devbox (10-mirrors); the image's own file is sources.list.devbox-orig."
  # `restricted` must stay: the NVIDIA driver and Fabric Manager packages live there.
  for pocket in "${codename}" "${codename}-updates" "${codename}-backports" "${codename}-security"; do
    printf '%s\n' "deb ${url} ${pocket} main restricted universe multiverse"
  done
}

mirrors_apt() {
  local list="${DEVBOX_APT_MIRRORS:-}" file="${DEVBOX_ROOT}/etc/apt/sources.list"
  local current codename
  if [[ -z "${list}" ]]; then
    devbox_log "apt: no mirror configured; keeping the image's sources"
    return 0
  fi
  current="$(devbox_marker "${file}" "# devbox apt mirror: ")"
  if [[ -n "${current}" ]] && devbox_in_list "${current}" "${list}"; then
    devbox_log "apt: already using ${current}"
    return 0
  fi
  codename="$(devbox_os_field VERSION_CODENAME)"
  devbox_with_mirrors apt "${list}" mirrors_apt_probe "${codename}" || return 1
  if [[ -f "${file}" && ! -e "${file}.devbox-orig" ]]; then
    cp -p "${file}" "${file}.devbox-orig"
  fi
  devbox_install_file "${file}" 0644 "$(mirrors_apt_sources "${DEVBOX_MIRROR}" "${codename}")"
  devbox_log "apt: sources.list now uses ${DEVBOX_MIRROR} for ${codename}"
}

mirrors_pip_probe() {
  devbox_probe "${1%/}/pip/"
}

mirrors_pip() {
  local list="${DEVBOX_PYPI_MIRRORS:-}" file="${DEVBOX_ROOT}/etc/pip.conf" current
  if [[ -z "${list}" ]]; then
    devbox_log "pip: no index configured; keeping pip's default"
    return 0
  fi
  current="$(devbox_marker "${file}" "index-url = ")"
  if [[ -n "${current}" ]] && devbox_in_list "${current}" "${list}"; then
    devbox_log "pip: already using ${current}"
    return 0
  fi
  devbox_with_mirrors pypi "${list}" mirrors_pip_probe || return 1
  if [[ -f "${file}" && ! -e "${file}.devbox-orig" ]]; then
    cp -p "${file}" "${file}.devbox-orig"
  fi
  devbox_install_file "${file}" 0644 "$(printf '%s\n' \
    "# Written by llm-devbox (10-mirrors): the first index of DEVBOX_PYPI_MIRRORS that answered." \
    "[global]" "index-url = ${DEVBOX_MIRROR}" "timeout = 60" "retries = 5")"
  devbox_log "pip: index-url is ${DEVBOX_MIRROR}"
}

mirrors_conda_probe() {
  devbox_probe "${1%/}/pkgs/main/linux-64/repodata.json"
}

# TUNA's layout: defaults from <base>/pkgs/{main,r,msys2}, community channels from <base>/cloud.
mirrors_condarc() {
  local base="${1%/}"
  printf '%s\n' "# devbox conda mirror: $1" \
    "# Written by llm-devbox (10-mirrors)." \
    "channels:" "  - defaults" "show_channel_urls: true" \
    "default_channels:" "  - ${base}/pkgs/main" "  - ${base}/pkgs/r" "  - ${base}/pkgs/msys2" \
    "custom_channels:" "  conda-forge: ${base}/cloud" "  pytorch: ${base}/cloud"
}

mirrors_conda() {
  local list="${DEVBOX_CONDA_MIRRORS:-}" home file current
  local conda="${DEVBOX_CONDA_PREFIX:-/opt/anaconda3}/bin/conda"
  if [[ -z "${list}" ]]; then
    devbox_log "conda: no mirror configured; conda uses its official channels"
    return 0
  fi
  home="$(devbox_user_home)"
  if [[ -z "${home}" ]]; then
    devbox_err "conda: no home directory for user ${DEVBOX_USER}"
    return 1
  fi
  file="${home}/.condarc"
  current="$(devbox_marker "${file}" "# devbox conda mirror: ")"
  if [[ -n "${current}" ]] && devbox_in_list "${current}" "${list}"; then
    devbox_log "conda: already using ${current}"
    return 0
  fi
  devbox_with_mirrors conda "${list}" mirrors_conda_probe || return 1
  devbox_install_file "${file}" 0644 "$(mirrors_condarc "${DEVBOX_MIRROR}")"
  chown "${DEVBOX_USER}:" "${file}"
  devbox_log "conda: ${file} uses ${DEVBOX_MIRROR}"
  # conda caches channel indexes; after a channel change the old ones must go.
  if [[ -x "${conda}" ]]; then
    devbox_as_user "${conda}" clean -i -y
  fi
}

mirrors_hf_probe() {
  devbox_probe "${2%/}/$1/resolve/main/config.json"
}

mirrors_hf() {
  local list="${DEVBOX_HF_MIRRORS:-}" current
  if [[ -z "${list}" ]]; then
    devbox_log "huggingface: no endpoint configured; the hub's default applies"
    return 0
  fi
  current="$(devbox_profile_get HF_ENDPOINT)"
  if [[ -n "${current}" ]] && devbox_in_list "${current}" "${list}"; then
    devbox_log "huggingface: HF_ENDPOINT already ${current}"
    return 0
  fi
  devbox_with_mirrors huggingface "${list}" mirrors_hf_probe \
    "${DEVBOX_VERIFY_MODEL:-bert-base-uncased}" || return 1
  devbox_profile_set HF_ENDPOINT "${DEVBOX_MIRROR}"
  devbox_log "huggingface: HF_ENDPOINT is ${DEVBOX_MIRROR}"
}

mirrors_main() {
  devbox_step_begin "$(devbox_step_name_of "${BASH_SOURCE[0]}")"
  mirrors_apt
  mirrors_pip
  mirrors_conda
  mirrors_hf
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  mirrors_main "$@"
fi
