#!/usr/bin/env bats
# Each @test runs in a subshell of its own, so its exports are meant to stay local to it:
# shellcheck disable=SC2030,SC2031
# devbox-verify against stub nvidia-smi, nvcc, systemctl and stub ML packages
# (tests/fixtures/verify): a healthy 2 x A100 NVSwitch box passes; breaking one thing fails the
# step that checks it, with the exact marker line and exit 1.

# The model-timeout test relies on devbox-verify ending a hung step; nothing may hang for ever.
# shellcheck disable=SC2034  # read by bats
BATS_TEST_TIMEOUT=60

setup() {
  FIXTURES="${BATS_TEST_DIRNAME}/../fixtures/verify"
  VERIFY="${BATS_TEST_DIRNAME}/../../cloud-init/bin/devbox-verify"
  export DEVBOX_ENV_FILE="${BATS_TEST_TMPDIR}/devbox.env"
  export DEVBOX_LOG_DIR="${BATS_TEST_TMPDIR}/log"
  export DEVBOX_PYTHON="${FIXTURES}/bin/stub-python"
  # The stub torch multiplies in pure Python: a small matrix keeps each run under a second.
  export DEVBOX_VERIFY_MATRIX=24
  export PATH="${FIXTURES}/bin:${PATH}"
  # Nothing from the caller's environment may steer the check or the stubs.
  unset HF_ENDPOINT DEVBOX_VERIFY_TIMEOUT DEVBOX_VERIFY_MODEL DEVBOX_DATA_MOUNT DEVBOX_BF16
  unset DEVBOX_GPU_COUNT DEVBOX_GPU_NAME DEVBOX_NVSWITCH DEVBOX_CUDA_VERSION DEVBOX_HF_MIRRORS
  unset STUB_MISSING STUB_SMI_FAIL STUB_GPU_COUNT STUB_GPU_NAME STUB_DRIVER STUB_NVCC_RELEASE
  unset STUB_FABRICMANAGER STUB_TORCH_CUDA STUB_CUDA_UNAVAILABLE STUB_BAD_GPU STUB_MODEL_FAIL
  unset STUB_TORCH_GPU_COUNT DEVBOX_CUDA_HOME DEVBOX_USER DEVBOX_ROOT HF_HOME
  unset STUB_MODEL_FAIL_ENDPOINT STUB_MODEL_HANG
  # A p4d-like box; "/" stands in for /data because it is always a mount point.
  cat >"${DEVBOX_ENV_FILE}" <<'EOF'
# settings as the renderer writes them
DEVBOX_GPU_MODEL='a100'
DEVBOX_GPU_NAME='NVIDIA A100'
DEVBOX_GPU_COUNT='2'
DEVBOX_NVSWITCH='1'
DEVBOX_BF16='1'
DEVBOX_CUDA_VERSION='11.8'
DEVBOX_DATA_MOUNT='/'
DEVBOX_VERIFY_MODEL='bert-base-uncased'
DEVBOX_HF_MIRRORS='https://hf-mirror.com https://huggingface.co'
EOF
  VERIFY_LOG="${DEVBOX_LOG_DIR}/verify.log"
}

# Prints one value of the JSON report (the line before the marker): a Python expression over it,
# named r. The report must parse, or this fails.
verify_report() {
  python3 -c 'import json, sys; r = json.loads(sys.argv[1]); print(eval(sys.argv[2]))' \
    "${lines[-2]}" "$1"
}

# Succeeds when some line of $output matches the extended regular expression.
verify_has_line() {
  local line
  for line in "${lines[@]}"; do
    if [[ "${line}" =~ $1 ]]; then
      return 0
    fi
  done
  echo "no line matches: $1" >&2
  return 1
}

