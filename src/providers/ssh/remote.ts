/**
 * The POSIX shell scripts the ssh provider runs on a host, each as `/bin/sh -c SCRIPT NAME ARGS...`
 * (see README.md beside it for the layout they keep). They print their outcome as a marker line
 * (`teamstack-...`) so that it is never taken for a script's own output or exit code, and never
 * exit 255, which is ssh's own failure. Secrets (user_data, scripts) arrive on stdin, are held in
 * memory and reach their interpreter through a pipe (/dev/fd/3): never a file on the host.
 */

/** `root` as given (`~`, `~/x`, `/x`) made absolute with the login user's $HOME. */
const RESOLVE_ROOT = `case $root in "~") root=$HOME ;; "~/"*) root=$HOME/\${root#"~/"} ;; esac`;

/**
 * Reads stdin whole into $s and checks that it ends with the trailer (the connection did not
 * break mid-way); a cut input is never run.
 */
const READ_INPUT = `s=$(cat; printf x); s=\${s%x}
case $s in *"$trailer") s=\${s%"$trailer"} ;; *) echo "teamstack: the script arrived incomplete (the connection broke); nothing was run" >&2; exit 3 ;; esac`;

/**
 * kill_server NAME DIR: ends every process of a server, found three ways: its session (the runner
 * is a session leader; only while the host has not restarted since, as a session id is reused
 * after a reboot), the TEAMSTACK_SERVER_ID=NAME mark in its environment (what daemonized
 * processes keep), and a working directory inside DIR. They are stopped first, scanned again until
 * no new one appears (so that none forks away meanwhile), then killed, and waited for.
 */
const KILL_SERVER = `server_pids() {
  _n=$1 _d=$2 _s=$3
  _e=$(if printf 'a\\0' | grep -qz a 2>/dev/null; then
    grep -lsazxF "TEAMSTACK_SERVER_ID=$_n" /proc/[0-9]*/environ 2>/dev/null
  else
    for _f in /proc/[0-9]*/environ; do tr '\\0' '\\n' <"$_f" 2>/dev/null | grep -qxF "TEAMSTACK_SERVER_ID=$_n" && echo "$_f"; done
  fi)
  _c=$(find /proc/[0-9]*/cwd -maxdepth 0 \\( -lname "$_d" -o -lname "$_d/*" -o -lname "$_d (deleted)" -o -lname "$_d/* (deleted)" \\) 2>/dev/null)
  for _f in /proc/[0-9]*; do
    _p=\${_f#/proc/}
    [ "$_p" = "$$" ] && continue
    { read -r _st <"$_f/stat"; } 2>/dev/null || continue
    _st=\${_st##*) }
    set -- $_st
    [ "$1" = Z ] && continue
    case "
$_e
$_c
" in *"
/proc/$_p/"*) echo "$_p"; continue ;; esac
    [ -n "$_s" ] && [ "$4" = "$_s" ] && echo "$_p"
  done
}
kill_server() {
  _sid=
  if [ -f "$2/.teamstack/pid" ] && [ "$(cat "$2/.teamstack/boot" 2>/dev/null)" = "$(cat /proc/sys/kernel/random/boot_id 2>/dev/null)" ]; then
    _sid=$(cat "$2/.teamstack/pid")
  fi
  _all=" "
  _i=0
  while [ $_i -lt 50 ]; do
    _now=$(server_pids "$1" "$2" "$_sid")
    [ -z "$_now" ] && break
    kill -STOP $_now 2>/dev/null
    _new=
    for _p in $_now; do case "$_all" in *" $_p "*) ;; *) _new=1; _all="$_all$_p " ;; esac; done
    [ -z "$_new" ] && break
    _i=$((_i + 1))
  done
  _i=0
  while [ -n "\${_all# }" ] && [ $_i -lt 100 ]; do
    kill -KILL $_all 2>/dev/null
    _all=" $(server_pids "$1" "$2" "$_sid" | tr '\\n' ' ')"
    [ -z "\${_all# }" ] && break
    sleep 0.1 2>/dev/null || sleep 1
    _i=$((_i + 1))
  done
  if [ -n "\${_all# }" ]; then echo "teamstack: processes$_all of the server survived SIGKILL" >&2; return 1; fi
  return 0
}`;

/** Takes the host's lock on the root directory (flock, where the host has it) for a create or destroy. */
const LOCK_ROOT = `if [ -d "$root" ]; then exec 9<"$root"; command -v flock >/dev/null 2>&1 && flock 9; fi`;

/**
 * The runner: the leader of the server's own session (started with setsid), the parent of
 * user_data. Args: the server's .teamstack directory, then the environment and interpreter of
 * user_data (an `env` command line); user_data on stdin. user_data's output goes to `output`,
 * its exit code to `exit` once it ends.
 */
const RUNNER = `m=$1; shift
exec 3<&0 </dev/null >>"$m/output" 2>&1
env "$@" /dev/fd/3
code=$?
exec 3<&-
printf '%s\\n' "$code" >"$m/exit.tmp" && mv -f "$m/exit.tmp" "$m/exit"`;

/**
 * create ROOT DIR PREFIX TOKEN TEAM STACK SERVER TRAILER ENV_AND_INTERPRETER...; stdin: user_data
 * and the trailer. Prints `teamstack-exists` when the directory of this token has its runner
 * already, else replaces whatever other attempts of the server left (and a half-made directory
 * of this one), makes the directory and starts the runner detached: `teamstack-started`.
 */
