#!/bin/bash
# Shared by the runner and every step: settings, logging, step bookkeeping, status.json,
# retries and mirror fallback. Sourcing this file only defines functions and defaults; it
# writes nothing, so a bats test can source it and call one function.
#
# Functions run through devbox_retry or devbox_with_mirrors are called in an `if` context,
# where bash ignores `set -e`: they must return their own failure (`a && b`, `|| return`).
# shellcheck shell=bash
# shellcheck disable=SC2034 # DEVBOX_MIRROR, DEVBOX_FILE_CHANGED are read by the steps

# The settings file may be absent in tests and on a host set up by hand; defaults then apply.
: "${DEVBOX_ENV_FILE:=/etc/devbox/devbox.env}"
if [[ -r "${DEVBOX_ENV_FILE}" ]]; then
  # shellcheck source=/dev/null
  . "${DEVBOX_ENV_FILE}"
fi

: "${DEVBOX_PREFIX:=/opt/devbox}"
: "${DEVBOX_LOG_DIR:=/var/log/devbox}"
: "${DEVBOX_STATE_DIR:=/var/lib/devbox}"
# Prefix for every /etc path a step writes (apt, pip, profile.d, systemd); empty on the box.
: "${DEVBOX_ROOT:=}"
# Downloads (the Anaconda installer is about 1 GB) go to tmpfs, which is at least 6 GiB on a
# 64 GiB box and is gone after a reboot.
: "${DEVBOX_RUN_DIR:=/run/devbox}"
: "${DEVBOX_USER:=ubuntu}"
: "${DEVBOX_RETRY_ATTEMPTS:=3}"
: "${DEVBOX_RETRY_DELAY:=5}"
: "${DEVBOX_PROBE_TIMEOUT:=20}"
: "${DEVBOX_STEP:=setup}"

# A step exits with this status to ask the runner for a reboot; it then runs again after boot.
DEVBOX_EXIT_REBOOT=100
# Results handed back to the steps: the URL that devbox_with_mirrors last succeeded with, and
# whether devbox_install_file last wrote the file (1) or found it right already (0).
DEVBOX_MIRROR=""
DEVBOX_FILE_CHANGED=0

devbox_now() {
  date +%s
}

devbox_log_line() {
  local line="$1"
  if [[ ! -d "${DEVBOX_LOG_DIR}" ]]; then
    mkdir -p "${DEVBOX_LOG_DIR}"
  fi
  printf '%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "${line}" >>"${DEVBOX_LOG_DIR}/setup.log"
}

# Progress: stdout and setup.log.
devbox_log() {
  printf '=> %s: %s\n' "${DEVBOX_STEP}" "$*"
  devbox_log_line "${DEVBOX_STEP}: $*"
}

# Problems that do not stop the step: stderr and setup.log.
devbox_warn() {
  printf 'devbox: %s: warning: %s\n' "${DEVBOX_STEP}" "$*" >&2
  devbox_log_line "${DEVBOX_STEP}: warning: $*"
}

# Errors: stderr and setup.log, naming the step. The first error of a step run is kept for
# status.json, because it is the cause; later ones are usually its consequences.
devbox_err() {
  local record="${DEVBOX_STATE_DIR}/steps/${DEVBOX_STEP}.error"
  printf 'devbox: %s: error: %s\n' "${DEVBOX_STEP}" "$*" >&2
  devbox_log_line "${DEVBOX_STEP}: error: $*"
  if [[ -d "${DEVBOX_STATE_DIR}/steps" && ! -s "${record}" ]]; then
    printf '%s\n' "$*" >"${record}"
  fi
}

devbox_die() {
  devbox_err "$*"
  exit 1
}

# "20-data-volume.sh" -> "data-volume"
devbox_step_name_of() {
  local base="${1##*/}"
  base="${base%.sh}"
  printf '%s\n' "${base#[0-9][0-9]-}"
}

