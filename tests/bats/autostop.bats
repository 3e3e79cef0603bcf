#!/usr/bin/env bats
# devbox-autostop: the idle decision, case by case. Each case sets the box's answers (who,
# pgrep, nvidia-smi, Jupyter, keep-alive markers, how long it has been idle), runs one check,
# and asserts both the decision (the shutdown stub ran or not) and the exact reason logged.

load lifecycle_helpers

AUTOSTOP="$LIFECYCLE_BIN/devbox-autostop"

setup() {
  lifecycle_setup
  # A quiet box: two idle GPUs, Jupyter up with one idle kernel, nobody connected.
  printf '0\n3\n' >"$ANSWERS/nvidia-smi"
  echo "0123abcd" >"$DEVBOX_USER_HOME/.jupyter/devbox-token"
  echo '[{"id": "k1", "name": "python3", "execution_state": "idle"}]' >"$ANSWERS/jupyter"
}

# idle_since MINUTES: the box has been idle for MINUTES already, in this boot.
idle_since() {
  mkdir -p "$DEVBOX_STATE_DIR"
  echo "$((NOW - $1 * 60))" >"$DEVBOX_STATE_DIR/autostop-idle-since"
}

# assert_decision yes|no LINE: the check succeeded, shut down or not, and logged LINE.
assert_decision() {
  assert_equal "$status" 0
  assert_shutdown "$1"
  assert_logged autostop.log "$2"
}

# --- the table -------------------------------------------------------------------------------

@test "idle for the whole period: shuts down" {
  idle_since 60
  run_box "$AUTOSTOP"
  assert_decision yes "idle for 60 of 60 minutes: shutting down (instance action: stop)"
}

@test "idle for longer than the period (a missed check): shuts down" {
  idle_since 75
  run_box "$AUTOSTOP"
  assert_decision yes "idle for 75 of 60 minutes: shutting down (instance action: stop)"
}

@test "idle, not long enough: stays up and says how long" {
  idle_since 12
  run_box "$AUTOSTOP"
  assert_decision no "idle for 12 of 60 minutes"
  assert_equal "$(cat "$DEVBOX_STATE_DIR/autostop-idle-since")" "$((NOW - 12 * 60))"
}

@test "first idle check: starts the count at now" {
  run_box "$AUTOSTOP"
  assert_decision no "idle for 0 of 60 minutes"
  assert_equal "$(cat "$DEVBOX_STATE_DIR/autostop-idle-since")" "$NOW"
}

@test "idle inside the last 10 minutes: warns logged-in users, stays up" {
  idle_since 52
  run_box "$AUTOSTOP"
  assert_decision no "idle for 52 of 60 minutes; shutting down in 8 minute(s)"
  assert_equal "$(cat "$CALLS/wall")" \
    "devbox: idle, shutting down in 8 minute(s); touch ~/.devbox-keepalive to stay up"
}

@test "one SSH session: stays up and restarts the idle count" {
  idle_since 60
  echo "ubuntu   pts/0        2025-12-03 19:01 (203.0.113.7)" >"$ANSWERS/who"
  run_box "$AUTOSTOP"
  assert_decision no "staying up: 1 SSH session(s)"
  [ ! -e "$DEVBOX_STATE_DIR/autostop-idle-since" ]
}

@test "an SSH tunnel without a terminal (Jupyter port forward): stays up" {
  idle_since 60
  echo 1 >"$ANSWERS/pgrep"
  run_box "$AUTOSTOP"
  assert_decision no "staying up: 1 SSH tunnel/command connection(s)"
  assert_equal "$(cat "$CALLS/pgrep")" "-cf ^sshd(-session)?: [^ ]+@notty"
}

@test "busy GPU: stays up and names the GPU" {
  idle_since 60
  printf '3\n87\n' >"$ANSWERS/nvidia-smi"
  run_box "$AUTOSTOP"
  assert_decision no "staying up: GPU 1 at 87%"
  assert_equal "$(cat "$CALLS/nvidia-smi")" \
    "--query-gpu=utilization.gpu --format=csv,noheader,nounits"
}

@test "GPU exactly at DEVBOX_GPU_BUSY_PERCENT counts as busy" {
  idle_since 60
  printf '10\n' >"$ANSWERS/nvidia-smi"
  run_box "$AUTOSTOP"
  assert_decision no "staying up: GPU 0 at 10%"
}

@test "GPU just under DEVBOX_GPU_BUSY_PERCENT counts as idle" {
  idle_since 60
  printf '9\n[N/A]\n' >"$ANSWERS/nvidia-smi"
  run_box "$AUTOSTOP"
  assert_decision yes "idle for 60 of 60 minutes: shutting down (instance action: stop)"
}

@test "nvidia-smi failing (a broken driver): GPUs count as idle, shuts down" {
  idle_since 60
  stub nvidia-smi 'echo "NVIDIA-SMI has failed because it could not communicate with the driver"; exit 9'
  run_box "$AUTOSTOP"
  assert_decision yes "idle for 60 of 60 minutes: shutting down (instance action: stop)"
}

@test "busy Jupyter kernel: stays up; the token goes to curl on stdin, not in argv" {
  idle_since 60
  echo '[{"id": "k1", "execution_state": "busy"}, {"id": "k2", "execution_state": "idle"}]' \
    >"$ANSWERS/jupyter"
  run_box "$AUTOSTOP"
  assert_decision no "staying up: 1 busy Jupyter kernel(s)"
  assert_equal "$(cat "$CALLS/curl.args")" "-fs --max-time 5 -K - http://127.0.0.1:8888/api/kernels"
  assert_equal "$(cat "$CALLS/curl.stdin")" 'header = "Authorization: token 0123abcd"'
}