export const CREATE = `set -u
root=$1 dir=$2 prefix=$3 token=$4 team=$5 stack=$6 server=$7 trailer=$8
shift 8
${RESOLVE_ROOT}
${READ_INPUT}
${KILL_SERVER}
umask 077
mkdir -p -- "$root" || exit 4
${LOCK_ROOT}
d=$root/$dir
m=$d/.teamstack
if [ -f "$m/pid" ] && [ "$(cat "$m/token" 2>/dev/null)" = "$token" ]; then echo teamstack-exists; exit 0; fi
for o in "$root/$prefix"*; do
  [ -d "$o" ] || continue
  kill_server "\${o##*/}" "$o" || exit 5
  rm -rf -- "$o"
done
mkdir -- "$d" "$m" || exit 6
printf '%s\\n' "$token" >"$m/token"
printf '%s\\n' "$team" >"$m/team"
printf '%s\\n' "$stack" >"$m/stack"
printf '%s\\n' "$server" >"$m/server"
cat /proc/sys/kernel/random/boot_id >"$m/boot" 2>/dev/null
: >"$m/output"
cd "$d" || exit 6
printf '%s' "$s" | TEAMSTACK_SERVER_ID=$dir setsid /bin/sh -c '${RUNNER.replaceAll("'", `'"'"'`)}' teamstack-runner "$m" "$@" >/dev/null 2>&1 9<&- &
echo $! >"$m/pid.tmp" && mv -f "$m/pid.tmp" "$m/pid"
echo teamstack-started`;

/**
 * follow ROOT DIR OFFSET: prints user_data's output from byte OFFSET as it grows, until user_data
 * ends (GNU tail follows with inotify; elsewhere a loop reads it every second), then on stderr
 * `teamstack-exit CODE`, or `teamstack-gone` when its runner is gone without an exit code (the
 * host restarted, the server was destroyed) or it never existed.
 */
export const FOLLOW = `set -u
root=$1 dir=$2 off=$3
${RESOLVE_ROOT}
m=$root/$dir/.teamstack
if [ ! -f "$m/pid" ]; then echo teamstack-gone >&2; exit 0; fi
pid=$(cat "$m/pid")
alive() { [ ! -f "$m/exit" ] && tr '\\0' '\\n' <"/proc/$pid/environ" 2>/dev/null | grep -qxF "TEAMSTACK_SERVER_ID=$dir"; }
if ! alive; then
  tail -c +$((off + 1)) "$m/output" 2>/dev/null
elif tail --version 2>/dev/null | grep -q GNU; then
  tail -c +$((off + 1)) -s 0.2 --pid="$pid" -f "$m/output" 2>/dev/null
else
  while :; do
    done=; alive || done=1
    n=$(wc -c <"$m/output" 2>/dev/null || echo 0)
    if [ "$n" -gt "$off" ]; then tail -c +$((off + 1)) "$m/output" | head -c $((n - off)); off=$n; fi
    [ -n "$done" ] && break
    sleep 1
  done
fi
if [ -f "$m/exit" ]; then echo "teamstack-exit $(cat "$m/exit")" >&2; else echo teamstack-gone >&2; fi`;

/**
 * run ROOT DIR SECONDS TRAILER ENV_AND_INTERPRETER...; stdin: the script and the trailer. Runs
 * the script in the server's directory, in a session of its own (stdout and stderr together on
 * stdout), killed with all it started after SECONDS; then on stderr `teamstack-timeout` (if so)
 * and `teamstack-exit CODE`, or `teamstack-gone` when the server has no directory.
 */
export const RUN = `set -u
root=$1 dir=$2 t=$3 trailer=$4
shift 4
${RESOLVE_ROOT}
d=$root/$dir
if [ ! -d "$d/.teamstack" ]; then cat >/dev/null; echo teamstack-gone >&2; exit 0; fi
${READ_INPUT}
cd "$d" || exit 4
printf '%s' "$s" | setsid /bin/sh -c 'exec 3<&0 </dev/null 2>&1; exec env "$@" /dev/fd/3' teamstack-script "$@" &
p=$!
( trap 'kill $w 2>/dev/null; exit 0' TERM; sleep "$t" & w=$!; wait $w && { echo teamstack-timeout >&2; kill -KILL -"$p" 2>/dev/null; } ) &
k=$!
wait "$p"
code=$?
kill "$k" 2>/dev/null
echo "teamstack-exit $code" >&2`;

/**
 * shell ROOT DIR ENV...: the login user's shell, in the server's directory, with the server's
 * environment (so that destroy ends it too).
 */
export const SHELL = `set -u
root=$1 dir=$2
shift 2
${RESOLVE_ROOT}
cd "$root/$dir" 2>/dev/null || { echo "teamstack: the server's directory $root/$dir is gone" >&2; exit 4; }
exec env "$@" "\${SHELL:-/bin/sh}" -l`;

/**
 * destroy ROOT DIR: ends every process of the server and removes its directory; nothing else.
 * Prints `teamstack-destroyed`.
 */
export const DESTROY = `set -u
root=$1 dir=$2
${RESOLVE_ROOT}
${KILL_SERVER}
${LOCK_ROOT}
kill_server "$dir" "$root/$dir" || exit 5
rm -rf -- "$root/$dir" || exit 6
echo teamstack-destroyed`;

/**
 * The interpreter of a script without a `#!` line, as an `env` command line: bash -e, or sh -e
 * on a host without bash; the script's path follows as $0.
 */
export const DEFAULT_INTERPRETER: readonly string[] = [
  "/bin/sh",
  "-c",
  'if command -v bash >/dev/null 2>&1; then exec bash -e "$0"; else exec sh -e "$0"; fi',
];
