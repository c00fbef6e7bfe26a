import { render } from "preact";
import { prefetch } from "./api/prefetch.ts";
import { App } from "./app/app.tsx";
import { matchPath, parseHash } from "./app/router.ts";
import { HOME, ROUTES } from "./app/routes.ts";
import { sessionFromToken, storedToken } from "./app/session.ts";
import "./app/app.css";

// A returning tab: ask for the first page's data now, while the configuration is read.
const token = storedToken();
const session = token ? sessionFromToken(token) : undefined;
if (token && session) {
  const path = parseHash(location.hash).path;
  for (const route of ROUTES) {
    const params = matchPath(route.path, path === "/" ? HOME : path);
    if (params && route.data && (!route.admin || session.admin)) {
      prefetch(route.data(session, params), token);
      break;
    }
  }
}

const root = document.getElementById("app");
if (root) render(<App />, root);
