import type { PageProps } from "../app/routes.ts";

export function StacksPage(_props: PageProps) {
  return <h1>Stacks</h1>;
}
