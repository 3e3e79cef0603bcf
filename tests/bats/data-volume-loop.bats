#!/usr/bin/env bats
# cloud-init/steps/20-data-volume.sh on REAL loop devices: a blank device is formatted, mounted
# and put in fstab once; a device with data is mounted with its files intact and never
# formatted, however often the step runs. mkfs and mount are the real tools, wrapped only to
# record their calls. Every loop device and mount made here is undone in teardown.

load helpers/setup

# xfs refuses filesystems under 300 MiB; the images are sparse, so this costs no disk.
IMAGE_MIB=320

setup() {
  if [[ "${EUID}" -ne 0 ]]; then
    skip "needs root for losetup and mount"
  fi
  if ! command -v losetup >/dev/null || ! losetup -f >/dev/null 2>&1; then
    skip "no usable loop devices (losetup -f failed)"
  fi
  devbox_test_setup
  # Only these are wrapped; blkid, wipefs, findmnt and the loop devices are real. lsblk is
  # real too, but scratch is switched off below so that no host disk is ever considered.
  rm -f "${STUB_DIR}"/bin/*
  record_and_run mkfs.xfs
  record_and_run mkfs.ext4
  record_and_run mount
  stub_command systemctl
  STEP="${SRC}/steps/20-data-volume.sh"
  MNT="${BATS_TEST_TMPDIR}/data"
  LOOPS="${BATS_TEST_TMPDIR}/loops"
  : >"${LOOPS}"
}

teardown() {
  local target dev
  if [[ -n "${BATS_TEST_TMPDIR:-}" ]]; then
    # Deepest first, in case something was mounted inside another test mount.
    while IFS= read -r target; do
      umount "${target}"
    done < <(findmnt -rn -o TARGET | grep -F "${BATS_TEST_TMPDIR}/" | sort -r)
  fi
  if [[ -f "${LOOPS:-}" ]]; then
    while IFS= read -r dev; do
      losetup -d "${dev}"
    done <"${LOOPS}"
  fi
}

# A wrapper that records the call, then runs the real tool.
record_and_run() {
  local real
  real="$(PATH=/usr/sbin:/usr/bin:/sbin:/bin command -v "$1")"
  printf '#!/bin/bash\nprintf "%%s\\n" "%s $*" >>"%s/calls"\nexec %q "$@"\n' \
    "$1" "${STUB_DIR}" "${real}" >"${STUB_DIR}/bin/$1"
  chmod +x "${STUB_DIR}/bin/$1"
}

# A new loop device over a sparse image; prints its path.
new_loop() {
  local image dev
  image="$(mktemp "${BATS_TEST_TMPDIR}/image.XXXXXX")"
  truncate -s "${IMAGE_MIB}M" "${image}"
  dev="$(losetup -f --show "${image}")"
  printf '%s\n' "${dev}" >>"${LOOPS}"
  printf '%s\n' "${dev}"
}

# Checksums of every file under a directory, in a stable order.
tree_sum() {
  (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum)
}

fstab_lines_for() {
  awk -v m="$1" '$2 == m' "${DEVBOX_FSTAB}" | wc -l
}

@test "a blank device is formatted, mounted and put in fstab once" {
  dev="$(new_loop)"
  write_env global "DEVBOX_DATA_DEVICE=${dev}" "DEVBOX_SCRATCH_MOUNT="
  run bash "${STEP}"
  [ "$status" -eq 0 ]
  [ "${lines[1]}" = "=> data-volume: data volume is ${dev}" ]
  [ "${lines[2]}" = "=> data-volume: ${dev} is blank; making xfs" ]
  [ "$(calls_of mkfs.xfs)" = "mkfs.xfs -K -L devbox-data ${dev}" ]
  uuid="$(blkid -p -s UUID -o value "${dev}")"
  [ -n "${uuid}" ]
  [ "$(findmnt -rn -o SOURCE --mountpoint "${MNT}")" = "${dev}" ]
  [ "$(findmnt -rn -o FSTYPE --mountpoint "${MNT}")" = xfs ]
  [ "$(cat "${DEVBOX_FSTAB}")" = "UUID=${uuid} ${MNT} xfs defaults,nofail 0 2" ]
  [ "$(stat -c %U "${MNT}")" = nobody ]

  : >"${STUB_DIR}/calls"
  run bash "${STEP}"
  [ "$status" -eq 0 ]
  [ "${lines[2]}" = "=> data-volume: ${dev} holds a filesystem or partition table (blkid -p)" ]
  [ "${lines[3]}" = "=> data-volume: ${dev} already has xfs; keeping its data" ]
  [ "${lines[4]}" = "=> data-volume: ${dev} already mounted at ${MNT}" ]
  [ "${lines[5]}" = "=> data-volume: fstab already mounts UUID=${uuid} at ${MNT}" ]
  [ "$(cat "${STUB_DIR}/calls")" = "" ]
  [ "$(fstab_lines_for "${MNT}")" -eq 1 ]
}

@test "a device with files is mounted with its files intact and never formatted, across two runs" {
  dev="$(new_loop)"
  /usr/sbin/mkfs.ext4 -q -L mywork "${dev}"
  seed="${BATS_TEST_TMPDIR}/seed"
  mkdir -p "${seed}"
  /usr/bin/mount "${dev}" "${seed}"
  mkdir -p "${seed}/datasets/squad"
  head -c 65536 /dev/urandom >"${seed}/datasets/squad/train.bin"
  printf 'notes\n' >"${seed}/README"
  before="$(tree_sum "${seed}")"
  umount "${seed}"
  uuid="$(blkid -p -s UUID -o value "${dev}")"
  write_env global "DEVBOX_DATA_DEVICE=${dev}" "DEVBOX_SCRATCH_MOUNT="

  run bash "${STEP}"
  [ "$status" -eq 0 ]
  [ "${lines[3]}" = "=> data-volume: ${dev} already has ext4; keeping its data" ]
  [ "$(tree_sum "${MNT}")" = "${before}" ]
  # The filesystem found wins over DEVBOX_DATA_FS (xfs), and the owner is not changed.
  [ "$(cat "${DEVBOX_FSTAB}")" = "UUID=${uuid} ${MNT} ext4 defaults,nofail 0 2" ]
  [ "$(stat -c %U "${MNT}")" = root ]

  # As after a reboot that did not mount it: the second run mounts again, formats nothing.
  umount "${MNT}"
  run bash "${STEP}"
  [ "$status" -eq 0 ]
  [ "$(tree_sum "${MNT}")" = "${before}" ]
  [ "$(calls_of mkfs.xfs)" = "" ]
  [ "$(calls_of mkfs.ext4)" = "" ]
  [ "$(calls_of mount | wc -l)" -eq 2 ]
  [ "$(fstab_lines_for "${MNT}")" -eq 1 ]
  [ "$(blkid -p -s UUID -o value "${dev}")" = "${uuid}" ]
}

@test "a device with a partition table but no filesystem is left untouched and the step fails" {
  dev="$(new_loop)"
  printf 'label: gpt\n,64M\n' | sfdisk -q "${dev}"
  before="$(head -c 1048576 "${dev}" | sha256sum)"
  write_env global "DEVBOX_DATA_DEVICE=${dev}" "DEVBOX_SCRATCH_MOUNT="
  run bash "${STEP}"
  [ "$status" -eq 1 ]
  [ "${lines[2]}" = "=> data-volume: ${dev} holds a filesystem or partition table (blkid -p)" ]
  [ "${lines[3]}" = "devbox: data-volume: error: ${dev} is not blank but holds no filesystem that can be mounted; it was left untouched" ]
  [ "$(calls_of mkfs.xfs)" = "" ]
  [ "$(calls_of mount)" = "" ]
  [ "$(head -c 1048576 "${dev}" | sha256sum)" = "${before}" ]
  [ "$(cat "${DEVBOX_FSTAB}")" = "" ]
}

@test "a device with unrecognised data in its first MiB is never formatted" {
  dev="$(new_loop)"
  head -c 4096 /dev/urandom | dd of="${dev}" bs=4096 seek=16 conv=notrunc status=none
  before="$(sha256sum <"${dev}")"
  write_env global "DEVBOX_DATA_DEVICE=${dev}" "DEVBOX_SCRATCH_MOUNT="
  run bash "${STEP}"
  [ "$status" -eq 1 ]
  [ "${lines[2]}" = "=> data-volume: ${dev} has data in its first MiB but no known signature; not blank" ]
  [ "$(calls_of mkfs.xfs)" = "" ]
  [ "$(sha256sum <"${dev}")" = "${before}" ]
}

@test "mkfs itself refuses to overwrite a filesystem (no -f is passed)" {
  dev="$(new_loop)"
  /usr/sbin/mkfs.ext4 -q "${dev}"
  uuid="$(blkid -p -s UUID -o value "${dev}")"
  run "${STUB_DIR}/bin/mkfs.xfs" -L devbox-data "${dev}" </dev/null
  [ "$status" -ne 0 ]
  [ "$(blkid -p -s UUID -o value "${dev}")" = "${uuid}" ]
}

@test "the volume is found through its by-id link, as on a Nitro instance" {
  dev="$(new_loop)"
  mkdir -p "${DEVBOX_DEV_DIR}/disk/by-id"
  ln -s "${dev}" "${DEVBOX_DEV_DIR}/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0123456789abcdef0"
  write_env global "DEVBOX_DATA_VOLUME_ID=vol-0123456789abcdef0" "DEVBOX_DATA_FS=ext4" \
    "DEVBOX_SCRATCH_MOUNT="
  run bash "${STEP}"
  [ "$status" -eq 0 ]
  [ "${lines[1]}" = "=> data-volume: data volume is ${dev}" ]
  [ "$(findmnt -rn -o FSTYPE --mountpoint "${MNT}")" = ext4 ]
}

@test "an fstab line naming another source for the mount point stops the step with nothing mounted" {
  dev="$(new_loop)"
  /usr/sbin/mkfs.ext4 -q "${dev}"
  printf '%s\n' "UUID=11111111-2222-3333-4444-555555555555 ${MNT} ext4 defaults 0 2" >"${DEVBOX_FSTAB}"
  write_env global "DEVBOX_DATA_DEVICE=${dev}" "DEVBOX_SCRATCH_MOUNT="
  run bash "${STEP}"
  [ "$status" -eq 1 ]
  [ "${lines[4]}" = "devbox: data-volume: error: ${DEVBOX_FSTAB} already mounts UUID=11111111-2222-3333-4444-555555555555 at ${MNT}; not changing it" ]
  [ "$(calls_of mount)" = "" ]
  [ "$(fstab_lines_for "${MNT}")" -eq 1 ]
}
