// A command's result: one line (numbers rounded, never raw JSON) that opens into aligned
// key/value rows. Scalars and empty results stay one line.
import { Fragment } from "react";
import { resultRows, resultSummary, resultText } from "../result-format";
import "./ResultView.css";

export function ResultView({ head, result }: { head: string; result: unknown }) {
  const line = `${head} ${resultSummary(result)}`;
  const rows = typeof result === "object" && result !== null ? resultRows(result) : [];
  const expandable = rows.length > 1 || (rows.length === 1 && line.length > 60);
  if (!expandable) {
    return (
      <span className="result-line" title={line}>
        {line}
      </span>
    );
  }
  return (
    <details className="result">
      <summary className="result-line" title={resultText(result)}>
        {line}
      </summary>
      <div className="result-rows" data-result-rows>
        {rows.map((r, i) => (
          <Fragment key={i}>
            <span className="result-key">{r.key}</span>
            <span className="result-val">{r.value}</span>
          </Fragment>
        ))}
      </div>
    </details>
  );
}
