#!/bin/bash
# Step 20: mount the EBS data volume at DEVBOX_DATA_MOUNT, and local NVMe instance storage at
# DEVBOX_SCRATCH_MOUNT.
#
# The data volume may hold a user's work (kept after destroy, restored from a snapshot, or
# attached again). It is formatted only when every check agrees it is blank: blkid -p finds no
# filesystem or partition table, wipefs -n finds no signature, and its first MiB is all zeros.
# Any doubt means "not blank", and mkfs runs without -f, so mkfs refuses on its own as well.
#
# Instance storage is emptied by every stop/start, so it is not in fstab: a per-boot unit
# (devbox-scratch.service, written here) runs `20-data-volume.sh scratch` to assemble, format
# when blank and mount it again.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=../lib/common.sh
. "${BASH_SOURCE[0]%/*}/../lib/common.sh"

: "${DEVBOX_DATA_MOUNT:=/data}"
: "${DEVBOX_DATA_FS:=xfs}"
: "${DEVBOX_SCRATCH_MOUNT:=/scratch}"
: "${DEVBOX_FSTAB:=${DEVBOX_ROOT}/etc/fstab}"
: "${DEVBOX_DEV_DIR:=/dev}"
# EBS attachment finishes after boot starts; five minutes covers a slow attach.
: "${DEVBOX_DEVICE_WAIT_SECONDS:=300}"
: "${DEVBOX_POLL_SECONDS:=2}"

DATA_INSTANCE_STORE_MODEL="Amazon EC2 NVMe Instance Storage"
DATA_SCRATCH_MD="${DEVBOX_DEV_DIR}/md/devbox-scratch"
# Bytes at the start of a device that must be zero before it counts as blank.
DATA_BLANK_CHECK_BYTES=1048576

# Prints the device of the data volume if it is present now; fails otherwise.
data_find_device() {
  local serial name dev_serial link line listing
  if [[ -n "${DEVBOX_DATA_DEVICE:-}" ]]; then
    if [[ -b "${DEVBOX_DATA_DEVICE}" ]]; then
      printf '%s\n' "${DEVBOX_DATA_DEVICE}"
      return 0
    fi
    return 1
  fi
  # Nitro types expose an EBS volume as NVMe whose serial is the volume ID without its dash.
  # Every type in the catalog is Nitro; Xen types (which rename /dev/sdf to /dev/xvdf) are not
  # looked for.
  serial="${DEVBOX_DATA_VOLUME_ID//-/}"
  link="${DEVBOX_DEV_DIR}/disk/by-id/nvme-Amazon_Elastic_Block_Store_${serial}"
  if [[ -e "${link}" ]]; then
    readlink -f "${link}"
    return 0
  fi
  listing="$(lsblk -dn -P -o NAME,SERIAL)" || listing=""
  while IFS= read -r line; do
    name="" dev_serial=""
    if [[ "${line}" =~ NAME=\"([^\"]*)\"\ SERIAL=\"([^\"]*)\" ]]; then
      name="${BASH_REMATCH[1]}"
      dev_serial="${BASH_REMATCH[2]}"
    fi
    if [[ -n "${name}" && "${dev_serial}" == "${serial}" ]]; then
      printf '%s\n' "${DEVBOX_DEV_DIR}/${name}"
      return 0
    fi
  done <<<"${listing}"
  return 1
}

# Polls until the data volume appears or DEVBOX_DEVICE_WAIT_SECONDS pass.
data_wait_device() {
  local deadline dev
  deadline=$(($(devbox_now) + DEVBOX_DEVICE_WAIT_SECONDS))
  while true; do
    if dev="$(data_find_device)"; then
      printf '%s\n' "${dev}"
      return 0
    fi
    if (($(devbox_now) >= deadline)); then
      devbox_err "data volume ${DEVBOX_DATA_VOLUME_ID:-${DEVBOX_DATA_DEVICE:-}} did not appear within ${DEVBOX_DEVICE_WAIT_SECONDS} s"
      return 1
    fi
    sleep "${DEVBOX_POLL_SECONDS}"
  done
}

# True unless the device is verifiably blank. Every check that cannot be made counts as
# "holds something": formatting a device by mistake destroys a user's data.
data_has_signature() {
  local dev="$1" rc=0 found
  blkid -p "${dev}" >/dev/null 2>&1 || rc=$?
  case "${rc}" in
    0)
      devbox_log "${dev} holds a filesystem or partition table (blkid -p)"
      return 0
      ;;
    2) ;;
    *)
      devbox_warn "blkid -p ${dev} failed (exit ${rc}); treating it as not blank"
      return 0
      ;;
  esac
  if ! found="$(wipefs -n "${dev}")"; then
    devbox_warn "wipefs -n ${dev} failed; treating it as not blank"
    return 0
  fi
  if [[ -n "${found}" ]]; then
    devbox_log "${dev} holds a signature (wipefs -n)"
    return 0
  fi
  rc=0
  cmp -s -n "${DATA_BLANK_CHECK_BYTES}" "${dev}" /dev/zero || rc=$?
  if ((rc != 0)); then
    devbox_log "${dev} has data in its first MiB but no known signature; not blank"
    return 0
  fi
  return 1
}

