#!/usr/bin/env bash
# systemd-harness.sh - boot a throw-away, real systemd (PID 1 of private pid/mount/
# uts/cgroup namespaces) on a host whose PID 1 is NOT systemd, install a unit file
# into it, run a check command against it, and tear everything down again.
#
# Usage:
#   systemd-harness.sh [options] UNIT_FILE [--] CHECK_CMD [ARGS...]
#   systemd-harness.sh --probe        # exit 0 if a manager can be booted here, 77 if not
#   systemd-harness.sh --self-test    # boot + restart/notify/watchdog/stop demo checks
#
# Options:
#   --name NAME         install the unit as NAME (default: basename of UNIT_FILE)
#   --also FILE         install another unit file next to it (repeatable)
#   --dropin FILE       install FILE as a drop-in: /etc/systemd/system/NAME.d/FILE (repeatable)
#   --unmask UNIT       do not mask UNIT (the harness masks the sysinit/sockets/timers units)
#   --start             'systemctl start NAME' before the check; failure => exit 1
#   --outside           run CHECK_CMD on the host, not inside the namespaces
#   --tmpfs PATH        mount an empty tmpfs on PATH inside the namespaces (repeatable)
#   --bind SRC:DST      bind-mount host directory SRC on DST inside the namespaces; DST
#                       must be under /run (private there, so nothing is created on the
#                       host) and is where the unit sees SRC (repeatable). (agentd addition:
#                       lets a unit with PrivateTmp=yes use a test's temp dir)
#   --no-unit           install no unit (the check command installs its own)
#   --host-dev          share the host /dev instead of a private minimal /dev
#   --boot-timeout SEC  default 30
#   --stop-timeout SEC  how long 'systemctl poweroff' may take before SIGKILL (default 30)
#   --keep-logs DIR     save journal + manager console log to DIR before teardown
#   -v|--verbose
#
# CHECK_CMD runs (by default) INSIDE the namespaces via nsenter, in the current
# directory, so plain `systemctl`, `journalctl`, `kill $(systemctl show -p MainPID
# --value X)` just work.  Environment given to it:
#   SDH_UNIT  installed unit name        SDH_PID   host PID of the namespaced systemd
#   SDH_IN    (outside mode) command prefix that runs a command inside the namespaces
#
# Exit status: CHECK_CMD's status; 77 = this environment cannot host systemd (skip);
#              125 = harness failure (boot failed/timed out, bad usage).
#
# Needs: root, util-linux unshare/nsenter, systemd (>= 240; tested with 252), a kernel
# with cgroup2 + cgroup namespaces.  Works with pure cgroup2 and with hybrid
# (v1 controllers + /sys/fs/cgroup/unified) hosts; never touches v1 controller trees.
# Host side effects: one cgroup2 directory (removed on exit) and files under a mktemp
# dir in ${TMPDIR:-/tmp} (removed on exit).  /run, /dev, /etc/systemd/system,
# /sys/fs/cgroup are private copies inside the namespaces.  What the unit itself
# writes to the shared filesystem (StateDirectory=, /var/log, ...) is NOT isolated;
# use --tmpfs for such paths.
set -u