# One line per step in $DEVBOX_STATE_DIR/steps/<name>: "<state> <started> <ended>".
devbox_step_record() {
  local name="$1" state="$2" started="$3" ended="${4:-}"
  local dir="${DEVBOX_STATE_DIR}/steps"
  mkdir -p "${dir}"
  printf '%s %s %s\n' "${state}" "${started}" "${ended}" >"${dir}/${name}.tmp"
  mv -f "${dir}/${name}.tmp" "${dir}/${name}"
}

devbox_step_state() {
  local file="${DEVBOX_STATE_DIR}/steps/$1" state="" rest=""
  if [[ -r "${file}" ]]; then
    read -r state rest <"${file}"
  fi
  printf '%s\n' "${state:-pending}"
}

# Starts a step: logs, records the start, and arranges for the end to be logged and recorded
# however the step exits (success, failure under set -e, or a reboot request).
devbox_step_begin() {
  DEVBOX_STEP="$1"
  DEVBOX_STEP_STARTED="$(devbox_now)"
  mkdir -p "${DEVBOX_STATE_DIR}/steps"
  rm -f "${DEVBOX_STATE_DIR}/steps/${DEVBOX_STEP}.error"
  devbox_step_record "${DEVBOX_STEP}" running "${DEVBOX_STEP_STARTED}"
  devbox_log "start"
  set -o errtrace
  trap 'devbox_on_error "$?" "${BASH_COMMAND}" "${LINENO}"' ERR
  trap 'devbox_step_end "$?"' EXIT
}

devbox_on_error() {
  devbox_err "command failed (exit $1) at line $3: $2"
}

devbox_step_end() {
  local rc="$1" ended seconds
  ended="$(devbox_now)"
  seconds=$((ended - DEVBOX_STEP_STARTED))
  trap - ERR EXIT
  if ((rc == 0)); then
    devbox_step_record "${DEVBOX_STEP}" "done" "${DEVBOX_STEP_STARTED}" "${ended}"
    devbox_log "done in ${seconds} s"
  elif ((rc == DEVBOX_EXIT_REBOOT)); then
    devbox_step_record "${DEVBOX_STEP}" reboot "${DEVBOX_STEP_STARTED}" "${ended}"
    devbox_log "needs a reboot after ${seconds} s"
  else
    devbox_step_record "${DEVBOX_STEP}" failed "${DEVBOX_STEP_STARTED}" "${ended}"
    devbox_err "failed after ${seconds} s (exit ${rc})"
  fi
  exit "${rc}"
}

devbox_request_reboot() {
  devbox_log "reboot requested: $*"
  exit "${DEVBOX_EXIT_REBOOT}"
}

# A JSON string literal. Control characters other than \n \r \t are dropped.
devbox_json_string() {
  local s="$1"
  s="${s//\\/\\\\}"
  s="${s//\"/\\\"}"
  s="${s//$'\n'/\\n}"
  s="${s//$'\r'/\\r}"
  s="${s//$'\t'/\\t}"
  s="$(printf '%s' "${s}" | tr -d '\001-\010\013\014\016-\037')"
  printf '"%s"' "${s}"
}

devbox_step_files() {
  local f
  for f in "${DEVBOX_PREFIX}/steps/"[0-9][0-9]-*.sh; do
    if [[ -f "${f}" ]]; then
      printf '%s\n' "${f}"
    fi
  done
}

