// traindeck's built-in dashboard: no dependencies, no build step. The REST API is
// docs/api.md; the live protocol (/ws) is the docstring of traindeck/server/hub.py.
// Run-supplied text only ever reaches the page as text nodes, never parsed as markup.
'use strict';
(() => {
  const BADGE = {
    running: '● RUNNING', completed: '✓ COMPLETED', failed: '✗ FAILED',
    interrupted: '◌ INTERRUPTED', paused: '❚❚ PAUSED', queued: '… QUEUED',
    cancelled: '⊘ CANCELLED',
  };
  const LIVE = new Set(['running', 'paused']);
  const FINAL = new Set(['done', 'failed', 'expired']);
  const MAX_EVENTS = 50;
  const MAX_CMDS = 12;
  const MAX_POINTS = 4000; // per chart, before pairs are merged
  const SYS = 'sys/';

  const $ = (id) => document.getElementById(id);
  const enc = encodeURIComponent;

  // Elements from tags, properties and children; strings become text nodes.
  function h(tag, props, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v == null || v === false) continue;
      if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (k.startsWith('data-')) el.setAttribute(k, String(v));
      else if (k === 'class') el.className = v;
      else el[k] = v;
    }
    for (const kid of kids) {
      if (kid != null && kid !== false) el.append(kid instanceof Node ? kid : String(kid));
    }
    return el;
  }

  // -- formatting ------------------------------------------------------------------------
  function num(v) {
    if (typeof v === 'number') return v;
    if (v === 'Infinity') return Infinity;
    if (v === '-Infinity') return -Infinity;
    return NaN; // "NaN", or anything unexpected
  }
  function fmt(v) {
    if (typeof v !== 'number') return v == null ? '—' : String(v);
    if (!Number.isFinite(v)) return String(v);
    const a = Math.abs(v);
    if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(2);
    return String(+v.toPrecision(4));
  }
  function short(x, n = 160) {
    let s;
    // numbers to 4 significant digits (integers as they are), for results and payloads
    const round = (k, v) => (typeof v === 'number' && !Number.isInteger(v) ? +v.toPrecision(4) : v);
    try { s = typeof x === 'string' ? x : JSON.stringify(x, round); } catch { s = String(x); }
    if (s === undefined) s = String(x);
    return s.length > n ? s.slice(0, n - 1) + '…' : s;
  }
  const clock = (t) => new Date(t * 1000).toTimeString().slice(0, 8);
  function dur(s) {
    if (s == null || !Number.isFinite(s)) return '—';
    s = Math.max(0, Math.floor(s));
    const p = (x) => String(x).padStart(2, '0');
    if (s < 60) return s + 's';
    if (s < 3600) return Math.floor(s / 60) + 'm' + p(s % 60) + 's';
    if (s < 86400) return Math.floor(s / 3600) + 'h' + p(Math.floor(s / 60) % 60) + 'm';
    return Math.floor(s / 86400) + 'd' + p(Math.floor(s / 3600) % 24) + 'h';
  }
  const badge = (status) => h('span', { class: 'badge s-' + status }, BADGE[status] || status);

  function toLogin() {
    location.assign('/login?next=' + encodeURIComponent(location.pathname));
  }

  async function api(path, opts) {
    const r = await fetch(path, opts);
    if (r.status === 401) toLogin(); // the session expired or its token was revoked
    const body = r.status === 204 ? null : await r.json().catch(() => null);
    if (!r.ok) {
      const e = body && body.error;
      throw new Error(e ? e.code + ': ' + e.message : 'HTTP ' + r.status);
    }
    return body;
  }

  // -- state -----------------------------------------------------------------------------
  const S = {
    runs: new Map(), order: [], total: 0, cur: -1,
    sel: null, gen: 0, loaded: false,
    series: new Map(), // chart key -> {key, xs, ys, total, el, canvas, log, hover, dirty}
    steps: {}, // every key of the selected run -> last step held (the reconnect cursor)
    sys: {}, // sys/* key -> latest value
    events: new Map(), // seq -> event (the newest MAX_EVENTS)
    eventSeq: 0,
    cmds: new Map(), mine: new Set(), notes: [],
    ws: null, wsOpen: false, runSubOn: null, projSubOn: new Set(), backoff: 500,
    reconnects: 0,
  };
  window.traindeck = { state: S, dropSocket: () => S.ws && S.ws.close() };

  // -- rendering (batched into one animation frame) --------------------------------------
  const dirty = new Set();
  let frame = 0;
  function later(...what) {
    for (const w of what) dirty.add(w);
    if (!frame) frame = requestAnimationFrame(flush);
  }
  function flush() {
    frame = 0;
    const what = new Set(dirty);
    dirty.clear();
    if (what.has('runs')) renderRuns();
    if (what.has('head')) renderHead();
    if (what.has('buttons')) renderButtons();
    if (what.has('events')) renderEvents();
    if (what.has('cmds')) renderCmds();
    if (what.has('sys')) renderSys();
    // small multiples share the step axis
    let x0 = Infinity;
    let x1 = -Infinity;
    for (const s of S.series.values()) {
      if (!s.xs.length) continue;
      x0 = Math.min(x0, s.xs[0]);
      x1 = Math.max(x1, s.xs[s.xs.length - 1]);
    }
    const all = what.has('charts') || x0 !== S.x0 || x1 !== S.x1;
    S.x0 = x0;
    S.x1 = x1;
    for (const s of S.series.values()) if (s.dirty || all) draw(s);
  }

  function setConn(state, delay) {
    const el = $('conn');
    if (state === 'live') { el.textContent = '● live'; el.className = 'ok'; return; }
    el.className = 'bad';
    el.textContent = state === 'down'
      ? '○ disconnected, retrying in ' + (delay / 1000).toFixed(1) + 's'
      : '○ connecting';
  }

  function sortRuns() {
    S.order = [...S.runs.values()].sort((a, b) => b.created_at - a.created_at).map((r) => r.id);
  }

  // Rows are kept and updated in place (a click must not land on a row being replaced).
  const rows = new Map(); // run id -> li
  function renderRuns() {
    const list = $('runs');
    const now = Date.now() / 1000;
    const want = S.order.map((id, i) => {
      const r = S.runs.get(id);
      let li = rows.get(id);
      if (!li) {
        li = h('li', { 'data-id': id, onclick: () => select(id) },
          h('span', { class: 'badge' }), h('span', { class: 'name' }), h('span', { class: 'sub' }));
        rows.set(id, li);
      }
      const end = r.ended_at || (LIVE.has(r.status) ? now : null);
      const age = r.started_at && end ? ' · ' + dur(end - r.started_at) : '';
      const [b, name, sub] = li.children;
      li.className = (id === S.sel ? 'sel' : '') + (i === S.cur ? ' cur' : '');
      li.dataset.status = r.status;
      li.title = r.project + ' / ' + r.name + ' (' + id + ')';
      b.className = 'badge s-' + r.status;
      b.textContent = BADGE[r.status] || r.status;
      name.textContent = r.name || id;
      sub.textContent = r.project + ' · ' + id + age;
      return li;
    });
    for (const id of rows.keys()) if (!S.runs.has(id)) rows.delete(id);
    if (want.length !== list.children.length || want.some((li, i) => list.children[i] !== li)) {
      list.replaceChildren(...want);
    }
    $('runs-empty').style.display = want.length ? 'none' : '';
    $('count').textContent = S.total + ' run' + (S.total === 1 ? '' : 's');
    if (S.scroll && want[S.cur]) want[S.cur].scrollIntoView({ block: 'nearest' });
    S.scroll = false;
  }

  function lastStep() {
    let top = null;
    for (const [k, v] of Object.entries(S.steps)) if (!k.startsWith(SYS) && (top === null || v > top)) top = v;
    return top;
  }

  function renderHead() {
    const r = S.runs.get(S.sel);
    document.body.classList.toggle('empty', !r);
    if (!r) return;
    const end = r.ended_at || Date.now() / 1000;
    const step = lastStep();
    const summary = Object.entries(r.summary || {})
      .filter(([, v]) => v === null || typeof v !== 'object').slice(0, 6)
      .map(([k, v]) => k + '=' + short(typeof v === 'number' ? fmt(v) : v, 24));
    $('run-head').replaceChildren(
      badge(r.status), h('span', { class: 'name' }, r.name || r.id),
      h('span', { class: 'dim' }, r.project + ' / ' + r.id),
      h('span', null, 'step ', h('b', null, step === null ? '—' : String(step))),
      h('span', null, 'elapsed ', h('b', null, r.started_at ? dur(end - r.started_at) : '—')),
      r.host ? h('span', { class: 'dim' }, r.host + (r.pid ? ':' + r.pid : '')) : null,
      r.tags && r.tags.length ? h('span', { class: 'cyan' }, '#' + r.tags.join(' #')) : null,
      summary.length ? h('span', { class: 'dim summary', title: summary.join('\n') }, summary.join('  ')) : null,
    );
  }

  let buttonsKey = '';
  function renderButtons() {
    const r = S.runs.get(S.sel);
    if (!r) return;
    const live = LIVE.has(r.status);
    const names = r.commands_offered || [];
    const key = JSON.stringify([r.id, r.status, names]);
    if (key === buttonsKey) return; // unchanged: keep the buttons (and a click in flight)
    buttonsKey = key;
    $('buttons').replaceChildren(...names.map((name) => h('button', {
      type: 'button', 'data-command': name, class: name === 'stop' ? 'stop' : '',
      disabled: !live || (name === 'pause' && r.status === 'paused')
        || (name === 'resume' && r.status === 'running'),
      title: live ? 'send "' + name + '" to the run' : 'the run is not live',
      onclick: () => sendCommand(name),
    }, name)));
    if (!names.length) $('buttons').append(h('span', { class: 'dim' }, 'none offered'));
  }

  function eventLine(e) {
    const p = e.payload || {};
    let text = short(p);
    let cls = '';
    if (e.kind === 'status_change') {
      text = (p.old_status || '—') + ' → ' + p.new_status + (p.reason ? ' (' + short(p.reason, 80) + ')' : '');
      cls = 's-' + p.new_status;
    } else if (e.kind === 'command') {
      text = (p.name || '') + ' ' + (p.status || '') + (p.error ? ': ' + short(p.error, 120) : '');
      cls = 'c-' + p.status;
    }
    return h('li', { title: short(p, 2000) }, h('span', { class: 'dim' }, clock(e.time) + ' '),
      h('b', null, e.kind + ' '), h('span', { class: cls }, text));
  }

  function renderEvents() {
    const seqs = [...S.events.keys()].sort((a, b) => b - a);
    $('log').replaceChildren(...seqs.map((s) => eventLine(S.events.get(s))));
  }

  function renderCmds() {
    const cmds = [...S.cmds.values()].sort((a, b) => b.created_at - a.created_at).slice(0, MAX_CMDS);
    const rows = S.notes.map((n) => h('li', { class: 'bad' }, n));
    for (const c of cmds) {
      const args = c.args && Object.keys(c.args).length ? short(c.args, 60) : '';
      rows.push(h('li', { 'data-command-id': c.id, 'data-status': c.status },
        h('span', { class: 'dim' }, clock(c.created_at) + ' '), h('b', null, c.name),
        args ? h('span', { class: 'dim' }, ' ' + args) : null, ' ',
        h('span', { class: 'state c-' + c.status }, c.status),
        c.result != null ? h('span', { class: 'result' }, ' → ' + short(c.result, 300)) : null,
        c.error ? h('span', { class: 'error bad' }, ' ✗ ' + short(c.error, 300)) : null));
    }
    $('cmds').replaceChildren(...rows);
  }

  function bar(pct) {
    const n = 10;
    const f = Number.isFinite(pct) ? Math.max(0, Math.min(n, Math.round((pct / 100) * n))) : 0;
    return '█'.repeat(f) + '░'.repeat(n - f);
  }
  function gauge(label, pct, extra) {
    const cls = !Number.isFinite(pct) ? 'bad' : pct > 90 ? 'bad' : pct > 75 ? 'warn' : 'ok';
    return h('div', null, label.padEnd(6), h('span', { class: cls }, bar(pct)),
      ' ' + (Number.isFinite(pct) ? pct.toFixed(0).padStart(3) + '%' : fmt(pct)) + (extra || ''));
  }
  function renderSys() {
    const v = (k) => (k in S.sys ? S.sys[k] : undefined);
    const rows = [];
    if (v('sys/cpu_percent') !== undefined) rows.push(gauge('cpu', v('sys/cpu_percent')));
    if (v('sys/mem_percent') !== undefined) {
      const used = v('sys/mem_used_gb');
      rows.push(gauge('mem', v('sys/mem_percent'), used !== undefined ? ' ' + fmt(used) + 'G' : ''));
    }
    if (v('sys/proc_rss_gb') !== undefined) {
      rows.push(h('div', null, 'rss   ' + fmt(v('sys/proc_rss_gb')) + ' GB' +
        (v('sys/proc_cpu_percent') !== undefined ? '  cpu ' + fmt(v('sys/proc_cpu_percent')) + '%' : '')));
    }
    const gpus = new Set();
    for (const k of Object.keys(S.sys)) { const m = /^sys\/gpu(\d+)\//.exec(k); if (m) gpus.add(m[1]); }
    for (const g of [...gpus].sort((a, b) => a - b)) {
      const p = 'sys/gpu' + g + '/';
      if (v(p + 'util') !== undefined) rows.push(gauge('gpu' + g, v(p + 'util')));
      if (v(p + 'mem_percent') !== undefined) rows.push(gauge(' vram', v(p + 'mem_percent')));
      const t = v(p + 'temp_c');
      const w = v(p + 'power_w');
      if (t !== undefined || w !== undefined) {
        rows.push(h('div', null, ' ' + (t !== undefined ? fmt(t) + '°C ' : '') + (w !== undefined ? fmt(w) + 'W' : '')));
      }
    }
    if (!rows.length) rows.push(h('div', { class: 'dim' }, 'no sys/* samples'));
    $('sys').replaceChildren(...rows);
  }

  // -- charts ----------------------------------------------------------------------------
  function chartOrder(a, b) {
    const rank = (k) => (k === 'loss' ? 0 : /loss/.test(k) ? 1 : /acc/.test(k) ? 2 : 3);
    return rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0);
  }

  function chartFor(key) {
    let s = S.series.get(key);
    if (s) return s;
    const canvas = h('canvas', { title: key + ' — click: log scale' });
    const el = h('div', { class: 'chart', 'data-key': key, 'data-points': 0 }, canvas);
    s = { key, xs: [], ys: [], total: 0, el, canvas, log: false, hover: null, dirty: true, geom: null };
    canvas.addEventListener('click', () => { s.log = !s.log; s.dirty = true; later(); });
    canvas.addEventListener('mousemove', (ev) => {
      const g = s.geom;
      if (!g || !s.xs.length) return;
      const rect = canvas.getBoundingClientRect();
      const x = g.x0 + ((ev.clientX - rect.left - g.left) / g.w) * (g.x1 - g.x0);
      let lo = 0;
      let hi = s.xs.length - 1;
      while (lo < hi) { const mid = (lo + hi) >> 1; if (s.xs[mid] < x) lo = mid + 1; else hi = mid; }
      if (lo > 0 && x - s.xs[lo - 1] < s.xs[lo] - x) lo -= 1;
      s.hover = lo; s.dirty = true; later();
    });
    canvas.addEventListener('mouseleave', () => { s.hover = null; s.dirty = true; later(); });
    S.series.set(key, s);
    const keys = [...S.series.keys()].sort(chartOrder);
    $('charts').replaceChildren(...keys.map((k) => S.series.get(k).el));
    later('charts');
    return s;
  }

  function addPoint(s, step, value) {
    s.total += 1;
    s.xs.push(step);
    s.ys.push(value);
    if (s.xs.length > MAX_POINTS) compact(s);
    s.dirty = true;
  }

  // Halve a long series: merge neighbouring finite points (and repeats of one non-finite
  // kind), so memory stays bounded while the non-finite marks stay visible.
  function compact(s) {
    const xs = [];
    const ys = [];
    const n = s.xs.length;
    for (let i = 0; i < n;) {
      const y = s.ys[i];
      const y2 = s.ys[i + 1];
      if (i + 1 < n && Number.isFinite(y) && Number.isFinite(y2)) {
        xs.push(s.xs[i + 1]); ys.push((y + y2) / 2); i += 2;
      } else if (i + 1 < n && !Number.isFinite(y) && Object.is(y, y2)) {
        xs.push(s.xs[i + 1]); ys.push(y); i += 2;
      } else {
        xs.push(s.xs[i]); ys.push(y); i += 1;
      }
    }
    s.xs = xs;
    s.ys = ys;
  }

  function css(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }
  let palette = null;

  function draw(s) {
    s.dirty = false;
    const c = s.canvas;
    const dpr = window.devicePixelRatio || 1;
    const W = c.clientWidth;
    const H = c.clientHeight;
    if (!W || !H) return;
    if (c.width !== Math.round(W * dpr) || c.height !== Math.round(H * dpr)) {
      c.width = Math.round(W * dpr); c.height = Math.round(H * dpr);
    }
    palette = palette || { fg: css('--fg'), hi: css('--hi'), dim: css('--dim'), line: css('--line'), bad: css('--bad'), cyan: css('--cyan') };
    const P = palette;
    const ctx = c.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, W, H);
    ctx.font = '11px ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace';
    ctx.textBaseline = 'top';
    const { xs, ys } = s;
    const n = xs.length;
    let lo = Infinity;
    let hi = -Infinity;
    let bad = 0;
    let positive = true;
    for (let i = 0; i < n; i++) {
      const y = ys[i];
      if (!Number.isFinite(y)) { bad++; continue; }
      if (y < lo) lo = y;
      if (y > hi) hi = y;
      if (y <= 0) positive = false;
    }
    const log = s.log && positive && lo <= hi;
    const f = log ? Math.log10 : (y) => y;
    if (lo > hi) { lo = 0; hi = 1; }
    let y0 = f(lo);
    let y1 = f(hi);
    if (y0 === y1) { const d = Math.abs(y0) * 0.1 || 1; y0 -= d; y1 += d; }
    const padY = (y1 - y0) * 0.06;
    y0 = !log && lo >= 0 && y0 - padY < 0 ? 0 : y0 - padY; // no negative axis for >= 0 data
    y1 += padY;
    const x0 = Number.isFinite(S.x0) ? S.x0 : 0;
    const x1 = S.x1 > x0 ? S.x1 : x0 + 1;
    const left = 50;
    const top = 20;
    const w = W - left - 6;
    const ht = H - top - 14;
    s.geom = { left, w, x0, x1 };
    const X = (x) => left + ((x - x0) / (x1 - x0)) * w;
    const Y = (y) => top + (1 - (f(y) - y0) / (y1 - y0)) * ht;

    // grid and y labels
    ctx.strokeStyle = P.line;
    ctx.fillStyle = P.dim;
    ctx.lineWidth = 1;
    ctx.textAlign = 'right';
    for (let g = 0; g <= 3; g++) {
      const yy = Math.round(top + (g / 3) * ht) + 0.5;
      ctx.beginPath(); ctx.moveTo(left, yy); ctx.lineTo(left + w, yy); ctx.stroke();
      const val = y1 - (g / 3) * (y1 - y0);
      ctx.fillText(fmt(log ? 10 ** val : val), left - 4, yy - 5);
    }
    ctx.textAlign = 'left';
    ctx.fillText(String(x0), left, top + ht + 2);
    ctx.textAlign = 'right';
    ctx.fillText(n ? 'step ' + x1 : 'no points yet', left + w, top + ht + 2);

    // the line, broken at non-finite values
    ctx.strokeStyle = P.fg;
    ctx.lineWidth = 1.25;
    ctx.beginPath();
    let pen = false;
    for (let i = 0; i < n; i++) {
      const y = ys[i];
      if (!Number.isFinite(y)) { pen = false; continue; }
      const px = X(xs[i]);
      const py = Y(y);
      if (pen) ctx.lineTo(px, py); else ctx.moveTo(px, py);
      pen = true;
    }
    ctx.stroke();
    if (n === 1 && Number.isFinite(ys[0])) { ctx.fillStyle = P.fg; ctx.fillRect(X(xs[0]) - 2, Y(ys[0]) - 2, 4, 4); }

    // non-finite values: red ticks (NaN in the middle, +Inf at the top, -Inf at the bottom)
    if (bad) {
      ctx.fillStyle = P.bad;
      ctx.strokeStyle = 'rgba(255,80,80,0.35)';
      for (let i = 0; i < n; i++) {
        const y = ys[i];
        if (Number.isFinite(y)) continue;
        const px = Math.round(X(xs[i])) + 0.5;
        ctx.beginPath(); ctx.moveTo(px, top); ctx.lineTo(px, top + ht); ctx.stroke();
        const py = y === Infinity ? top : y === -Infinity ? top + ht - 5 : top + ht / 2 - 2;
        ctx.fillRect(px - 2.5, py, 5, 5);
      }
    }

    // title, last value, hover read-out
    ctx.textAlign = 'left';
    ctx.fillStyle = P.hi;
    ctx.fillText(s.key + (log ? ' (log)' : ''), 4, 2);
    let tx = 4 + ctx.measureText(s.key + (log ? ' (log)' : '') + ' ').width;
    if (bad) {
      ctx.fillStyle = P.bad;
      const t = '✗' + bad + ' non-finite ';
      ctx.fillText(t, tx, 2);
      tx += ctx.measureText(t).width;
    }
    ctx.textAlign = 'right';
    if (s.hover !== null && s.hover < n) {
      const i = s.hover;
      const px = Math.round(X(xs[i])) + 0.5;
      ctx.strokeStyle = P.cyan;
      ctx.beginPath(); ctx.moveTo(px, top); ctx.lineTo(px, top + ht); ctx.stroke();
      ctx.fillStyle = P.cyan;
      ctx.fillText('step ' + xs[i] + ': ' + fmt(ys[i]), W - 4, 2);
    } else if (n) {
      ctx.fillStyle = Number.isFinite(ys[n - 1]) ? P.fg : P.bad;
      ctx.fillText(fmt(ys[n - 1]), W - 4, 2);
    }
    s.el.dataset.points = String(n);
    s.el.dataset.lastStep = n ? String(xs[n - 1]) : '';
    s.el.dataset.nonfinite = String(bad);
    s.el.dataset.total = String(s.total); // points covered, before merging
  }

  // -- the selected run: REST first, then a run subscription with a cursor ---------------
  function resetRun() {
    S.loaded = false;
    S.runSubOn = null;
    S.series = new Map();
    S.steps = {};
    S.sys = {};
    S.events = new Map();
    S.eventSeq = 0;
    S.cmds = new Map();
    S.mine = new Set();
    S.notes = [];
    $('charts').replaceChildren();
  }

  function select(id) {
    if (!S.runs.has(id)) return;
    S.cur = S.order.indexOf(id);
    if (S.sel === id) { later('runs'); return; }
    if (S.sel && S.wsOpen && S.runSubOn === S.ws) send({ type: 'unsubscribe', run_id: S.sel });
    S.sel = id;
    S.gen += 1;
    resetRun();
    later('runs', 'head', 'buttons', 'events', 'cmds', 'sys');
    loadRun(S.gen);
  }

  function autoSelect() {
    if (S.sel && S.runs.has(S.sel)) return;
    const running = S.order.find((id) => S.runs.get(id).status === 'running');
    const id = running || S.order[0];
    if (id) select(id);
    else { S.sel = null; resetRun(); later('head'); }
  }

  async function loadEvents(id) {
    let after = 0;
    let keep = [];
    for (;;) {
      const page = (await api('/api/runs/' + enc(id) + '/events?limit=5000&after_seq=' + after)).events;
      keep = keep.concat(page).slice(-MAX_EVENTS);
      if (page.length < 5000) return keep;
      after = page[page.length - 1].seq;
    }
  }

  async function loadRun(gen) {
    const id = S.sel;
    const base = '/api/runs/' + enc(id);
    try {
      const [latest, cmds, events] = await Promise.all([
        api(base + '/metrics/latest'), api(base + '/commands?limit=' + MAX_CMDS), loadEvents(id),
      ]);
      if (gen !== S.gen) return;
      const keys = Object.keys(latest.latest);
      const chartKeys = keys.filter((k) => !k.startsWith(SYS)).sort(chartOrder);
      const buckets = await Promise.all(chartKeys.map((k) => api(base + '/metrics/buckets?n=600&key=' + enc(k))));
      if (gen !== S.gen) return;
      for (const k of keys) {
        S.steps[k] = latest.latest[k].step;
        if (k.startsWith(SYS)) S.sys[k] = num(latest.latest[k].value);
      }
      for (const b of buckets) {
        const s = chartFor(b.key);
        const c = b.buckets;
        for (let i = 0; i < c.last_step.length; i++) {
          const step = c.last_step[i];
          if (c.pinf[i]) s.xs.push(step), s.ys.push(Infinity);
          if (c.ninf[i]) s.xs.push(step), s.ys.push(-Infinity);
          if (c.nan[i]) s.xs.push(step), s.ys.push(NaN);
          if (c.mean[i] !== null) s.xs.push(step), s.ys.push(c.mean[i]);
        }
        s.total += b.count;
        if (c.last_step.length) S.steps[b.key] = c.last_step[c.last_step.length - 1];
      }
      for (const c of cmds.commands) upsertCmd(c);
      for (const e of events) addEvent(e);
      S.loaded = true;
      subscribeRun();
      later('head', 'charts', 'events', 'cmds', 'sys');
    } catch (err) {
      if (gen !== S.gen) return;
      note('loading ' + id + ': ' + err.message);
      setTimeout(() => { if (gen === S.gen && !S.loaded) loadRun(gen); }, 2000);
    }
  }

  function note(text) {
    S.notes = [clock(Date.now() / 1000) + ' ' + text, ...S.notes].slice(0, 3);
    later('cmds');
  }

  function addPoints(points) {
    let sys = false;
    for (const [key, triples] of Object.entries(points)) {
      const isSys = key.startsWith(SYS);
      const s = isSys ? null : chartFor(key);
      for (const [step, , value] of triples) {
        if (key in S.steps && step <= S.steps[key]) continue; // already held
        S.steps[key] = step;
        if (isSys) { S.sys[key] = num(value); sys = true; } else addPoint(s, step, num(value));
      }
    }
    later('head');
    if (sys) later('sys');
  }

  function addEvent(e) {
    if (S.events.has(e.seq)) return;
    S.events.set(e.seq, e);
    if (e.seq > S.eventSeq) S.eventSeq = e.seq;
    if (S.events.size > MAX_EVENTS) S.events.delete(Math.min(...S.events.keys()));
    later('events');
  }

  function upsertCmd(c) {
    if (c.run_id !== S.sel) return;
    const old = S.cmds.get(c.id);
    if (old && old.seq > c.seq) return; // an older state arriving late
    S.cmds.set(c.id, c);
    later('cmds');
  }

  async function sendCommand(name) {
    const id = S.sel;
    const r = S.runs.get(id);
    if (name === 'stop' && !window.confirm('Stop run "' + (r ? r.name : id) + '"?')) return;
    try {
      const c = await api('/api/runs/' + enc(id) + '/commands', {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name, args: {} }),
      });
      if (id !== S.sel) return;
      S.mine.add(c.id);
      upsertCmd(c);
    } catch (err) {
      note(name + ': ' + err.message);
    }
  }

  // Commands sent from this page are also polled while unfinished (when the socket is down,
  // or when no update came for a while), so their state shows even without /ws.
  async function pollCommands() {
    const now = Date.now() / 1000;
    for (const cid of S.mine) {
      const c = S.cmds.get(cid);
      if (!c || FINAL.has(c.status)) { S.mine.delete(cid); continue; }
      if (S.wsOpen && now - c.created_at < 5) continue;
      try { upsertCmd(await api('/api/commands/' + enc(cid))); } catch { /* next time */ }
    }
  }

  // -- runs and projects -----------------------------------------------------------------
  function putRun(run, into = S.runs, from = S.runs) {
    const old = from.get(run.id);
    if (old && old._evSeq) run._evSeq = old._evSeq; // the last status_change applied
    into.set(run.id, run);
  }

  async function loadRuns() {
    try {
      const d = await api('/api/runs?limit=200');
      const runs = new Map();
      for (const r of d.runs) putRun(r, runs);
      S.runs = runs;
      S.total = d.total;
      sortRuns();
      if (S.sel && !S.runs.has(S.sel)) S.sel = null;
      if (S.cur >= S.order.length) S.cur = S.order.length - 1;
      subscribeProjects();
      autoSelect();
      later('runs', 'head', 'buttons');
    } catch (err) {
      if (!S.wsOpen) $('conn').textContent = '○ server unreachable';
    }
  }

  async function checkProjects() {
    if (!S.wsOpen) return loadRuns();
    try {
      const names = await api('/api/projects');
      if (names.some((p) => !S.projSubOn.has(p))) loadRuns();
    } catch { /* the socket's close handler reports it */ }
  }

  // -- the socket ------------------------------------------------------------------------
  function send(msg) {
    if (S.ws && S.wsOpen) S.ws.send(JSON.stringify(msg));
  }

  function subscribeProjects() {
    if (!S.wsOpen) return;
    for (const r of S.runs.values()) {
      if (!S.projSubOn.has(r.project)) {
        S.projSubOn.add(r.project);
        send({ type: 'subscribe', project: r.project });
      }
    }
  }

  function subscribeRun() {
    if (!S.sel || !S.loaded || !S.wsOpen || S.runSubOn === S.ws) return;
    S.runSubOn = S.ws;
    send({ type: 'subscribe', run_id: S.sel, since: { event_seq: S.eventSeq, steps: { ...S.steps } } });
  }

  function connect() {
    setConn('connecting');
    const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws');
    S.ws = ws;
    S.wsOpen = false;
    ws.onopen = () => {
      if (S.ws !== ws) return;
      S.wsOpen = true;
      S.backoff = 500;
      S.projSubOn = new Set();
      setConn('live');
      subscribeRun(); // first: its catch-up comes before any live event of the run
      loadRuns(); // what changed while away; subscribes to the projects
    };
    ws.onmessage = (ev) => {
      if (S.ws !== ws) return;
      let m;
      try { m = JSON.parse(ev.data); } catch { return; }
      onMessage(m);
    };
    ws.onclose = (ev) => {
      if (S.ws !== ws) return;
      if (ev.code === 4401) { toLogin(); return; }
      S.ws = null;
      S.wsOpen = false;
      S.runSubOn = null;
      S.reconnects += 1;
      const delay = S.backoff + Math.random() * 250;
      S.backoff = Math.min(S.backoff * 2, 10000);
      setConn('down', delay);
      setTimeout(connect, delay);
    };
  }

  function onMessage(m) {
    switch (m.type) {
      case 'metric_update':
        if (m.run_id === S.sel && S.loaded) addPoints(m.points);
        break;
      case 'event':
        if (m.event.run_id === S.sel && S.loaded) addEvent(m.event);
        break;
      case 'status_change': {
        const r = S.runs.get(m.run_id);
        if (r && !(r._evSeq >= m.seq)) {
          r._evSeq = m.seq;
          r.status = m.new_status;
          later('runs', 'head', 'buttons');
        }
        break;
      }
      case 'run_update': {
        const isNew = !S.runs.has(m.run.id);
        putRun(m.run);
        if (isNew) { S.total += 1; sortRuns(); }
        if (!S.sel) autoSelect();
        later('runs', 'head', 'buttons');
        break;
      }
      case 'run_deleted':
        if (S.runs.delete(m.run_id)) {
          S.total -= 1;
          sortRuns();
          if (m.run_id === S.sel) { S.sel = null; autoSelect(); }
          later('runs', 'head', 'buttons');
        }
        break;
      case 'command_update':
        upsertCmd(m.command);
        break;
      case 'error':
        note('server: ' + m.code + ': ' + m.message);
        break;
      default:
        break; // subscribed, unsubscribed, pong, checkpoint_saved (its event is logged)
    }
  }

  // -- keys, timers, start ---------------------------------------------------------------
  document.addEventListener('keydown', (ev) => {
    const t = ev.target;
    if (ev.ctrlKey || ev.metaKey || ev.altKey || (t && /^(INPUT|TEXTAREA|BUTTON|SELECT)$/.test(t.tagName))) return;
    if (!S.order.length) return;
    if (ev.key === 'j' || ev.key === 'ArrowDown') S.cur = Math.min(S.order.length - 1, S.cur + 1);
    else if (ev.key === 'k' || ev.key === 'ArrowUp') S.cur = Math.max(0, S.cur - 1);
    else if (ev.key === 'Enter' && S.cur >= 0) { select(S.order[S.cur]); ev.preventDefault(); return; }
    else return;
    ev.preventDefault();
    S.scroll = true;
    later('runs');
  });
  window.addEventListener('resize', () => later('charts'));
  setInterval(() => {
    $('clock').textContent = new Date().toTimeString().slice(0, 8);
    later('head', 'runs');
  }, 1000);
  setInterval(pollCommands, 2000);
  setInterval(checkProjects, 3000); // a new project (the very first run, say) shows soon
  loadRuns();
  connect();
})();
