#!/bin/bash
# The sandbox holder: a bash script that runs as PID 1 of a sandbox's PID namespace.
#
# `unshare` starts it in fresh mount, UTS, IPC and PID namespaces (and a user namespace when
# teamstack is not root), with the sandbox directory as its working directory. It:
#  1. writes `holder.json`: its host PID and start time, read from the host's /proc before
#     /proc is remounted, so that any later process can find it, verify it and kill it;
#  2. gives the sandbox its own /etc, /home, /opt, /srv, /var, /root, /run and /usr (overlayfs
#     with upper and work dirs under `fs/`, or a copy when overlayfs is refused and the
#     directory is small), an empty /tmp, the `io/` directory at /run/teamstack, its own /proc,
#     its hostname, and its name in /etc/hosts;
#  3. prints `ready` (the creator's handshake), runs user_data with its output through a bounded
#     writer, and records the exit code in `exit-code` (written to a temporary name, then renamed);
#  4. stays, reaping orphans, until it is killed: killing PID 1 makes the kernel kill every
#     process in the namespace, and the mount namespace (with its mounts) goes with them.
#
# Inputs (environment): TEAMSTACK_SERVER, TEAMSTACK_IP; TS_REQUIRED_DIRS and TS_OPTIONAL_DIRS
# (directories to isolate; a required one that cannot be isolated stops the sandbox);
# TS_FS_MODE (auto | overlay | copy) and TS_COPY_LIMIT_KB; TS_LOG_HEAD_BYTES and
# TS_LOG_SEGMENT_BYTES; TS_OUTPUT_MARK (a line written to the log when user_data exits); TS_SHELL and TS_UD_EXEC (1: user_data has a #! line and runs as is);
# TSENV_NAME=value for each variable of user_data's environment (env -i NAME=value).
#
# Every file of the sandbox is addressed relative to the working directory (or through
# /proc/self/cwd), never by path: the directory may lie under /tmp, /var or /home, which the
# sandbox's own mounts hide.
set -u
trap '' PIPE
umask 022
die() { echo "teamstack: $*" >&2; exit 91; }
note() { echo "teamstack: $*" >&2; }

read -r statline < /proc/self/stat || die "cannot read /proc/self/stat"
hostpid=${statline%% *}
read -r -a f <<< "${statline##*) }"
ppid=${f[1]}
start=${f[19]}
read -r pstat < "/proc/$ppid/stat" || die "cannot read the launcher's /proc entry"
read -r -a pf <<< "${pstat##*) }"
pidns=$(readlink "/proc/$hostpid/ns/pid") || die "cannot read the PID namespace"
printf '{"pid":%s,"startTime":"%s","launcherPid":%s,"launcherStartTime":"%s","pidNamespace":"%s"}\n' \
  "$hostpid" "$start" "$ppid" "${pf[19]}" "$pidns" > holder.json.tmp && mv -f holder.json.tmp holder.json \
  || die "cannot write holder.json"