# Writes status.json (format in cloud-init/README.md) from the step records, atomically.
# Usage: devbox_status_write <state> <step> <error>
devbox_status_write() {
  local state="$1" step="$2" error="$3"
  local file="${DEVBOX_STATE_DIR}/status.json" json steps="" sep="" f name record
  local s_state s_started s_ended obj
  while IFS= read -r f; do
    name="$(devbox_step_name_of "${f}")"
    s_state="" s_started="" s_ended=""
    record="${DEVBOX_STATE_DIR}/steps/${name}"
    if [[ -r "${record}" ]]; then
      read -r s_state s_started s_ended <"${record}"
    fi
    # A step that asked for a reboot has not finished: it runs again after boot.
    case "${s_state}" in
      done | running | failed) ;;
      *) s_state=pending ;;
    esac
    obj="{\"name\":$(devbox_json_string "${name}"),\"state\":\"${s_state}\""
    if [[ "${s_state}" != pending && -n "${s_started}" ]]; then
      obj+=",\"started\":${s_started}"
    fi
    if [[ "${s_state}" == "done" || "${s_state}" == failed ]] && [[ -n "${s_ended}" ]]; then
      obj+=",\"ended\":${s_ended},\"seconds\":$((s_ended - s_started))"
    fi
    steps+="${sep}${obj}}"
    sep=","
  done < <(devbox_step_files)
  json="{\"state\":$(devbox_json_string "${state}"),\"step\":$(devbox_json_string "${step}")"
  json+=",\"updated\":$(devbox_now),\"steps\":[${steps}],\"error\":$(devbox_json_string "${error}")}"
  mkdir -p "${DEVBOX_STATE_DIR}"
  printf '%s\n' "${json}" >"${file}.tmp"
  mv -f "${file}.tmp" "${file}"
}

# Runs a command until it succeeds, at most DEVBOX_RETRY_ATTEMPTS times, waiting
# DEVBOX_RETRY_DELAY seconds and doubling the wait after each failure (0: no wait, for tests).
devbox_retry() {
  local attempts="${DEVBOX_RETRY_ATTEMPTS}" delay="${DEVBOX_RETRY_DELAY}" n=1 rc=0
  while true; do
    rc=0
    "$@" || rc=$?
    if ((rc == 0)); then
      return 0
    fi
    if ((n >= attempts)); then
      devbox_log "gave up on ${1##*/} after ${n} attempt(s) (exit ${rc})"
      return "${rc}"
    fi
    devbox_log "attempt ${n}/${attempts} of ${1##*/} failed (exit ${rc}); retrying in ${delay} s"
    if ((delay > 0)); then
      sleep "${delay}"
    fi
    delay=$((delay * 2))
    n=$((n + 1))
  done
}

