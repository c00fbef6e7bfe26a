import { checkStackFilter, SHOWN_STATUSES, type StackFilter } from "../pipeline/stack-filter.ts";
import { UsageError, type Values } from "./command.ts";

/** `teamstack list`'s filters: the same as `GET /teams/{team}/stacks?member=&status=&name=`. */
export const LIST_FILTER_OPTIONS = {
  member: { type: "string" },
  status: { type: "string" },
  name: { type: "string" },
} as const;

export const LIST_FILTER_HELP: readonly (readonly [string, string])[] = [
  ["--member NAME", "Only this member's stacks."],
  ["--status STATUS", `Only stacks shown with this status (${SHOWN_STATUSES.join(", ")}).`],
  ["--name NAME", "Only stacks of this name."],
];

/** The filter the flags give. @throws UsageError for a status no stack can have. */
export function listFilter(values: Values): StackFilter {
  try {
    return checkStackFilter({
      member: values.member as string | undefined,
      status: values.status as string | undefined,
      name: values.name as string | undefined,
    });
  } catch (error) {
    throw new UsageError(`--${(error as Error).message}`);
  }
}
