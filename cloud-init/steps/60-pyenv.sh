#!/bin/bash
# Step 60: the conda environment DEVBOX_CONDA_ENV with Python DEVBOX_PYTHON_VERSION, PyTorch
# (cu118 build, exact pins) and the Hugging Face stack, installed as the login user; pip's and
# the hub's caches on the data volume, exported for login shells.
#
# PyTorch comes first and from DEVBOX_PYTORCH_MIRRORS: installed later, a plain PyPI index
# would give a CUDA 12 build. A URL whose path has /whl/ or ends in /simple is a package index
# (--index-url, as download.pytorch.org/whl/cu118); any other is a flat listing of wheel files
# (--find-links, as Aliyun's pytorch-wheels/cu118/), used with the first PyPI index that answers
# for torch's own dependencies.
#
# What is already installed is read from `pip list`; a second run installs nothing. Extra
# packages are checked by name, and by version too when pinned with ==.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=../lib/common.sh
. "${BASH_SOURCE[0]%/*}/../lib/common.sh"

: "${DEVBOX_CONDA_PREFIX:=/opt/anaconda3}"
: "${DEVBOX_CONDA_ENV:=large_model_env}"
: "${DEVBOX_PYTHON_VERSION:=3.10}"
: "${DEVBOX_DATA_MOUNT:=/data}"
: "${DEVBOX_EXTRA_PIP:=}"

PYENV_HF_STACK="transformers datasets scikit-learn pandas numpy torchmetrics notebook"
PYENV_PYPI=""
PYENV_MISSING=()

pyenv_python() {
  printf '%s/envs/%s/bin/python\n' "${DEVBOX_CONDA_PREFIX}" "${DEVBOX_CONDA_ENV}"
}

pyenv_conda() {
  devbox_as_user "${DEVBOX_CONDA_PREFIX}/bin/conda" "$@"
}

pyenv_create_from() {
  pyenv_conda create -y -q -n "${DEVBOX_CONDA_ENV}" --override-channels \
    -c "${1%/}/pkgs/main" "python=${DEVBOX_PYTHON_VERSION}"
}

pyenv_create_default() {
  pyenv_conda create -y -q -n "${DEVBOX_CONDA_ENV}" "python=${DEVBOX_PYTHON_VERSION}"
}

pyenv_create() {
  if [[ -x "$(pyenv_python)" ]]; then
    devbox_log "conda env ${DEVBOX_CONDA_ENV} already exists"
    return 0
  fi
  if [[ -n "${DEVBOX_CONDA_MIRRORS:-}" ]]; then
    devbox_with_mirrors conda "${DEVBOX_CONDA_MIRRORS}" pyenv_create_from || return 1
  else
    devbox_retry pyenv_create_default || return 1
  fi
  devbox_log "created conda env ${DEVBOX_CONDA_ENV} (python ${DEVBOX_PYTHON_VERSION})"
}

pyenv_pip() {
  devbox_as_user "$(pyenv_python)" -m pip install --no-input --progress-bar off "$@"
}

pyenv_is_index() {
  [[ "$1" == */whl/* || "$1" == */whl || "$1" =~ /simple/?$ ]]
}

pyenv_pypi_probe() {
  devbox_probe "${1%/}/pip/"
}

pyenv_torch_pins() {
  printf '%s\n' "torch==${DEVBOX_TORCH_VERSION}+cu118" \
    "torchvision==${DEVBOX_TORCHVISION_VERSION}+cu118" \
    "torchaudio==${DEVBOX_TORCHAUDIO_VERSION}+cu118"
}

pyenv_torch_from() {
  local url="$1"
  local -a pins=()
  mapfile -t pins < <(pyenv_torch_pins)
  if pyenv_is_index "${url}"; then
    pyenv_pip --index-url "${url}" "${pins[@]}"
  elif [[ -n "${PYENV_PYPI}" ]]; then
    pyenv_pip --index-url "${PYENV_PYPI}" --find-links "${url}" "${pins[@]}"
  else
    pyenv_pip --find-links "${url}" "${pins[@]}"
  fi
}

# Usage: pyenv_pypi_from <requirement>... <index url>
pyenv_pypi_from() {
  local url="${*: -1}"
  pyenv_pip --index-url "${url}" "${@:1:$#-1}"
}

