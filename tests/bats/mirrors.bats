#!/usr/bin/env bats
# cloud-init/steps/10-mirrors.sh

load helpers/setup

setup() {
  devbox_test_setup
  STEP="${SRC}/steps/10-mirrors.sh"
  mkdir -p "${DEVBOX_ROOT}/etc/apt"
  printf '%s\n' "deb http://us-east-1.ec2.archive.ubuntu.com/ubuntu/ focal main restricted" \
    >"${DEVBOX_ROOT}/etc/apt/sources.list"
}

@test "cn profile writes TUNA sources, pip index, condarc and HF_ENDPOINT" {
  write_env cn
  run bash "${STEP}"
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "=> mirrors: start" ]
  [ "${lines[1]}" = "=> mirrors: using https://mirrors.tuna.tsinghua.edu.cn/ubuntu for apt" ]
  [ "${lines[2]}" = "=> mirrors: apt: sources.list now uses https://mirrors.tuna.tsinghua.edu.cn/ubuntu for focal" ]
  [ "${lines[4]}" = "=> mirrors: pip: index-url is https://pypi.tuna.tsinghua.edu.cn/simple" ]
  [ "${lines[6]}" = "=> mirrors: conda: ${DEVBOX_USER_HOME}/.condarc uses https://mirrors.tuna.tsinghua.edu.cn/anaconda" ]
  [ "${lines[8]}" = "=> mirrors: huggingface: HF_ENDPOINT is https://hf-mirror.com" ]
  [[ "${lines[9]}" =~ ^"=> mirrors: done in "[0-9]+" s"$ ]]

  grep -qx "deb https://mirrors.tuna.tsinghua.edu.cn/ubuntu/ focal main restricted universe multiverse" \
    "${DEVBOX_ROOT}/etc/apt/sources.list"
  grep -qx "deb https://mirrors.tuna.tsinghua.edu.cn/ubuntu/ focal-updates main restricted universe multiverse" \
    "${DEVBOX_ROOT}/etc/apt/sources.list"
  # The image's own file is kept.
  grep -q "ec2.archive.ubuntu.com" "${DEVBOX_ROOT}/etc/apt/sources.list.devbox-orig"
  grep -qx "index-url = https://pypi.tuna.tsinghua.edu.cn/simple" "${DEVBOX_ROOT}/etc/pip.conf"
  grep -qx "  - https://mirrors.tuna.tsinghua.edu.cn/anaconda/pkgs/main" "${DEVBOX_USER_HOME}/.condarc"
  grep -qx "  - https://mirrors.tuna.tsinghua.edu.cn/anaconda/pkgs/msys2" "${DEVBOX_USER_HOME}/.condarc"
  grep -qx "  conda-forge: https://mirrors.tuna.tsinghua.edu.cn/anaconda/cloud" "${DEVBOX_USER_HOME}/.condarc"
  grep -qx "  pytorch: https://mirrors.tuna.tsinghua.edu.cn/anaconda/cloud" "${DEVBOX_USER_HOME}/.condarc"
  [ "$(stat -c %U "${DEVBOX_USER_HOME}/.condarc")" = nobody ]
  grep -qx "export HF_ENDPOINT='https://hf-mirror.com'" "${DEVBOX_ROOT}/etc/profile.d/devbox.sh"
}

@test "cn profile sends no request to an official host" {
  write_env cn
  run bash "${STEP}"
  [ "$status" -eq 0 ]
  [ "$(calls_of curl | wc -l)" -eq 4 ]
  assert_no_official_host "${DEVBOX_ROOT}/etc/apt/sources.list" "${DEVBOX_ROOT}/etc/pip.conf" \
    "${DEVBOX_USER_HOME}/.condarc" "${DEVBOX_ROOT}/etc/profile.d/devbox.sh"
}

@test "a failing mirror falls back to the next one, with a log line" {
  write_env cn
  printf '%s\n' "https://mirrors.tuna.tsinghua.edu.cn/ubuntu" "https://pypi.tuna.tsinghua.edu.cn/" \
    >"${STUB_DIR}/curl.fail"
  run bash "${STEP}"
  [ "$status" -eq 0 ]
  [[ "$output" == *$'\n'"=> mirrors: mirror https://mirrors.tuna.tsinghua.edu.cn/ubuntu failed for apt; trying https://mirrors.aliyun.com/ubuntu"$'\n'* ]]
  [[ "$output" == *$'\n'"=> mirrors: mirror https://pypi.tuna.tsinghua.edu.cn/simple failed for pypi; trying https://mirrors.aliyun.com/pypi/simple/"$'\n'* ]]
  grep -qx "deb https://mirrors.aliyun.com/ubuntu/ focal main restricted universe multiverse" \
    "${DEVBOX_ROOT}/etc/apt/sources.list"
  grep -qx "index-url = https://mirrors.aliyun.com/pypi/simple/" "${DEVBOX_ROOT}/etc/pip.conf"
  grep -qF "mirror https://mirrors.tuna.tsinghua.edu.cn/ubuntu failed for apt" "${DEVBOX_LOG_DIR}/setup.log"
}

