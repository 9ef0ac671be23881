#!/bin/sh
# The container's entrypoint: runs proxy on $PROXY_CONFIG_FILE (or Pipy's
# $PIPY_CONFIG_FILE), a path or a URL, with one worker per CPU the container may
# use: the cgroup CPU quota (v2 cpu.max, v1 cpu.cfs_quota_us), else the CPUs it
# sees. $PROXY_THREADS overrides. Arguments are passed on to proxy.
#
# For tests: $CGROUP_ROOT is where cgroup files are read (/sys/fs/cgroup), and
# $PROXY_BIN the program run (proxy).
set -eu

CGROUP_ROOT=${CGROUP_ROOT:-/sys/fs/cgroup}
PROXY_BIN=${PROXY_BIN:-proxy}

# CPUs allowed by a quota of $1 microseconds per period of $2, rounded down, at
# least 1; nothing when there is no quota.
cpus_of_quota() {
  case "$1" in
    max | -1 | "") return 0 ;;
  esac
  [ "$2" -gt 0 ] 2>/dev/null || return 0
  n=$(( $1 / $2 ))
  [ "$n" -ge 1 ] || n=1
  echo "$n"
}

quota_cpus() {
  if [ -r "$CGROUP_ROOT/cpu.max" ]; then
    read -r quota period < "$CGROUP_ROOT/cpu.max" || true
    cpus_of_quota "${quota:-max}" "${period:-0}"
    return 0
  fi
  for dir in "$CGROUP_ROOT/cpu" "$CGROUP_ROOT/cpu,cpuacct" "$CGROUP_ROOT"; do
    if [ -r "$dir/cpu.cfs_quota_us" ] && [ -r "$dir/cpu.cfs_period_us" ]; then
      cpus_of_quota "$(cat "$dir/cpu.cfs_quota_us")" "$(cat "$dir/cpu.cfs_period_us")"
      return 0
    fi
  done
}

config=${PROXY_CONFIG_FILE:-${PIPY_CONFIG_FILE:-}}
if [ -z "$config" ]; then
  echo "proxy: set PROXY_CONFIG_FILE (or PIPY_CONFIG_FILE) to the script to run: a path in the container or an http(s):// URL" >&2
  exit 2
fi

threads=${PROXY_THREADS:-}
if [ -z "$threads" ]; then
  visible=$(nproc 2>/dev/null || echo 1)
  threads=$(quota_cpus)
  if [ -z "$threads" ] || [ "$threads" -gt "$visible" ]; then
    threads=$visible
  fi
fi

exec "$PROXY_BIN" --threads "$threads" "$config" "$@"