# "Scikit_Learn" -> "scikit-learn", as pip compares names.
pyenv_normalise() {
  local name="${1,,}"
  name="${name//_/-}"
  printf '%s\n' "${name//./-}"
}

# Prints the requirements (one per line) that the env does not satisfy yet.
pyenv_missing() {
  local freeze line name version req want
  local -A installed=()
  freeze="$(devbox_as_user "$(pyenv_python)" -m pip list --format=freeze)" || return 1
  while IFS= read -r line; do
    if [[ "${line}" == *==* ]]; then
      installed["$(pyenv_normalise "${line%%==*}")"]="${line#*==}"
    fi
  done <<<"${freeze}"
  for req in "$@"; do
    name="${req%%[<>=!~\[;]*}"
    name="$(pyenv_normalise "${name}")"
    want=""
    if [[ "${req}" == *==* && "${req}" != *,* ]]; then
      want="${req#*==}"
    fi
    version="${installed[${name}]:-}"
    if [[ -z "${version}" || (-n "${want}" && "${version}" != "${want}") ]]; then
      printf '%s\n' "${req}"
    fi
  done
}

pyenv_caches() {
  local cache="${DEVBOX_DATA_MOUNT}/.cache" dir
  for dir in "${cache}" "${cache}/pip" "${cache}/huggingface"; do
    if [[ ! -d "${dir}" ]]; then
      mkdir -p "${dir}"
      chown "${DEVBOX_USER}:" "${dir}"
    fi
  done
  devbox_profile_set PIP_CACHE_DIR "${cache}/pip"
  devbox_profile_set HF_HOME "${cache}/huggingface"
  export PIP_CACHE_DIR="${cache}/pip" HF_HOME="${cache}/huggingface"
}

# Sets the array PYENV_MISSING to the requirements the env does not satisfy yet. A failing
# `pip list` fails the step rather than reading as "nothing missing".
pyenv_find_missing() {
  local out
  PYENV_MISSING=()
  out="$(pyenv_missing "$@")" || return 1
  if [[ -n "${out}" ]]; then
    mapfile -t PYENV_MISSING <<<"${out}"
  fi
}

pyenv_main() {
  local -a torch=() rest=() extra=()
  devbox_step_begin "$(devbox_step_name_of "${BASH_SOURCE[0]}")"
  if [[ ! -x "${DEVBOX_CONDA_PREFIX}/bin/conda" ]]; then
    devbox_die "no conda in ${DEVBOX_CONDA_PREFIX}; step 50-anaconda installs it"
  fi
  pyenv_caches
  pyenv_create
  read -r -a rest <<<"${PYENV_HF_STACK}"
  read -r -a extra <<<"${DEVBOX_EXTRA_PIP}"
  rest+=("${extra[@]}")
  mapfile -t torch < <(pyenv_torch_pins)

  pyenv_find_missing "${torch[@]}"
  if ((${#PYENV_MISSING[@]} > 0)); then
    if [[ -n "${DEVBOX_PYPI_MIRRORS:-}" ]]; then
      devbox_with_mirrors pypi "${DEVBOX_PYPI_MIRRORS}" pyenv_pypi_probe
      PYENV_PYPI="${DEVBOX_MIRROR}"
    fi
    devbox_log "installing ${torch[*]}"
    devbox_with_mirrors pytorch "${DEVBOX_PYTORCH_MIRRORS:-}" pyenv_torch_from
  fi

  pyenv_find_missing "${rest[@]}"
  if ((${#PYENV_MISSING[@]} > 0)); then
    devbox_log "installing ${PYENV_MISSING[*]}"
    if [[ -n "${DEVBOX_PYPI_MIRRORS:-}" ]]; then
      devbox_with_mirrors pypi "${DEVBOX_PYPI_MIRRORS}" pyenv_pypi_from "${PYENV_MISSING[@]}"
    else
      devbox_retry pyenv_pip "${PYENV_MISSING[@]}"
    fi
  fi

  pyenv_find_missing "${torch[@]}" "${rest[@]}"
  if ((${#PYENV_MISSING[@]} > 0)); then
    devbox_die "still missing after install: ${PYENV_MISSING[*]}"
  fi
  devbox_log "env ${DEVBOX_CONDA_ENV} has ${torch[*]} and ${rest[*]}"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  pyenv_main "$@"
fi
