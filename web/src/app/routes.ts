import type { FunctionComponent } from "preact";
import { ADMIN_ROUTES } from "../admin/routes.ts";
import { StackPage } from "../stacks/stack-page.tsx";
import { StacksPage } from "../stacks/stacks-page.tsx";
import { lazyPage } from "./lazy.tsx";

/**
 * The console's pages, one line each: a hash path (`:name` parameters), its title, its label in
 * the navigation (absent: not in it), and whether only team admins see it. A page that is large or
 * rarely used loads with `lazyPage(() => import("..."))`, in its own chunk, so it does not weigh
 * on the first page.
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
}

/** Where `#/` and a fresh sign-in go. */
export const HOME = "/stacks";

export const ROUTES: readonly ConsoleRoute[] = [
  { path: "/stacks", title: "Stacks", nav: "Stacks", page: StacksPage },
  { path: "/stacks/:id", title: "Stack", page: StackPage },
  // Admin pages (web/src/admin), e.g.:
  // { path: "/templates", title: "Templates", nav: "Templates", admin: true, page: lazyPage(() => import("../admin/templates.tsx")) },
  ...ADMIN_ROUTES,
];

export { lazyPage };
