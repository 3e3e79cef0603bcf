#!/usr/bin/env bats
# The real steps 10-70, run by the real runner with the cn mirror profile: the whole setup
# completes, and no request and no written file names an official host.

load helpers/setup

setup() {
  devbox_test_setup
  export DEVBOX_PREFIX="${BATS_TEST_TMPDIR}/prefix"
  mkdir -p "${DEVBOX_PREFIX}/steps"
  ln -s "${SRC}/lib" "${DEVBOX_PREFIX}/lib"
  for step in 10-mirrors 20-data-volume 30-driver 40-cuda 50-anaconda 60-pyenv 70-jupyter; do
    ln -s "${SRC}/steps/${step}.sh" "${DEVBOX_PREFIX}/steps/${step}.sh"
  done
  stub_apt_packages
  SHA="$(fake_anaconda_installer)"
  mkdir -p "${DEVBOX_ROOT}/etc/apt"
  printf '%s\n' "deb http://archive.ubuntu.com/ubuntu/ focal main restricted" \
    >"${DEVBOX_ROOT}/etc/apt/sources.list"
  RUNNER="${SRC}/bin/devbox-setup"
}

written_files() {
  printf '%s\n' "${DEVBOX_ROOT}/etc/apt/sources.list" "${DEVBOX_ROOT}/etc/apt/sources.list.d" \
    "${DEVBOX_ROOT}/etc/pip.conf" "${DEVBOX_ROOT}/etc/profile.d" "${DEVBOX_USER_HOME}/.condarc" \
    "${DEVBOX_ROOT}/etc/systemd/system"
}

@test "cn: the whole setup completes without contacting an official host" {
  write_env cn "DEVBOX_ANACONDA_SHA256=${SHA}" "DEVBOX_NVSWITCH=1"
  run bash "${RUNNER}"
  [ "$status" -eq 0 ]
  [ "${lines[-1]}" = "=> setup: all steps done" ]
  [ "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["state"], [s["state"] for s in d["steps"]])' \
    "${DEVBOX_STATE_DIR}/status.json")" = "done ['done', 'done', 'done', 'done', 'done', 'done', 'done']" ]
  [ "$(calls_of curl | wc -l)" -gt 0 ]
  [ "$(calls_of pip | wc -l)" -eq 2 ]
  mapfile -t files < <(written_files)
  assert_no_official_host "${files[@]}"
}

@test "the official-host check does catch the global profile" {
  write_env global "DEVBOX_ANACONDA_SHA256=${SHA}"
  run bash "${RUNNER}"
  [ "$status" -eq 0 ]
  run assert_no_official_host
  [ "$status" -eq 1 ]
  [[ "${lines[0]}" == "official host "*" was used:" ]]
}

@test "every step run again on a set-up box does no network work" {
  write_env cn "DEVBOX_ANACONDA_SHA256=${SHA}" "DEVBOX_NVSWITCH=1"
  run bash "${RUNNER}"
  [ "$status" -eq 0 ]
  # Forget that setup finished, so that the runner runs every step again.
  rm -r "${DEVBOX_STATE_DIR}"
  : >"${STUB_DIR}/calls"
  run bash "${RUNNER}"
  [ "$status" -eq 0 ]
  [ "$(calls_of curl)" = "" ]
  [ "$(calls_of pip)" = "" ]
  [ "$(calls_of conda)" = "" ]
  [ "$(calls_of apt-get)" = "" ]
  [ "$(calls_of dpkg)" = "" ]
  [ "$(calls_of ubuntu-drivers)" = "" ]
  [ "$(calls_of anaconda-installer)" = "" ]
  [ "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["state"])' \
    "${DEVBOX_STATE_DIR}/status.json")" = "done" ]
}
