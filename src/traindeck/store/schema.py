"""The SQLite schema, as an ordered list of migrations.

``PRAGMA user_version`` holds the number of migrations applied. A migration is appended,
never edited, once it has shipped. Every entity of DESIGN §3 has its table from version 1
so that later features fill tables instead of reshaping the file.

Metric points are not stored a row per point: a series' points live in *chunks* of up to
``CHUNK_MAX`` consecutive steps (packed little-endian arrays of steps, times and values),
each with its own exact summary columns and a packed array of sub-block summaries (see
``rollup.py``). A write rewrites the chunks it touches, so re-sending a batch replaces
points by (run, key, step) instead of adding them, and the summaries stay exact.
"""

from __future__ import annotations

from typing import Final

#: Migration 16's chunk tables: the columns as before, keyed by a unique index.
_CHUNK_COLUMNS_16: Final = """\
        series_id INTEGER NOT NULL REFERENCES series (id) ON DELETE CASCADE,
        step_lo INTEGER NOT NULL,
        step_hi INTEGER NOT NULL,
        n INTEGER NOT NULL,
        stride INTEGER NOT NULL,
        steps BLOB NOT NULL,
        times BLOB NOT NULL,
        vals BLOB NOT NULL,
        rollup BLOB NOT NULL,
        nf INTEGER NOT NULL,
        vmin REAL,
        vmax REAL,
        vsum REAL NOT NULL,
        first_time REAL NOT NULL,
        last_time REAL NOT NULL,
        min_time REAL NOT NULL,
        max_time REAL NOT NULL,
        last_value BLOB NOT NULL,
        nnan INTEGER NOT NULL,
        npinf INTEGER NOT NULL,
        nninf INTEGER NOT NULL,
        codec INTEGER NOT NULL DEFAULT 0,
        UNIQUE (series_id, step_lo)"""
#: The summary columns the chunk tables' covering indexes hold (migration 2's).
_CHUNK_SUMMARY: Final = """\
series_id, step_lo, step_hi, n, nf, vmin, vmax, vsum, first_time, last_time,
        min_time, max_time, last_value, nnan, npinf, nninf"""

