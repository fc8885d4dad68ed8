#!/usr/bin/env bash
# Runs the command blocks of ops/RUNBOOK.md, in order, as they are written there, so that every
# procedure of the runbook is one that has actually run. The blocks are read from the runbook
# itself (each ```sh block starts with a `# check:` line saying what to do with it), so the page and
# this check cannot drift apart. Everything happens in a fresh temporary directory, against the
# binaries in ${SIGHTLINE_BIN:-.build/debug} (nothing is built), with a real gateway on free
# loopback ports; the gateway is stopped and the directory removed on exit, failure included.
#
#   ops/runbook/check.sh            exit 0 when every block did what the runbook says
#
# `# check: run`                 sourced into this shell (set -euo pipefail): state carries on
# `# check: fails "TEXT"`        run in a child bash; must exit non-zero with TEXT in its output
# `# check: skip (why) instead: ACTION`   not run (root, systemd, a build); ACTION stands in for
#                                what the block does that later blocks rely on (see stand_in)
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RUNBOOK="$REPO/ops/RUNBOOK.md"
BIN="${SIGHTLINE_BIN:-$REPO/.build/debug}"
BIN=$(cd "$BIN" && pwd)
for tool in "$BIN/sightline" "$BIN/sightline-gateway"; do
  [ -x "$tool" ] || { echo "check: $tool not found; build first (swift build), or set SIGHTLINE_BIN" >&2; exit 1; }
done
for tool in openssl curl sqlite3 gpg ss awk; do
  command -v "$tool" >/dev/null || { echo "check: the runbook needs '$tool' (apt-get install the packages in ops/RUNBOOK.md)" >&2; exit 1; }
done

STARTED=$SECONDS
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sightline-runbook.XXXXXX")
GATEWAY_PID=""
CURRENT="(before the first block)"

stop_gateway() {
  [ -n "$GATEWAY_PID" ] || return 0
  kill -TERM "$GATEWAY_PID" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$GATEWAY_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$GATEWAY_PID" 2>/dev/null || true
  wait "$GATEWAY_PID" 2>/dev/null || true
  GATEWAY_PID=""
}

cleanup() {
  local rc=$?
  set +e
  if [ "$rc" != 0 ]; then
    echo
    echo "check: FAILED in $CURRENT (exit $rc)"
    if [ -s "$WORK/gateway.log" ]; then echo "-- gateway log (last 15 lines)"; tail -15 "$WORK/gateway.log"; fi
  fi
  stop_gateway
  if [ -d "$WORK/gnupg" ]; then GNUPGHOME="$WORK/gnupg" gpgconf --kill all >/dev/null 2>&1; fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Two free loopback ports, held at once so they differ (ports in use by other runs are skipped).
free_ports() {
  if command -v python3 >/dev/null; then
    python3 -c 'import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])'
  else
    local found=() p
    while [ ${#found[@]} -lt 2 ]; do
      p=$((20000 + RANDOM % 40000))
      (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || found+=("$p")
    done
    echo "${found[@]}"
  fi
}
read -r CHECK_API_PORT CHECK_OPS_PORT < <(free_ports)

# The runbook's variables (its first block keeps values already set), pointed at the work directory.
# Exported with everything the blocks assign (set -a), so `fails` blocks in a child bash see them.
set -a
ETC="$WORK/etc/sightline"
STATE="$WORK/var/lib/sightline"
SHARE="$WORK/usr/share/sightline"
BACKUP="$WORK/var/backups/sightline"
SRC="$REPO"
CA="$WORK/ca-machine/partnership-ca"
ISSUED="$WORK/ca-machine/issued"
GATEWAY_HOST=localhost
LISTEN=127.0.0.1
API_PORT=$CHECK_API_PORT
OPS_PORT=$CHECK_OPS_PORT
GATEWAY="https://127.0.0.1:$API_PORT"
AS_SIGHTLINE=""
TMPDIR="$WORK/tmp"
GNUPGHOME="$WORK/gnupg"
BACKUP_RECIPIENT="sightline-backup@runbook-check.invalid"
PATH="$BIN:$PATH"
set +a
mkdir -p "$TMPDIR" "$WORK/ca-machine"
mkdir -m 0700 "$GNUPGHOME"
cd "$WORK"

# Scaffolding for what the runbook takes as given: the backup custodian's OpenPGP key (the runbook
# imports the public half; here the check makes a throwaway pair so it can also decrypt).
gpg --batch --quiet --passphrase '' --quick-gen-key "Sightline backup check <$BACKUP_RECIPIENT>" default default never 2>/dev/null

start_gateway() {
  sightline-gateway serve --config "$ETC/gateway.yaml" >>"$WORK/gateway.log" 2>&1 &
  GATEWAY_PID=$!
  for _ in $(seq 1 300); do
    curl -sf "http://127.0.0.1:$OPS_PORT/readyz" >/dev/null 2>&1 && { echo "   (gateway pid $GATEWAY_PID ready on $API_PORT, ops $OPS_PORT)"; return 0; }
    kill -0 "$GATEWAY_PID" 2>/dev/null || { echo "check: the gateway did not start"; GATEWAY_PID=""; return 1; }
    sleep 0.1
  done
  echo "check: the gateway was not ready within 30 s"; return 1
}

reload_gateway() {
  local before
  before=$(grep -c 'participants reloaded' "$WORK/gateway.log" || true)
  kill -HUP "$GATEWAY_PID"
  for _ in $(seq 1 100); do
    [ "$(grep -c 'participants reloaded' "$WORK/gateway.log" || true)" -gt "$before" ] && { grep 'participants reloaded' "$WORK/gateway.log" | tail -1; return 0; }
    sleep 0.1
  done
  echo "check: no 'participants reloaded' in the log after SIGHUP"; tail -3 "$WORK/gateway.log"; return 1
}

# The participants' nightly runs, with the synthetic sample data (exit 3: some records rejected,
# as the sample's faults are meant to be).
submit_sample() {
  local rc
  set +e
  sightline submit --quiet --gateway "$GATEWAY" --identity "$ISSUED/school-100001" --kind school.enrolment \
    --mapping "$SHARE/mappings/school-enrolment.yaml" "$REPO/ops/sample-data/school-100001/enrolment.csv" 2>/dev/null
  rc=$?
  [ "$rc" = 0 ] || [ "$rc" = 3 ] || { set -e; echo "check: the school's sample submission failed ($rc)"; return 1; }
  sightline submit --quiet --gateway "$GATEWAY" --identity "$ISSUED/nhs-Y12345" --kind nhs.gp-registration \
    "$REPO/ops/sample-data/nhs/gp-registrations.ndjson" 2>/dev/null
  rc=$?
  set -e
  [ "$rc" = 0 ] || [ "$rc" = 3 ] || { echo "check: the GP feed's sample submission failed ($rc)"; return 1; }
  echo "   (school/100001 and nhs/Y12345 submitted the sample data)"
}

stand_in() {
  case "$1" in
    "") ;;
    start) start_gateway ;;
    stop) stop_gateway; echo "   (gateway stopped)" ;;
    restart) stop_gateway; start_gateway ;;
    reload) reload_gateway ;;
    make-state-dirs) mkdir -p -m 0700 "$STATE" "$BACKUP" ;;
    submit-sample) submit_sample ;;
    *) echo "check: unknown stand-in '$1' in $CURRENT"; return 1 ;;
  esac
}