@test "two busy kernels in compact JSON are both counted" {
  idle_since 60
  echo '[{"execution_state":"busy"},{"execution_state":"busy"}]' >"$ANSWERS/jupyter"
  run_box "$AUTOSTOP"
  assert_decision no "staying up: 2 busy Jupyter kernel(s)"
}

@test "Jupyter not running: not busy, shuts down" {
  idle_since 60
  rm "$ANSWERS/jupyter"
  run_box "$AUTOSTOP"
  assert_decision yes "idle for 60 of 60 minutes: shutting down (instance action: stop)"
  [ -e "$CALLS/curl.args" ]
}

@test "keep-alive marker under /run: stays up" {
  idle_since 60
  touch "$BATS_TEST_TMPDIR/run/keepalive"
  run_box "$AUTOSTOP"
  assert_decision no "staying up: keep-alive marker $BATS_TEST_TMPDIR/run/keepalive"
}

@test "keep-alive marker in the home folder with a future time: stays up until then" {
  idle_since 60
  echo "@$((NOW + 3600))" >"$BATS_TEST_TMPDIR/home/.devbox-keepalive"
  run_box "$AUTOSTOP"
  assert_decision no \
    "staying up: keep-alive marker $BATS_TEST_TMPDIR/home/.devbox-keepalive until 2025-12-03T20:26:40Z"
}

@test "keep-alive marker whose time has passed: ignored, shuts down" {
  idle_since 60
  echo "2025-12-03 19:00 UTC" >"$BATS_TEST_TMPDIR/home/.devbox-keepalive"
  run_box "$AUTOSTOP"
  assert_decision yes "idle for 60 of 60 minutes: shutting down (instance action: stop)"
}

@test "setup still running: stays up" {
  idle_since 60
  mkdir -p "$DEVBOX_STATE_DIR"
  echo '{"state":"running","step":"driver","steps":[{"name":"mirrors","state":"done"}]}' \
    >"$DEVBOX_STATE_DIR/status.json"
  run_box "$AUTOSTOP"
  assert_decision no "staying up: setup is running"
}

@test "setup done: not busy, shuts down" {
  idle_since 60
  mkdir -p "$DEVBOX_STATE_DIR"
  echo '{"state":"done","step":"","steps":[{"name":"mirrors","state":"done"}]}' \
    >"$DEVBOX_STATE_DIR/status.json"
  run_box "$AUTOSTOP"
  assert_decision yes "idle for 60 of 60 minutes: shutting down (instance action: stop)"
}

@test "several reasons: all of them on one line" {
  echo "ubuntu   pts/0        2025-12-03 19:01 (203.0.113.7)" >"$ANSWERS/who"
  printf '95\n40\n' >"$ANSWERS/nvidia-smi"
  touch "$BATS_TEST_TMPDIR/run/keepalive"
  run_box "$AUTOSTOP"
  assert_decision no \
    "staying up: 1 SSH session(s); GPU 0 at 95%; GPU 1 at 40%; keep-alive marker $BATS_TEST_TMPDIR/run/keepalive"
}

@test "disabled (0 minutes): never shuts down, says so" {
  set_env DEVBOX_AUTOSTOP_MINUTES 0
  idle_since 600
  run_box "$AUTOSTOP"
  assert_decision no "auto-stop disabled (DEVBOX_AUTOSTOP_MINUTES=0)"
}

# --- around the table ------------------------------------------------------------------------

@test "idleness from before this boot (a stop, then a start) does not count" {
  mkdir -p "$DEVBOX_STATE_DIR"
  echo "$((BOOT - 7200))" >"$DEVBOX_STATE_DIR/autostop-idle-since"
  run_box "$AUTOSTOP"
  assert_decision no "idle for 0 of 60 minutes"
  assert_equal "$(cat "$DEVBOX_STATE_DIR/autostop-idle-since")" "$NOW"
}

@test "no boot time to compare with: fails loudly, does not shut down" {
  idle_since 60
  printf 'cpu  1 2 3 4\n' >"$DEVBOX_PROC_STAT"
  run_box "$AUTOSTOP"
  assert_equal "$status" 1
  assert_shutdown no
}

@test "terminate action is named in the log" {
  set_env DEVBOX_AUTOSTOP_ACTION terminate
  idle_since 60
  run_box "$AUTOSTOP"
  assert_decision yes "idle for 60 of 60 minutes: shutting down (instance action: terminate)"
}

@test "a check that cannot run (who fails) fails loudly and keeps the box up" {
  idle_since 60
  stub who 'echo "who: cannot open utmp" >&2; exit 1'
  run_box "$AUTOSTOP"
  assert_equal "$status" 1
  assert_equal "$output" "who: cannot open utmp"
  assert_shutdown no
}

@test "sourcing runs nothing; the decision function can be called alone" {
  run env PATH="$STUBS" bash -c '. "$1"' _ "$AUTOSTOP"
  assert_equal "$status" 0
  assert_equal "$output" ""
  [ ! -e "$DEVBOX_LOG_DIR" ]
  printf '50\n' >"$ANSWERS/nvidia-smi"
  echo 2 >"$ANSWERS/pgrep"
  run env PATH="$STUBS" bash -c '. "$1"; lifecycle_settings autostop.log; autostop_busy_reasons' \
    _ "$AUTOSTOP"
  assert_equal "$status" 0
  assert_equal "$output" $'2 SSH tunnel/command connection(s)\nGPU 0 at 50%'
}
