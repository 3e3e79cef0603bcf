#!/bin/bash
# Step 30: the NVIDIA data-centre driver (branch DEVBOX_DRIVER_BRANCH, e.g. 535) for the
# running kernel, pinned and held; on NVSwitch machines (DEVBOX_NVSWITCH=1, p4d/p4de) Fabric
# Manager at exactly the driver's version, held, enabled and running.
#
# Why pin and hold: on NVSwitch machines CUDA fails with error 802 ("system not yet
# initialized") unless Fabric Manager's version equals the driver's, and an unattended upgrade
# that moves one without the other breaks a working box. Later Ubuntu updates also turn the
# *-535-server packages into transitional packages for a newer branch. So the exact installed
# versions are held (apt-mark) and pinned (apt preferences), and so are the kernel flavour's
# metapackages: a newer kernel would boot without the prebuilt NVIDIA module. The cost is stated
# plainly: kernel security updates then wait for a deliberate `apt-mark unhold` and upgrade.
#
# When nvidia-smi cannot reach the driver after the install (module not loadable into the
# running kernel), the step asks the runner for one reboot and runs again after it.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=../lib/common.sh
. "${BASH_SOURCE[0]%/*}/../lib/common.sh"

: "${DEVBOX_DRIVER_BRANCH:=535}"
: "${DEVBOX_NVSWITCH:=0}"

DRIVER_PIN_FILE="${DEVBOX_ROOT}/etc/apt/preferences.d/devbox-nvidia"
DRIVER_REBOOTED="${DEVBOX_STATE_DIR}/driver.rebooted"

driver_utils_pkg() {
  printf '%s\n' "nvidia-utils-${DEVBOX_DRIVER_BRANCH}-server"
}

driver_fabric_pkg() {
  printf '%s\n' "nvidia-fabricmanager-${DEVBOX_DRIVER_BRANCH}"
}

# Upstream version of the installed driver, e.g. 535.183.01 (from 535.183.01-0ubuntu0.20.04.1).
driver_version() {
  local version
  version="$(devbox_pkg_version "$(driver_utils_pkg)")" || return 1
  printf '%s\n' "${version%%-*}"
}

driver_smi_ok() {
  nvidia-smi -L >/dev/null 2>&1
}

# Installed packages of this driver branch (and Fabric Manager), "name version" per line.
driver_installed_packages() {
  local listing line status name version
  listing="$(dpkg-query -W -f='${db:Status-Abbrev} ${Package} ${Version}\n' \
    "*nvidia*${DEVBOX_DRIVER_BRANCH}*" 2>/dev/null)" || listing=""
  while read -r status name version; do
    if [[ "${status:1:1}" == i && -n "${version}" ]]; then
      printf '%s %s\n' "${name}" "${version}"
    fi
  done <<<"${listing}"
}

# Installed metapackages of the running kernel's flavour (linux-aws, linux-image-aws, ...).
driver_kernel_metapackages() {
  local flavour="${1##*-}" pkg
  for pkg in "linux-${flavour}" "linux-image-${flavour}" "linux-headers-${flavour}" \
    "linux-modules-nvidia-${DEVBOX_DRIVER_BRANCH}-server-${flavour}"; do
    if devbox_pkg_version "${pkg}" >/dev/null; then
      printf '%s\n' "${pkg}"
    fi
  done
}

# True when every installed driver package is held and pinned.
driver_pinned() {
  local held name version
  [[ -f "${DRIVER_PIN_FILE}" ]] || return 1
  held="$(apt-mark showhold)" || return 1
  while read -r name version; do
    [[ -n "${name}" ]] || continue
    grep -qx -- "${name}" <<<"${held}" || return 1
    grep -qx -- "Pin: version ${version}" "${DRIVER_PIN_FILE}" || return 1
  done < <(driver_installed_packages)
}

driver_pin() {
  local -a names=()
  local name version content
  content="# Written by llm-devbox (30-driver): the NVIDIA driver stays at these exact versions."
  while read -r name version; do
    [[ -n "${name}" ]] || continue
    names+=("${name}")
    content+=$'\n\n'"Package: ${name}"$'\n'"Pin: version ${version}"$'\n'"Pin-Priority: 1001"
  done < <(driver_installed_packages)
  mapfile -t -O "${#names[@]}" names < <(driver_kernel_metapackages "$(uname -r)")
  apt-mark hold "${names[@]}" >/dev/null
  devbox_install_file "${DRIVER_PIN_FILE}" 0644 "${content}"
  devbox_log "held and pinned: ${names[*]}"
}