# Fills VERIFY_BIN, a folder that is the whole PATH for a "tool not installed" case: every stub
# but the one named, and the few programs devbox-verify and stub-python start. Nothing else on
# this machine leaks in (it may have a real nvcc in /usr/local/bin).
verify_path_without() {
  local tool="$1" stub program
  VERIFY_BIN="${BATS_TEST_TMPDIR}/bin"
  mkdir -p "${VERIFY_BIN}"
  for stub in "${FIXTURES}"/bin/*; do
    if [[ "$(basename "${stub}")" != "${tool}" ]]; then
      ln -s "${stub}" "${VERIFY_BIN}/"
    fi
  done
  for program in env bash dirname; do
    ln -s "$(command -v "${program}")" "${VERIFY_BIN}/${program}"
  done
  ln -s "$(python3 -c 'import sys; print(sys.executable)')" "${VERIFY_BIN}/python3"
}

@test "a healthy box passes every step, prints a parsable report and ends with DEVBOX_VERIFY_OK" {
  run "${VERIFY}"
  [ "${status}" -eq 0 ]
  [ "${lines[-1]}" = "DEVBOX_VERIFY_OK" ]
  [ "$(verify_report '[s["name"] for s in r["steps"] if s["ok"]]')" = \
    "['config', 'gpus', 'fabricmanager', 'nvcc', 'torch', 'compute', 'libraries', 'model', 'data']" ]
  [ "$(verify_report 'r["ok"], r["failed_step"], r["host"]["gpus"], r["host"]["driver"]')" = \
    "(True, None, ['NVIDIA A100-SXM4-40GB', 'NVIDIA A100-SXM4-40GB'], '535.183.01')" ]
  [ "$(verify_report 'r["host"]["nvcc"], r["host"]["torch"], r["host"]["torch_cuda"]')" = \
    "('11.8', '2.7.1+cu118', '11.8')" ]
  [ "$(verify_report 'r["host"]["ml_user"]')" = "$(id -un)" ]
  verify_has_line '^=> compute: ok \([0-9.]+ s\) torch\.bfloat16\+torch\.float32 on cuda:0 cuda:1 match the CPU'
  verify_has_line '^=> model: ok \([0-9.]+ s\) bert-base-uncased loaded from https://hf-mirror\.com, ran on cuda: \[1, 5, 768\]$'
  [ "$(tail -n 1 "${VERIFY_LOG}")" = "DEVBOX_VERIFY_OK" ]
}

@test "a single-GPU box without NVSwitch or bf16 skips Fabric Manager and checks float32 only" {
  export DEVBOX_GPU_COUNT=1 DEVBOX_GPU_NAME="Tesla T4" DEVBOX_NVSWITCH=0 DEVBOX_BF16=0
  export STUB_GPU_COUNT=1 STUB_GPU_NAME="Tesla T4" STUB_FABRICMANAGER=inactive
  run "${VERIFY}"
  [ "${status}" -eq 0 ]
  [ "${lines[-1]}" = "DEVBOX_VERIFY_OK" ]
  verify_has_line '^=> fabricmanager: ok \([0-9.]+ s\) skipped: no NVSwitch on this type$'
  verify_has_line '^=> compute: ok \([0-9.]+ s\) torch\.float32 on cuda:0 match the CPU'
}

@test "run as root, the ML steps drop to DEVBOX_USER (no root-owned files in the user's cache)" {
  if [[ "$(id -u)" != 0 ]]; then
    skip "needs root, as the check has on the box"
  fi
  # A checkout under a private folder (mktemp -d is 0700) is out of nobody's reach.
  if ! runuser -u nobody -- test -r "${FIXTURES}/bin/stub-python"; then
    skip "user nobody cannot read this checkout's fixtures (a private parent folder)"
  fi
  # The failing first mirror shows that the environment (HF_ENDPOINT, settings) survives runuser.
  export DEVBOX_USER=nobody STUB_MODEL_FAIL_ENDPOINT=https://hf-mirror.com
  # /usr/bin first: the python3 of a per-user install under /root is out of nobody's reach.
  run env PATH="${FIXTURES}/bin:/usr/bin:/bin" "${VERIFY}"
  [ "${status}" -eq 0 ]
  [ "${lines[-1]}" = "DEVBOX_VERIFY_OK" ]
  [ "$(verify_report 'r["host"]["ml_user"]')" = "nobody" ]
  verify_has_line '^=> model: ok \([0-9.]+ s\) bert-base-uncased loaded from https://huggingface\.co,'
}

@test "config: fails when the env file cannot be read" {
  export DEVBOX_ENV_FILE="${BATS_TEST_TMPDIR}/missing.env"
  run "${VERIFY}"
  [ "${status}" -eq 1 ]
  [ "${lines[-1]}" = "DEVBOX_VERIFY_FAILED step=config log=${VERIFY_LOG}" ]
}

@test "gpus: fails when nvidia-smi cannot reach the driver" {
  export STUB_SMI_FAIL=1
  run "${VERIFY}"
  [ "${status}" -eq 1 ]
  [ "${lines[-1]}" = "DEVBOX_VERIFY_FAILED step=gpus log=${VERIFY_LOG}" ]
  verify_has_line "^=> gpus: FAILED \([0-9.]+ s\) nvidia-smi exit 9: NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver"
}

@test "gpus: fails when there is no nvidia-smi at all" {
  verify_path_without nvidia-smi
  run env PATH="${VERIFY_BIN}" "${VERIFY}"
  [ "${status}" -eq 1 ]
  [ "${lines[-1]}" = "DEVBOX_VERIFY_FAILED step=gpus log=${VERIFY_LOG}" ]
  verify_has_line '^=> gpus: FAILED \([0-9.]+ s\) nvidia-smi not found$'
}

@test "gpus: fails when fewer GPUs are seen than the type has" {
  export STUB_GPU_COUNT=1
  run "${VERIFY}"
  [ "${status}" -eq 1 ]
  [ "${lines[-1]}" = "DEVBOX_VERIFY_FAILED step=gpus log=${VERIFY_LOG}" ]
  verify_has_line '^=> gpus: FAILED \([0-9.]+ s\) 1 GPU\(s\) seen, expected 2$'
}

@test "gpus: fails on another GPU model" {
  export STUB_GPU_NAME="NVIDIA A10G"
  run "${VERIFY}"
  [ "${status}" -eq 1 ]
  [ "${lines[-1]}" = "DEVBOX_VERIFY_FAILED step=gpus log=${VERIFY_LOG}" ]
  verify_has_line "^=> gpus: FAILED \([0-9.]+ s\) GPU 'NVIDIA A10G' is not a 'NVIDIA A100'$"
}

@test "gpus: fails on a driver too old for CUDA 11.8" {
  export STUB_DRIVER=515.105.01
  run "${VERIFY}"
  [ "${status}" -eq 1 ]
  [ "${lines[-1]}" = "DEVBOX_VERIFY_FAILED step=gpus log=${VERIFY_LOG}" ]
  verify_has_line '^=> gpus: FAILED \([0-9.]+ s\) driver 515\.105\.01 is older than 520\.61\.05, which CUDA 11\.8 needs$'
}

@test "fabricmanager: fails when Fabric Manager is inactive on an NVSwitch box" {
  export STUB_FABRICMANAGER=inactive
  run "${VERIFY}"
  [ "${status}" -eq 1 ]
  [ "${lines[-1]}" = "DEVBOX_VERIFY_FAILED step=fabricmanager log=${VERIFY_LOG}" ]
  verify_has_line "^=> fabricmanager: FAILED \([0-9.]+ s\) nvidia-fabricmanager is 'inactive', not active"
}

@test "nvcc: fails when nvcc reports another CUDA release" {
  export STUB_NVCC_RELEASE=12.1
  run "${VERIFY}"
  [ "${status}" -eq 1 ]
  [ "${lines[-1]}" = "DEVBOX_VERIFY_FAILED step=nvcc log=${VERIFY_LOG}" ]
  verify_has_line '^=> nvcc: FAILED \([0-9.]+ s\) .*/nvcc reports release 12\.1, expected 11\.8$'
}

