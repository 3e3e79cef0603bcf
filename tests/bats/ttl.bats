#!/usr/bin/env bats
# devbox-ttl: the hard time-to-live. The fake box booted at 16:40:00Z with a 4-hour TTL, so it
# expires at 20:40:00Z (EXPIRES); each test moves the clock (DEVBOX_NOW) around that time.

load lifecycle_helpers

TTL="$LIFECYCLE_BIN/devbox-ttl"
EXPIRES=$((BOOT + 4 * 3600))

setup() {
  lifecycle_setup
}

# at SECONDS_BEFORE_EXPIRY: sets the clock.
at() {
  export DEVBOX_NOW=$((EXPIRES - $1))
}

@test "before the expiry: stays up, records the expiry and logs the time left" {
  run_box "$TTL"
  assert_equal "$status" 0
  assert_shutdown no
  assert_logged ttl.log "expires at 2025-12-03T20:40:00Z, 74 minute(s) left"
  assert_equal "$(cat "$DEVBOX_STATE_DIR/expires-at")" "$EXPIRES"
  [ ! -e "$CALLS/wall" ]
}

@test "31 minutes left: no warning yet" {
  at $((31 * 60))
  run_box "$TTL"
  assert_logged ttl.log "expires at 2025-12-03T20:40:00Z, 31 minute(s) left"
  [ ! -e "$CALLS/wall" ]
}

@test "30 minutes left: warns logged-in users once" {
  at $((30 * 60))
  run_box "$TTL"
  assert_equal "$status" 0
  assert_shutdown no
  assert_logged ttl.log "expires at 2025-12-03T20:40:00Z, 30 minute(s) left; warning logged-in users"
  assert_equal "$(cat "$CALLS/wall")" \
    "devbox: time-to-live ends in 30 minute(s), busy or not. Save your work."
  at $((29 * 60))
  run_box "$TTL"
  assert_logged ttl.log "expires at 2025-12-03T20:40:00Z, 29 minute(s) left"
  assert_equal "$(wc -l <"$CALLS/wall")" 1
}

@test "5 minutes left: warns again, after the 30-minute warning" {
  at $((30 * 60))
  run_box "$TTL"
  at $((5 * 60 - 20))
  run_box "$TTL"
  assert_logged ttl.log "expires at 2025-12-03T20:40:00Z, 5 minute(s) left; warning logged-in users"
  assert_equal "$(tail -n 1 "$CALLS/wall")" \
    "devbox: time-to-live ends in 5 minute(s), busy or not. Save your work."
  assert_equal "$(wc -l <"$CALLS/wall")" 2
  assert_shutdown no
}

@test "at the expiry: shuts down even though the box is busy" {
  echo "ubuntu   pts/0        2025-12-03 19:01 (203.0.113.7)" >"$ANSWERS/who"
  printf '100\n' >"$ANSWERS/nvidia-smi"
  touch "$BATS_TEST_TMPDIR/run/keepalive"
  at 0
  run_box "$TTL"
  assert_equal "$status" 0
  assert_shutdown yes
  assert_logged ttl.log \
    "expires at 2025-12-03T20:40:00Z: shutting down even if busy (instance action: stop)"
}

@test "past the expiry (a box started again after it): shuts down" {
  mkdir -p "$DEVBOX_STATE_DIR"
  echo "$EXPIRES" >"$DEVBOX_STATE_DIR/expires-at"
  at -86400
  run_box "$TTL"
  assert_shutdown yes
  assert_logged ttl.log \
    "expires at 2025-12-03T20:40:00Z: shutting down even if busy (instance action: stop)"
}

@test "the expiry is recorded once: a reboot and a new TTL do not move it" {
  run_box "$TTL"
  assert_equal "$(cat "$DEVBOX_STATE_DIR/expires-at")" "$EXPIRES"
  printf 'btime %s\n' "$((BOOT + 7200))" >"$DEVBOX_PROC_STAT"
  set_env DEVBOX_TTL_HOURS 48
  at 600
  run_box "$TTL"
  assert_equal "$status" 0
  assert_equal "$(cat "$DEVBOX_STATE_DIR/expires-at")" "$EXPIRES"
  assert_logged ttl.log "expires at 2025-12-03T20:40:00Z, 10 minute(s) left; warning logged-in users"
}

@test "an expiry moved on the box by its user is honoured" {
  mkdir -p "$DEVBOX_STATE_DIR"
  echo "$((EXPIRES + 3600))" >"$DEVBOX_STATE_DIR/expires-at"
  at 0
  run_box "$TTL"
  assert_shutdown no
  assert_logged ttl.log "expires at 2025-12-03T21:40:00Z, 60 minute(s) left"
}

@test "a garbled expires-at fails loudly and does not shut down" {
  mkdir -p "$DEVBOX_STATE_DIR"
  echo "tomorrow" >"$DEVBOX_STATE_DIR/expires-at"
  at 0
  run_box "$TTL"
  assert_equal "$status" 1
  assert_equal "$output" \
    "devbox-ttl: $DEVBOX_STATE_DIR/expires-at holds 'tomorrow', not epoch seconds; fix it or remove it"
  assert_shutdown no
}

@test "no boot time to count from: fails loudly, records nothing, does not shut down" {
  printf 'cpu  1 2 3 4\n' >"$DEVBOX_PROC_STAT"
  at -86400
  run_box "$TTL"
  assert_equal "$status" 1
  assert_shutdown no
  [ ! -s "$DEVBOX_STATE_DIR/expires-at" ]
}

@test "0 hours: no time-to-live, nothing recorded, never shuts down" {
  set_env DEVBOX_TTL_HOURS 0
  at -864000
  run_box "$TTL"
  assert_equal "$status" 0
  assert_shutdown no
  assert_logged ttl.log "no time-to-live (DEVBOX_TTL_HOURS=0)"
  [ ! -e "$DEVBOX_STATE_DIR/expires-at" ]
}

@test "sourcing runs nothing and does not start the auto-stop check it borrows helpers from" {
  run env PATH="$STUBS" bash -c '. "$1"; declare -F ttl_main lifecycle_log' _ "$TTL"
  assert_equal "$status" 0
  assert_equal "$output" $'ttl_main\nlifecycle_log'
  [ ! -e "$DEVBOX_LOG_DIR" ]
}
