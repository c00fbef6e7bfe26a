import { useEffect, useState } from "preact/hooks";
import type { Page, PageProps } from "./routes.ts";
import { ErrorBanner } from "./ui.tsx";

/** A page loaded on first visit (its module's default export), in its own chunk of the build. */
export function lazyPage(load: () => Promise<{ default: Page }>): Page {
  let loaded: Page | undefined;
  return function LazyPage(props: PageProps) {
    const [page, setPage] = useState<Page | undefined>(() => loaded);
    const [error, setError] = useState<Error | undefined>();
    useEffect(() => {
      if (page) return;
      load().then(
        (m) => {
          loaded = m.default;
          setPage(() => m.default);
        },
        (e: unknown) => setError(e as Error),
      );
    }, [page]);
    if (error) return <ErrorBanner error={error} />;
    if (!page) return <p aria-busy="true">Loading…</p>;
    const Loaded = page;
    return <Loaded {...props} />;
  };
}