@test "nvcc: finds nvcc in the toolkit folder when it is not on PATH (sudo's secure_path)" {
  verify_path_without nvcc
  export DEVBOX_CUDA_HOME="${BATS_TEST_TMPDIR}/cuda-11.8"
  mkdir -p "${DEVBOX_CUDA_HOME}/bin"
  ln -s "${FIXTURES}/bin/nvcc" "${DEVBOX_CUDA_HOME}/bin/nvcc"
  run env PATH="${VERIFY_BIN}" "${VERIFY}"
  [ "${status}" -eq 0 ]
  verify_has_line "^=> nvcc: ok \([0-9.]+ s\) ${DEVBOX_CUDA_HOME}/bin/nvcc: release 11\.8$"
}

@test "nvcc: fails when nvcc is neither on PATH nor in the toolkit folder" {
  verify_path_without nvcc
  export DEVBOX_CUDA_HOME="${BATS_TEST_TMPDIR}/cuda-11.8"
  run env PATH="${VERIFY_BIN}" "${VERIFY}"
  [ "${status}" -eq 1 ]
  [ "${lines[-1]}" = "DEVBOX_VERIFY_FAILED step=nvcc log=${VERIFY_LOG}" ]
  verify_has_line "^=> nvcc: FAILED \([0-9.]+ s\) nvcc not found on PATH nor in ${DEVBOX_CUDA_HOME}/bin$"
}

@test "torch: fails when torch is not installed in the env" {
  export STUB_MISSING=torch
  run "${VERIFY}"
  [ "${status}" -eq 1 ]
  [ "${lines[-1]}" = "DEVBOX_VERIFY_FAILED step=torch log=${VERIFY_LOG}" ]
  verify_has_line "^=> torch: FAILED \([0-9.]+ s\) ModuleNotFoundError: No module named 'torch'$"
  # The full traceback is in the log for the person who reads it.
  grep -q '^Traceback (most recent call last):$' "${VERIFY_LOG}"
}

