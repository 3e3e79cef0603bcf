# Shared set-up for autostop.bats and ttl.bats: a fake box in $BATS_TEST_TMPDIR.
#
# The scripts run (run_box) with a PATH that holds only a stub folder: the commands they may run
# for real (date, awk, ...) are linked into it, and every command that looks at or changes the
# machine (who, pgrep, nvidia-smi, curl, wall, shutdown) is a stub that answers from $ANSWERS and
# records its calls under $CALLS. Nothing here can log anyone out or power anything off.
#
# SC2016: stub bodies are single-quoted on purpose; the stub expands them when it runs.
# SC2034, SC2154: LIFECYCLE_BIN is read by the .bats files; `output` is set by bats' run.
# shellcheck shell=bash disable=SC2016,SC2034,SC2154

LIFECYCLE_BIN="$BATS_TEST_DIRNAME/../../cloud-init/bin"
# 2025-12-03T19:26:40Z; the fake box booted at 16:40:00Z the same day.
NOW=1764790000
BOOT=1764780000

lifecycle_setup() {
  local tool
  STUBS="$BATS_TEST_TMPDIR/stubs"
  ANSWERS="$BATS_TEST_TMPDIR/answers"
  CALLS="$BATS_TEST_TMPDIR/calls"
  mkdir -p "$STUBS" "$ANSWERS" "$CALLS" "$BATS_TEST_TMPDIR/home/.jupyter" "$BATS_TEST_TMPDIR/run"
  for tool in bash env cat date awk head wc mkdir rm dirname touch timeout; do
    ln -s "$(command -v "$tool")" "$STUBS/$tool"
  done
  # who, pgrep -c and nvidia-smi print their answer file (none: no output).
  stub who 'cat "$ANSWERS/who" 2>/dev/null; exit 0'
  stub pgrep 'echo "$*" >>"$CALLS/pgrep"; n="$(cat "$ANSWERS/pgrep" 2>/dev/null)"; echo "${n:-0}"; [ "${n:-0}" -gt 0 ]'
  stub nvidia-smi 'echo "$*" >>"$CALLS/nvidia-smi"; cat "$ANSWERS/nvidia-smi"'
  # curl: records its arguments and stdin; no answer file means nothing listens (exit 7).
  stub curl 'echo "$*" >"$CALLS/curl.args"; cat >"$CALLS/curl.stdin"; [ -f "$ANSWERS/jupyter" ] || exit 7; cat "$ANSWERS/jupyter"'
  stub wall 'echo "$*" >>"$CALLS/wall"'
  stub fake-shutdown 'echo "$*" >>"$CALLS/shutdown"'
  export ANSWERS CALLS
  export DEVBOX_ENV_FILE="$BATS_TEST_TMPDIR/devbox.env"
  export DEVBOX_LOG_DIR="$BATS_TEST_TMPDIR/log" DEVBOX_STATE_DIR="$BATS_TEST_TMPDIR/state"
  export DEVBOX_NOW="$NOW" DEVBOX_PROC_STAT="$BATS_TEST_TMPDIR/stat"
  export DEVBOX_SHUTDOWN_CMD="fake-shutdown -h now"
  export DEVBOX_USER_HOME="$BATS_TEST_TMPDIR/home" DEVBOX_RUN_DIR="$BATS_TEST_TMPDIR/run"
  printf 'cpu  1 2 3 4\nbtime %s\nprocesses 42\n' "$BOOT" >"$DEVBOX_PROC_STAT"
  cat >"$DEVBOX_ENV_FILE" <<'EOF'
DEVBOX_USER='ubuntu'
DEVBOX_AUTOSTOP_MINUTES='60'
DEVBOX_AUTOSTOP_ACTION='stop'
DEVBOX_GPU_BUSY_PERCENT='10'
DEVBOX_JUPYTER_PORT='8888'
DEVBOX_TTL_HOURS='4'
EOF
}

# run_box COMMAND...: bats' run, with only the stub folder on PATH.
run_box() {
  run env PATH="$STUBS" "$@"
}

# stub NAME BODY: a command in the stub folder running BODY under bash.
stub() {
  printf '#!%s\n%s\n' "$(command -v bash)" "$2" >"$STUBS/$1"
  chmod +x "$STUBS/$1"
}

# set_env KEY VALUE: changes one setting in devbox.env.
set_env() {
  local tmp="$DEVBOX_ENV_FILE.new"
  grep -v "^$1=" "$DEVBOX_ENV_FILE" >"$tmp"
  printf "%s='%s'\n" "$1" "$2" >>"$tmp"
  mv "$tmp" "$DEVBOX_ENV_FILE"
}

assert_equal() {
  if [[ "$1" != "$2" ]]; then
    printf 'expected: %s\nactual:   %s\n' "$2" "$1" >&2
    return 1
  fi
}

# assert_shutdown yes|no: whether the shutdown command ran (exactly once, with -h now).
assert_shutdown() {
  if [[ "$1" == yes ]]; then
    assert_equal "$(cat "$CALLS/shutdown")" "-h now"
  elif [[ -e "$CALLS/shutdown" ]]; then
    echo "shutdown ran: $(cat "$CALLS/shutdown")" >&2
    return 1
  fi
}

# assert_logged LINE: LINE was the whole output and the last line of the log file, where it
# carries the check's UTC time.
assert_logged() {
  local file="$DEVBOX_LOG_DIR/$1"
  assert_equal "$output" "$2"
  assert_equal "$(tail -n 1 "$file")" "$(date -ud "@$DEVBOX_NOW" +%FT%TZ) $2"
}
