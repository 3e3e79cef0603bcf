#!/usr/bin/env bats
# cloud-init/steps/20-data-volume.sh with stubbed block-device tools: finding the volume by its
# ID, waiting for it, and local NVMe scratch (one store, a RAID0 of several, after a reboot).
# The formatting rules on real devices are in data-volume-loop.bats.

load helpers/setup

setup() {
  devbox_test_setup
  STEP="${SRC}/steps/20-data-volume.sh"
  write_env global
}

# A blank stand-in device: a file of zeros under DEVBOX_DEV_DIR.
blank_device() {
  head -c 2097152 /dev/zero >"${DEVBOX_DEV_DIR}/$1"
}

instance_stores() {
  local name
  for name in "$@"; do
    blank_device "${name}"
    printf 'NAME="%s" MODEL="Amazon EC2 NVMe Instance Storage        "\n' "${name}"
  done >"${STUB_DIR}/lsblk.out"
  printf 'NAME="nvme0n1" MODEL="Amazon Elastic Block Store              "\n' >>"${STUB_DIR}/lsblk.out"
}

@test "no data volume configured: the mount point stays on the root volume" {
  run bash "${STEP}"
  [ "$status" -eq 0 ]
  [ "${lines[1]}" = "=> data-volume: no data volume configured; ${BATS_TEST_TMPDIR}/data stays on the root volume" ]
  [ "${lines[2]}" = "=> data-volume: no local NVMe instance storage; no ${BATS_TEST_TMPDIR}/scratch" ]
  [ -d "${BATS_TEST_TMPDIR}/data" ]
  [ "$(calls_of mkfs.xfs)" = "" ]
  [ "$(cat "${DEVBOX_FSTAB}")" = "" ]
}

@test "the data volume is found by the NVMe serial that carries its volume ID" {
  write_env global "DEVBOX_DATA_VOLUME_ID=vol-0abc123def4567890"
  blank_device nvme1n1
  printf '%s\n' 'NAME="nvme0n1" SERIAL="vol0fff000000000000"' 'NAME="nvme1n1" SERIAL="vol0abc123def4567890"' \
    >"${STUB_DIR}/lsblk.out"
  run bash "${STEP}"
  [ "$status" -eq 0 ]
  [ "${lines[1]}" = "=> data-volume: data volume is ${DEVBOX_DEV_DIR}/nvme1n1" ]
  [ "${lines[2]}" = "=> data-volume: ${DEVBOX_DEV_DIR}/nvme1n1 is blank; making xfs" ]
  [ "$(calls_of mkfs.xfs)" = "mkfs.xfs -K -L devbox-data ${DEVBOX_DEV_DIR}/nvme1n1" ]
  [ "$(cat "${DEVBOX_FSTAB}")" = "UUID=uuid-nvme1n1 ${BATS_TEST_TMPDIR}/data xfs defaults,nofail 0 2" ]
}

@test "the by-id link of the volume wins over lsblk" {
  write_env global "DEVBOX_DATA_VOLUME_ID=vol-0abc123def4567890"
  blank_device nvme2n1
  mkdir -p "${DEVBOX_DEV_DIR}/disk/by-id"
  ln -s ../../nvme2n1 "${DEVBOX_DEV_DIR}/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0abc123def4567890"
  run bash "${STEP}"
  [ "$status" -eq 0 ]
  [ "${lines[1]}" = "=> data-volume: data volume is ${DEVBOX_DEV_DIR}/nvme2n1" ]
  [ "$(calls_of lsblk | grep -c SERIAL)" -eq 0 ]
}

@test "a volume that never appears fails the step after the wait, naming the volume" {
  write_env global "DEVBOX_DATA_VOLUME_ID=vol-0abc123def4567890" "DEVBOX_DEVICE_WAIT_SECONDS=1" \
    "DEVBOX_POLL_SECONDS=0.2"
  run bash "${STEP}"
  [ "$status" -eq 1 ]
  [ "${lines[1]}" = "devbox: data-volume: error: data volume vol-0abc123def4567890 did not appear within 1 s" ]
  [ "$(cat "${DEVBOX_STATE_DIR}/steps/data-volume.error")" = "data volume vol-0abc123def4567890 did not appear within 1 s" ]
  [ "$(calls_of mkfs.xfs)" = "" ]
}

@test "one blank instance store becomes scratch without RAID" {
  instance_stores nvme1n1
  run bash "${STEP}"
  [ "$status" -eq 0 ]
  [ "$(calls_of mdadm)" = "" ]
  [ "$(calls_of mkfs.xfs)" = "mkfs.xfs -K -L devbox-scratch ${DEVBOX_DEV_DIR}/nvme1n1" ]
  [ "$(calls_of mount)" = "mount -t xfs ${DEVBOX_DEV_DIR}/nvme1n1 ${BATS_TEST_TMPDIR}/scratch" ]
  [ "$(stat -c %U "${BATS_TEST_TMPDIR}/scratch")" = nobody ]
  grep -qx "ExecStart=/bin/bash ${SRC}/steps/20-data-volume.sh scratch" \
    "${DEVBOX_ROOT}/etc/systemd/system/devbox-scratch.service"
  [ "$(calls_of systemctl)" = "$(printf 'systemctl daemon-reload\nsystemctl enable devbox-scratch.service')" ]
  # Scratch is remade each boot by its own unit, never through fstab.
  [ "$(cat "${DEVBOX_FSTAB}")" = "" ]
}

@test "several blank instance stores are striped with RAID0" {
  instance_stores nvme1n1 nvme2n1
  run bash "${STEP}"
  [ "$status" -eq 0 ]
  [ "$(calls_of mdadm)" = "mdadm --create ${DEVBOX_DEV_DIR}/md/devbox-scratch --run --level=0 --raid-devices=2 --name=devbox-scratch ${DEVBOX_DEV_DIR}/nvme1n1 ${DEVBOX_DEV_DIR}/nvme2n1" ]
  [ "$(calls_of mkfs.xfs)" = "mkfs.xfs -K -L devbox-scratch ${DEVBOX_DEV_DIR}/md/devbox-scratch" ]
}

@test "after a reboot the RAID members are assembled and their filesystem kept" {
  instance_stores nvme1n1 nvme2n1
  echo linux_raid_member >"${STUB_DIR}/blkid/nvme1n1"
  echo linux_raid_member >"${STUB_DIR}/blkid/nvme2n1"
  echo xfs >"${STUB_DIR}/blkid/devbox-scratch"
  run bash "${STEP}" scratch
  [ "$status" -eq 0 ]
  [ "$(calls_of mdadm)" = "mdadm --assemble ${DEVBOX_DEV_DIR}/md/devbox-scratch ${DEVBOX_DEV_DIR}/nvme1n1 ${DEVBOX_DEV_DIR}/nvme2n1" ]
  [ "$(calls_of mkfs.xfs)" = "" ]
  [ "$(calls_of mount)" = "mount -t xfs ${DEVBOX_DEV_DIR}/md/devbox-scratch ${BATS_TEST_TMPDIR}/scratch" ]
}

@test "an instance store holding a foreign filesystem is left alone" {
  instance_stores nvme1n1 nvme2n1
  echo ext4 >"${STUB_DIR}/blkid/nvme2n1"
  run bash "${STEP}"
  [ "$status" -eq 0 ]
  [[ "$output" == *"devbox: data-volume: warning: an instance store holds something other than our RAID member; scratch skipped"* ]]
  [ "$(calls_of mdadm)" = "" ]
  [ "$(calls_of mkfs.xfs)" = "" ]
  [ "$(calls_of mount)" = "" ]
}
