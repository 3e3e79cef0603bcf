# Shared set-up for the bats tests of cloud-init/: every host path the steps use is redirected
# into BATS_TEST_TMPDIR, and every system command that could change the host or reach the
# network is replaced by helpers/stub, which records its calls in $STUB_DIR/calls.

REPO_ROOT="$(cd "${BATS_TEST_DIRNAME}/../.." && pwd)"
SRC="${REPO_ROOT}/cloud-init"
STUB="${REPO_ROOT}/tests/bats/helpers/stub"

STUBBED_COMMANDS=(apt-get apt-cache apt-mark dpkg dpkg-query curl nvidia-smi modprobe systemctl
  ubuntu-drivers uname runuser blkid lsblk findmnt mkfs.xfs mkfs.ext4 mdadm wipefs mount udevadm)

# Hosts that the cn profile must never contact.
OFFICIAL_HOSTS=(pypi.org files.pythonhosted.org download.pytorch.org repo.anaconda.com
  conda.anaconda.org huggingface.co developer.download.nvidia.com archive.ubuntu.com
  security.ubuntu.com)

ANACONDA_RELEASE="2024.02-1"
ANACONDA_INSTALLER="Anaconda3-${ANACONDA_RELEASE}-Linux-x86_64.sh"

stub_command() {
  local cmd="$1"
  printf '#!/bin/bash\nexec %q %q "$@"\n' "${STUB}" "${cmd}" >"${STUB_DIR}/bin/${cmd}"
  chmod +x "${STUB_DIR}/bin/${cmd}"
}

devbox_test_setup() {
  local cmd
  export STUB_DIR="${BATS_TEST_TMPDIR}/stub"
  mkdir -p "${STUB_DIR}"/{bin,fail,active,enabled,blkid,curl.body}
  : >"${STUB_DIR}/calls"
  for cmd in "${STUBBED_COMMANDS[@]}"; do
    stub_command "${cmd}"
  done
  export PATH="${STUB_DIR}/bin:${PATH}"

  export DEVBOX_ROOT="${BATS_TEST_TMPDIR}/root"
  export DEVBOX_ENV_FILE="${DEVBOX_ROOT}/etc/devbox/devbox.env"
  export DEVBOX_PREFIX="${SRC}"
  export DEVBOX_LOG_DIR="${BATS_TEST_TMPDIR}/log"
  export DEVBOX_STATE_DIR="${BATS_TEST_TMPDIR}/state"
  export DEVBOX_RUN_DIR="${BATS_TEST_TMPDIR}/run"
  export DEVBOX_DEV_DIR="${BATS_TEST_TMPDIR}/dev"
  export DEVBOX_FSTAB="${DEVBOX_ROOT}/etc/fstab"
  export DEVBOX_USER=nobody
  export DEVBOX_USER_HOME="${BATS_TEST_TMPDIR}/home"
  export DEVBOX_RETRY_DELAY=0
  export DEVBOX_RETRY_ATTEMPTS=2
  mkdir -p "${DEVBOX_ROOT}/etc/devbox" "${DEVBOX_USER_HOME}" "${DEVBOX_DEV_DIR}"
  printf '%s\n' 'NAME="Ubuntu"' 'VERSION_ID="20.04"' 'VERSION_CODENAME=focal' \
    >"${DEVBOX_ROOT}/etc/os-release"
  : >"${DEVBOX_FSTAB}"
}

