/**
 * The first page's data, asked for while the console's configuration is still being read: a GET
 * to this page's origin with the stored token, handed to the first call for the same path when
 * the API turns out to be on this origin (as under `teamstack serve`), and dropped otherwise.
 */

const pending = new Map<string, Promise<Response>>();

export function prefetch(path: string, token: string): void {
  pending.set(
    path,
    fetch(path, {
      headers: { accept: "application/json", authorization: `Bearer ${token}` },
      cache: "no-store",
    }),
  );
}

/** The prefetched answer for `path` on an API at `base`, once; undefined when there is none. */
export function takePrefetched(base: string, path: string): Promise<Response> | undefined {
  const found = pending.get(path);
  pending.delete(path);
  if (base !== "") {
    pending.clear();
    return undefined;
  }
  return found;
}