@test "torch: fails when the env's interpreter does not exist" {
  export DEVBOX_PYTHON="${BATS_TEST_TMPDIR}/no-env/bin/python"
  run "${VERIFY}"
  [ "${status}" -eq 1 ]
  [ "${lines[-1]}" = "DEVBOX_VERIFY_FAILED step=torch log=${VERIFY_LOG}" ]
  verify_has_line "^=> torch: FAILED \([0-9.]+ s\) ${DEVBOX_PYTHON} not found$"
}

@test "torch: fails on a torch built for another CUDA" {
  export STUB_TORCH_CUDA=12.1
  run "${VERIFY}"
  [ "${status}" -eq 1 ]
  [ "${lines[-1]}" = "DEVBOX_VERIFY_FAILED step=torch log=${VERIFY_LOG}" ]
  verify_has_line '^=> torch: FAILED \([0-9.]+ s\) torch 2\.7\.1\+cu118 is built for CUDA 12\.1, expected 11\.8$'
}

@test "torch: fails when torch.cuda.is_available() is False" {
  export STUB_CUDA_UNAVAILABLE=1
  run "${VERIFY}"
  [ "${status}" -eq 1 ]
  [ "${lines[-1]}" = "DEVBOX_VERIFY_FAILED step=torch log=${VERIFY_LOG}" ]
  verify_has_line '^=> torch: FAILED \([0-9.]+ s\) torch\.cuda\.is_available\(\) is False'
}

@test "compute: fails when one GPU of two returns a wrong matrix product" {
  export STUB_BAD_GPU=1
  run "${VERIFY}"
  [ "${status}" -eq 1 ]
  [ "${lines[-1]}" = "DEVBOX_VERIFY_FAILED step=compute log=${VERIFY_LOG}" ]
  verify_has_line '^=> compute: FAILED \([0-9.]+ s\) cuda:1 torch\.float32: relative error [0-9.e-]+ over 0\.001; cuda:1 torch\.bfloat16: relative error [0-9.e-]+ over 0\.02$'
}

@test "compute: fails when torch sees fewer GPUs than nvidia-smi and the type have" {
  # As when CUDA_VISIBLE_DEVICES hides a card: every GPU must compute, not just some.
  export STUB_TORCH_GPU_COUNT=1
  run "${VERIFY}"
  [ "${status}" -eq 1 ]
  [ "${lines[-1]}" = "DEVBOX_VERIFY_FAILED step=compute log=${VERIFY_LOG}" ]
  verify_has_line '^=> compute: FAILED \([0-9.]+ s\) torch sees 1 GPU\(s\), expected 2$'
}

@test "libraries: fails when one of the HF stack does not import, naming it" {
  export STUB_MISSING=sklearn
  run "${VERIFY}"
  [ "${status}" -eq 1 ]
  [ "${lines[-1]}" = "DEVBOX_VERIFY_FAILED step=libraries log=${VERIFY_LOG}" ]
  verify_has_line "^=> libraries: FAILED \([0-9.]+ s\) sklearn: ModuleNotFoundError\(\"No module named 'sklearn'\"\)$"
}

@test "model: fails when the model cannot be downloaded through any mirror" {
  export STUB_MODEL_FAIL=1
  run "${VERIFY}"
  [ "${status}" -eq 1 ]
  [ "${lines[-1]}" = "DEVBOX_VERIFY_FAILED step=model log=${VERIFY_LOG}" ]
  verify_has_line "^=> model: FAILED \([0-9.]+ s\) OSError: We couldn't connect to 'https://huggingface\.co' to load the files"
  grep -q "^via https://hf-mirror.com: Traceback" "${VERIFY_LOG}"
}

@test "model: falls back to the next HF mirror when the first fails" {
  export STUB_MODEL_FAIL_ENDPOINT=https://hf-mirror.com
  run "${VERIFY}"
  [ "${status}" -eq 0 ]
  verify_has_line '^=> model: ok \([0-9.]+ s\) bert-base-uncased loaded from https://huggingface\.co,'
}

@test "model: HF_ENDPOINT, when set, is the only endpoint tried" {
  export HF_ENDPOINT=https://hf-mirror.com STUB_MODEL_FAIL_ENDPOINT=https://hf-mirror.com
  run "${VERIFY}"
  [ "${status}" -eq 1 ]
  [ "${lines[-1]}" = "DEVBOX_VERIFY_FAILED step=model log=${VERIFY_LOG}" ]
  [ "$(verify_report 'r["steps"][7]["detail"].count("via ")')" = "1" ]
}

