#!/usr/bin/env bats
# cloud-init/steps/40-cuda.sh

load helpers/setup

setup() {
  devbox_test_setup
  STEP="${SRC}/steps/40-cuda.sh"
  stub_apt_packages
}

@test "cn: the keyring and the repository come from developer.download.nvidia.cn" {
  write_env cn
  run bash "${STEP}"
  [ "$status" -eq 0 ]
  [ "$(calls_of curl | head -n 1)" = "curl -fsSL --connect-timeout 20 -o ${DEVBOX_RUN_DIR}/cuda-keyring_1.1-1_all.deb.part https://developer.download.nvidia.cn/compute/cuda/repos/ubuntu2004/x86_64/cuda-keyring_1.1-1_all.deb" ]
  [ "$(calls_of curl | tail -n 1)" = "curl -fsSL --head --max-time 20 -o /dev/null https://developer.download.nvidia.cn/compute/cuda/repos/ubuntu2004/x86_64/InRelease" ]
  [[ "$(calls_of apt-get | head -n 1)" == *" install ${DEVBOX_RUN_DIR}/cuda-keyring_1.1-1_all.deb" ]]
  [ "$(awk '$1 == "cuda-keyring" { print $2 }' "${STUB_DIR}/dpkg.db")" = "1.1-1" ]
  [ "$(cat "${DEVBOX_ROOT}/etc/apt/sources.list.d/cuda-ubuntu2004-x86_64.list")" = "deb [signed-by=/usr/share/keyrings/cuda-archive-keyring.gpg] https://developer.download.nvidia.cn/compute/cuda/repos/ubuntu2004/x86_64/ /" ]
  [[ "$(calls_of apt-get | tail -n 1)" == *" install --no-install-recommends cuda-toolkit-11-8" ]]
  [ ! -e "${DEVBOX_RUN_DIR}/cuda-keyring_1.1-1_all.deb" ]
  assert_no_official_host "${DEVBOX_ROOT}/etc/apt/sources.list.d"
}

@test "nvcc is put on PATH for login shells" {
  write_env global
  run bash "${STEP}"
  [ "$status" -eq 0 ]
  [ "${lines[-2]}" = "=> cuda: ${DEVBOX_ROOT}/etc/profile.d/cuda.sh puts /usr/local/cuda-11.8/bin on PATH" ]
  run env -i PATH=/usr/bin:/bin bash -c '. "$1"; printf "%s\n" "$PATH" "$LD_LIBRARY_PATH"; . "$1"; printf "%s\n" "$PATH"' \
    _ "${DEVBOX_ROOT}/etc/profile.d/cuda.sh"
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "/usr/local/cuda-11.8/bin:/usr/bin:/bin" ]
  [ "${lines[1]}" = "/usr/local/cuda-11.8/lib64" ]
  # Sourcing twice does not grow PATH.
  [ "${lines[2]}" = "/usr/local/cuda-11.8/bin:/usr/bin:/bin" ]
}

@test "a failing NVIDIA mirror falls back to the next" {
  write_env cn "DEVBOX_NVIDIA_MIRRORS=https://developer.download.nvidia.cn https://nvidia.mirror.example"
  echo "https://developer.download.nvidia.cn/" >"${STUB_DIR}/curl.fail"
  run bash "${STEP}"
  [ "$status" -eq 0 ]
  [[ "$output" == *"=> cuda: mirror https://developer.download.nvidia.cn failed for nvidia; trying https://nvidia.mirror.example"* ]]
  grep -q "https://nvidia.mirror.example/compute/cuda/repos/ubuntu2004/x86_64/ /" \
    "${DEVBOX_ROOT}/etc/apt/sources.list.d/cuda-ubuntu2004-x86_64.list"
}

@test "a second run does no network work and changes nothing" {
  write_env cn
  run bash "${STEP}"
  [ "$status" -eq 0 ]
  : >"${STUB_DIR}/calls"
  run bash "${STEP}"
  [ "$status" -eq 0 ]
  [ "${lines[1]}" = "=> cuda: cuda-toolkit-11-8 11.8.0-1 already installed" ]
  [ "$(calls_of curl)" = "" ]
  [ "$(calls_of apt-get)" = "" ]
  [ "$(calls_of dpkg)" = "" ]
}

@test "Ubuntu 22.04 uses NVIDIA's ubuntu2204 repository" {
  write_env global
  printf '%s\n' 'VERSION_ID="22.04"' 'VERSION_CODENAME=jammy' >"${DEVBOX_ROOT}/etc/os-release"
  run bash "${STEP}"
  [ "$status" -eq 0 ]
  [[ "$(calls_of curl | head -n 1)" == *"https://developer.download.nvidia.com/compute/cuda/repos/ubuntu2204/x86_64/cuda-keyring_1.1-1_all.deb" ]]
}
