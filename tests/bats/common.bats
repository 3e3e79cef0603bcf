#!/usr/bin/env bats
# cloud-init/lib/common.sh: retries, mirror fallback, status.json, file writes.

load helpers/setup

setup() {
  devbox_test_setup
  COMMON="${SRC}/lib/common.sh"
}

@test "sourcing common.sh writes nothing" {
  run bash -c '. "$1"' _ "${COMMON}"
  [ "$status" -eq 0 ]
  [ "$output" = "" ]
  [ ! -e "${DEVBOX_LOG_DIR}" ]
  [ ! -e "${DEVBOX_STATE_DIR}" ]
}

@test "devbox_retry retries a failing command and gives up with its status" {
  echo "https://a.example/" >"${STUB_DIR}/curl.fail"
  run bash -c '. "$1"; DEVBOX_STEP=t; DEVBOX_RETRY_ATTEMPTS=3; devbox_retry curl https://a.example/x' _ "${COMMON}"
  [ "$status" -eq 22 ]
  [ "${lines[0]}" = "curl: (22) The requested URL returned error: 404" ]
  [ "${lines[1]}" = "=> t: attempt 1/3 of curl failed (exit 22); retrying in 0 s" ]
  [ "${lines[3]}" = "=> t: attempt 2/3 of curl failed (exit 22); retrying in 0 s" ]
  [ "${lines[5]}" = "=> t: gave up on curl after 3 attempt(s) (exit 22)" ]
  [ "$(calls_of curl | wc -l)" -eq 3 ]
}

@test "devbox_retry doubles its delay after each failure" {
  mkdir -p "${BATS_TEST_TMPDIR}/slept"
  printf '#!/bin/bash\necho "$1" >>"%s/slept/log"\n' "${BATS_TEST_TMPDIR}" >"${STUB_DIR}/bin/sleep"
  chmod +x "${STUB_DIR}/bin/sleep"
  echo 1 >"${STUB_DIR}/fail/mount"
  run bash -c '. "$1"; DEVBOX_STEP=t; DEVBOX_RETRY_ATTEMPTS=4; DEVBOX_RETRY_DELAY=5; devbox_retry mount x' _ "${COMMON}"
  [ "$status" -eq 1 ]
  [ "$(cat "${BATS_TEST_TMPDIR}/slept/log")" = "$(printf '5\n10\n20')" ]
}

@test "devbox_with_mirrors falls back to the next mirror with a log line" {
  echo "https://one.example/" >"${STUB_DIR}/curl.fail"
  run bash -c '. "$1"; DEVBOX_STEP=t; DEVBOX_RETRY_ATTEMPTS=1
    devbox_with_mirrors pypi "https://one.example/simple https://two.example/simple" devbox_probe
    echo "chosen ${DEVBOX_MIRROR}"' _ "${COMMON}"
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "curl: (22) The requested URL returned error: 404" ]
  [ "${lines[1]}" = "=> t: gave up on devbox_probe after 1 attempt(s) (exit 22)" ]
  [ "${lines[2]}" = "=> t: mirror https://one.example/simple failed for pypi; trying https://two.example/simple" ]
  [ "${lines[3]}" = "=> t: using https://two.example/simple for pypi" ]
  [ "${lines[4]}" = "chosen https://two.example/simple" ]
  [ "${#lines[@]}" -eq 5 ]
  grep -qF "t: mirror https://one.example/simple failed for pypi; trying https://two.example/simple" \
    "${DEVBOX_LOG_DIR}/setup.log"
}

@test "devbox_with_mirrors fails on stderr when every mirror fails" {
  printf '%s\n' "https://one.example/" "https://two.example/" >"${STUB_DIR}/curl.fail"
  run bash -c '. "$1"; DEVBOX_STEP=t; DEVBOX_RETRY_ATTEMPTS=1
    devbox_with_mirrors apt "https://one.example/u https://two.example/u" devbox_probe 2>"$2"' \
    _ "${COMMON}" "${BATS_TEST_TMPDIR}/err"
  [ "$status" -eq 1 ]
  [ "$(tail -n 1 "${BATS_TEST_TMPDIR}/err")" = "devbox: t: error: mirror https://two.example/u failed for apt; no mirror left (tried: https://one.example/u https://two.example/u)" ]
  [ "${lines[1]}" = "=> t: mirror https://one.example/u failed for apt; trying https://two.example/u" ]
}

@test "devbox_json_string escapes quotes, backslashes and newlines" {
  run bash -c '. "$1"; devbox_json_string "$2" | python3 -c "import json,sys; print(json.load(sys.stdin))"' \
    _ "${COMMON}" $'a "b" \\c\nd\te'
  [ "$status" -eq 0 ]
  [ "$output" = $'a "b" \\c\nd\te' ]
}

@test "devbox_install_file writes once and reports no change the second time" {
  run bash -c '. "$1"; devbox_install_file "$2" 0600 "secret"; echo "changed=${DEVBOX_FILE_CHANGED}"
    devbox_install_file "$2" 0600 "secret"; echo "changed=${DEVBOX_FILE_CHANGED}"' \
    _ "${COMMON}" "${BATS_TEST_TMPDIR}/f/x"
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "changed=1" ]
  [ "${lines[1]}" = "changed=0" ]
  [ "$(stat -c %a "${BATS_TEST_TMPDIR}/f/x")" = "600" ]
  [ "$(cat "${BATS_TEST_TMPDIR}/f/x")" = "secret" ]
}

@test "devbox_profile_set replaces a key instead of appending it twice" {
  run bash -c '. "$1"; devbox_profile_set HF_ENDPOINT https://a.example
    devbox_profile_set HF_HOME /data/.cache/huggingface
    devbox_profile_set HF_ENDPOINT https://b.example; devbox_profile_get HF_ENDPOINT' _ "${COMMON}"
  [ "$status" -eq 0 ]
  [ "$output" = "https://b.example" ]
  [ "$(grep -c '^export HF_ENDPOINT=' "${DEVBOX_ROOT}/etc/profile.d/devbox.sh")" -eq 1 ]
  grep -qx "export HF_HOME='/data/.cache/huggingface'" "${DEVBOX_ROOT}/etc/profile.d/devbox.sh"
}

@test "a failing step records its first error and exits with its status" {
  cat >"${BATS_TEST_TMPDIR}/step.sh" <<EOF
set -euo pipefail
. "${COMMON}"
devbox_step_begin demo
devbox_err "the cause"
false
EOF
  run bash "${BATS_TEST_TMPDIR}/step.sh"
  [ "$status" -eq 1 ]
  [ "${lines[0]}" = "=> demo: start" ]
  [ "${lines[1]}" = "devbox: demo: error: the cause" ]
  [ "${lines[2]}" = "devbox: demo: error: command failed (exit 1) at line 5: false" ]
  [[ "${lines[3]}" =~ ^devbox:\ demo:\ error:\ failed\ after\ [0-9]+\ s\ \(exit\ 1\)$ ]]
  [ "$(cat "${DEVBOX_STATE_DIR}/steps/demo.error")" = "the cause" ]
  read -r state started ended <"${DEVBOX_STATE_DIR}/steps/demo"
  [ "${state}" = failed ]
  [ "${ended}" -ge "${started}" ]
}