# Runs "<command> [args...] <url>" (with retries) for each URL of a space-separated list in
# order, until one succeeds; sets DEVBOX_MIRROR to that URL.
# Usage: devbox_with_mirrors <source> "<url list>" <command> [args...]
devbox_with_mirrors() {
  local source="$1" list="$2" i url
  local -a urls=()
  shift 2
  read -r -a urls <<<"${list}"
  if ((${#urls[@]} == 0)); then
    devbox_err "no mirror configured for ${source}"
    return 1
  fi
  for ((i = 0; i < ${#urls[@]}; i++)); do
    url="${urls[i]}"
    if devbox_retry "$@" "${url}"; then
      DEVBOX_MIRROR="${url}"
      devbox_log "using ${url} for ${source}"
      return 0
    fi
    if ((i + 1 < ${#urls[@]})); then
      devbox_log "mirror ${url} failed for ${source}; trying ${urls[i + 1]}"
    else
      devbox_err "mirror ${url} failed for ${source}; no mirror left (tried: ${list})"
    fi
  done
  return 1
}

# True when the URL answers (HEAD, redirects followed). Probes never download a body.
devbox_probe() {
  curl -fsSL --head --max-time "${DEVBOX_PROBE_TIMEOUT}" -o /dev/null "$1"
}

# Downloads a URL to a file via a .part file, so a cut download never looks complete.
# Usage: devbox_download <file> <url>
devbox_download() {
  local file="$1" url="$2"
  curl -fsSL --connect-timeout 20 -o "${file}.part" "${url}" && mv -f "${file}.part" "${file}"
}

# Writes a file only when its content differs, atomically, with the given mode. mktemp makes
# the temporary file 0600, so a secret is never readable by others, not even for a moment.
# Sets DEVBOX_FILE_CHANGED to 1 when it wrote, 0 when the file was already right.
# Usage: devbox_install_file <path> <mode> <content>   (a newline is added to the content)
devbox_install_file() {
  local path="$1" mode="$2" content="$3" tmp
  mkdir -p "${path%/*}"
  tmp="$(mktemp "${path}.XXXXXX")"
  printf '%s\n' "${content}" >"${tmp}"
  if [[ -f "${path}" ]] && cmp -s "${tmp}" "${path}"; then
    rm -f "${tmp}"
    DEVBOX_FILE_CHANGED=0
    return 0
  fi
  chmod "${mode}" "${tmp}"
  mv -f "${tmp}" "${path}"
  DEVBOX_FILE_CHANGED=1
}

# Sets `export KEY='value'` in /etc/profile.d/devbox.sh, read by every login shell.
devbox_profile_set() {
  local key="$1" value="$2" file="${DEVBOX_ROOT}/etc/profile.d/devbox.sh" line content=""
  local wanted
  wanted="export ${key}=$(devbox_shell_quote "${value}")"
  if [[ -r "${file}" ]]; then
    while IFS= read -r line; do
      if [[ "${line}" != "export ${key}="* ]]; then
        content+="${line}"$'\n'
      fi
    done <"${file}"
  else
    content="# Written by llm-devbox setup: settings for every login shell."$'\n'
  fi
  devbox_install_file "${file}" 0644 "${content}${wanted}"
}

# Prints the value devbox_profile_set wrote for KEY, or nothing.
devbox_profile_get() {
  local key="$1" file="${DEVBOX_ROOT}/etc/profile.d/devbox.sh" line value
  if [[ -r "${file}" ]]; then
    while IFS= read -r line; do
      if [[ "${line}" == "export ${key}="* ]]; then
        value="${line#export "${key}"=}"
        value="${value#\'}"
        printf '%s\n' "${value%\'}"
        return 0
      fi
    done <"${file}"
  fi
  return 0
}

# Prints what follows PREFIX on the first line of FILE that starts with it, or nothing.
# Steps mark the files they write with such a line, to recognise them on a second run.
devbox_marker() {
  local file="$1" prefix="$2" line
  if [[ -r "${file}" ]]; then
    while IFS= read -r line; do
      if [[ "${line}" == "${prefix}"* ]]; then
        printf '%s\n' "${line#"${prefix}"}"
        return 0
      fi
    done <"${file}"
  fi
  return 0
}

# Single-quotes a value for sh: ' becomes '\''.
devbox_shell_quote() {
  local q="'\\''"
  printf "'%s'" "${1//\'/${q}}"
}

# True when the word is one of the words of a space-separated list.
devbox_in_list() {
  local word="$1" item
  local -a items=()
  read -r -a items <<<"$2"
  for item in "${items[@]}"; do
    if [[ "${item}" == "${word}" ]]; then
      return 0
    fi
  done
  return 1
}

devbox_user_home() {
  if [[ -n "${DEVBOX_USER_HOME:-}" ]]; then
    printf '%s\n' "${DEVBOX_USER_HOME}"
    return 0
  fi
  getent passwd "${DEVBOX_USER}" | cut -d: -f6
}

devbox_as_user() {
  runuser -u "${DEVBOX_USER}" -- "$@"
}

# Prints the installed version of a Debian package; fails when it is not installed (a package
# removed but not purged still has a dpkg record, so the status letter is checked).
devbox_pkg_version() {
  local out
  out="$(dpkg-query -W -f='${db:Status-Abbrev}|${Version}' "$1" 2>/dev/null)" || return 1
  if [[ "${out:1:1}" != i ]]; then
    return 1
  fi
  printf '%s\n' "${out#*|}"
}

# apt-get that never asks, waits for the dpkg lock (unattended-upgrades holds it on first
# boot) instead of failing, and keeps config files the image already changed.
devbox_apt() {
  DEBIAN_FRONTEND=noninteractive apt-get -y -q -o DPkg::Lock::Timeout=600 \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@"
}

# "focal", "20.04", ... from os-release.
devbox_os_field() {
  local key="$1" line value
  while IFS= read -r line; do
    if [[ "${line}" == "${key}="* ]]; then
      value="${line#*=}"
      value="${value#\"}"
      printf '%s\n' "${value%\"}"
      return 0
    fi
  done <"${DEVBOX_ROOT}/etc/os-release"
  return 1
}
