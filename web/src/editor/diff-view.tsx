import { useMemo, useState } from "preact/hooks";
import { diffLines, sideBySide, unifiedHunks } from "./line-diff.ts";

/** The difference between two texts (two template versions), unified or side by side. */
export function DiffView(props: {
  readonly oldText: string;
  readonly newText: string;
  readonly oldLabel: string;
  readonly newLabel: string;
}) {
  const [mode, setMode] = useState<"unified" | "split">("unified");
  const diff = useMemo(() => diffLines(props.oldText, props.newText), [props.oldText, props.newText]);
  const summary =
    diff.added === 0 && diff.removed === 0
      ? "The two versions are the same."
      : `${diff.removed} line${diff.removed === 1 ? "" : "s"} removed, ${diff.added} added`;
  return (
    <section class="diff" aria-label={`Changes from ${props.oldLabel} to ${props.newLabel}`}>
      <div class="diff-head">
        <p role="status">{summary}</p>
        <fieldset class="segmented">
          <legend class="visually-hidden">Show the changes</legend>
          <label>
            <input
              type="radio"
              name="diff-mode"
              checked={mode === "unified"}
              onChange={() => setMode("unified")}
            />
            Unified
          </label>
          <label>
            <input
              type="radio"
              name="diff-mode"
              checked={mode === "split"}
              onChange={() => setMode("split")}
            />
            Side by side
          </label>
        </fieldset>
      </div>
      {mode === "unified" ? (
        <table class="diff-table unified">
          <thead>
            <tr>
              <th scope="col">{props.oldLabel}</th>
              <th scope="col">{props.newLabel}</th>
              <th scope="col">Line</th>
            </tr>
          </thead>
          {unifiedHunks(diff).map((h) => (
            <tbody key={h.header}>
              <tr class="hunk">
                <td colSpan={3}>{h.header}</td>
              </tr>
              {h.lines.map((l, i) => (
                <tr key={i} class={l.kind}>
                  <td class="num">{l.oldLine ?? ""}</td>
                  <td class="num">{l.newLine ?? ""}</td>
                  <td class="code">
                    <span class="sign" aria-hidden="true">
                      {SIGN[l.kind]}
                    </span>
                    {l.kind !== "equal" && <span class="visually-hidden">{SIGN_LABEL[l.kind]}: </span>}
                    {l.text}
                  </td>
                </tr>
              ))}
            </tbody>
          ))}
        </table>
      ) : (
        <table class="diff-table split">
          <thead>
            <tr>
              <th scope="col" colSpan={2}>
                {props.oldLabel}
              </th>
              <th scope="col" colSpan={2}>
                {props.newLabel}
              </th>
            </tr>
          </thead>
          <tbody>
            {sideBySide(diff).map((r, i) => (
              <tr key={i} class={r.kind}>
                <td class="num">{r.left?.line ?? ""}</td>
                <td class={r.left ? "code old" : "code empty"}>{r.left?.text ?? ""}</td>
                <td class="num">{r.right?.line ?? ""}</td>
                <td class={r.right ? "code new" : "code empty"}>{r.right?.text ?? ""}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

const SIGN = { equal: " ", delete: "-", insert: "+" } as const;
const SIGN_LABEL = { equal: "unchanged", delete: "removed", insert: "added" } as const;
