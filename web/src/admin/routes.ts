import { lazyPage } from "../app/lazy.tsx";
import type { ConsoleRoute } from "../app/routes.ts";
import { paths } from "./api.ts";
import "./admin.css";

/**
 * The admin pages, listed in the console's route table (web/src/app/routes.ts). Each loads on first
 * visit in a chunk of its own: a member's console never downloads them, and the template editor's
 * validator comes in its own worker script only when the editor opens.
 */
export const ADMIN_ROUTES: readonly ConsoleRoute[] = [
  {
    path: "/templates",
    title: "Templates",
    nav: "Templates",
    admin: true,
    data: (s) => paths.templates(s.team),
    page: lazyPage(() => import("./templates-page.tsx")),
  },
  {
    path: "/templates/:name",
    title: "Template",
    admin: true,
    data: (s, p) => paths.template(s.team, p.name as string),
    page: lazyPage(() => import("./template-page.tsx")),
  },
  {
    path: "/templates/:name/edit",
    title: "Edit template",
    admin: true,
    page: lazyPage(() => import("./editor-page.tsx")),
  },
  {
    path: "/new-template",
    title: "New template",
    admin: true,
    page: lazyPage(() => import("./editor-page.tsx")),
  },
  {
    path: "/rollouts",
    title: "Rollouts",
    nav: "Rollouts",
    admin: true,
    data: (s) => paths.rollouts(s.team),
    page: lazyPage(() => import("./rollouts-page.tsx")),
  },
  {
    path: "/rollouts/:id",
    title: "Rollout",
    admin: true,
    data: (s, p) => paths.rollout(s.team, p.id as string),
    page: lazyPage(() => import("./rollout-page.tsx")),
  },
  {
    path: "/members",
    title: "Members",
    nav: "Members",
    admin: true,
    data: (s) => paths.members(s.team),
    page: lazyPage(() => import("./members-page.tsx")),
  },
  {
    path: "/policy",
    title: "Policy",
    nav: "Policy",
    admin: true,
    data: (s) => paths.policy(s.team),
    page: lazyPage(() => import("./policy-page.tsx")),
  },
  {
    path: "/credentials",
    title: "Credentials",
    nav: "Credentials",
    admin: true,
    data: (s) => paths.credentials(s.team),
    page: lazyPage(() => import("./credentials-page.tsx")),
  },
  {
    path: "/events",
    title: "Events",
    nav: "Events",
    admin: true,
    data: (s) => paths.events(s.team),
    page: lazyPage(() => import("./events-page.tsx")),
  },
];
