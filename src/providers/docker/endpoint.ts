import { ProviderRequestError } from "../errors.ts";

/**
 * Where a Docker Engine API answers, parsed from `DOCKER_HOST` (with the Docker CLI's
 * `DOCKER_TLS_VERIFY`, `DOCKER_TLS` and `DOCKER_CERT_PATH` conventions) or from a team's credential.
 * Pure: reading certificate files is the caller's, through `readFile`.
 */
export type Endpoint =
  | { readonly kind: "unix"; readonly path: string }
  | { readonly kind: "tcp"; readonly host: string; readonly port: number; readonly tls?: TlsMaterial }
  | { readonly kind: "ssh"; readonly target: string; readonly port?: number };

/** TLS for a tcp endpoint: PEM texts (the key is a secret: never logged, never written). */
export interface TlsMaterial {
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  /** Check the engine's certificate against `ca` (DOCKER_TLS_VERIFY); false only with DOCKER_TLS. */
  readonly verify: boolean;
}

/** The default socket when DOCKER_HOST is not set, as the Docker CLI has it. */
export const DEFAULT_SOCKET = "/var/run/docker.sock";

/** The endpoint in the user's words (no secret): `unix:///var/run/docker.sock`, `tcp://h:2376 (TLS)`. */
export function describeEndpoint(e: Endpoint): string {
  switch (e.kind) {
    case "unix":
      return `unix://${e.path}`;
    case "tcp":
      return `tcp://${e.host.includes(":") ? `[${e.host}]` : e.host}:${e.port}${e.tls ? " (TLS)" : ""}`;
    case "ssh":
      return `ssh://${e.target}${e.port !== undefined ? `:${e.port}` : ""}`;
  }
}

/**
 * Parses an endpoint: `unix:///PATH`, `/PATH`, `tcp://HOST:PORT` (`[v6]:PORT` too; 2375, or 2376
 * with TLS, when the port is left out), `ssh://[USER@]HOST[:PORT]`.
 * @throws ProviderRequestError saying what was found and what was expected, naming `where`.
 */
export function parseEndpoint(text: string, where: string, tls?: TlsMaterial): Endpoint {
  const bad = (why: string): ProviderRequestError =>
    new ProviderRequestError(
      `${where}: ${JSON.stringify(text)} is not a Docker endpoint (${why}); expected unix:///PATH, tcp://HOST:PORT or ssh://[USER@]HOST[:PORT]`,
    );
  const value = text.trim();
  if (value.startsWith("/")) return { kind: "unix", path: value };
  const scheme = /^([a-z]+):\/\/(.*)$/.exec(value);
  if (!scheme) throw bad("no scheme");
  const [, kind, rest = ""] = scheme;
  if (kind === "unix") {
    if (!rest.startsWith("/")) throw bad("a unix socket needs an absolute path");
    return { kind: "unix", path: rest };
  }
  if (kind === "tcp" || kind === "http" || kind === "https") {
    const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+))(?::(\d{1,5}))?\/?$/.exec(rest);
    if (!m) throw bad("expected HOST:PORT after tcp://");
    const host = (m[1] ?? m[2]) as string;
    const material = tls ?? (kind === "https" ? { verify: true } : undefined);
    const port = m[3] !== undefined ? Number(m[3]) : material ? 2376 : 2375;
    if (port < 1 || port > 65535) throw bad(`port ${port} is out of range`);
    return { kind: "tcp", host, port, ...(material ? { tls: material } : {}) };
  }
  if (kind === "ssh") {
    const m = /^((?:[A-Za-z0-9._-]+@)?(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+))(?::(\d{1,5}))?\/?$/.exec(rest);
    if (!m) throw bad("expected [USER@]HOST[:PORT] after ssh://");
    const target = (m[1] as string).replace(/^([^@]*@)?\[(.*)\]$/, "$1$2");
    const port = m[2] !== undefined ? Number(m[2]) : undefined;
    if (port !== undefined && (port < 1 || port > 65535)) throw bad(`port ${port} is out of range`);
    return { kind: "ssh", target, ...(port !== undefined ? { port } : {}) };
  }
  throw bad(`unknown scheme ${kind}://`);
}

/**
 * This machine's own engine, as the Docker CLI finds it: `DOCKER_HOST` (default the unix socket
 * /var/run/docker.sock); for tcp, TLS when `DOCKER_TLS_VERIFY` (verified against the CA) or
 * `DOCKER_TLS` is set, with ca.pem, cert.pem and key.pem from `DOCKER_CERT_PATH` (default
 * ~/.docker).
 * @throws ProviderRequestError for a DOCKER_HOST that is no endpoint.
 */
export function endpointFromEnv(
  env: Readonly<Record<string, string | undefined>>,
  readFile: (path: string) => string | undefined,
): Endpoint {
  const host = env.DOCKER_HOST?.trim();
  if (!host) return { kind: "unix", path: DEFAULT_SOCKET };
  const verify = Boolean(env.DOCKER_TLS_VERIFY);
  const useTls = verify || Boolean(env.DOCKER_TLS);
  let tls: TlsMaterial | undefined;
  if (useTls) {
    const dir = env.DOCKER_CERT_PATH || `${env.HOME ?? ""}/.docker`;
    const pick = (name: string): Record<string, string> => {
      const text = readFile(`${dir}/${name}.pem`);
      return text === undefined ? {} : { [name]: text };
    };
    tls = { verify, ...pick("ca"), ...pick("cert"), ...pick("key") };
  }
  return parseEndpoint(host, "DOCKER_HOST", tls);
}

/**
 * A team's Docker host from its credential's fields: `endpoint`, and for tcp with TLS `ca`, `cert`
 * and `key` (verified against `ca`).
 * @throws ProviderRequestError naming the credential when a field is missing or wrong.
 */
export function endpointFromCredential(name: string, fields: Readonly<Record<string, string>>): Endpoint {
  const where = `credential \`${name}\``;
  const endpoint = fields.endpoint;
  if (endpoint === undefined || endpoint === "") {
    throw new ProviderRequestError(
      `${where} has no \`endpoint\`; expected tcp://HOST:PORT, unix:///PATH or ssh://USER@HOST`,
    );
  }
  const given = (["ca", "cert", "key"] as const).filter((f) => (fields[f] ?? "") !== "");
  if (given.length > 0 && given.length < 3) {
    const missing = (["ca", "cert", "key"] as const).filter((f) => !given.includes(f));
    throw new ProviderRequestError(
      `${where}: TLS needs \`ca\`, \`cert\` and \`key\`; \`${missing.join("` and `")}\` ${missing.length === 1 ? "is" : "are"} missing`,
    );
  }
  const tls: TlsMaterial | undefined =
    given.length === 3
      ? { verify: true, ca: fields.ca as string, cert: fields.cert as string, key: fields.key as string }
      : undefined;
  const parsed = parseEndpoint(endpoint, where, tls);
  if (tls && parsed.kind !== "tcp") {
    throw new ProviderRequestError(
      `${where}: \`ca\`, \`cert\` and \`key\` are for a tcp:// endpoint, not ${describeEndpoint(parsed)}`,
    );
  }
  return parsed;
}