driver_install_packages() {
  local kernel="$1" branch="${DEVBOX_DRIVER_BRANCH}"
  local modules="linux-modules-nvidia-${branch}-server-${kernel}"
  devbox_retry devbox_apt update
  # The prebuilt, signed module for the exact running kernel: no DKMS build, no compiler.
  if apt-cache show "${modules}" >/dev/null 2>&1; then
    devbox_retry devbox_apt install --no-install-recommends "${modules}" \
      "nvidia-headless-no-dkms-${branch}-server" "$(driver_utils_pkg)"
  else
    devbox_log "no ${modules} in the archive; trying ubuntu-drivers"
    devbox_retry ubuntu-drivers install --gpgpu "nvidia:${branch}-server"
  fi
  # ubuntu-drivers exits 0 even when it installed nothing.
  if ! devbox_pkg_version "$(driver_utils_pkg)" >/dev/null; then
    devbox_err "the driver install finished but $(driver_utils_pkg) is not installed"
    return 1
  fi
}

# Makes nvidia-smi reach the driver, loading the module if needed; asks for one reboot
# otherwise (the module was built for a kernel that is not running yet).
driver_ensure_loaded() {
  if driver_smi_ok; then
    return 0
  fi
  devbox_log "nvidia-smi cannot reach the driver; loading the nvidia module"
  if modprobe nvidia && driver_smi_ok; then
    return 0
  fi
  if [[ -e "${DRIVER_REBOOTED}" ]]; then
    devbox_err "nvidia-smi still cannot reach the driver after a reboot (kernel $(uname -r)); see dmesg"
    return 1
  fi
  mkdir -p "${DEVBOX_STATE_DIR}"
  date -u +%Y-%m-%dT%H:%M:%SZ >"${DRIVER_REBOOTED}"
  devbox_request_reboot "the nvidia module is not loaded in kernel $(uname -r)"
}

# Fabric Manager at exactly the driver's version. apt's Debian revision may differ from the
# driver package's, so the match is on the upstream version, which is what Fabric Manager
# compares with the driver at start-up.
driver_fabric() {
  local pkg want have candidate=""
  pkg="$(driver_fabric_pkg)"
  want="$(driver_version)"
  if have="$(devbox_pkg_version "${pkg}")"; then
    if [[ "${have%%-*}" != "${want}" ]]; then
      devbox_err "${pkg} ${have} is installed but the driver is ${want}; they must match exactly"
      return 1
    fi
    devbox_log "${pkg} ${have} matches driver ${want}"
  else
    candidate="$(apt-cache madison "${pkg}" | awk -F'|' -v w="${want}" \
      '{ gsub(/ /, "", $2); if (index($2, w "-") == 1) { print $2; exit } }')"
    if [[ -z "${candidate}" ]]; then
      devbox_err "no ${pkg} at the driver's version ${want} in the apt sources"
      return 1
    fi
    devbox_retry devbox_apt install --no-install-recommends "${pkg}=${candidate}"
    devbox_log "installed ${pkg} ${candidate} for driver ${want}"
  fi
  if ! systemctl is-active --quiet nvidia-fabricmanager.service; then
    systemctl enable --now nvidia-fabricmanager.service
  fi
  if ! systemctl is-active --quiet nvidia-fabricmanager.service; then
    devbox_err "nvidia-fabricmanager.service is not running; see journalctl -u nvidia-fabricmanager"
    return 1
  fi
}

driver_fabric_in_place() {
  local have
  have="$(devbox_pkg_version "$(driver_fabric_pkg)")" || return 1
  [[ "${have%%-*}" == "$(driver_version)" ]] && systemctl is-active --quiet nvidia-fabricmanager.service
}

driver_main() {
  local kernel version
  devbox_step_begin "$(devbox_step_name_of "${BASH_SOURCE[0]}")"
  kernel="$(uname -r)"
  if version="$(driver_version)" && driver_pinned && driver_smi_ok &&
    { [[ "${DEVBOX_NVSWITCH}" != 1 ]] || driver_fabric_in_place; }; then
    devbox_log "NVIDIA driver ${version} already installed, held and running"
    return 0
  fi
  if ! version="$(driver_version)"; then
    driver_install_packages "${kernel}"
    version="$(driver_version)"
    devbox_log "installed NVIDIA driver ${version} for kernel ${kernel}"
  fi
  # Held before any reboot, so that nothing upgrades it while the box restarts.
  driver_pin
  driver_ensure_loaded
  if [[ "${DEVBOX_NVSWITCH}" == 1 ]]; then
    driver_fabric
    driver_pin
  fi
  devbox_log "driver ${version}: $(nvidia-smi -L | wc -l) GPU(s) visible"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  driver_main "$@"
fi