# Cut the runbook into blocks: BLOCKS/NNN.sh, and a manifest line "NNN<TAB>first line<TAB>section".
BLOCKS="$WORK/blocks"
mkdir "$BLOCKS"
awk -v dir="$BLOCKS" '
  /^```/ && inblock { inblock = 0; close(file); next }
  /^```sh[[:space:]]*$/ && !infence { inblock = 1; n++; file = sprintf("%s/%03d.sh", dir, n); first = 1; next }
  /^```/ { infence = !infence; next }
  inblock { if (first) { printf "%03d\t%s\t%s\n", n, $0, section > (dir "/manifest") ; first = 0 } print > file; next }
  !infence && /^##+ / { section = $0; sub(/^#+ /, "", section) }
' "$RUNBOOK"

ran=0; drills=0; skipped=()
while IFS=$'\t' read -r n tag section <&3; do
  file="$BLOCKS/$n.sh"
  CURRENT="block $n of ops/RUNBOOK.md (\"$section\")"
  case "$tag" in
    "# check: run")
      echo "== [$n] $section"
      set -a
      # shellcheck disable=SC1090
      source "$file" </dev/null
      set +a
      ran=$((ran + 1))
      ;;
    "# check: fails \""*\")
      expected=${tag#\# check: fails \"}; expected=${expected%\"}
      echo "== [$n] $section (drill: must fail with \"$expected\")"
      set +e
      output=$(bash -euo pipefail "$file" </dev/null 2>&1)
      rc=$?
      set -e
      printf '%s\n' "$output" | sed 's/^/   | /' | tail -8
      [ "$rc" != 0 ] || { echo "check: $CURRENT was meant to fail and succeeded"; exit 1; }
      grep -qF -- "$expected" <<<"$output" || { echo "check: $CURRENT failed (exit $rc) without \"$expected\""; exit 1; }
      drills=$((drills + 1))
      ;;
    "# check: skip"*)
      rest=${tag#\# check: skip}
      action=""
      case "$rest" in *" instead: "*) action=${rest##* instead: }; rest=${rest% instead: *} ;; esac
      command=$(sed -n '2{s/^[[:space:]]*//;p;q}' "$file")
      echo "== [$n] $section: skipped${rest}${action:+, the check does '$action' instead}"
      skipped+=("[$n] $section${rest}: $command${action:+ (stand-in: $action)}")
      stand_in "$action"
      ;;
    *)
      echo "check: block $n of ops/RUNBOOK.md (\"$section\") starts with '$tag', not a '# check:' line"
      exit 1
      ;;
  esac
done 3<"$BLOCKS/manifest"
CURRENT="the checks after the last block"

[ "$ran" -gt 0 ] || { echo "check: no blocks found in $RUNBOOK"; exit 1; }
[ -n "$GATEWAY_PID" ] || { echo "check: the runbook should end with the gateway running"; exit 1; }

# Every metric the runbook names is one a running gateway serves (the alert rules are written with
# these names; a rename in GatewayMetrics.swift fails here).
served=$(curl -sf "http://127.0.0.1:$OPS_PORT/metrics" | awk '/^# TYPE sightline_/ {print $3}' | sort -u)
missing=()
for name in $(grep -oE 'sightline_[a-z_]+' "$RUNBOOK" | sed -E 's/_(bucket|sum|count)$//' | sort -u); do
  grep -qx "$name" <<<"$served" || missing+=("$name")
done
[ ${#missing[@]} = 0 ] || { echo "check: the runbook names metrics the gateway does not serve: ${missing[*]}"; exit 1; }

echo
echo "check: OK in $((SECONDS - STARTED)) s: ran $ran blocks and $drills drills; every metric named is served."
echo "check: skipped ${#skipped[@]} blocks (root, systemd or a build; shown in the runbook, not run here):"
for s in "${skipped[@]}"; do echo "  $s"; done
