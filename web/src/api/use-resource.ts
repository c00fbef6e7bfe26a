import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { useConsole } from "../app/context.ts";
import { ApiError } from "./client.ts";
import type { LiveMessage } from "./live.ts";

export interface Resource<T> {
  readonly data?: T | undefined;
  readonly error?: ApiError | undefined;
  /** True until the first answer. */
  readonly loading: boolean;
  /** Fetches again now (after an action). */
  reload(): void;
}

/**
 * A GET route's answer, kept up to date: fetched again when a live message it cares about arrives
 * (`relevant`; every tick counts), with If-None-Match so an unchanged answer costs a 304. At most
 * one request is in flight; messages arriving meanwhile make one more.
 */
export function useResource<T>(
  path: string | null,
  relevant: (message: LiveMessage) => boolean = () => true,
): Resource<T> {
  const { api, live } = useConsole();
  const [state, setState] = useState<{
    data?: T | undefined;
    error?: ApiError | undefined;
    loading: boolean;
  }>({ loading: true });
  const etag = useRef<string | undefined>(undefined);
  const busy = useRef(false);
  const again = useRef(false);
  const current = useRef(path);
  const relevantRef = useRef(relevant);
  relevantRef.current = relevant;

  const fetchNow = useCallback(async () => {
    const target = current.current;
    if (target === null) return;
    if (busy.current) {
      again.current = true;
      return;
    }
    busy.current = true;
    try {
      const res = await api.call<T>("GET", target, { etag: etag.current });
      if (current.current !== target) return;
      etag.current = res.etag;
      if (!res.notModified) setState({ data: res.body as T, loading: false });
      else setState((s) => (s.error ? { ...s, error: undefined } : s) as typeof s);
    } catch (error) {
      if (current.current !== target) return;
      const e =
        error instanceof ApiError
          ? error
          : new ApiError(0, "Error", (error as Error)?.message ?? String(error));
      setState((s) => ({ ...s, error: e, loading: false }));
    } finally {
      busy.current = false;
      if (again.current) {
        again.current = false;
        void fetchNow();
      }
    }
  }, [api]);

  useEffect(() => {
    current.current = path;
    etag.current = undefined;
    setState({ loading: true });
    if (path === null) return;
    void fetchNow();
    return live.subscribe((m) => {
      if (m.kind === "tick" || relevantRef.current(m)) void fetchNow();
    });
  }, [path, live, fetchNow]);

  return { ...state, reload: () => void fetchNow() };
}

/** The current time, every `ms` (for elapsed times). */
export function useNow(ms = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}
