// The run builder: pick a template, fill the form generated from its schema (or press a
// preset), see the server's verdict by each field and the effective config as YAML marked
// against the defaults, ask for the estimate, say where it runs (executor, host, resources:
// BuilderLaunch), and Launch: the new run opens live. Shown at `/new` (full page) and as
// the "builder" panel.
import { useMemo } from "react";
import { layoutActions } from "../layout/layoutStore";
import { useActions } from "../state/actions";
import { focusRun } from "../state/app";
import { useStore } from "../state/store";
import { BuilderForm } from "./BuilderForm";
import { BuilderLaunch } from "./BuilderLaunch";
import { fieldPaths, formFields, placeErrors } from "./schema-form";
import { builderRoute, closeBuilder } from "./route";
import { useBuilder, type BuilderModel } from "./useBuilder";
import { toYaml } from "./yaml";
import { formatLiteral } from "./literal";
import "./Builder.css";

export function Builder({ page }: { page: boolean }) {
  const { prefill, seq } = useStore(builderRoute, (s) => s);
  const m = useBuilder(prefill, seq);
  const fields = useMemo(() => (m.detail ? formFields(m.detail.schema, m.detail.config) : []), [m.detail]);
  const placed = useMemo(() => placeErrors(m.check?.out?.errors ?? [], fieldPaths(fields)), [m.check, fields]);
  const shown = m.check?.out?.config ?? m.preview;
  const yaml = useMemo(() => toYaml(shown, m.defaults), [shown, m.defaults]);
  const valid = m.check?.out?.valid === true;

  const launch = async () => {
    const out = await m.launch();
    if (!out) return;
    focusRun(out.run_id);
    if (page) closeBuilder(out.run_id);
    layoutActions.show("runs");
    layoutActions.show("console");
  };

  useActions(
    () => [
      { id: "builder.launch", title: "Builder: launch", group: "Builder", keys: "Ctrl-Enter", enabled: !!m.detail && !m.launching && m.target.ok, run: launch },
      { id: "builder.estimate", title: "Builder: estimate", group: "Builder", enabled: !!m.detail?.estimate, run: m.runEstimate },
      { id: "builder.reset", title: "Builder: reset to the defaults", group: "Builder", enabled: m.overrides.length > 0, run: m.resetEdits },
      ...(page ? [{ id: "builder.close", title: "Builder: back to the runs", group: "Builder", run: () => closeBuilder() }] : []),
      ...Object.keys(m.detail?.presets ?? {}).map((p) => ({ id: `builder.preset.${p}`, title: `Builder: preset ${p}`, group: "Builder", run: () => m.setPreset(p) })),
    ],
    [m.detail, m.launching, m.key, m.runName, m.target, page],
  );

  return (
    <div
      className={`bld ${page ? "bld-page" : ""}`}
      data-testid="builder"
      onKeyDown={(e) => {
        if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
          e.preventDefault();
          void launch();
        }
      }}
    >
      <div className="bld-head">
        <span className="bld-title">NEW RUN</span>
        <label>
          template{" "}
          <select data-testid="builder-template" value={m.name ?? ""} onChange={(e) => m.pick(e.target.value || null)} autoFocus={page}>
            <option value="">{m.templates ? "— pick a template —" : "loading…"}</option>
            {(m.templates ?? []).map((t) => (
              <option key={t.name} value={t.name}>
                {t.name}
              </option>
            ))}
            {m.name && m.templates && !m.templates.some((t) => t.name === m.name) ? <option value={m.name}>{m.name} (missing)</option> : null}
          </select>
        </label>
        {m.detail ? <code className="bld-cmd dim" title="the command it runs">{m.detail.command.join(" ")}</code> : null}
        <span className="td-spacer" />
        {page ? (
          <button type="button" onClick={() => closeBuilder()} title="back to the runs">
            ✕ close
          </button>
        ) : null}
      </div>
      {m.listError ? <div className="bad bld-note">{m.listError}</div> : null}
      {m.templates && !m.templates.length ? <div className="dim bld-note">no templates in the server's templates folder</div> : null}
      {m.detailError ? <div className="bad bld-note">{m.detailError}</div> : null}
      {prefill?.from ? (
        <div className="dim bld-note" data-testid="builder-cloned">
          cloned from run {prefill.from}
          {prefill.template ? "" : " (not launched by traindeck: its config only; pick a template)"}
        </div>
      ) : null}
      {m.detail ? <Body m={m} fields={fields} placed={placed} yaml={yaml} valid={valid} onLaunch={launch} /> : null}
    </div>
  );
}