MIGRATIONS: Final[tuple[str, ...]] = (
    # 1: the initial schema.
    """
    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    );
    INSERT INTO meta (key, value) VALUES ('seq', 0);

    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        project TEXT NOT NULL,
        name TEXT NOT NULL,
        status TEXT NOT NULL,
        config TEXT NOT NULL DEFAULT '{}',
        tags TEXT NOT NULL DEFAULT '[]',
        notes TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        started_at REAL,
        ended_at REAL,
        heartbeat_at REAL,
        heartbeat_timeout REAL NOT NULL DEFAULT 60,
        host TEXT,
        pid INTEGER,
        command TEXT,
        git_commit TEXT,
        git_dirty INTEGER,
        env TEXT NOT NULL DEFAULT '{}',
        commands_offered TEXT NOT NULL DEFAULT '[]',
        summary TEXT NOT NULL DEFAULT '{}',
        launch_spec TEXT,
        seq INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX runs_project ON runs (project, created_at);
    CREATE INDEX runs_seq ON runs (seq);
    CREATE INDEX runs_status ON runs (status);

    CREATE TABLE deleted_runs (
        id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL
    );

    CREATE TABLE series (
        id INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        last_step INTEGER,
        last_time REAL,
        last_value BLOB,              -- float64 LE, so that NaN survives
        seq INTEGER NOT NULL DEFAULT 0,
        UNIQUE (run_id, key)
    );
    CREATE INDEX series_seq ON series (seq);

    CREATE TABLE chunks (
        series_id INTEGER NOT NULL REFERENCES series (id) ON DELETE CASCADE,
        step_lo INTEGER NOT NULL,
        step_hi INTEGER NOT NULL,
        n INTEGER NOT NULL,
        stride INTEGER NOT NULL,      -- >0: steps are step_lo + i*stride and not stored
        steps BLOB NOT NULL,          -- int64 LE, empty when stride > 0
        times BLOB NOT NULL,          -- float64 LE
        vals BLOB NOT NULL,           -- float64 LE, NaN/Inf bit-exact
        rollup BLOB NOT NULL,         -- sub-block summaries, rollup.UNIT_DTYPE
        nf INTEGER NOT NULL,
        vmin REAL,
        vmax REAL,
        vsum REAL NOT NULL,
        first_time REAL NOT NULL,
        last_time REAL NOT NULL,
        min_time REAL NOT NULL,
        max_time REAL NOT NULL,
        last_value BLOB NOT NULL,     -- float64 LE (a REAL column would turn NaN into NULL)
        nnan INTEGER NOT NULL,
        npinf INTEGER NOT NULL,
        nninf INTEGER NOT NULL,
        PRIMARY KEY (series_id, step_lo)
    ) WITHOUT ROWID;

    CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        time REAL NOT NULL,
        kind TEXT NOT NULL,
        payload TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX events_run ON events (run_id, seq);

    CREATE TABLE commands (
        id TEXT PRIMARY KEY,
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        args TEXT NOT NULL DEFAULT '{}',
        status TEXT NOT NULL,
        created_at REAL NOT NULL,
        delivered_at REAL,
        finished_at REAL,
        result TEXT,
        error TEXT,
        requested_by TEXT,
        seq INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX commands_run ON commands (run_id, status);
    CREATE INDEX commands_seq ON commands (seq);

    CREATE TABLE checkpoints (
        id TEXT PRIMARY KEY,
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        step INTEGER NOT NULL,
        path TEXT NOT NULL,
        kind TEXT NOT NULL DEFAULT 'regular',
        metrics TEXT NOT NULL DEFAULT '{}',
        metadata TEXT NOT NULL DEFAULT '{}',
        size INTEGER,
        sha256 TEXT,
        created_at REAL NOT NULL,
        host TEXT,
        is_best INTEGER NOT NULL DEFAULT 0,
        valid INTEGER
    );
    CREATE INDEX checkpoints_run ON checkpoints (run_id, step);

    CREATE TABLE media (
        id INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        step INTEGER NOT NULL,
        kind TEXT NOT NULL DEFAULT 'image',
        path TEXT NOT NULL,
        caption TEXT,
        created_at REAL NOT NULL,
        UNIQUE (run_id, key, step, path)
    );

    CREATE TABLE artifacts (
        id INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        path TEXT NOT NULL,
        size INTEGER,
        sha256 TEXT,
        created_at REAL NOT NULL,
        UNIQUE (run_id, path)
    );

    CREATE TABLE log_lines (
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        time REAL NOT NULL,
        stream TEXT NOT NULL,
        text TEXT NOT NULL,
        PRIMARY KEY (run_id, seq)
    ) WITHOUT ROWID;

    CREATE TABLE launches (
        id TEXT PRIMARY KEY,
        run_id TEXT REFERENCES runs (id) ON DELETE SET NULL,
        spec TEXT NOT NULL,
        executor TEXT NOT NULL,
        executor_state TEXT NOT NULL DEFAULT '{}',
        status TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );

    CREATE TABLE tokens (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        hash TEXT NOT NULL UNIQUE,
        scope TEXT NOT NULL,
        created_at REAL NOT NULL,
        last_used_at REAL,
        revoked_at REAL
    );

    CREATE TABLE batches (
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        batch_id TEXT NOT NULL,
        applied_at REAL NOT NULL,
        PRIMARY KEY (run_id, batch_id)
    ) WITHOUT ROWID;
    """,
    # 2: a covering index of the chunk summaries. A chunk row holds ~64 KiB of blobs before
    # its summary columns, so reading a summary from the table walks the row's overflow
    # pages: a bucketed read of a 10M-point series read the whole file (~90 ms). The index
    # keeps the summaries in small rows of their own (~150 bytes a chunk).
    """
    CREATE INDEX chunks_summary ON chunks (
        series_id, step_lo, step_hi, n, nf, vmin, vmax, vsum, first_time, last_time,
        min_time, max_time, last_value, nnan, npinf, nninf
    );
    """,
    # 3: console lines and media. ``log_heads`` holds each run's last line number, stamped
    # with the store's ``seq``: the change feed learns which runs have new lines with one
    # indexed query. Media rows gain the image's size, read from its header when written.
    """
    CREATE TABLE log_heads (
        run_id TEXT PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
        last_seq INTEGER NOT NULL,
        seq INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX log_heads_seq ON log_heads (seq);
    ALTER TABLE media ADD COLUMN width INTEGER;
    ALTER TABLE media ADD COLUMN height INTEGER;
    ALTER TABLE media ADD COLUMN size INTEGER;
    CREATE INDEX media_run ON media (run_id, key, step)
    """,
    # 4: login sessions (what the dashboard's cookie holds instead of the token): only the
    # secret's sha256, the token it was made from, and when it expires or was ended.
    """
    CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        hash TEXT NOT NULL UNIQUE,
        token_id TEXT NOT NULL REFERENCES tokens (id) ON DELETE CASCADE,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        ended_at REAL
    );
    CREATE INDEX sessions_token ON sessions (token_id);
    """,
    # 5: launches (issue 10). A run started by the launcher gets the exit code of its
    # process; the ``launches`` row (made in version 1, unused until now) gains what the
    # launcher tracks: the process, its exit, restarts, and the error that ended it.
    """
    ALTER TABLE runs ADD COLUMN exit_code INTEGER;
    ALTER TABLE launches ADD COLUMN pid INTEGER;
    ALTER TABLE launches ADD COLUMN exit_code INTEGER;
    ALTER TABLE launches ADD COLUMN restarts INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE launches ADD COLUMN error TEXT;
    ALTER TABLE launches ADD COLUMN started_at REAL;
    ALTER TABLE launches ADD COLUMN ended_at REAL;
    CREATE INDEX launches_status ON launches (status, created_at);
    CREATE INDEX launches_run ON launches (run_id, created_at);
    """,
    # 6: tokens bound to one run (the token a launched process is given can only write to
    # its own run).
    """
    ALTER TABLE tokens ADD COLUMN run_id TEXT;
    """,
    # 7: SSH hosts launches run on (issue 11).
    """
    CREATE TABLE hosts (
        name TEXT PRIMARY KEY,
        user TEXT NOT NULL,
        address TEXT NOT NULL,
        port INTEGER NOT NULL,
        key_path TEXT,
        workdir TEXT NOT NULL,
        created_at REAL NOT NULL,
        checked_at REAL,
        check_error TEXT
    );
    """,
    # 8: a stable number for every project (the MLflow API's experiment ids). A project is
    # registered with its first run (or on its own); ``default`` is 0; the projects of
    # existing runs are numbered in the order they began.
    """
    CREATE TABLE projects (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        created_at REAL NOT NULL
    );
    INSERT INTO projects (id, name, created_at)
        VALUES (0, 'default', COALESCE((SELECT min(created_at) FROM runs
                                        WHERE project = 'default'),
                                       CAST(strftime('%s', 'now') AS REAL)));
    INSERT OR IGNORE INTO projects (name, created_at)
        SELECT project, min(created_at) FROM runs GROUP BY project ORDER BY min(created_at);
    """,
    # 9: progress, speed and ETA (issue 12): the steps a run expects (``total_steps``, from
    # the SDK or the launcher's config), and what the server's progress tracker last
    # computed from the points it saw (``server/progress.py``).
    """
    ALTER TABLE runs ADD COLUMN total_steps INTEGER;
    ALTER TABLE runs ADD COLUMN progress REAL;
    ALTER TABLE runs ADD COLUMN steps_per_s REAL;
    ALTER TABLE runs ADD COLUMN eta_s REAL;
    """,
    # 10: alert rules and webhooks (issue 12, ``rules.py``). ``meta.rules_seq`` changes with
    # every rule or webhook written, so an evaluator re-reads them only then. Alerts are
    # events of kind ``alert``: listing them across runs, newest first, wants (kind, seq).
    """
    CREATE TABLE rules (
        id TEXT PRIMARY KEY,
        project TEXT,
        run_id TEXT REFERENCES runs (id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        key TEXT,
        params TEXT NOT NULL DEFAULT '{}',
        severity TEXT NOT NULL,
        cooldown_s REAL NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE INDEX rules_run ON rules (run_id);
    CREATE TABLE webhooks (
        id TEXT PRIMARY KEY,
        url TEXT NOT NULL,
        format TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    INSERT OR IGNORE INTO meta (key, value) VALUES ('rules_seq', 0);
    CREATE INDEX events_kind ON events (kind, seq);
    """,
    # 11: series by key (issue 12, the run table): which keys exist (the column chooser) and
    # whether a bare key in a query names a metric, without reading every series row.
    """
    CREATE INDEX series_key ON series (key);
    """,
    # 12: MLflow 3's logged models (``logged_models.py``): a model of a project, made by a
    # run (deleted with it); params and tags are JSON objects of strings.
    """
    CREATE TABLE logged_models (
        id TEXT PRIMARY KEY,
        project TEXT NOT NULL,
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        status TEXT NOT NULL,
        model_type TEXT,
        params TEXT NOT NULL DEFAULT '{}',
        tags TEXT NOT NULL DEFAULT '{}',
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX logged_models_project ON logged_models (project, created_at);
    CREATE INDEX logged_models_run ON logged_models (run_id);
    """,
    # 13: open chunks apart (``chunk_rows._append``). A series' trailing chunks smaller
    # than CHUNK_MAX, the ones a training loop appends to at every flush, live in a table of
    # their own: small rows packed together, so appending one point to each of 200 keys
    # rewrites a few pages instead of a page chain per key among the full chunks' blobs
    # (~10 µs instead of ~250 µs a key). Reads see both through ``all_chunks`` (``tbl``: 0
    # full, 1 open); a chunk is in exactly one of them, and chunks never overlap whichever
    # table holds them. Chunk rows are then fetched from the table holding them: seeking a
    # key in ``chunks`` compares it with whole big rows (~160 µs, even for a key not there).
    """
    CREATE TABLE open_chunks (
        series_id INTEGER NOT NULL REFERENCES series (id) ON DELETE CASCADE,
        step_lo INTEGER NOT NULL,
        step_hi INTEGER NOT NULL,
        n INTEGER NOT NULL,
        stride INTEGER NOT NULL,
        steps BLOB NOT NULL,
        times BLOB NOT NULL,
        vals BLOB NOT NULL,
        rollup BLOB NOT NULL,
        nf INTEGER NOT NULL,
        vmin REAL,
        vmax REAL,
        vsum REAL NOT NULL,
        first_time REAL NOT NULL,
        last_time REAL NOT NULL,
        min_time REAL NOT NULL,
        max_time REAL NOT NULL,
        last_value BLOB NOT NULL,
        nnan INTEGER NOT NULL,
        npinf INTEGER NOT NULL,
        nninf INTEGER NOT NULL,
        PRIMARY KEY (series_id, step_lo)
    ) WITHOUT ROWID;
    CREATE INDEX open_chunks_summary ON open_chunks (
        series_id, step_lo, step_hi, n, nf, vmin, vmax, vsum, first_time, last_time,
        min_time, max_time, last_value, nnan, npinf, nninf
    );
    CREATE VIEW all_chunks AS
        SELECT *, 0 AS tbl FROM chunks UNION ALL SELECT *, 1 AS tbl FROM open_chunks;
    """,
    # 14: compressed chunks and a coarser rollup (issue 15). ``codec`` says how a chunk's
    # blobs are packed (``packing.py``: 0 raw, as before; 1 pcodec, how full chunks are now
    # written; ``traindeck store compact`` re-packs older ones); a packed full chunk keeps its
    # sub-block units in ``chunk_rollups`` (a small row: reading them for many chunks would
    # otherwise walk each chunk row's overflow pages). ``chunk_groups`` summarises
    # runs of about ``GROUP_CHUNKS`` consecutive chunks: a group holds the chunks whose
    # ``step_lo`` lies in ``[step_lo, step_end)`` (boundaries fixed when it is made; the first
    # group of a series starts at the smallest step), with their summary (``unit``), and
    # each chunk's in ``chunk_group_units`` (apart: ~7.7 KB a group, which would spread the
    # thin group rows a read scans over a page each), so a read of a billion points merges a
    # few thousand units.
    """
    ALTER TABLE chunks ADD COLUMN codec INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE open_chunks ADD COLUMN codec INTEGER NOT NULL DEFAULT 0;
    DROP VIEW all_chunks;
    CREATE VIEW all_chunks AS
        SELECT *, 0 AS tbl FROM chunks UNION ALL SELECT *, 1 AS tbl FROM open_chunks;
    CREATE TABLE chunk_rollups (
        series_id INTEGER NOT NULL REFERENCES series (id) ON DELETE CASCADE,
        step_lo INTEGER NOT NULL,
        rollup BLOB NOT NULL,
        PRIMARY KEY (series_id, step_lo)
    ) WITHOUT ROWID;
    CREATE TABLE chunk_groups (
        series_id INTEGER NOT NULL REFERENCES series (id) ON DELETE CASCADE,
        step_lo INTEGER NOT NULL,
        step_end INTEGER NOT NULL,
        n INTEGER NOT NULL,
        min_time REAL NOT NULL,
        max_time REAL NOT NULL,
        unit BLOB NOT NULL,
        PRIMARY KEY (series_id, step_lo)
    ) WITHOUT ROWID;
    CREATE TABLE chunk_group_units (
        series_id INTEGER NOT NULL REFERENCES series (id) ON DELETE CASCADE,
        step_lo INTEGER NOT NULL,
        units BLOB NOT NULL,
        PRIMARY KEY (series_id, step_lo)
    ) WITHOUT ROWID;
    """,
    # 15: the sub-block units of a group's packed full chunks in one row of the group
    # (``subs``: three pcodec frames for its ~2,000 units), taken out of ``chunk_rollups``
    # when the group is made or recomputed. A read of a million points at the sub-block
    # level decodes a few group rows, not ~250 chunk rows (a fifth of the time, and ~12 %
    # fewer bytes). Groups made before (no row here) keep their chunks' rows in
    # ``chunk_rollups`` until ``traindeck store compact`` moves them.
    """
    CREATE TABLE chunk_group_subs (
        series_id INTEGER NOT NULL REFERENCES series (id) ON DELETE CASCADE,
        step_lo INTEGER NOT NULL,
        subs BLOB NOT NULL,
        PRIMARY KEY (series_id, step_lo)
    );
    """,
    # 16: the tables of big rows (chunks, open chunks, a group's units: kilobytes each) as
    # rowid tables keyed by a unique index, no longer ``WITHOUT ROWID``. A ``WITHOUT ROWID``
    # table keeps whole rows in its b-tree's inner pages too, so with rows of kilobytes
    # every page holds a few and every seek walks a deep tree of overflowing cells: fetching
    # the newest open chunk of 1,000 series took 28 ms, 1.5 ms from a rowid table with
    # the same rows (SQLite's own advice: ``WITHOUT ROWID`` for rows under ~1/20 of a page).
    # The rows are copied once, in order; the columns stay as they were.
    f"""
    DROP VIEW all_chunks;
    CREATE TABLE chunks_16 (
{_CHUNK_COLUMNS_16}
    );
    INSERT INTO chunks_16 SELECT * FROM chunks ORDER BY series_id, step_lo;
    DROP TABLE chunks;
    ALTER TABLE chunks_16 RENAME TO chunks;
    CREATE INDEX chunks_summary ON chunks (
        {_CHUNK_SUMMARY}
    );
    CREATE TABLE open_chunks_16 (
{_CHUNK_COLUMNS_16}
    );
    INSERT INTO open_chunks_16 SELECT * FROM open_chunks ORDER BY series_id, step_lo;
    DROP TABLE open_chunks;
    ALTER TABLE open_chunks_16 RENAME TO open_chunks;
    CREATE INDEX open_chunks_summary ON open_chunks (
        {_CHUNK_SUMMARY}
    );
    CREATE VIEW all_chunks AS
        SELECT *, 0 AS tbl FROM chunks UNION ALL SELECT *, 1 AS tbl FROM open_chunks;
    CREATE TABLE chunk_group_units_16 (
        series_id INTEGER NOT NULL REFERENCES series (id) ON DELETE CASCADE,
        step_lo INTEGER NOT NULL,
        units BLOB NOT NULL,
        UNIQUE (series_id, step_lo)
    );
    INSERT INTO chunk_group_units_16 SELECT * FROM chunk_group_units
        ORDER BY series_id, step_lo;
    DROP TABLE chunk_group_units;
    ALTER TABLE chunk_group_units_16 RENAME TO chunk_group_units;
    """,
    # 17: how many points were ever written to a series (rewrites and backfills count).
    # The change feed carries it beside the newest point, so a follower that saw the
    # series one point ago knows without a read whether that newest point is all that is
    # new (the live hub's common case: a run logging slower than the feed ticks).
    """
    ALTER TABLE series ADD COLUMN written INTEGER NOT NULL DEFAULT 0;
    """,
)

SCHEMA_VERSION: Final = len(MIGRATIONS)
