import type { PageProps } from "../app/routes.ts";

export function StackPage(props: PageProps) {
  return <h1>Stack {props.params.id}</h1>;
}