function Body({
  m, fields, placed, yaml, valid, onLaunch,
}: {
  m: BuilderModel;
  fields: ReturnType<typeof formFields>;
  placed: ReturnType<typeof placeErrors>;
  yaml: ReturnType<typeof toYaml>;
  valid: boolean;
  onLaunch: () => Promise<void>;
}) {
  const d = m.detail!;
  const presets = Object.keys(d.presets);
  return (
    <>
      {d.description ? <div className="dim bld-note">{d.description}</div> : null}
      <div className="bld-presets">
        <span className="dim">preset</span>
        <button type="button" className={m.preset === null ? "bld-on" : ""} onClick={() => m.setPreset(null)} data-preset="">
          none
        </button>
        {presets.map((p) => (
          <button
            type="button"
            key={p}
            data-preset={p}
            className={m.preset === p ? "bld-on" : ""}
            title={d.presets[p]!.join(" ")}
            onClick={() => m.setPreset(p)}
          >
            {p}
          </button>
        ))}
        {m.overrides.length ? (
          <button type="button" onClick={m.resetEdits} title="drop every override">
            reset
          </button>
        ) : null}
      </div>
      <div className="bld-cols">
        <div className="bld-col">
          {placed.general.length ? (
            <div className="bld-msg bad" data-testid="builder-errors">
              {placed.general.map((e, i) => (
                <div key={i}>
                  <code>{e.path}</code> {e.message}
                </div>
              ))}
            </div>
          ) : null}
          <BuilderForm fields={fields} values={m.preview} defaults={m.defaults} errors={placed.byField} onEdit={m.edit} />
          <Extra m={m} />
        </div>
        <div className="bld-col">
          <div className="bld-sec">
            effective config <span className="dim">(~ changed + added - removed, against the defaults)</span>{" "}
            <span data-testid="builder-verdict" className={m.checking ? "dim" : m.check?.error ? "bad" : valid ? "good" : "bad"}>
              {m.checking ? "checking…" : m.check?.error ? m.check.error : valid ? "✓ valid" : `✗ ${m.check?.out?.errors.length ?? 0} error(s)`}
            </span>
          </div>
          <pre className="bld-yaml" data-testid="builder-yaml">
            {yaml.map((l, i) => (
              <div key={i} className={`bld-y-${l.mark}`} data-path={l.path || undefined} data-mark={l.mark}>
                <span className="bld-gutter">{l.mark === "changed" ? "~" : l.mark === "added" ? "+" : l.mark === "removed" ? "-" : " "}</span>
                {l.text}
              </div>
            ))}
          </pre>
          <div className="bld-sec">overrides</div>
          <code className="bld-ovr" data-testid="builder-overrides">
            {[m.preset ? `preset ${m.preset}` : "", ...m.overrides].filter(Boolean).join("  ") || "(defaults)"}
          </code>
          {d.estimate ? <Estimate m={m} /> : null}
          <BuilderLaunch m={m} valid={valid} onLaunch={onLaunch} />
        </div>
      </div>
    </>
  );
}

function Extra({ m }: { m: BuilderModel }) {
  return (
    <div className="bld-extra">
      <label className="bld-label" htmlFor="bld-extra">
        more overrides
      </label>
      <textarea
        id="bld-extra"
        data-testid="builder-extra"
        rows={2}
        spellCheck={false}
        placeholder={"+new.key=1\n~unused"}
        value={m.extra.join("\n")}
        onChange={(e) => m.setExtra(e.target.value.split("\n"))}
        onBlur={() => m.setExtra(m.extra.map((s) => s.trim()).filter(Boolean))}
      />
    </div>
  );
}

function Estimate({ m }: { m: BuilderModel }) {
  const e = m.estimate;
  return (
    <div className="bld-est" data-testid="builder-estimate">
      <button type="button" onClick={m.runEstimate} disabled={e?.busy}>
        {e?.busy ? "estimating…" : "estimate"}
      </button>
      {e?.error ? <span className="bad"> {e.error}</span> : null}
      {e?.out && !e.out.ok ? <span className="bad"> estimate failed: {e.out.error}</span> : null}
      {e?.out?.ok && e.out.value ? (
        <table>
          <tbody>
            {Object.entries(e.out.value).map(([k, v]) => (
              <tr key={k}>
                <td className="dim">{k}</td>
                <td className="num">{typeof v === "number" ? v.toLocaleString() : formatLiteral(v)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </div>
  );
}
