#!/usr/bin/env bats
# cloud-init/steps/60-pyenv.sh

load helpers/setup

setup() {
  devbox_test_setup
  STEP="${SRC}/steps/60-pyenv.sh"
  install_fake_conda
  PREFIX="${BATS_TEST_TMPDIR}/anaconda3"
  PY="${PREFIX}/envs/large_model_env/bin/python"
}

TORCH="torch==2.7.1+cu118 torchvision==0.22.1+cu118 torchaudio==2.7.1+cu118"
HF_STACK="transformers datasets scikit-learn pandas numpy torchmetrics notebook"

@test "cn: env from TUNA, PyTorch cu118 from Aliyun's wheel listing, HF stack from TUNA" {
  write_env cn
  run bash "${STEP}"
  [ "$status" -eq 0 ]
  [ "$(calls_of conda)" = "conda ${PREFIX} create -y -q -n large_model_env --override-channels -c https://mirrors.tuna.tsinghua.edu.cn/anaconda/pkgs/main python=3.10" ]
  [ "$(calls_of pip | sed -n 1p)" = "pip install --no-input --progress-bar off --index-url https://pypi.tuna.tsinghua.edu.cn/simple --find-links https://mirrors.aliyun.com/pytorch-wheels/cu118/ ${TORCH}" ]
  [ "$(calls_of pip | sed -n 2p)" = "pip install --no-input --progress-bar off --index-url https://pypi.tuna.tsinghua.edu.cn/simple ${HF_STACK}" ]
  [ "$(calls_of pip | wc -l)" -eq 2 ]
  [[ "$(calls_of runuser | sed -n 1p)" == "runuser -u nobody -- ${PREFIX}/bin/conda create "* ]]
  [ "${lines[-2]}" = "=> pyenv: env large_model_env has ${TORCH} and ${HF_STACK}" ]
  assert_no_official_host
}

@test "caches live on the data volume, owned by the user, exported for login shells" {
  write_env cn
  run bash "${STEP}"
  [ "$status" -eq 0 ]
  grep -qx "export PIP_CACHE_DIR='${BATS_TEST_TMPDIR}/data/.cache/pip'" "${DEVBOX_ROOT}/etc/profile.d/devbox.sh"
  grep -qx "export HF_HOME='${BATS_TEST_TMPDIR}/data/.cache/huggingface'" "${DEVBOX_ROOT}/etc/profile.d/devbox.sh"
  [ "$(stat -c %U "${BATS_TEST_TMPDIR}/data/.cache/pip")" = nobody ]
  [ "$(stat -c %U "${BATS_TEST_TMPDIR}/data/.cache/huggingface")" = nobody ]
}

@test "global: PyTorch from download.pytorch.org's cu118 index, the rest from PyPI" {
  write_env global
  run bash "${STEP}"
  [ "$status" -eq 0 ]
  [ "$(calls_of conda)" = "conda ${PREFIX} create -y -q -n large_model_env python=3.10" ]
  [ "$(calls_of pip | sed -n 1p)" = "pip install --no-input --progress-bar off --index-url https://download.pytorch.org/whl/cu118 ${TORCH}" ]
  [ "$(calls_of pip | sed -n 2p)" = "pip install --no-input --progress-bar off --index-url https://pypi.org/simple ${HF_STACK}" ]
}

@test "a failing PyTorch mirror falls back to the next" {
  write_env cn
  echo "https://mirrors.aliyun.com/pytorch-wheels/" >"${STUB_DIR}/pip.fail"
  run bash "${STEP}"
  [ "$status" -eq 0 ]
  [[ "$output" == *"=> pyenv: mirror https://mirrors.aliyun.com/pytorch-wheels/cu118/ failed for pytorch; trying https://mirror.sjtu.edu.cn/pytorch-wheels/cu118"* ]]
  [[ "$(calls_of pip | tail -n 2 | head -n 1)" == *" --find-links https://mirror.sjtu.edu.cn/pytorch-wheels/cu118 ${TORCH}" ]]
}

@test "extra pip packages are installed, and a pin is checked by version" {
  write_env cn "DEVBOX_EXTRA_PIP=peft==0.11.1 accelerate>=0.30"
  run bash "${STEP}"
  [ "$status" -eq 0 ]
  [ "$(calls_of pip | sed -n 2p)" = "pip install --no-input --progress-bar off --index-url https://pypi.tuna.tsinghua.edu.cn/simple ${HF_STACK} peft==0.11.1 accelerate>=0.30" ]
  # A different version of a pinned extra is installed again; other packages are not.
  sed -i 's/^peft==.*/peft==0.10.0/' "${PREFIX}/envs/large_model_env/.stub-pip.db"
  : >"${STUB_DIR}/calls"
  run bash "${STEP}"
  [ "$status" -eq 0 ]
  [ "$(calls_of pip)" = "pip install --no-input --progress-bar off --index-url https://pypi.tuna.tsinghua.edu.cn/simple peft==0.11.1" ]
}

@test "a second run installs nothing and sends no request" {
  write_env cn
  run bash "${STEP}"
  [ "$status" -eq 0 ]
  : >"${STUB_DIR}/calls"
  run bash "${STEP}"
  [ "$status" -eq 0 ]
  [ "${lines[1]}" = "=> pyenv: conda env large_model_env already exists" ]
  [ "$(calls_of pip)" = "" ]
  [ "$(calls_of curl)" = "" ]
  [ "$(calls_of conda)" = "" ]
}

@test "a CPU or CUDA 12 torch already in the env is replaced by the cu118 pin" {
  write_env global
  run bash "${STEP}"
  [ "$status" -eq 0 ]
  sed -i 's/^torch==.*/torch==2.7.1/' "${PREFIX}/envs/large_model_env/.stub-pip.db"
  : >"${STUB_DIR}/calls"
  run bash "${STEP}"
  [ "$status" -eq 0 ]
  [ "$(calls_of pip)" = "pip install --no-input --progress-bar off --index-url https://download.pytorch.org/whl/cu118 ${TORCH}" ]
}

@test "without conda the step fails and names the step that installs it" {
  write_env cn
  rm -r "${PREFIX}"
  run bash "${STEP}"
  [ "$status" -eq 1 ]
  [ "${lines[1]}" = "devbox: pyenv: error: no conda in ${PREFIX}; step 50-anaconda installs it" ]
}
