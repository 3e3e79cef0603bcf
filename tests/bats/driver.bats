#!/usr/bin/env bats
# cloud-init/steps/30-driver.sh

load helpers/setup

setup() {
  devbox_test_setup
  STEP="${SRC}/steps/30-driver.sh"
  stub_apt_packages
}

DRIVER_PKGS="linux-modules-nvidia-535-server-5.15.0-1051-aws nvidia-headless-no-dkms-535-server nvidia-utils-535-server"

@test "installs the 535-server driver for the running kernel, held and pinned" {
  write_env global
  run bash "${STEP}"
  [ "$status" -eq 0 ]
  [ "${lines[1]}" = "=> driver: installed NVIDIA driver 535.183.01 for kernel 5.15.0-1051-aws" ]
  [ "${lines[2]}" = "=> driver: held and pinned: ${DRIVER_PKGS}" ]
  [ "${lines[3]}" = "=> driver: driver 535.183.01: 1 GPU(s) visible" ]
  [[ "$(calls_of apt-get | tail -n 1)" == *" install --no-install-recommends ${DRIVER_PKGS}" ]]
  [ "$(calls_of apt-mark)" = "apt-mark hold ${DRIVER_PKGS}" ]
  grep -qx "Package: nvidia-utils-535-server" "${DEVBOX_ROOT}/etc/apt/preferences.d/devbox-nvidia"
  grep -qx "Pin: version 535.183.01-0ubuntu0.20.04.1" "${DEVBOX_ROOT}/etc/apt/preferences.d/devbox-nvidia"
}

@test "Fabric Manager is never installed on a type without NVSwitch" {
  write_env global "DEVBOX_NVSWITCH=0"
  run bash "${STEP}"
  [ "$status" -eq 0 ]
  [ "$(grep -c fabricmanager "${STUB_DIR}/calls")" -eq 0 ]
  [ ! -e "${STUB_DIR}/active/nvidia-fabricmanager.service" ]
}

@test "on NVSwitch types Fabric Manager is installed at the driver's exact version, held and started" {
  write_env global "DEVBOX_NVSWITCH=1"
  run bash "${STEP}"
  [ "$status" -eq 0 ]
  [ "${lines[3]}" = "=> driver: installed nvidia-fabricmanager-535 535.183.01-0ubuntu0.20.04.1 for driver 535.183.01" ]
  [[ "$(calls_of apt-get | tail -n 1)" == *" install --no-install-recommends nvidia-fabricmanager-535=535.183.01-0ubuntu0.20.04.1" ]]
  [ "$(awk '$1 == "nvidia-fabricmanager-535" { print $2 }' "${STUB_DIR}/dpkg.db")" = "535.183.01-0ubuntu0.20.04.1" ]
  grep -qx "nvidia-fabricmanager-535" "${STUB_DIR}/holds"
  [[ "$(calls_of systemctl)" == *"systemctl enable --now nvidia-fabricmanager.service"* ]]
  [ -e "${STUB_DIR}/active/nvidia-fabricmanager.service" ]
  grep -qx "Package: nvidia-fabricmanager-535" "${DEVBOX_ROOT}/etc/apt/preferences.d/devbox-nvidia"
}

@test "no Fabric Manager at the driver's version fails the step and says so" {
  write_env global "DEVBOX_NVSWITCH=1"
  printf '%s\n' "linux-modules-nvidia-535-server-5.15.0-1051-aws 5.15.0-1051.56~20.04.1" \
    "nvidia-headless-no-dkms-535-server 535.183.01-0ubuntu0.20.04.1" \
    "nvidia-utils-535-server 535.183.01-0ubuntu0.20.04.1" "nvidia-fabricmanager-535 535.216.03-1" \
    >"${STUB_DIR}/apt.avail"
  run bash "${STEP}"
  [ "$status" -eq 1 ]
  [[ "$output" == *"devbox: driver: error: no nvidia-fabricmanager-535 at the driver's version 535.183.01 in the apt sources"* ]]
  [ "$(grep -c 'install.*fabricmanager' "${STUB_DIR}/calls")" -eq 0 ]
}