# Writes the settings file: the profile's mirror lists (as infra/mirrors.ts renders them),
# then KEY=value overrides.
write_env() {
  local profile="$1" kv
  shift
  {
    printf '%s\n' "DEVBOX_MIRROR_PROFILE='${profile}'"
    if [[ "${profile}" == cn ]]; then
      printf '%s\n' \
        "DEVBOX_APT_MIRRORS='https://mirrors.tuna.tsinghua.edu.cn/ubuntu https://mirrors.aliyun.com/ubuntu https://mirrors.ustc.edu.cn/ubuntu'" \
        "DEVBOX_PYPI_MIRRORS='https://pypi.tuna.tsinghua.edu.cn/simple https://mirrors.aliyun.com/pypi/simple/ https://mirrors.ustc.edu.cn/pypi/simple'" \
        "DEVBOX_PYTORCH_MIRRORS='https://mirrors.aliyun.com/pytorch-wheels/cu118/ https://mirror.sjtu.edu.cn/pytorch-wheels/cu118'" \
        "DEVBOX_CONDA_MIRRORS='https://mirrors.tuna.tsinghua.edu.cn/anaconda https://mirrors.aliyun.com/anaconda'" \
        "DEVBOX_ANACONDA_MIRRORS='https://mirrors.tuna.tsinghua.edu.cn/anaconda/archive https://mirrors.aliyun.com/anaconda/archive'" \
        "DEVBOX_HF_MIRRORS='https://hf-mirror.com'" \
        "DEVBOX_NVIDIA_MIRRORS='https://developer.download.nvidia.cn'"
    else
      printf '%s\n' \
        "DEVBOX_APT_MIRRORS=''" \
        "DEVBOX_PYPI_MIRRORS='https://pypi.org/simple'" \
        "DEVBOX_PYTORCH_MIRRORS='https://download.pytorch.org/whl/cu118'" \
        "DEVBOX_CONDA_MIRRORS=''" \
        "DEVBOX_ANACONDA_MIRRORS='https://repo.anaconda.com/archive'" \
        "DEVBOX_HF_MIRRORS='https://huggingface.co'" \
        "DEVBOX_NVIDIA_MIRRORS='https://developer.download.nvidia.com'"
    fi
    printf '%s\n' "DEVBOX_USER='nobody'" "DEVBOX_DRIVER_BRANCH='535'" "DEVBOX_NVSWITCH='0'" \
      "DEVBOX_CUDA_VERSION='11.8'" "DEVBOX_ANACONDA_RELEASE='${ANACONDA_RELEASE}'" \
      "DEVBOX_CONDA_PREFIX='${BATS_TEST_TMPDIR}/anaconda3'" "DEVBOX_CONDA_ENV='large_model_env'" \
      "DEVBOX_PYTHON_VERSION='3.10'" "DEVBOX_TORCH_VERSION='2.7.1'" \
      "DEVBOX_TORCHVISION_VERSION='0.22.1'" "DEVBOX_TORCHAUDIO_VERSION='2.7.1'" \
      "DEVBOX_EXTRA_PIP=''" "DEVBOX_JUPYTER_ENABLED='1'" "DEVBOX_JUPYTER_PORT='8888'" \
      "DEVBOX_DATA_MOUNT='${BATS_TEST_TMPDIR}/data'" "DEVBOX_SCRATCH_MOUNT='${BATS_TEST_TMPDIR}/scratch'" \
      "DEVBOX_VERIFY_MODEL='bert-base-uncased'"
    for kv in "$@"; do
      printf "%s='%s'\n" "${kv%%=*}" "${kv#*=}"
    done
  } >"${DEVBOX_ENV_FILE}"
}

# A fake Anaconda installer: creates <prefix>/bin/conda that dispatches to the stub. Prints
# its SHA-256.
fake_anaconda_installer() {
  local file="${STUB_DIR}/curl.body/${ANACONDA_INSTALLER}"
  printf '%s\n' '#!/bin/bash' \
    'prefix=""' \
    'while (($#)); do if [[ "$1" == -p ]]; then prefix="$2"; fi; shift; done' \
    'mkdir -p "${prefix}/bin"' \
    "printf '#!/bin/bash\\nexec %q conda %q \"\$@\"\\n' '${STUB}' \"\${prefix}\" >\"\${prefix}/bin/conda\"" \
    'chmod +x "${prefix}/bin/conda"' \
    'printf "%s\n" "anaconda-installer ran" >>"${STUB_DIR}/calls"' >"${file}"
  sha256sum "${file}" | cut -d' ' -f1
}

# Apt packages the driver and CUDA steps may install.
stub_apt_packages() {
  local kernel="${STUB_KERNEL:-5.15.0-1051-aws}"
  # Fabric Manager is offered at a newer version first (as NVIDIA's CUDA repository would):
  # only an explicit version gets the one that matches the driver.
  printf '%s\n' \
    "linux-modules-nvidia-535-server-${kernel} 5.15.0-1051.56~20.04.1" \
    "nvidia-headless-no-dkms-535-server 535.183.01-0ubuntu0.20.04.1" \
    "nvidia-utils-535-server 535.183.01-0ubuntu0.20.04.1" \
    "nvidia-fabricmanager-535 535.216.03-1" \
    "nvidia-fabricmanager-535 535.183.01-0ubuntu0.20.04.1" \
    "cuda-toolkit-11-8 11.8.0-1" >"${STUB_DIR}/apt.avail"
}

# The recorded calls of one command, one per line.
calls_of() {
  awk -v c="$1" '$1 == c' "${STUB_DIR}/calls"
}

# Fails, naming the host, when a recorded call or a written file names an official host.
assert_no_official_host() {
  local host
  for host in "${OFFICIAL_HOSTS[@]}"; do
    if grep -rqF -- "${host}" "${STUB_DIR}/calls" "$@"; then
      printf 'official host %s was used:\n' "${host}" >&2
      grep -rnF -- "${host}" "${STUB_DIR}/calls" "$@" >&2
      return 1
    fi
  done
}

# An "installed" Anaconda: <prefix>/bin/conda dispatching to the stub.
install_fake_conda() {
  local prefix="${BATS_TEST_TMPDIR}/anaconda3"
  mkdir -p "${prefix}/bin"
  printf '#!/bin/bash\nexec %q conda %q "$@"\n' "${STUB}" "${prefix}" >"${prefix}/bin/conda"
  chmod +x "${prefix}/bin/conda"
}
