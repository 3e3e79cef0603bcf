#!/bin/bash
# Step 05: installs and enables the idle auto-stop and time-to-live timers (units from
# $DEVBOX_PREFIX/systemd into /etc/systemd/system). Safe to run again: a unit is rewritten
# only when it differs, and systemd is reloaded only then.
#
# Why first and not last: a box whose setup fails at the driver or the conda step must still
# stop, and its TTL must count from the first boot, not from after the driver's reboot.
# Auto-stop holds off while setup runs (status.json says running or rebooting), so enabling it
# early cannot cut the setup short; the TTL is meant to.
#
# devbox-ttl.timer runs only with DEVBOX_TTL_HOURS > 0 (and is disabled otherwise), so that a
# box without a TTL does not log "no time-to-live" every minute. devbox-autostop.timer always
# runs: with DEVBOX_AUTOSTOP_MINUTES=0 its log says that auto-stop is off, which answers
# "why is my box still running?" on its own.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=../lib/common.sh
. "${BASH_SOURCE[0]%/*}/../lib/common.sh"

lifecycle_step_main() {
  local unit changed=0
  devbox_step_begin "$(devbox_step_name_of "${BASH_SOURCE[0]}")"
  for unit in devbox-{autostop,ttl}.{service,timer}; do
    devbox_install_file "${DEVBOX_ROOT}/etc/systemd/system/${unit}" 0644 \
      "$(<"${DEVBOX_PREFIX}/systemd/${unit}")"
    changed=$((changed | DEVBOX_FILE_CHANGED))
  done
  if ((changed == 1)); then
    systemctl daemon-reload
  fi
  systemctl enable --now devbox-autostop.timer
  if ((DEVBOX_TTL_HOURS > 0)); then
    systemctl enable --now devbox-ttl.timer
  else
    systemctl disable --now devbox-ttl.timer
  fi
  devbox_log "auto-stop: ${DEVBOX_AUTOSTOP_MINUTES} idle min," \
    "time-to-live: ${DEVBOX_TTL_HOURS} h (0: off)"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  lifecycle_step_main "$@"
fi
