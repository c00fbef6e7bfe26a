import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError, seg } from "../api/client.ts";
import type { LogsPage } from "../api/types.ts";
import { useConsole } from "../app/context.ts";
import { ErrorBanner } from "../app/ui.tsx";

/** How often a log still being written is read again. */
const FOLLOW_MS = 700;

/**
 * A server's log (the logs route, masked and bounded by the API): the newest attempt or a chosen
 * one, followed while it is written, read again on the stack's events once complete (a rerun
 * starts a new attempt).
 */
export function ServerLogs(props: {
  readonly stackId: string;
  readonly server: string;
  readonly onClose: () => void;
}) {
  const { api, live, session } = useConsole();
  const [attempt, setAttempt] = useState<number | undefined>();
  const [state, setState] = useState<{
    text: string;
    page?: LogsPage;
    error?: unknown;
  }>({ text: "" });
  const pre = useRef<HTMLPreElement>(null);

  useEffect(() => {
    let stopped = false;
    let next = 0;
    let shown: number | undefined;
    let text = "";
    let timer: ReturnType<typeof setTimeout> | undefined;
    let busy = false;
    const base = `/teams/${seg(session.team)}/stacks/${seg(props.stackId)}/servers/${seg(props.server)}/logs`;
    setState({ text: "" });

    async function read(): Promise<void> {
      if (stopped || busy) return;
      busy = true;
      clearTimeout(timer);
      try {
        const q = new URLSearchParams({ after: String(next) });
        if (attempt !== undefined) q.set("attempt", String(attempt));
        const page = await api.get<LogsPage>(`${base}?${q}`);
        if (stopped) return;
        if (shown !== undefined && page.attempt !== shown) {
          // A newer attempt began (a rerun): show it from its start.
          shown = page.attempt;
          next = 0;
          text = "";
          busy = false;
          return read();
        }
        shown = page.attempt;
        if (page.offset > next) text += `\n[… ${page.offset - next} bytes not kept …]\n`;
        text += page.text;
        next = page.next;
        setState({ text, page });
        if (!page.complete) timer = setTimeout(() => void read(), page.text === "" ? FOLLOW_MS : 50);
      } catch (error) {
        if (stopped) return;
        setState((s) => ({ ...s, error }));
        if (!(error instanceof ApiError) || error.status >= 500 || error.status === 0)
          timer = setTimeout(() => void read(), 3000);
      } finally {
        busy = false;
      }
    }
    void read();
    const unsubscribe = live.subscribe((m) => {
      if (m.kind === "tick" || (m.kind === "stack" && m.stackId === props.stackId)) void read();
    });
    return () => {
      stopped = true;
      clearTimeout(timer);
      unsubscribe();
    };
  }, [props.stackId, props.server, attempt, api, live]);

  useEffect(() => {
    const el = pre.current;
    if (el && !state.page?.complete) el.scrollTop = el.scrollHeight;
  }, [state.text]);

  const page = state.page;
  const headingId = `logs-${props.server}`;
  return (
    <section class="card" aria-labelledby={headingId}>
      <div class="toolbar">
        <h2 id={headingId} style={{ margin: 0 }}>
          Logs of {props.server}
        </h2>
        {page && (
          <span class="meta">
            {page.attempts === 0
              ? "no attempt yet"
              : `${page.kind ?? "attempt"} ${page.attempt} of ${page.attempts}`}{" "}
            ·{" "}
            {page.complete ? (
              `complete${page.exitCode !== undefined ? `, exit code ${page.exitCode}` : ""}`
            ) : (
              <span aria-live="polite">following…</span>
            )}
            {page.truncated ? ` · earlier output cut (the log keeps ${page.limitBytes} bytes)` : ""}
          </span>
        )}
        {page && page.attempts > 1 && (
          <label class="inline">
            Attempt{" "}
            <select
              value={attempt ?? ""}
              onChange={(e) => {
                const v = (e.target as HTMLSelectElement).value;
                setAttempt(v === "" ? undefined : Number(v));
              }}
            >
              <option value="">newest</option>
              {Array.from({ length: page.attempts }, (_, i) => (
                <option key={i + 1} value={i + 1}>
                  {i + 1}
                </option>
              ))}
            </select>
          </label>
        )}
        <button type="button" onClick={props.onClose}>
          Close logs
        </button>
      </div>
      {state.error !== undefined && <ErrorBanner error={state.error} />}
      {(page || state.error === undefined) && (
        <pre class="logs" ref={pre} role="log" aria-label={`Output of ${props.server}`}>
          {state.text || (page ? (page.complete ? "(no output)" : "(nothing yet)") : "Loading…")}
        </pre>
      )}
    </section>
  );
}
