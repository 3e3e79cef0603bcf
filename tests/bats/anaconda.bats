#!/usr/bin/env bats
# cloud-init/steps/50-anaconda.sh

load helpers/setup

setup() {
  devbox_test_setup
  STEP="${SRC}/steps/50-anaconda.sh"
  SHA="$(fake_anaconda_installer)"
  PREFIX="${BATS_TEST_TMPDIR}/anaconda3"
}

@test "downloads from the mirror, checks SHA-256, installs as the user and runs conda init" {
  write_env cn "DEVBOX_ANACONDA_SHA256=${SHA}"
  run bash "${STEP}"
  [ "$status" -eq 0 ]
  [ "${lines[1]}" = "=> anaconda: using https://mirrors.tuna.tsinghua.edu.cn/anaconda/archive for anaconda" ]
  [ "${lines[2]}" = "=> anaconda: SHA-256 of ${ANACONDA_INSTALLER} verified: ${SHA}" ]
  [ "$(calls_of curl)" = "curl -fsSL --connect-timeout 20 -o ${DEVBOX_RUN_DIR}/${ANACONDA_INSTALLER}.part https://mirrors.tuna.tsinghua.edu.cn/anaconda/archive/${ANACONDA_INSTALLER}" ]
  [ "$(calls_of runuser | head -n 1)" = "runuser -u nobody -- bash ${DEVBOX_RUN_DIR}/${ANACONDA_INSTALLER} -b -u -p ${PREFIX}" ]
  [ "$(calls_of anaconda-installer)" = "anaconda-installer ran" ]
  [ -x "${PREFIX}/bin/conda" ]
  [ "$(stat -c %U "${PREFIX}")" = nobody ]
  grep -q '>>> conda initialize >>>' "${DEVBOX_USER_HOME}/.bashrc"
  # The installer does not stay in /run.
  [ ! -e "${DEVBOX_RUN_DIR}/${ANACONDA_INSTALLER}" ]
}

@test "a bad checksum deletes the file, fails the step and says expected and found" {
  wrong="0000000000000000000000000000000000000000000000000000000000000000"
  write_env cn "DEVBOX_ANACONDA_SHA256=${wrong}"
  run bash "${STEP}"
  [ "$status" -eq 1 ]
  [ "${lines[2]}" = "devbox: anaconda: error: checksum mismatch for ${ANACONDA_INSTALLER} from https://mirrors.tuna.tsinghua.edu.cn/anaconda/archive: expected ${wrong}, found ${SHA}" ]
  [ ! -e "${DEVBOX_RUN_DIR}/${ANACONDA_INSTALLER}" ]
  [ ! -e "${DEVBOX_RUN_DIR}/${ANACONDA_INSTALLER}.part" ]
  [ "$(calls_of anaconda-installer)" = "" ]
  [ ! -e "${PREFIX}/bin/conda" ]
  [ "$(cat "${DEVBOX_STATE_DIR}/steps/anaconda.error")" = "checksum mismatch for ${ANACONDA_INSTALLER} from https://mirrors.tuna.tsinghua.edu.cn/anaconda/archive: expected ${wrong}, found ${SHA}" ]
}

@test "a failing archive mirror falls back to the next" {
  write_env cn "DEVBOX_ANACONDA_SHA256=${SHA}"
  echo "https://mirrors.tuna.tsinghua.edu.cn/" >"${STUB_DIR}/curl.fail"
  run bash "${STEP}"
  [ "$status" -eq 0 ]
  [[ "$output" == *"=> anaconda: mirror https://mirrors.tuna.tsinghua.edu.cn/anaconda/archive failed for anaconda; trying https://mirrors.aliyun.com/anaconda/archive"* ]]
  assert_no_official_host
}

@test "a second run downloads nothing and installs nothing" {
  write_env cn "DEVBOX_ANACONDA_SHA256=${SHA}"
  run bash "${STEP}"
  [ "$status" -eq 0 ]
  : >"${STUB_DIR}/calls"
  run bash "${STEP}"
  [ "$status" -eq 0 ]
  [ "${lines[1]}" = "=> anaconda: Anaconda already installed in ${PREFIX}" ]
  [ "${lines[2]}" = "=> anaconda: conda init already done for nobody" ]
  [ "$(cat "${STUB_DIR}/calls")" = "" ]
}

@test "the global profile downloads from repo.anaconda.com" {
  write_env global "DEVBOX_ANACONDA_SHA256=${SHA}"
  run bash "${STEP}"
  [ "$status" -eq 0 ]
  [[ "$(calls_of curl)" == *" https://repo.anaconda.com/archive/${ANACONDA_INSTALLER}" ]]
}
