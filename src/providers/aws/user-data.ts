import { createHash } from "node:crypto";
import { CALLBACK_SIGNATURE_HEADER } from "../../adapters/callback-signing.ts";
import { ProviderRequestError } from "../errors.ts";
import { EC2_USER_DATA_LIMIT, WRAPPER_MAX_OVERHEAD } from "./declaration.ts";

/**
 * The UserData an instance boots with: a wrapper that installs the template's extra SSH keys, runs
 * the server's rendered user_data with TEAMSTACK_SERVER, TEAMSTACK_IP and TEAMSTACK_STACK_ID set,
 * keeps its exit code and output under /var/lib/teamstack, and reports how it ended to the
 * readiness callback (like cfn-signal), retrying while the API answers "not yet".
 */

export { EC2_USER_DATA_LIMIT, WRAPPER_MAX_OVERHEAD };

/** Where the wrapper keeps user_data, its output and exit code on the instance. */
export const STATE_DIR = "/var/lib/teamstack";

/** Bytes of user_data's output the callback carries (the API accepts up to 8 KB). */
const CALLBACK_OUTPUT_BYTES = 2000;

export interface WrapperInput {
  readonly stackId: string;
  readonly server: string;
  /** The rendered user_data. */
  readonly userData: string;
  /** Extra OpenSSH public keys for the image's default user. */
  readonly publicKeys: readonly string[];
  /** Where to report; without one the instance only keeps its exit code (see waitUntilReady). */
  readonly callback?: { readonly url: string; readonly signature: string };
  /** Where the wrapper keeps its files (default {@link STATE_DIR}; tests run it elsewhere). */
  readonly stateDir?: string;
}

/** Quotes a value for the shell: single quotes, with `'` written as `'\''`. */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** A here-document delimiter that is not a line of `text`. */
function delimiter(prefix: string, text: string): string {
  const lines = new Set(text.split("\n").map((l) => l.replace(/\r$/, "")));
  for (let i = 0; ; i++) {
    const d = `${prefix}_${createHash("sha256").update(`${i}\u0000${text}`).digest("hex").slice(0, 12)}`;
    if (!lines.has(d)) return d;
  }
}

function heredoc(path: string, prefix: string, text: string): string {
  const body = text.endsWith("\n") ? text : `${text}\n`;
  const end = delimiter(prefix, body);
  return `cat > ${path} <<'${end}'\n${body}${end}`;
}

/** The wrapper script, as text. */
export function wrapperScript(input: WrapperInput): string {
  for (const key of input.publicKeys) {
    if (/[\r\n]/.test(key)) {
      throw new ProviderRequestError(
        `server \`${input.server}\`: a public key spans lines; give one key per entry`,
      );
    }
  }
  if (/^#cloud-config\b/.test(input.userData.trimStart())) {
    throw new ProviderRequestError(
      `server \`${input.server}\`: user_data is cloud-config; teamstack runs user_data as a script (write the steps as shell commands)`,
    );
  }
  // Every path below goes through $d, set once.
  const s = '"$d"';
  const runner = input.userData.startsWith("#!") ? `${s}/user-data` : `/bin/bash ${s}/user-data`;
  const lines = [
    "#!/bin/bash",
    "# teamstack: runs this server's user_data, then reports how it ended.",
    `export TEAMSTACK_SERVER=${shellQuote(input.server)} TEAMSTACK_STACK_ID=${shellQuote(input.stackId)}`,
    `d=${shellQuote(input.stateDir ?? STATE_DIR)}`,
    `mkdir -p ${s} && chmod 700 ${s}`,
    "imds() {",
    "  local t",
    "  t=$(curl -sf -m 5 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' http://169.254.169.254/latest/api/token) || return 1",
    '  curl -sf -m 5 -H "X-aws-ec2-metadata-token: $t" "http://169.254.169.254/latest/meta-data/$1"',
    "}",
    "TEAMSTACK_IP=$(imds public-ipv4 || imds local-ipv4 || true)",
    "export TEAMSTACK_IP",
  ];
  if (input.publicKeys.length > 0) {
    lines.push(
      // The image's default user (uid 1000: ubuntu, ec2-user, admin), or root.
      "u=$(getent passwd 1000 | cut -d: -f1); h=$(getent passwd 1000 | cut -d: -f6)",
      '[ -n "$u" ] || { u=root; h=/root; }',
      'mkdir -p "$h/.ssh"',
      heredoc(`${s}/public-keys`, "TEAMSTACK_KEYS", input.publicKeys.join("\n")),
      `cat ${s}/public-keys >> "$h/.ssh/authorized_keys"`,
      'chown -R "$u": "$h/.ssh"; chmod 700 "$h/.ssh"; chmod 600 "$h/.ssh/authorized_keys"',
    );
  }
  lines.push(
    heredoc(`${s}/user-data`, "TEAMSTACK_USER_DATA", input.userData),
    `chmod 700 ${s}/user-data`,
    "cd / || true",
    `${runner} < /dev/null 2>&1 | tee ${s}/user-data.log`,
    // The exit code of user_data, not of tee.
    `code=\${PIPESTATUS[0]}`,
    `echo "$code" > ${s}/exit-code`,
  );
  if (input.callback) {
    lines.push(
      `tail -c ${CALLBACK_OUTPUT_BYTES} ${s}/user-data.log > ${s}/output-tail`,
      "if command -v python3 > /dev/null 2>&1; then",
      `  python3 -c 'import json,sys; print(json.dumps({"exitCode": int(sys.argv[1]), "output": open(sys.argv[2], encoding="utf-8", errors="replace").read()}))' "$code" ${s}/output-tail > ${s}/callback.json`,
      "else",
      `  printf '{"exitCode":%d}' "$code" > ${s}/callback.json`,
      "fi",
      `url=${shellQuote(input.callback.url)}`,
      // 2xx: reported; 403/404/410: refused for good. Anything else (409 "not waiting yet", 429,
      // 5xx, no answer) is tried again for up to 15 minutes.
      "for try in $(seq 1 90); do",
      `  status=$(curl -s -o /dev/null -w '%{http_code}' -m 20 -X POST -H 'content-type: application/json' -H ${shellQuote(`${CALLBACK_SIGNATURE_HEADER}: ${input.callback.signature}`)} --data-binary @${s}/callback.json "$url")`,
      '  case "$status" in 2??|403|404|410) break ;; esac',
      "  sleep 10",
      "done",
    );
  }
  lines.push('exit "$code"', "");
  return lines.join("\n");
}

/**
 * The UserData for RunInstances: the wrapper, base64.
 * @throws ProviderRequestError when the wrapped script is over EC2's 16 KB.
 */
export function encodeUserData(input: WrapperInput): string {
  const script = wrapperScript(input);
  const bytes = Buffer.byteLength(script, "utf8");
  if (bytes > EC2_USER_DATA_LIMIT) {
    const own = Buffer.byteLength(input.userData, "utf8");
    throw new ProviderRequestError(
      `user_data of server \`${input.server}\` is too large for EC2: ${bytes} bytes once rendered and wrapped (${own} bytes of user_data and ${bytes - own} of teamstack's wrapper), over EC2's limit of ${EC2_USER_DATA_LIMIT} bytes (16 KB); keep user_data small and have it fetch the rest (git clone, curl, aws s3 cp)`,
    );
  }
  return Buffer.from(script, "utf8").toString("base64");
}
