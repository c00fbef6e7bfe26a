import { STACK_STATUSES, type StackRecord } from "../ports/store.ts";

/**
 * Which stacks a list shows: `teamstack list --member M --status S --name N` and
 * `GET /teams/{team}/stacks?member=&status=&name=`. Every given field must match; a status is
 * matched against the status as shown (INTERRUPTED for a run that is gone).
 */
export interface StackFilter {
  readonly member?: string;
  readonly status?: string;
  readonly name?: string;
}

/** Every status a list can show. */
export const SHOWN_STATUSES: readonly string[] = [
  ...STACK_STATUSES,
  "STOPPING",
  "STOPPED",
  "STARTING",
  "INTERRUPTED",
];

/**
 * Checks a filter as given (query or flags): the status in any case, one of the shown statuses.
 * @throws Error whose message says what was found and what is expected (the caller wraps it).
 */
export function checkStackFilter(given: {
  readonly member?: string | undefined;
  readonly status?: string | undefined;
  readonly name?: string | undefined;
}): StackFilter {
  const status = given.status?.toUpperCase();
  if (status !== undefined && !SHOWN_STATUSES.includes(status)) {
    throw new Error(`status \`${given.status?.slice(0, 64)}\`: expected one of ${SHOWN_STATUSES.join(", ")}`);
  }
  return {
    ...(given.member ? { member: given.member } : {}),
    ...(status ? { status } : {}),
    ...(given.name ? { name: given.name } : {}),
  };
}

/** Whether a stack passes the filter, given the status it is shown with. */
export function matchesFilter(
  stack: Pick<StackRecord, "member"> & { readonly name?: string },
  shown: string,
  filter: StackFilter,
): boolean {
  return (
    (filter.member === undefined || stack.member === filter.member) &&
    (filter.status === undefined || shown === filter.status) &&
    (filter.name === undefined || stack.name === filter.name)
  );
}