data_fs_type() {
  blkid -p -s TYPE -o value "$1"
}

data_fs_uuid() {
  blkid -p -s UUID -o value "$1"
}

# Never with -f: mkfs refuses an existing filesystem on its own too. Discarding a new EBS
# volume's blocks only costs time, so it is skipped.
data_mkfs() {
  local fstype="$1" label="$2" dev="$3"
  case "${fstype}" in
    xfs) mkfs.xfs -K -L "${label}" "${dev}" </dev/null ;;
    ext4) mkfs.ext4 -E nodiscard -L "${label}" "${dev}" </dev/null ;;
  esac
}

# Mounts the device at the mount point unless it is mounted there already; refuses when
# something else is mounted there.
data_mount() {
  local dev="$1" mnt="$2" fstype="$3" source
  mkdir -p "${mnt}"
  if source="$(findmnt -rn -o SOURCE --mountpoint "${mnt}")"; then
    if [[ "$(readlink -f "${source}")" == "$(readlink -f "${dev}")" ]]; then
      devbox_log "${dev} already mounted at ${mnt}"
      return 0
    fi
    devbox_err "${mnt} already has ${source} mounted; not mounting ${dev} over it"
    return 1
  fi
  if [[ -n "$(ls -A "${mnt}")" ]]; then
    devbox_warn "${mnt} is not empty on the root volume; its files are hidden (not lost) while ${dev} is mounted"
  fi
  mount -t "${fstype}" "${dev}" "${mnt}"
  devbox_log "mounted ${dev} (${fstype}) at ${mnt}"
}

# The source fstab mounts at a mount point (e.g. UUID=...), or nothing.
data_fstab_source() {
  if [[ -f "${DEVBOX_FSTAB}" ]]; then
    awk -v m="$1" '$1 !~ /^#/ && $2 == m { print $1; exit }' "${DEVBOX_FSTAB}"
  fi
}

# One fstab line by UUID with nofail (a missing volume must not stop the boot), added only when
# there is none for the mount point. A line naming another source is an error, left alone.
# With "-" as the type it only checks.
data_fstab() {
  local uuid="$1" mnt="$2" fstype="$3" existing
  existing="$(data_fstab_source "${mnt}")"
  if [[ "${existing}" == "UUID=${uuid}" ]]; then
    if [[ "${fstype}" != "-" ]]; then
      devbox_log "fstab already mounts UUID=${uuid} at ${mnt}"
    fi
    return 0
  fi
  if [[ -n "${existing}" ]]; then
    devbox_err "${DEVBOX_FSTAB} already mounts ${existing} at ${mnt}; not changing it"
    return 1
  fi
  if [[ "${fstype}" == "-" ]]; then
    return 0
  fi
  printf '%s\n' "UUID=${uuid} ${mnt} ${fstype} defaults,nofail 0 2" >>"${DEVBOX_FSTAB}"
  devbox_log "fstab: UUID=${uuid} at ${mnt} (nofail)"
}

data_volume() {
  local dev fstype uuid fresh=0
  case "${DEVBOX_DATA_FS}" in
    xfs | ext4) ;;
    *) devbox_die "DEVBOX_DATA_FS is ${DEVBOX_DATA_FS}; use xfs or ext4" ;;
  esac
  if [[ -z "${DEVBOX_DATA_VOLUME_ID:-}" && -z "${DEVBOX_DATA_DEVICE:-}" ]]; then
    devbox_log "no data volume configured; ${DEVBOX_DATA_MOUNT} stays on the root volume"
    mkdir -p "${DEVBOX_DATA_MOUNT}"
    return 0
  fi
  dev="$(data_wait_device)"
  devbox_log "data volume is ${dev}"
  if data_has_signature "${dev}"; then
    fstype="$(data_fs_type "${dev}")" || fstype=""
    if [[ -z "${fstype}" ]]; then
      devbox_err "${dev} is not blank but holds no filesystem that can be mounted; it was left untouched"
      return 1
    fi
    devbox_log "${dev} already has ${fstype}; keeping its data"
  else
    devbox_log "${dev} is blank; making ${DEVBOX_DATA_FS}"
    data_mkfs "${DEVBOX_DATA_FS}" devbox-data "${dev}"
    fstype="${DEVBOX_DATA_FS}"
    fresh=1
  fi
  uuid="$(data_fs_uuid "${dev}")"
  # Checked before mounting: a conflicting fstab line stops the step with nothing mounted.
  data_fstab "${uuid}" "${DEVBOX_DATA_MOUNT}" -
  data_mount "${dev}" "${DEVBOX_DATA_MOUNT}" "${fstype}"
  data_fstab "${uuid}" "${DEVBOX_DATA_MOUNT}" "${fstype}"
  if ((fresh == 1)); then
    chown "${DEVBOX_USER}:" "${DEVBOX_DATA_MOUNT}"
  fi
}