@test "a second run sends no request and changes no file" {
  write_env cn
  run bash "${STEP}"
  [ "$status" -eq 0 ]
  before="$(cat "${DEVBOX_ROOT}/etc/apt/sources.list" "${DEVBOX_ROOT}/etc/pip.conf" \
    "${DEVBOX_USER_HOME}/.condarc" "${DEVBOX_ROOT}/etc/profile.d/devbox.sh" | sha256sum)"
  : >"${STUB_DIR}/calls"
  run bash "${STEP}"
  [ "$status" -eq 0 ]
  [ "${lines[1]}" = "=> mirrors: apt: already using https://mirrors.tuna.tsinghua.edu.cn/ubuntu" ]
  [ "${lines[2]}" = "=> mirrors: pip: already using https://pypi.tuna.tsinghua.edu.cn/simple" ]
  [ "${lines[3]}" = "=> mirrors: conda: already using https://mirrors.tuna.tsinghua.edu.cn/anaconda" ]
  [ "${lines[4]}" = "=> mirrors: huggingface: HF_ENDPOINT already https://hf-mirror.com" ]
  [ "$(cat "${STUB_DIR}/calls")" = "" ]
  after="$(cat "${DEVBOX_ROOT}/etc/apt/sources.list" "${DEVBOX_ROOT}/etc/pip.conf" \
    "${DEVBOX_USER_HOME}/.condarc" "${DEVBOX_ROOT}/etc/profile.d/devbox.sh" | sha256sum)"
  [ "${before}" = "${after}" ]
}

@test "global profile keeps the image's apt sources and conda's official channels" {
  write_env global
  run bash "${STEP}"
  [ "$status" -eq 0 ]
  [ "${lines[1]}" = "=> mirrors: apt: no mirror configured; keeping the image's sources" ]
  [ "${lines[4]}" = "=> mirrors: conda: no mirror configured; conda uses its official channels" ]
  [ "$(cat "${DEVBOX_ROOT}/etc/apt/sources.list")" = "deb http://us-east-1.ec2.archive.ubuntu.com/ubuntu/ focal main restricted" ]
  [ ! -e "${DEVBOX_USER_HOME}/.condarc" ]
  grep -qx "index-url = https://pypi.org/simple" "${DEVBOX_ROOT}/etc/pip.conf"
  grep -qx "export HF_ENDPOINT='https://huggingface.co'" "${DEVBOX_ROOT}/etc/profile.d/devbox.sh"
}

@test "a changed mirror list is applied on the next run" {
  write_env cn
  run bash "${STEP}"
  [ "$status" -eq 0 ]
  write_env cn "DEVBOX_PYPI_MIRRORS=https://mirrors.ustc.edu.cn/pypi/simple"
  run bash "${STEP}"
  [ "$status" -eq 0 ]
  grep -qx "index-url = https://mirrors.ustc.edu.cn/pypi/simple" "${DEVBOX_ROOT}/etc/pip.conf"
}

@test "when every pip mirror fails the step fails, naming the step and the mirrors" {
  write_env cn
  printf '%s\n' "https://pypi.tuna" "https://mirrors.aliyun.com/pypi" "https://mirrors.ustc.edu.cn/pypi" \
    >"${STUB_DIR}/curl.fail"
  run bash "${STEP}"
  [ "$status" -eq 1 ]
  [[ "$output" == *$'\n'"devbox: mirrors: error: mirror https://mirrors.ustc.edu.cn/pypi/simple failed for pypi; no mirror left (tried: https://pypi.tuna.tsinghua.edu.cn/simple https://mirrors.aliyun.com/pypi/simple/ https://mirrors.ustc.edu.cn/pypi/simple)"$'\n'* ]]
  [ "$(cut -d' ' -f1 "${DEVBOX_STATE_DIR}/steps/mirrors")" = failed ]
  [ ! -e "${DEVBOX_ROOT}/etc/pip.conf" ]
}

@test "conda's index cache is cleaned as the login user when conda is already there" {
  write_env cn
  mkdir -p "${BATS_TEST_TMPDIR}/anaconda3/bin"
  printf '#!/bin/bash\nexec %q conda x "$@"\n' "${STUB}" >"${BATS_TEST_TMPDIR}/anaconda3/bin/conda"
  chmod +x "${BATS_TEST_TMPDIR}/anaconda3/bin/conda"
  run bash "${STEP}"
  [ "$status" -eq 0 ]
  [ "$(calls_of runuser)" = "runuser -u nobody -- ${BATS_TEST_TMPDIR}/anaconda3/bin/conda clean -i -y" ]
  [ "$(calls_of conda)" = "conda x clean -i -y" ]
}
