import { useEffect, useState } from "preact/hooks";

/**
 * Hash routing (`#/stacks/ID?x=1`), so the console works as static files anywhere: the path after
 * `#`, its query, and route patterns with `:name` parameters.
 */

export interface Location {
  readonly path: string;
  readonly query: URLSearchParams;
}

export function parseHash(hash: string): Location {
  const raw = hash.replace(/^#/, "") || "/";
  const q = raw.indexOf("?");
  const path = q === -1 ? raw : raw.slice(0, q);
  return {
    path: path.startsWith("/") ? path : `/${path}`,
    query: new URLSearchParams(q === -1 ? "" : raw.slice(q + 1)),
  };
}

/** The parameters of `path` under `pattern` (`/stacks/:id`), or undefined when it does not match. */
export function matchPath(pattern: string, path: string): Record<string, string> | undefined {
  const want = pattern.split("/");
  const got = path.replace(/\/+$/, "").split("/");
  if (want.length !== got.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const w = want[i] as string;
    const g = got[i] as string;
    if (w.startsWith(":")) {
      if (g === "") return undefined;
      try {
        params[w.slice(1)] = decodeURIComponent(g);
      } catch {
        return undefined;
      }
    } else if (w !== g) return undefined;
  }
  return params;
}

/** A link's href to a console path. */
export const href = (path: string) => `#${path}`;

export function navigate(path: string): void {
  location.hash = path;
}

/** The current hash location, re-rendering on every change. */
export function useLocation(): Location {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = () => setHash(location.hash);
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return parseHash(hash);
}