prog=${0##*/}
die()  { echo "$prog: $*" >&2; exit 125; }
skip() { echo "$prog: SKIP: $*" >&2; exit 77; }
log()  { [ "$VERBOSE" = 1 ] && echo "$prog: $*" >&2; return 0; }

NAME= UNIT_FILE= START=0 OUTSIDE=0 HOST_DEV=0 VERBOSE=0 MODE=run
BOOT_TIMEOUT=30 STOP_TIMEOUT=30 KEEP_LOGS=
ALSO=() DROPINS=() UNMASK=() TMPFS=() BINDS=() NO_UNIT=0
while [ $# -gt 0 ]; do
  case $1 in
    --name) NAME=$2; shift 2;;
    --also) ALSO+=("$2"); shift 2;;
    --dropin) DROPINS+=("$2"); shift 2;;
    --unmask) UNMASK+=("$2"); shift 2;;
    --start) START=1; shift;;
    --outside) OUTSIDE=1; shift;;
    --tmpfs) TMPFS+=("$2"); shift 2;;
    --bind) case $2 in *:/run/*) BINDS+=("$2");; *) die "--bind SRC:DST needs DST under /run";; esac; shift 2;;
    --no-unit) NO_UNIT=1; shift;;
    --host-dev) HOST_DEV=1; shift;;
    --boot-timeout) BOOT_TIMEOUT=$2; shift 2;;
    --stop-timeout) STOP_TIMEOUT=$2; shift 2;;
    --keep-logs) KEEP_LOGS=$2; shift 2;;
    -v|--verbose) VERBOSE=1; shift;;
    --probe) MODE=probe; shift;;
    --self-test) MODE=selftest; shift;;
    -h|--help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0;;
    --) shift; break;;
    -*) die "unknown option $1";;
    *) if [ -z "$UNIT_FILE" ] && [ "$MODE" = run ] && [ $NO_UNIT = 0 ]; then UNIT_FILE=$1; shift; else break; fi;;
  esac
done
[ "${1-}" = -- ] && shift

# ---------------------------------------------------------------- preflight
[ "$(id -u)" = 0 ] || skip "must run as root"
for c in unshare nsenter mount; do command -v $c >/dev/null || skip "missing $c"; done
SYSTEMD=
for s in /lib/systemd/systemd /usr/lib/systemd/systemd; do [ -x $s ] && { SYSTEMD=$s; break; }; done
[ -n "$SYSTEMD" ] || skip "systemd binary not installed (apt-get install systemd)"
command -v systemctl >/dev/null || skip "systemctl missing"
[ -e /proc/self/ns/cgroup ] || skip "kernel lacks cgroup namespaces"
unshare --pid --fork --mount --uts --cgroup --propagation private true 2>/dev/null \
  || skip "cannot create namespaces (unprivileged container? seccomp?)"

if [ "$MODE" = run ] && [ $NO_UNIT = 0 ]; then
  [ -n "$UNIT_FILE" ] || die "usage: $prog [options] UNIT_FILE [--] CHECK_CMD..."
  [ -f "$UNIT_FILE" ] || die "no such unit file: $UNIT_FILE"
  [ $# -gt 0 ] || die "no check command given"
  [ -n "$NAME" ] || NAME=${UNIT_FILE##*/}
