import { createContext } from "preact";
import { useContext } from "preact/hooks";
import type { ApiClient } from "../api/client.ts";
import type { Live } from "../api/live.ts";

/** Who is signed in (GET /whoami). */
export interface Session {
  readonly team: string;
  readonly member: string;
  readonly admin: boolean;
}

/** What every page of a signed-in console uses: the API, live updates, and who calls. */
export interface ConsoleContext {
  readonly api: ApiClient;
  readonly live: Live;
  readonly session: Session;
}

export const Console = createContext<ConsoleContext | undefined>(undefined);

/** The signed-in console's context (pages render only inside it). */
export function useConsole(): ConsoleContext {
  const value = useContext(Console);
  if (!value) throw new Error("useConsole: rendered outside the signed-in console");
  return value;
}
