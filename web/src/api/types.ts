/**
 * The API's answers as the console reads them: the types src/api/schemas.ts derives from the very
 * schemas /openapi.json publishes and the service is type-checked against. Type-only imports: the
 * browser bundle takes no server code from them.
 */
import type {
  ChangeSetBody,
  ServerLogBody,
  StackListBody,
  StackStatusBody,
} from "../../../src/api/schemas.ts";

/** A row of GET /teams/{team}/stacks. */
export type StackSummary = StackListBody[number];
/** GET /teams/{team}/stacks/{id}. */
export type StackView = StackStatusBody;
export type ServerView = StackView["servers"][number];
export type HookView = StackView["hooks"][number];
/** GET /teams/{team}/stacks/{id}/changes. */
export type ChangeSet = ChangeSetBody;
/** GET /teams/{team}/stacks/{id}/servers/{server}/logs. */
export type LogsPage = ServerLogBody;

/** What POST rerun, stop, start and DELETE answer. */
export interface Started {
  readonly stackId: string;
  readonly executionName: string;
}