fi
[ "$MODE" = run ] && [ $NO_UNIT = 1 ] && { [ $# -gt 0 ] || die "no check command given"; NAME=${NAME:-none}; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sdh.XXXXXX") || die "mktemp failed"
chmod 755 "$WORK"
TAG=sdh-harness-$$-${WORK##*.}
U= P= CG2= CG2_PRIVATE=0 RC=125

# The cgroup2 hierarchy: use the host mount if there is one (pure v2: /sys/fs/cgroup,
# hybrid: /sys/fs/cgroup/unified); otherwise (pure v1 host) mount one privately.
CG2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
if [ -z "$CG2" ]; then
  CG2_PRIVATE=1; CG2=$WORK/cg2; mkdir -p "$CG2"
fi
cg2_do() {  # run a shell snippet with $CG2 pointing at a cgroup2 mount
  if [ $CG2_PRIVATE = 1 ]; then
    CG2=$CG2 unshare --mount --propagation private sh -c 'mount -n -t cgroup2 cgroup2 "$CG2" && eval "$0"' "$1"
  else CG2=$CG2 sh -c "$1"; fi
}

in_ns() { nsenter -t "$P" -m -u -p -C --wd="$PWD" -- "$@"; }

teardown() {
  local st=$? i
  trap - EXIT INT TERM
  [ "$RC" = 125 ] && [ $st != 0 ] && RC=$st
  if [ -n "$P" ] && kill -0 "$P" 2>/dev/null; then
    if [ -n "$KEEP_LOGS" ]; then
      mkdir -p "$KEEP_LOGS"
      in_ns journalctl --no-pager -o short-monotonic > "$KEEP_LOGS/journal.txt" 2>&1
      cp "$WORK/console.log" "$KEEP_LOGS/console.log" 2>/dev/null
    fi
    log "shutting down manager (pid $P)"
    in_ns systemctl poweroff --no-block >/dev/null 2>&1
    for i in $(seq 1 $((STOP_TIMEOUT * 10))); do kill -0 "$U" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$P" 2>/dev/null; then
      echo "$prog: manager did not exit in ${STOP_TIMEOUT}s, SIGKILL to pid $P" >&2
      kill -KILL "$P" 2>/dev/null    # PID 1 of the pid namespace: takes all its processes with it
    fi
  fi
  [ -n "$U" ] && wait "$U" 2>/dev/null
  # remove our cgroup subtree (deepest first); retry briefly while the kernel reaps
  for i in 1 2 3 4 5 6 7 8 9 10; do
    cg2_do "[ -d \"\$CG2/$TAG\" ] || exit 0; find \"\$CG2/$TAG\" -depth -type d -exec rmdir {} + 2>/dev/null; [ ! -d \"\$CG2/$TAG\" ]" && break
    sleep 0.2
  done
  cg2_do "[ ! -d \"\$CG2/$TAG\" ]" || echo "$prog: warning: could not remove cgroup $CG2/$TAG" >&2
  rm -rf "$WORK"
  exit "$RC"
}
trap teardown EXIT
trap 'RC=130; exit' INT TERM

# ---------------------------------------------------------------- namespace setup scripts
cg2_do "mkdir \"\$CG2/$TAG\"" || die "cannot create cgroup $CG2/$TAG"
: > "$WORK/console.log"
mkdir -p "$WORK/etc-units"
cp -a /etc/systemd/system/. "$WORK/etc-units/" 2>/dev/null

# units to mask: everything pulled in by sysinit/basic/sockets/timers/paths/local-fs
# except journald; plus the ones that would touch the shared host filesystem.
{
  for d in /etc/systemd/system /usr/local/lib/systemd/system /lib/systemd/system /usr/lib/systemd/system; do
    for t in sysinit basic sockets timers paths local-fs remote-fs swap cryptsetup veritysetup integritysetup; do
      for w in "$d/$t.target.wants" "$d/$t.target.requires"; do
        [ -d "$w" ] && ls -1 "$w"
      done
    done
  done
  printf '%s\n' systemd-tmpfiles-setup.service systemd-tmpfiles-setup-dev.service \
    systemd-tmpfiles-clean.service systemd-tmpfiles-clean.timer systemd-journald-audit.socket \
    systemd-journal-flush.service systemd-update-utmp.service systemd-update-utmp-runlevel.service \
    systemd-remount-fs.service systemd-sysusers.service systemd-firstboot.service \
    systemd-machine-id-commit.service systemd-random-seed.service systemd-binfmt.service \
    systemd-modules-load.service systemd-sysctl.service systemd-udevd.service \
    systemd-udev-trigger.service systemd-hwdb-update.service ldconfig.service \
    systemd-logind.service getty.target console-getty.service
  [ $HOST_DEV = 1 ] && echo systemd-journald-dev-log.socket
} | sort -u | grep -vxE 'systemd-journald\.(service|socket)|systemd-journald-dev-log\.socket|sysinit\.target|basic\.target' > "$WORK/masks"
for u in "${UNMASK[@]}"; do grep -vxF "$u" "$WORK/masks" > "$WORK/masks.new"; mv "$WORK/masks.new" "$WORK/masks"; done
while read -r u; do ln -sfn /dev/null "$WORK/etc-units/$u"; done < "$WORK/masks"

cat > "$WORK/etc-units/harness.target" <<'EOF'
[Unit]
Description=systemd-harness boot target
Wants=systemd-journald.service systemd-journald.socket
AllowIsolate=yes
EOF
printf '[Unit]\nDescription=System Initialization (harness stub)\n' > "$WORK/etc-units/sysinit.target"
printf '[Unit]\nDescription=Basic System (harness stub)\nRequires=sysinit.target\nAfter=sysinit.target\n' > "$WORK/etc-units/basic.target"

if [ "$MODE" = run ] && [ $NO_UNIT = 0 ]; then
  cp "$UNIT_FILE" "$WORK/etc-units/$NAME" || die "cannot copy $UNIT_FILE"
  for f in "${ALSO[@]}"; do cp "$f" "$WORK/etc-units/${f##*/}" || die "cannot copy $f"; done
  if [ ${#DROPINS[@]} -gt 0 ]; then
    mkdir -p "$WORK/etc-units/$NAME.d"
    for f in "${DROPINS[@]}"; do cp "$f" "$WORK/etc-units/$NAME.d/${f##*/}" || die "cannot copy $f"; done
  fi
fi

# stage 1: PID 1 of the new pid+mount+uts namespaces. Moves itself into our cgroup,
# then enters a new cgroup namespace rooted there (stage 2).
cat > "$WORK/stage1.sh" <<EOF
set -e
if [ $CG2_PRIVATE = 1 ]; then mount -n -t cgroup2 cgroup2 "$CG2"; fi
echo \$\$ > "$CG2/$TAG/cgroup.procs"
exec unshare --cgroup bash "$WORK/stage2.sh"
EOF
# stage 2: private /run, /dev, cgroup2 view, unit dir; then exec systemd as PID 1.
{
  echo 'set -e'
  echo 'M() { mount -n "$@"; }   # -n: never write the host utab in /run/mount'
  echo 'M -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run'
  echo 'M -t cgroup2 cgroup2 /sys/fs/cgroup'
  if [ $HOST_DEV = 0 ]; then
    cat <<'EOF'
M -t tmpfs -o mode=0755,nosuid,size=4m tmpfs /dev
for n in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do
  IFS=: read -r name maj min <<<"$n"; mknod -m 666 /dev/$name c $maj $min
done
mkdir -p /dev/pts /dev/shm /dev/mqueue
M -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts /dev/pts
ln -s pts/ptmx /dev/ptmx
M -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm
M -t mqueue mqueue /dev/mqueue 2>/dev/null || true
ln -s /proc/self/fd /dev/fd; ln -s /proc/self/fd/0 /dev/stdin
ln -s /proc/self/fd/1 /dev/stdout; ln -s /proc/self/fd/2 /dev/stderr; ln -s /proc/kcore /dev/core
touch /dev/console
EOF
  fi
  echo "M --bind '$WORK/console.log' /dev/console"
  echo "M --bind '$WORK/etc-units' /etc/systemd/system"
  for t in "${TMPFS[@]}"; do printf 'mkdir -p %q && M -t tmpfs tmpfs %q\n' "$t" "$t"; done
  for b in "${BINDS[@]}"; do printf 'mkdir -p %q && M --bind %q %q\n' "${b#*:}" "${b%%:*}" "${b#*:}"; done
  cat <<'EOF'
mkdir -p /run/systemd/journald.conf.d
printf '[Journal]\nStorage=volatile\nReadKMsg=no\nForwardToSyslog=no\nForwardToWall=no\nForwardToConsole=no\nRateLimitIntervalSec=0\n' \
  > /run/systemd/journald.conf.d/harness.conf
EOF
  echo "exec env -i container=other PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \\"
  echo "  $SYSTEMD --system --unit=harness.target --log-target=journal --log-level=info --show-status=no"
} > "$WORK/stage2.sh"

# ---------------------------------------------------------------- boot
t0=$(date +%s.%N)
setsid unshare --pid --fork --mount --uts --propagation private --mount-proc \
  bash "$WORK/stage1.sh" </dev/null >"$WORK/launcher.log" 2>&1 &
U=$!
for i in $(seq 1 100); do
  P=$(cat /proc/$U/task/$U/children 2>/dev/null | awk '{print $1}')
  [ -n "$P" ] && break; kill -0 $U 2>/dev/null || break; sleep 0.05
done
[ -n "$P" ] || { cat "$WORK/launcher.log" >&2; die "namespace launcher died"; }
log "unshare pid $U, namespaced PID 1 = host pid $P"
ok=0
for i in $(seq 1 $((BOOT_TIMEOUT * 20))); do
  kill -0 "$P" 2>/dev/null || break
  [ -S /proc/$P/root/run/systemd/private ] && { ok=1; break; }
  sleep 0.05
done
if [ $ok = 1 ]; then
  state=$(timeout "$BOOT_TIMEOUT" nsenter -t "$P" -m -u -p -C systemctl is-system-running --wait 2>/dev/null)
  case $state in running|degraded) ;; *) ok=0;; esac
fi
t1=$(date +%s.%N)
if [ $ok != 1 ]; then
  echo "$prog: manager failed to boot (state: ${state:-none})" >&2
  cat "$WORK/launcher.log" "$WORK/console.log" >&2
  [ "$MODE" = probe ] && { RC=77; exit; }
  exit 125
fi
log "booted in $(awk -v a=$t0 -v b=$t1 'BEGIN{printf "%.2f", b-a}')s, state=$state"
[ "$state" = degraded ] && { echo "$prog: warning: manager degraded:" >&2; in_ns systemctl --failed --no-legend >&2; }

if [ "$MODE" = probe ]; then
  echo "systemd harness OK: booted in $(awk -v a=$t0 -v b=$t1 'BEGIN{printf "%.2f", b-a}')s ($($SYSTEMD --version | head -1))"
  RC=0; exit
fi

# ---------------------------------------------------------------- self test
if [ "$MODE" = selftest ]; then
  NAME=sdh-demo.service
  cat > "$WORK/etc-units/sdh-demo.service" <<'EOF'
[Service]
ExecStart=/bin/sh -c 'echo hi; sleep 1000'
Restart=always
RestartSec=1
EOF
  cat > "$WORK/etc-units/sdh-notify.service" <<'EOF'
[Service]
Type=notify
NotifyAccess=all
WatchdogSec=2
ExecStart=/bin/sh -c 'sleep 0.3; systemd-notify --ready --status=up; while :; do sleep 0.5; systemd-notify WATCHDOG=1; done'
EOF
  cat > "$WORK/etc-units/sdh-stall.service" <<'EOF'
[Service]
Type=notify
NotifyAccess=all
WatchdogSec=1
ExecStart=/bin/sh -c 'systemd-notify --ready; exec sleep 1000'
EOF
  cat > "$WORK/etc-units/sdh-term.service" <<'EOF'
[Service]
ExecStart=/bin/sh -c 'trap "echo got TERM, ignoring" TERM; while :; do sleep 0.2; done'
TimeoutStopSec=2
EOF
  cat > "$WORK/etc-units/sdh-prevent.service" <<'EOF'
[Service]
ExecStart=/bin/sh -c 'sleep 0.2; exit 3'
Restart=always
RestartSec=1
RestartPreventExitStatus=3
EOF
  cat > "$WORK/selftest.sh" <<'EOF'
fails=0
ok()   { echo "PASS: $*"; }
bad()  { echo "FAIL: $*"; fails=$((fails+1)); }
p()    { systemctl show -p "$1" --value "$2"; }
systemctl daemon-reload
systemctl start sdh-demo.service || bad "start demo"
m1=$(p MainPID sdh-demo.service); kill -9 "$m1"; sleep 2
m2=$(p MainPID sdh-demo.service); n=$(p NRestarts sdh-demo.service)
[ "$n" = 1 ] && [ "$m2" != 0 ] && [ "$m2" != "$m1" ] && ok "Restart=always after kill -9 (NRestarts=$n, MainPID $m1 -> $m2)" || bad "restart: NRestarts=$n MainPID=$m2"
journalctl -u sdh-demo.service -o cat --no-pager | grep -qx hi && ok "stdout -> journal" || bad "stdout in journal"
systemctl stop sdh-demo.service; [ "$(p ActiveState sdh-demo.service)" = inactive ] && ok "stop" || bad stop
systemctl start sdh-notify.service && [ "$(p StatusText sdh-notify.service)" = up ] && ok "Type=notify via systemd-notify (STATUS=up)" || bad "notify"
sleep 3; [ "$(p ActiveState sdh-notify.service)" = active ] && ok "WATCHDOG=1 pings keep it alive" || bad "watchdog pings"
systemctl start sdh-stall.service; sleep 2.5
[ "$(p Result sdh-stall.service)" = watchdog ] && ok "watchdog timeout detected (Result=watchdog)" || bad "watchdog timeout: $(p Result sdh-stall.service)"
systemctl start sdh-term.service; s=$(date +%s.%N); systemctl stop sdh-term.service; e=$(date +%s.%N)
r=$(p Result sdh-term.service)
[ "$r" = timeout ] && ok "SIGTERM ignored -> SIGKILL after TimeoutStopSec ($(awk -v a=$s -v b=$e 'BEGIN{printf "%.1f", b-a}')s, Result=timeout)" || bad "stop timeout: $r"
systemctl start sdh-prevent.service; sleep 2.5
[ "$(p NRestarts sdh-prevent.service)" = 0 ] && [ "$(p ExecMainStatus sdh-prevent.service)" = 3 ] && ok "RestartPreventExitStatus=3 honoured" || bad "RestartPreventExitStatus"
systemctl stop sdh-notify.service
[ $fails = 0 ] && echo "self-test: all passed" || echo "self-test: $fails failed"
exit $fails
EOF
  set -- bash "$WORK/selftest.sh"
fi

# ---------------------------------------------------------------- run the check
in_ns systemctl daemon-reload || die "daemon-reload failed"
if [ $START = 1 ]; then
  if ! in_ns systemctl start "$NAME"; then
    in_ns systemctl status --no-pager -l "$NAME" >&2
    RC=1; exit
  fi
fi
export SDH_UNIT=$NAME SDH_PID=$P
if [ $OUTSIDE = 1 ]; then
  export SDH_IN="nsenter -t $P -m -u -p -C --wd=."
  "$@"; RC=$?
else
  in_ns env SDH_UNIT="$NAME" SDH_PID="$P" "$@"; RC=$?
fi
exit "$RC"