# Files bind-mounted onto paths inside a directory (Docker's /etc/hosts, /etc/resolv.conf) are
# not part of an overlay's lower layer: keep their content so the new view still has them.
declare -a subfiles=()
save_file_submounts() {
  local src=$1 mp
  while read -r _ _ _ _ mp _; do
    case $mp in "$src"/*) ;; *) continue ;; esac
    case $mp in *\\*) continue ;; esac
    [ -f "$mp" ] || continue
    mkdir -p fs/submounts || return 0
    cat -- "$mp" > "fs/submounts/${#subfiles[@]}" 2>/dev/null || continue
    subfiles+=("$mp")
  done < /proc/self/mountinfo
}
restore_file_submounts() {
  local i
  for i in "${!subfiles[@]}"; do
    cat -- "fs/submounts/$i" > "${subfiles[$i]}" 2>/dev/null || note "could not carry ${subfiles[$i]} into the sandbox"
  done
  subfiles=()
}

# isolate DIR REQUIRED: gives the sandbox its own writable /DIR.
isolate() {
  local d=$1 required=$2 src=/$1 why="the filesystem mode is copy" err size
  if [ ! -d "$src" ] || [ -L "$src" ]; then
    [ "$required" = 1 ] && die "cannot isolate $src: it is not a directory on this machine"
    return 0
  fi
  save_file_submounts "$src"
  if [ "$TS_FS_MODE" != copy ]; then
    mkdir -p "fs/$d/upper" "fs/$d/work" || die "cannot create fs/$d"
    if err=$(mount -t overlay overlay -o "lowerdir=$src,upperdir=/proc/self/cwd/fs/$d/upper,workdir=/proc/self/cwd/fs/$d/work" "$src" 2>&1); then
      restore_file_submounts
      return 0
    fi
    rm -rf "fs/$d"
    [ "$TS_FS_MODE" = overlay ] && die "cannot mount overlayfs on $src: $err"
    why="overlayfs is not available ($err)"
  fi
  size=$(du -sxk "$src" 2>/dev/null | cut -f1)
  if [ "${size:-0}" -gt "$TS_COPY_LIMIT_KB" ]; then
    [ "$required" = 1 ] && die "cannot give the sandbox its own $src: $why and $src holds ${size} KiB, more than the $TS_COPY_LIMIT_KB KiB copy limit. Run teamstack as root, or on Linux 5.11 or later with unprivileged user namespaces, so that overlayfs can be used"
    note "$src is shared with the host: $why and it is too big to copy (${size} KiB)"
    subfiles=()
    return 0
  fi
  note "$src is a copy (${size:-0} KiB): $why"
  mkdir -p "fs/$d/copy" || die "cannot create fs/$d/copy"
  cp -a "$src/." "fs/$d/copy/" 2>>fs/copy-errors.log || note "some files of $src could not be copied (see fs/copy-errors.log)"
  mount --no-canonicalize --bind "/proc/self/cwd/fs/$d/copy" "$src" || die "cannot bind-mount the copy of $src"
  restore_file_submounts
}

for d in $TS_REQUIRED_DIRS; do isolate "$d" 1; done
for d in $TS_OPTIONAL_DIRS; do isolate "$d" 0; done

mkdir -p fs/tmp && chmod 1777 fs/tmp || die "cannot create fs/tmp"
mount --no-canonicalize --bind /proc/self/cwd/fs/tmp /tmp || die "cannot give the sandbox its own /tmp"
mkdir -p /run/teamstack && mount --no-canonicalize --bind /proc/self/cwd/io /run/teamstack \
  || die "cannot mount the sandbox's io directory at /run/teamstack"
mount -t proc proc /proc || die "cannot mount /proc for the sandbox's PID namespace"
printf '%s\n' "$TEAMSTACK_SERVER" > /proc/sys/kernel/hostname 2>/dev/null || note "cannot set the hostname"
printf '%s\t%s\n' "$TEAMSTACK_IP" "$TEAMSTACK_SERVER" >> /etc/hosts 2>/dev/null || note "cannot add the server to /etc/hosts"

# A holder that outlived its creator's crash must not run user_data in a directory since removed.
[ -e request.json ] || die "the sandbox directory was removed while the sandbox was being set up"

# Keeps the first TS_LOG_HEAD_BYTES of the output in output.log, then numbered segments of
# TS_LOG_SEGMENT_BYTES (output.seg.000001, ...), of which only the latest full one and the one
# being written are kept. Files are never renamed, so a reader never misses the newest one.
# stdbuf -o0 makes head write what it reads at once, so the log is current while user_data runs.
declare -a unbuffered=()
command -v stdbuf > /dev/null 2>&1 && unbuffered=(stdbuf -o0)
log_writer() {
  local n=1 seg size
  "${unbuffered[@]}" head -c "$TS_LOG_HEAD_BYTES" > output.log
  while :; do
    printf -v seg 'output.seg.%06d' "$n"
    "${unbuffered[@]}" head -c "$TS_LOG_SEGMENT_BYTES" > "$seg"
    size=$(wc -c < "$seg")
    # head stops short only at the end of the input.
    if [ "$size" -lt "$TS_LOG_SEGMENT_BYTES" ]; then
      [ "$size" -eq 0 ] && rm -f "$seg"
      break
    fi
    [ "$n" -gt 1 ] && rm -f "$(printf 'output.seg.%06d' $((n - 1)))"
    n=$((n + 1))
  done
}

declare -a ud_env=()
for v in $(compgen -e); do
  case $v in TSENV_*) ud_env+=("${v#TSENV_}=${!v}") ;; esac
done
if [ "$TS_UD_EXEC" = 1 ]; then ud_cmd=(/run/teamstack/user-data); else ud_cmd=("$TS_SHELL" -e /run/teamstack/user-data); fi

echo ready
exec 1>&2
trap - PIPE
# fd 3 feeds the log writer; the holder keeps it so that it can mark the end of user_data's output.
exec 3> >(log_writer)
(
  cd -- "$TSENV_HOME" 2>/dev/null || cd /
  exec env -i "${ud_env[@]}" "${ud_cmd[@]}"
) < /dev/null >&3 2>&3 3>&- &
ud=$!
wait "$ud"
rc=$?
# The writer may still be behind by a pipe's worth of output: the exit code is recorded only
# once the mark (removed by readers) has reached the log, so that the log is complete then.
printf '%s\n' "$TS_OUTPUT_MARK" >&3
exec 3>&-
for _ in $(seq 1000); do
  cat output.log output.seg.* 2> /dev/null | grep -qF -- "$TS_OUTPUT_MARK" && break
  sleep 0.01
done
printf '%s\n' "$rc" > exit-code.tmp && mv -f exit-code.tmp exit-code || note "cannot record the exit code $rc"
while :; do
  sleep 3600 &
  wait $!
done
