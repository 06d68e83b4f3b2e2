"""The dashboard: the built React app with SPA fallback, or a small built-in page.

When ``<web_dir>/index.html`` exists (``npm run build`` writes it), files under ``web_dir``
are served as they are and any other path that is not ``/api/…`` gets ``index.html`` (the
client routes it). Until then ``/`` serves :data:`FALLBACK_PAGE`, a plain run list. Paths
never leave ``web_dir``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.responses import FileResponse, HTMLResponse, Response

FALLBACK_PAGE: Final = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>traindeck</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{background:#000;color:#ffb000;font:13px/1.4 ui-monospace,Menlo,Consolas,monospace;margin:1em}
h1{font-size:14px;margin:0 0 .6em}table{border-collapse:collapse;width:100%}
th,td{border:1px solid #5a3e00;padding:2px 6px;text-align:left;white-space:nowrap}
th{color:#ffd27a}.running{color:#7fff7f}.failed,.interrupted{color:#ff6060}
#err{color:#ff6060}
</style></head><body>
<h1>traindeck &mdash; runs <span id="n"></span> <span id="err"></span></h1>
<table><thead><tr><th>id</th><th>project</th><th>name</th><th>status</th><th>created</th>
<th>tags</th><th>summary</th></tr></thead><tbody id="runs"></tbody></table>
<script>
function cell(tr, text, cls){const td=document.createElement('td');td.textContent=text;
  if(cls)td.className=cls;tr.appendChild(td);}
async function refresh(){
  try{
    const r=await fetch('/api/runs?limit=200');const d=await r.json();
    const body=document.getElementById('runs');body.replaceChildren();
    for(const run of d.runs){const tr=document.createElement('tr');
      cell(tr,run.id);cell(tr,run.project);cell(tr,run.name);cell(tr,run.status,run.status);
      cell(tr,new Date(run.created_at*1000).toISOString().replace('T',' ').slice(0,19));
      cell(tr,run.tags.join(','));cell(tr,JSON.stringify(run.summary).slice(0,120));
      body.appendChild(tr);}
    document.getElementById('n').textContent='('+d.total+')';
    document.getElementById('err').textContent='';
  }catch(e){document.getElementById('err').textContent='server unreachable';}
}
refresh();setInterval(refresh,2000);
</script></body></html>
"""

#: Paths the dashboard never owns: unknown ones there are JSON 404s.
RESERVED: Final = ("api", "ws", "health", "docs", "redoc", "openapi.json")


def install(app: FastAPI, web_dir: Path) -> None:
    root = web_dir.resolve()

    @app.get("/{path:path}", include_in_schema=False)
    def dashboard(path: str) -> Response:
        if path.split("/", 1)[0] in RESERVED:
            raise HTTPException(404, f"no route /{path}")
        index = root / "index.html"
        if index.is_file():
            if path:
                candidate = (root / path).resolve()
                if candidate.is_relative_to(root) and candidate.is_file():
                    return FileResponse(candidate)
            return FileResponse(index, headers={"cache-control": "no-cache"})
        if path == "":
            return HTMLResponse(FALLBACK_PAGE)
        raise HTTPException(404, f"no route /{path}")