@test "a Fabric Manager at another version than the driver fails the step" {
  write_env global "DEVBOX_NVSWITCH=1"
  printf '%s\n' "nvidia-fabricmanager-535 535.216.03-1" >"${STUB_DIR}/dpkg.db"
  run bash "${STEP}"
  [ "$status" -eq 1 ]
  [[ "$output" == *"devbox: driver: error: nvidia-fabricmanager-535 535.216.03-1 is installed but the driver is 535.183.01; they must match exactly"* ]]
}

@test "a second run changes nothing and calls no apt" {
  write_env global "DEVBOX_NVSWITCH=1"
  run bash "${STEP}"
  [ "$status" -eq 0 ]
  : >"${STUB_DIR}/calls"
  run bash "${STEP}"
  [ "$status" -eq 0 ]
  [ "${lines[1]}" = "=> driver: NVIDIA driver 535.183.01 already installed, held and running" ]
  [ "$(calls_of apt-get)" = "" ]
  [ "$(calls_of apt-mark)" = "apt-mark showhold" ]
  [ "$(calls_of systemctl)" = "systemctl is-active --quiet nvidia-fabricmanager.service" ]
}

@test "falls back to ubuntu-drivers when the archive has no module for the running kernel" {
  write_env global
  export STUB_KERNEL=5.15.0-9999-aws
  printf '%s\n' "nvidia-utils-535-server 535.183.01-0ubuntu0.20.04.1" \
    "nvidia-headless-no-dkms-535-server 535.183.01-0ubuntu0.20.04.1" >"${STUB_DIR}/ubuntu-drivers.installs"
  run bash "${STEP}"
  [ "$status" -eq 0 ]
  [ "${lines[1]}" = "=> driver: no linux-modules-nvidia-535-server-5.15.0-9999-aws in the archive; trying ubuntu-drivers" ]
  [ "$(calls_of ubuntu-drivers)" = "ubuntu-drivers install --gpgpu nvidia:535-server" ]
}

@test "ubuntu-drivers exiting 0 without installing anything fails the step" {
  write_env global
  export STUB_KERNEL=5.15.0-9999-aws
  run bash "${STEP}"
  [ "$status" -eq 1 ]
  [[ "$output" == *"devbox: driver: error: the driver install finished but nvidia-utils-535-server is not installed"* ]]
}

@test "a driver the running kernel cannot load asks for one reboot, then carries on" {
  write_env global
  touch "${STUB_DIR}/nvidia-smi.broken"
  run bash "${STEP}"
  [ "$status" -eq 100 ]
  [[ "$output" == *"=> driver: reboot requested: the nvidia module is not loaded in kernel 5.15.0-1051-aws"* ]]
  [ "$(cut -d' ' -f1 "${DEVBOX_STATE_DIR}/steps/driver")" = reboot ]
  # Packages are held before the reboot.
  grep -qx "nvidia-utils-535-server" "${STUB_DIR}/holds"

  rm "${STUB_DIR}/nvidia-smi.broken"
  : >"${STUB_DIR}/calls"
  run bash "${STEP}"
  [ "$status" -eq 0 ]
  [ "$(calls_of apt-get)" = "" ]
  [ "$(cut -d' ' -f1 "${DEVBOX_STATE_DIR}/steps/driver")" = "done" ]
}

@test "a driver that still cannot be reached after the reboot fails instead of rebooting again" {
  write_env global
  touch "${STUB_DIR}/nvidia-smi.broken"
  run bash "${STEP}"
  [ "$status" -eq 100 ]
  run bash "${STEP}"
  [ "$status" -eq 1 ]
  [[ "$output" == *"devbox: driver: error: nvidia-smi still cannot reach the driver after a reboot (kernel 5.15.0-1051-aws); see dmesg"* ]]
}

@test "loading the module without a reboot is tried first" {
  write_env global
  touch "${STUB_DIR}/nvidia-smi.broken" "${STUB_DIR}/modprobe.fixes"
  run bash "${STEP}"
  [ "$status" -eq 0 ]
  [ "$(calls_of modprobe)" = "modprobe nvidia" ]
  [ ! -e "${DEVBOX_STATE_DIR}/driver.rebooted" ]
}
