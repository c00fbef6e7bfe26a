import type { FunctionComponent } from "preact";
import { ADMIN_ROUTES } from "../admin/routes.ts";
import { StackPage, stackPath } from "../stacks/stack-page.tsx";
import { StacksPage, stacksPath } from "../stacks/stacks-page.tsx";
import type { Session } from "./context.ts";
import { lazyPage } from "./lazy.tsx";

/**
 * The console's pages, one line each: a hash path (`:name` parameters), its title, its label in
 * the navigation (absent: not in it), and whether only team admins see it. A page that is large or
 * rarely used loads with `lazyPage(() => import("..."))`, in its own chunk, so it does not weigh
 * on the first page; `data` names what it reads first, so that it is asked for at once.
 */

export interface PageProps {
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
}
export type Page = FunctionComponent<PageProps>;

export interface ConsoleRoute {
  readonly path: string;
  readonly title: string;
  readonly nav?: string;
  readonly admin?: boolean;
  readonly page: Page;
  /** The GET path the page reads first, asked for while the console starts (optional). */
  readonly data?: (session: Session, params: Readonly<Record<string, string>>) => string;
}

/** Where `#/` and a fresh sign-in go. */
export const HOME = "/stacks";

export const ROUTES: readonly ConsoleRoute[] = [
  { path: "/stacks", title: "Stacks", nav: "Stacks", page: StacksPage, data: (s) => stacksPath(s.team) },
  { path: "/stacks/:id", title: "Stack", page: StackPage, data: (s, p) => stackPath(s.team, p.id as string) },
  // Admin pages (web/src/admin), e.g.:
  // { path: "/templates", title: "Templates", nav: "Templates", admin: true, page: lazyPage(() => import("../admin/templates.tsx")) },
  ...ADMIN_ROUTES,
];

export { lazyPage };
