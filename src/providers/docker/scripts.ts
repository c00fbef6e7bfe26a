/**
 * The shell scripts teamstack runs inside a container (POSIX sh: Debian's dash, busybox's ash).
 * user_data's state lives in the container itself, so that any teamstack process, a later one
 * after a crash included, learns how it ended: `/var/lib/teamstack/` (on the container's disk:
 * kept across stop and start) holds `started` (made once, atomically: the lock that runs
 * user_data once), `output` (its stdout and stderr) and `exit-code` (written last, by rename).
 * user_data itself and scripts reach `/run/teamstack/`, a tmpfs: memory, never the disk.
 */

export const STATE_DIR = "/var/lib/teamstack";
export const RUN_DIR = "/run/teamstack";

/**
 * Runs user_data once, detached: the wrapper outlives the exec that starts it and the teamstack
 * process. `$1` is user_data's length in bytes: a connection cut while sending it leaves a short
 * file, which is refused instead of run.
 */
export const START_USER_DATA = `set -e
umask 077
mkdir -p ${STATE_DIR} ${RUN_DIR}
[ -d ${STATE_DIR}/started ] && exit 0
f=${RUN_DIR}/user-data.$$
cat > "$f"
n=$(($(wc -c < "$f")))
if [ "$n" -ne "$1" ]; then rm -f "$f"; echo "teamstack: user_data arrived cut ($n of $1 bytes)" >&2; exit 3; fi
if ! mkdir ${STATE_DIR}/started 2>/dev/null; then rm -f "$f"; exit 0; fi
mv "$f" ${RUN_DIR}/user-data
: > ${STATE_DIR}/output
sh -c "$2" teamstack-user-data < /dev/null > /dev/null 2>&1 &
`;

/** The wrapper: user_data's output to `output`, then its exit code to `exit-code` (by rename). */
export const RUN_USER_DATA = `cd /
f=${RUN_DIR}/user-data
d=${STATE_DIR}
if [ "$(head -c 2 "$f")" = "#!" ]; then chmod 700 "$f"; "$f"
elif command -v bash > /dev/null 2>&1; then bash -e "$f"
else sh -e "$f"
fi < /dev/null >> "$d/output" 2>&1
rc=$?
rm -f "$f"
echo "$rc" > "$d/exit-code.tmp" && mv "$d/exit-code.tmp" "$d/exit-code"
`;

/**
 * Follows user_data: prints `output` from byte `$1` on as it grows and, on stderr at the end,
 * `exit N` (finished), `unstarted` (never started) or `again` (after `$2` checks: the caller asks
 * again from where it is, so a follower whose caller went away ends soon).
 */
export const FOLLOW_USER_DATA = `d=${STATE_DIR}
off=$1
i=0
while :; do
  e=0; [ -e "$d/exit-code" ] && e=1
  s=0; [ -f "$d/output" ] && s=$(($(wc -c < "$d/output")))
  if [ "$s" -gt "$off" ]; then tail -c +$((off + 1)) "$d/output" | head -c $((s - off)); off=$s; fi
  if [ $e = 1 ]; then echo "exit $(cat "$d/exit-code")" >&2; exit 0; fi
  if [ ! -d "$d/started" ]; then echo unstarted >&2; exit 0; fi
  i=$((i + 1)); if [ "$i" -ge "$2" ]; then echo again >&2; exit 0; fi
  sleep 0.1
done
`;

/**
 * Runs a script given on stdin (runScript, exec): `#!` scripts as they are, others with `bash -e`
 * (or `sh -e` where there is no bash); stdout and stderr together; at most `$1` seconds where the
 * image has `timeout`.
 */
export const RUN_SCRIPT = `umask 077
mkdir -p ${RUN_DIR}
f=${RUN_DIR}/script.$$
cat > "$f"
chmod 700 "$f"
if [ "$(head -c 2 "$f")" = "#!" ]; then set -- "$1" "$f"
elif command -v bash > /dev/null 2>&1; then set -- "$1" bash -e "$f"
else set -- "$1" sh -e "$f"
fi
t=$1; shift
if command -v timeout > /dev/null 2>&1; then timeout -s KILL "$t" "$@" < /dev/null 2>&1; else "$@" < /dev/null 2>&1; fi
rc=$?
rm -f "$f"
exit $rc
`;

/**
 * The container's main process: waits forever (the engine's init, PID 1, reaps orphans), so what
 * user_data starts keeps running until the container is destroyed; ends at once on SIGTERM (stop).
 */
export const KEEP_ALIVE = `trap 'exit 0' TERM INT
while :; do sleep 3600 & wait $!; done`;
