import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import { ApiError } from "../api/client.ts";

/** An error said plainly: the API's code and message, and each problem at its line and column. */
export function ErrorBanner(props: { readonly error: unknown; readonly onDismiss?: () => void }) {
  const e = props.error;
  const message = e instanceof Error ? e.message : String(e);
  const title =
    e instanceof ApiError ? (e.status === 0 ? "Cannot reach the API" : `${e.status} ${e.code}`) : "Error";
  return (
    <div class="error" role="alert">
      <strong>{title}</strong>: {message}
      {e instanceof ApiError && e.problems.length > 0 && (
        <ul>
          {e.problems.map((p) => (
            <li key={`${p.line}:${p.column}:${p.message}`}>
              {p.line !== undefined
                ? `${p.file ?? ""}${p.file ? ":" : "line "}${p.line}:${p.column ?? 1}: `
                : ""}
              {p.message}
            </li>
          ))}
        </ul>
      )}
      {props.onDismiss && (
        <button type="button" class="link" onClick={props.onDismiss}>
          Dismiss
        </button>
      )}
    </div>
  );
}

/** A stack's or a server's state, coloured by what it means. */
export function StatusBadge(props: { readonly status: string }) {
  return <span class={`badge s-${props.status.toLowerCase()}`}>{props.status}</span>;
}

/** Seconds as people read them: 42s, 3m 05s, 2h 10m. */
export function formatElapsed(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/**
 * A button that runs an action, disabled while it runs; the action's error is shown beside it.
 */
export function ActionButton(props: {
  readonly label: string;
  /** The accessible name when the visible label alone is ambiguous (a row's "Rerun"). */
  readonly name?: string;
  readonly run: () => Promise<unknown>;
  readonly disabled?: boolean;
  readonly danger?: boolean;
  readonly onError?: (error: unknown) => void;
}) {
  const [busy, setBusy] = useState(false);
  return (
    <button
      type="button"
      class={props.danger ? "danger" : ""}
      disabled={busy || props.disabled === true}
      aria-busy={busy}
      aria-label={props.name}
      onClick={async () => {
        setBusy(true);
        try {
          await props.run();
        } catch (error) {
          props.onError?.(error);
        } finally {
          setBusy(false);
        }
      }}
    >
      {props.label}
    </button>
  );
}

/** A confirmation asked in the page (a dialog with a question, Confirm and Cancel). */
export function ConfirmDialog(props: {
  readonly title: string;
  readonly confirmLabel: string;
  readonly danger?: boolean;
  readonly onConfirm: () => void;
  readonly onCancel: () => void;
  readonly children?: ComponentChildren;
}) {
  return (
    <div class="dialog" role="dialog" aria-modal="true" aria-label={props.title}>
      <h3>{props.title}</h3>
      {props.children}
      <div class="actions">
        <button type="button" class={props.danger ? "danger" : "primary"} onClick={props.onConfirm}>
          {props.confirmLabel}
        </button>
        <button type="button" onClick={props.onCancel}>
          Cancel
        </button>
      </div>
    </div>
  );
}

let dateFormat: Intl.DateTimeFormat | undefined;

/**
 * An ISO time in the reader's locale. One formatter for every call: `toLocaleString` makes a new
 * one each time, which for a list of 100 stacks costs more than rendering it.
 */
export function formatTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  dateFormat ??= new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  return dateFormat.format(d);
}