@test "model: uses the HF_ENDPOINT and HF_HOME the setup wrote to the login profile" {
  export DEVBOX_ROOT="${BATS_TEST_TMPDIR}/root"
  mkdir -p "${DEVBOX_ROOT}/etc/profile.d"
  # As the setup's steps write it. Only HF_* lines are taken: the DEVBOX_DATA_MOUNT line, if it
  # were, would fail the data step.
  cat >"${DEVBOX_ROOT}/etc/profile.d/devbox.sh" <<EOF
export PIP_CACHE_DIR='${BATS_TEST_TMPDIR}/cache/pip'
export HF_HOME='${BATS_TEST_TMPDIR}/cache/huggingface'
export HF_ENDPOINT='https://mirror.example'
export DEVBOX_DATA_MOUNT='/nowhere'
EOF
  run "${VERIFY}"
  [ "${status}" -eq 0 ]
  verify_has_line '^=> model: ok \([0-9.]+ s\) bert-base-uncased loaded from https://mirror\.example, ran on cuda'
  [ -d "${BATS_TEST_TMPDIR}/cache/huggingface/hub/models--bert-base-uncased" ]
  verify_has_line '^=> data: ok \([0-9.]+ s\) / mounted'
}

@test "model: fails on a model ID that does not exist (DEVBOX_VERIFY_MODEL reaches the loader)" {
  export DEVBOX_VERIFY_MODEL=no-such-org/no-such-model
  run "${VERIFY}"
  [ "${status}" -eq 1 ]
  [ "${lines[-1]}" = "DEVBOX_VERIFY_FAILED step=model log=${VERIFY_LOG}" ]
  verify_has_line '^=> model: FAILED \([0-9.]+ s\) OSError: no-such-org/no-such-model is not a local folder'
}

@test "model: a download that hangs is ended by DEVBOX_VERIFY_TIMEOUT" {
  export STUB_MODEL_HANG=1 DEVBOX_VERIFY_TIMEOUT=2 DEVBOX_HF_MIRRORS=https://hf-mirror.com
  run "${VERIFY}"
  [ "${status}" -eq 1 ]
  [ "${lines[-1]}" = "DEVBOX_VERIFY_FAILED step=model log=${VERIFY_LOG}" ]
  verify_has_line "^=> model: FAILED \(2\.[0-9] s\) via https://hf-mirror\.com: ${DEVBOX_PYTHON} -c timed out after 2 s$"
}

@test "data: fails when the data volume is not mounted" {
  export DEVBOX_DATA_MOUNT="${BATS_TEST_TMPDIR}/data"
  mkdir -p "${DEVBOX_DATA_MOUNT}"
  run "${VERIFY}"
  [ "${status}" -eq 1 ]
  [ "${lines[-1]}" = "DEVBOX_VERIFY_FAILED step=data log=${VERIFY_LOG}" ]
  verify_has_line "^=> data: FAILED \([0-9.]+ s\) ${DEVBOX_DATA_MOUNT} is not a mount point: the data volume is not mounted$"
}

@test "runs every step after a failure and names the first failed one" {
  export STUB_NVCC_RELEASE=12.1 DEVBOX_DATA_MOUNT="${BATS_TEST_TMPDIR}/data"
  run "${VERIFY}"
  [ "${status}" -eq 1 ]
  [ "${lines[-1]}" = "DEVBOX_VERIFY_FAILED step=nvcc log=${VERIFY_LOG}" ]
  [ "$(verify_report '[s["name"] for s in r["steps"] if not s["ok"]], r["failed_step"]')" = \
    "(['nvcc', 'data'], 'nvcc')" ]
}

@test "names the setup log when its own log cannot be written" {
  export DEVBOX_LOG_DIR="${BATS_TEST_TMPDIR}/not-a-dir"
  touch "${DEVBOX_LOG_DIR}"
  export STUB_NVCC_RELEASE=12.1
  run "${VERIFY}"
  [ "${status}" -eq 1 ]
  [ "${lines[-1]}" = "DEVBOX_VERIFY_FAILED step=nvcc log=${DEVBOX_LOG_DIR}/setup.log" ]
}

@test "refuses unknown arguments with exit 2 and its usage; --help documents the stop rule" {
  run "${VERIFY}" --fast
  [ "${status}" -eq 2 ]
  [ "${lines[0]}" = "Usage: devbox-verify [--help]" ]
  run "${VERIFY}" --help
  [ "${status}" -eq 0 ]
  [ "${lines[0]}" = "Usage: devbox-verify [--help]" ]
  [[ "${output}" == *"model data, all run even after a failure."* ]]
}
