// The form generated from a template's schema: one control per field, nested objects as
// fieldsets, each field with its range hint, changed mark and the server's messages.
import { useState } from "react";
import { formatCommaList, formatLiteral, parseCommaList, parseLiteral } from "./literal";
import { getPath, sameValue, type Config } from "./overrides";
import { rangeHint, type Field } from "./schema-form";

export interface FormProps {
  fields: readonly Field[];
  /** The effective config (local preview) the controls show. */
  values: Config;
  defaults: Config;
  errors: ReadonlyMap<string, string[]>;
  onEdit: (path: string, value: unknown) => void;
}

export function BuilderForm(props: FormProps) {
  return (
    <div className="bld-form" data-testid="builder-form">
      {props.fields.map((f) => (
        <FieldView key={f.path} field={f} {...props} />
      ))}
    </div>
  );
}

function FieldView({ field: f, values, defaults, errors, onEdit, fields: _ }: FormProps & { field: Field }) {
  const value = getPath(values, f.path).value;
  const def = getPath(defaults, f.path);
  const changed = !def.found || !sameValue(def.value, value);
  const msgs = errors.get(f.path) ?? [];
  if (f.kind === "object") {
    return (
      <fieldset className={`bld-group ${changed ? "bld-changed" : ""}`} data-group={f.path}>
        <legend title={f.description || undefined}>{f.label}</legend>
        {msgs.length ? <Messages path={f.path} msgs={msgs} /> : null}
        {f.fields.map((c) => (
          <FieldView key={c.path} field={c} fields={[]} values={values} defaults={defaults} errors={errors} onEdit={onEdit} />
        ))}
      </fieldset>
    );
  }
  const hint = f.kind === "number" ? rangeHint(f) : f.kind === "list" ? `${f.item === "any" ? "value" : f.item === "integer" ? "int" : f.item}, …` : "";
  return (
    <div className={`bld-field ${changed ? "bld-changed" : ""} ${msgs.length ? "bld-bad" : ""}`}>
      <label className="bld-label" title={f.description || f.path} htmlFor={`bld-${f.path}`}>
        {changed ? <span className="bld-mark" title={`changed from ${formatLiteral(def.value)}`}>●</span> : null}
        {f.label}
        {f.required ? <span className="dim">*</span> : null}
      </label>
      <Control field={f} value={value} onEdit={onEdit} />
      <span className="bld-hint dim" title={f.kind === "list" ? "a comma separated list" : hint}>
        {hint}
      </span>
      {msgs.length ? <Messages path={f.path} msgs={msgs} /> : null}
    </div>
  );
}

function Messages({ path, msgs }: { path: string; msgs: string[] }) {
  return (
    <div className="bld-msg bad" data-field-error={path}>
      {msgs.map((m, i) => (
        <div key={i}>{m}</div>
      ))}
    </div>
  );
}

/** A text control that keeps what is typed until it reads as a value (`0.` stays `0.`). */
function TextControl({
  path,
  shown,
  read,
  onEdit,
  type = "text",
  extra = {},
}: {
  path: string;
  shown: string;
  read: (text: string) => { ok: true; value: unknown } | { ok: false; error: string };
  onEdit: (path: string, value: unknown) => void;
  type?: string;
  extra?: Record<string, string | number>;
}) {
  const [draft, setDraft] = useState<{ text: string; for: string } | null>(null);
  const text = draft && draft.for === shown ? draft.text : shown;
  const parsed = draft ? read(draft.text) : null;
  return (
    <>
      <input
        id={`bld-${path}`}
        data-field={path}
        type={type}
        className={parsed && !parsed.ok ? "bld-input bld-input-bad" : "bld-input"}
        value={text}
        spellCheck={false}
        {...extra}
        title={parsed && !parsed.ok ? parsed.error : undefined}
        onChange={(e) => {
          const t = e.target.value;
          const r = read(t);
          if (r.ok) {
            // What the form will show once the edit lands: the draft stays while it matches.
            setDraft({ text: t, for: displayOf(r.value, type) });
            onEdit(path, r.value);
          } else setDraft({ text: t, for: shown });
        }}
        onBlur={() => setDraft(null)}
      />
      {parsed && !parsed.ok ? <span className="bad bld-local">{parsed.error}</span> : null}
    </>
  );
}

function displayOf(v: unknown, type: string): string {
  if (v === null || v === undefined) return "";
  if (type === "number" || typeof v === "string") return String(v);
  return Array.isArray(v) ? formatCommaList(v) : formatLiteral(v);
}

function Control({ field: f, value, onEdit }: { field: Exclude<Field, { kind: "object" }>; value: unknown; onEdit: (path: string, value: unknown) => void }) {
  switch (f.kind) {
    case "boolean":
      return (
        <input id={`bld-${f.path}`} data-field={f.path} type="checkbox" checked={value === true} onChange={(e) => onEdit(f.path, e.target.checked)} />
      );
    case "enum": {
      const at = f.options.findIndex((o) => sameValue(o, value));
      return (
        <select id={`bld-${f.path}`} data-field={f.path} value={at < 0 ? "" : String(at)} onChange={(e) => onEdit(f.path, e.target.value === "" ? null : f.options[Number(e.target.value)])}>
          {at < 0 || f.nullable ? <option value="">{at < 0 && value !== null && value !== undefined ? `(${formatLiteral(value)})` : "—"}</option> : null}
          {f.options.map((o, i) => (
            <option key={i} value={String(i)}>
              {typeof o === "string" ? o : formatLiteral(o)}
            </option>
          ))}
        </select>
      );
    }
    case "number": {
      const extra: Record<string, string | number> = { step: f.integer ? 1 : "any" };
      if (f.min !== null) extra.min = f.min;
      if (f.max !== null) extra.max = f.max;
      return (
        <TextControl
          path={f.path}
          type="number"
          shown={typeof value === "number" ? String(value) : value === null || value === undefined ? "" : String(value)}
          extra={extra}
          onEdit={onEdit}
          read={(t) => {
            if (!t.trim()) return f.nullable ? { ok: true, value: null } : { ok: false, error: "a number is needed" };
            const n = Number(t);
            if (!Number.isFinite(n)) return { ok: false, error: "not a number" };
            if (f.integer && !Number.isInteger(n)) return { ok: false, error: "a whole number is needed" };
            return { ok: true, value: n };
          }}
        />
      );
    }
    case "string":
      return (
        <TextControl
          path={f.path}
          shown={typeof value === "string" ? value : value === null || value === undefined ? "" : formatLiteral(value)}
          onEdit={onEdit}
          read={(t) => ({ ok: true, value: t === "" && f.nullable ? null : t })}
        />
      );
    case "list":
      return (
        <TextControl
          path={f.path}
          shown={Array.isArray(value) ? formatCommaList(value) : ""}
          onEdit={onEdit}
          read={(t) => {
            const items = parseCommaList(t);
            const want = f.item;
            if (want === "integer" && !items.every((x) => Number.isInteger(x))) return { ok: false, error: "whole numbers, comma separated" };
            if (want === "number" && !items.every((x) => typeof x === "number")) return { ok: false, error: "numbers, comma separated" };
            if (want === "boolean" && !items.every((x) => typeof x === "boolean")) return { ok: false, error: "true/false, comma separated" };
            return { ok: true, value: want === "string" ? items.map((x) => (typeof x === "string" ? x : formatLiteral(x))) : items };
          }}
        />
      );
    case "literal":
      return (
        <TextControl
          path={f.path}
          shown={formatLiteral(value)}
          onEdit={onEdit}
          read={(t) => ({ ok: true, value: parseLiteral(t) })}
        />
      );
  }
}