# Local NVMe instance stores, one device per line, in name order.
data_instance_stores() {
  local line name model listing
  listing="$(lsblk -dn -P -o NAME,MODEL)"
  while IFS= read -r line; do
    if [[ "${line}" =~ NAME=\"([^\"]*)\"\ MODEL=\"([^\"]*)\" ]]; then
      name="${BASH_REMATCH[1]}"
      model="${BASH_REMATCH[2]}"
      if [[ "${model}" == "${DATA_INSTANCE_STORE_MODEL}"* ]]; then
        printf '%s\n' "${DEVBOX_DEV_DIR}/${name}"
      fi
    fi
  done <<<"${listing}"
}

# The device scratch lives on: the single store, or a RAID0 across all of them (assembled
# again after a reboot, created when every member is blank, as after a stop/start).
data_scratch_device() {
  local dev raid=0 foreign=0 active
  if (($# == 1)); then
    printf '%s\n' "$1"
    return 0
  fi
  if [[ -e "${DATA_SCRATCH_MD}" ]]; then
    printf '%s\n' "${DATA_SCRATCH_MD}"
    return 0
  fi
  # After a plain reboot udev may already have assembled the array under another name.
  active="$(lsblk -ln -o PATH,TYPE "$1" | awk '$2 ~ /^raid/ { print $1; exit }')" || active=""
  if [[ -n "${active}" ]]; then
    printf '%s\n' "${active}"
    return 0
  fi
  # This function's stdout is the device; progress goes to stderr.
  for dev in "$@"; do
    if data_has_signature "${dev}" >&2; then
      if [[ "$(data_fs_type "${dev}")" == linux_raid_member ]]; then
        raid=1
      else
        foreign=1
      fi
    fi
  done
  if ((foreign == 1)); then
    devbox_warn "an instance store holds something other than our RAID member; scratch skipped"
    return 1
  fi
  if ((raid == 1)); then
    mdadm --assemble "${DATA_SCRATCH_MD}" "$@" >&2 || return 1
  else
    mdadm --create "${DATA_SCRATCH_MD}" --run --level=0 --raid-devices="$#" \
      --name=devbox-scratch "$@" >&2 || return 1
  fi
  printf '%s\n' "${DATA_SCRATCH_MD}"
}

data_scratch() {
  local -a stores=()
  local dev fstype fresh=0
  if [[ -z "${DEVBOX_SCRATCH_MOUNT}" ]]; then
    devbox_log "scratch disabled (DEVBOX_SCRATCH_MOUNT is empty)"
    return 0
  fi
  mapfile -t stores < <(data_instance_stores)
  if ((${#stores[@]} == 0)); then
    devbox_log "no local NVMe instance storage; no ${DEVBOX_SCRATCH_MOUNT}"
    return 0
  fi
  devbox_log "instance storage: ${stores[*]}"
  if ! dev="$(data_scratch_device "${stores[@]}")"; then
    devbox_warn "no scratch device could be assembled from ${stores[*]}"
    return 0
  fi
  if data_has_signature "${dev}"; then
    fstype="$(data_fs_type "${dev}")" || fstype=""
    if [[ -z "${fstype}" || "${fstype}" == linux_raid_member ]]; then
      devbox_warn "${dev} holds something that is not a filesystem; scratch skipped"
      return 0
    fi
  else
    # Ephemeral by nature, but still only formatted when it holds no filesystem.
    data_mkfs xfs devbox-scratch "${dev}"
    fstype=xfs
    fresh=1
  fi
  data_mount "${dev}" "${DEVBOX_SCRATCH_MOUNT}" "${fstype}"
  if ((fresh == 1)); then
    chown "${DEVBOX_USER}:" "${DEVBOX_SCRATCH_MOUNT}"
  fi
  data_scratch_unit
}

# Instance storage is blank after every stop/start, when the runner no longer runs: a
# per-boot unit brings scratch back.
data_scratch_unit() {
  local unit="${DEVBOX_ROOT}/etc/systemd/system/devbox-scratch.service"
  devbox_install_file "${unit}" 0644 "$(printf '%s\n' \
    "[Unit]" \
    "Description=llm-devbox: local NVMe instance storage at ${DEVBOX_SCRATCH_MOUNT}" \
    "After=local-fs.target" \
    "" \
    "[Service]" \
    "Type=oneshot" \
    "ExecStart=/bin/bash ${DEVBOX_PREFIX}/steps/20-data-volume.sh scratch" \
    "" \
    "[Install]" \
    "WantedBy=multi-user.target")"
  if ((DEVBOX_FILE_CHANGED == 1)); then
    systemctl daemon-reload
    systemctl enable devbox-scratch.service
  fi
}

data_main() {
  if [[ "${1:-}" == scratch ]]; then
    DEVBOX_STEP=scratch
    data_scratch
    return 0
  fi
  devbox_step_begin "$(devbox_step_name_of "${BASH_SOURCE[0]}")"
  data_volume
  data_scratch
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  data_main "$@"
fi
