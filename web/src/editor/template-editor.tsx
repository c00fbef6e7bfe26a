import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import type { Problem } from "../../../src/core/errors.ts";
import { lineStarts, offsetIn, offsetOf } from "./positions.ts";
import type { Validator } from "./validator-client.ts";

/** How long typing must pause before the text is validated. */
export const VALIDATE_AFTER_MS = 150;
/** Must match `--editor-line` in admin.css: the gutter's markers are placed with it. */
const LINE_PX = 20;

/** What the editor last learnt about its text. */
export interface EditorState {
  /** The text the problems are for is the current text. */
  readonly checked: boolean;
  readonly problems: readonly Problem[];
  readonly servers: readonly string[];
  readonly ms: number;
}

/**
 * A template editor: a plain textarea (so the browser's own editing, undo and accessibility work)
 * with line numbers, validated as the admin types (debounced, in the validator's worker), each
 * problem marked in the gutter at its line and underlined at its column, and listed below; a
 * problem in the list, clicked, puts the caret where it is.
 */
export function TemplateEditor(props: {
  readonly value: string;
  readonly onInput: (text: string) => void;
  readonly file: string;
  readonly validator: Validator;
  readonly onState?: (state: EditorState) => void;
  readonly label?: string;
}) {
  const { value, file, validator, onState } = props;
  const area = useRef<HTMLTextAreaElement>(null);
  const [scroll, setScroll] = useState({ top: 0, left: 0 });
  const [state, setState] = useState<EditorState>({ checked: false, problems: [], servers: [], ms: 0 });
  const latest = useRef(0);

  useEffect(() => {
    setState((s) => ({ ...s, checked: false }));
    const mine = ++latest.current;
    const timer = setTimeout(() => {
      void validator.validate(value, file).then((v) => {
        if (mine !== latest.current) return;
        const next = { checked: true, problems: v.problems, servers: v.servers, ms: v.ms };
        setState(next);
        onState?.(next);
      });
    }, VALIDATE_AFTER_MS);
    return () => clearTimeout(timer);
  }, [value, file, validator, onState]);

  const starts = useMemo(() => lineStarts(value), [value]);
  const lines = starts.length;
  const numbers = useMemo(() => Array.from({ length: lines }, (_, i) => i + 1).join("\n"), [lines]);
  const byLine = useMemo(() => {
    const m = new Map<number, Problem[]>();
    for (const p of state.problems) m.set(p.line, [...(m.get(p.line) ?? []), p]);
    return m;
  }, [state.problems]);

  const goTo = (p: Problem) => {
    const el = area.current;
    if (!el) return;
    const at = offsetOf(el.value, p.line, p.column);
    el.focus();
    el.setSelectionRange(at, at);
    const top = (p.line - 1) * LINE_PX;
    if (top < el.scrollTop || top > el.scrollTop + el.clientHeight - 2 * LINE_PX) {
      el.scrollTop = Math.max(0, top - el.clientHeight / 2);
    }
  };

  const count = state.problems.length;
  const status = !state.checked
    ? "Checking…"
    : count === 0
      ? `No problems (${state.servers.length} server${state.servers.length === 1 ? "" : "s"})`
      : `${count} problem${count === 1 ? "" : "s"}`;

  return (
    <div class="editor">
      <div class="editor-frame">
        <div class="editor-gutter" aria-hidden="true">
          <div style={{ transform: `translateY(${-scroll.top}px)` }}>
            <pre class="editor-numbers">{numbers}</pre>
            {[...byLine.entries()].map(([line, ps]) => (
              <span
                key={line}
                class="editor-marker"
                data-line={line}
                title={ps.map((p) => p.message).join("\n")}
                style={{ top: `${(line - 1) * LINE_PX}px` }}
              >
                ●
              </span>
            ))}
          </div>
        </div>
        <div class="editor-text">
          <div
            class="editor-underlay"
            aria-hidden="true"
            style={{ transform: `translate(${-scroll.left}px, ${-scroll.top}px)` }}
          >
            {state.problems.map((p) => (
              <span
                key={`${p.line}:${p.column}:${p.message}`}
                class="editor-squiggle"
                data-line={p.line}
                data-column={p.column}
                style={{
                  top: `${(p.line - 1) * LINE_PX}px`,
                  left: `${p.column - 1}ch`,
                  width: `${Math.max(1, tokenLength(value, offsetIn(value, starts, p.line, p.column)))}ch`,
                }}
              />
            ))}
          </div>
          <textarea
            ref={area}
            aria-label={props.label ?? "Template YAML"}
            aria-invalid={state.checked && count > 0}
            aria-describedby="editor-status"
            spellcheck={false}
            autocapitalize="off"
            autocomplete="off"
            wrap="off"
            value={value}
            onInput={(e) => props.onInput((e.currentTarget as HTMLTextAreaElement).value)}
            onKeyDown={(e) => keepIndent(e, props.onInput)}
            onScroll={(e) => {
              const el = e.currentTarget as HTMLTextAreaElement;
              setScroll({ top: el.scrollTop, left: el.scrollLeft });
            }}
          />
        </div>
      </div>
      <p id="editor-status" class={count > 0 ? "editor-status bad" : "editor-status"} role="status">
        {status}
      </p>
      {count > 0 && (
        <ul class="editor-problems" aria-label="Problems">
          {state.problems.map((p) => (
            <li key={`${p.line}:${p.column}:${p.message}`}>
              <button type="button" class="link" onClick={() => goTo(p)}>
                <span class="where">
                  Line {p.line}, column {p.column}
                </span>
                : {p.message}
              </button>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

/** How many characters the token at `at` takes: up to the next space, quote or closing bracket. */
function tokenLength(text: string, at: number): number {
  let end = at;
  while (end < text.length && end - at < 80 && !/[\s"'`,)}\]]/.test(text[end] as string)) end++;
  return end - at;
}

/** Enter keeps the line's indentation (YAML is indented by spaces; a textarea would start at column 1). */
function keepIndent(e: KeyboardEvent, onInput: (text: string) => void): void {
  if (e.key !== "Enter" || e.shiftKey || e.altKey || e.ctrlKey || e.metaKey || e.isComposing) return;
  const el = e.currentTarget as HTMLTextAreaElement;
  const start = el.selectionStart;
  const lineStart = el.value.lastIndexOf("\n", start - 1) + 1;
  const indent = /^ */.exec(el.value.slice(lineStart, start))?.[0] ?? "";
  if (indent === "") return;
  e.preventDefault();
  // insertText keeps the browser's undo history and fires the input event; setRangeText where it is gone.
  if (!document.execCommand("insertText", false, `\n${indent}`)) {
    el.setRangeText(`\n${indent}`, start, el.selectionEnd, "end");
    onInput(el.value);
  }
}
