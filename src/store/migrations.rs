//! Forward-only schema migrations, embedded. `PRAGMA user_version` holds how many applied.
//! Never edit a released migration: add a new one.

/// Each entry: why it exists, and its SQL.
pub(crate) const MIGRATIONS: &[(&str, &str)] = &[
    (
        "v1: scans (immutable), resolutions, outbox, manifest, rate cards, audit log",
        r#"
-- One row per parcel judged at this station. Never updated or deleted: an operator's
-- correction is a resolution row that points at it, so head office sees both.
CREATE TABLE scans (
    id                    TEXT PRIMARY KEY,  -- UUIDv7, time-ordered, made by the station
    station_id            TEXT NOT NULL,
    created_at_ms         INTEGER NOT NULL,
    waybill               TEXT,
    destination           TEXT,
    weight_ug             INTEGER,
    length_um             INTEGER,
    width_um              INTEGER,
    height_um             INTEGER,
    dimensional_weight_ug INTEGER,
    billable_weight_ug    INTEGER,
    price_cents           INTEGER,
    currency              TEXT,
    quoted_cents          INTEGER,
    adjustment_cents      INTEGER,
    disposition           TEXT NOT NULL CHECK (disposition IN
                            ('accept','accept_repriced','manual','hold','return_to_sender')),
    reasons               TEXT NOT NULL,     -- space-separated reason names, sorted
    rate_card_version     TEXT
) STRICT;
CREATE INDEX scans_by_time ON scans(created_at_ms);
CREATE INDEX scans_by_waybill ON scans(waybill);
CREATE TRIGGER scans_are_immutable BEFORE UPDATE ON scans
BEGIN SELECT RAISE(ABORT, 'scan rows are immutable; record a resolution instead'); END;
CREATE TRIGGER scans_are_kept BEFORE DELETE ON scans
BEGIN SELECT RAISE(ABORT, 'scan rows are never deleted'); END;

-- What an operator (or a later manifest) decided about a scan after the fact.
CREATE TABLE resolutions (
    id            TEXT PRIMARY KEY,          -- UUIDv7
    scan_id       TEXT NOT NULL REFERENCES scans(id),
    created_at_ms INTEGER NOT NULL,
    actor         TEXT NOT NULL,             -- 'operator' or 'system'
    waybill       TEXT,
    disposition   TEXT,
    reasons       TEXT,
    note          TEXT
) STRICT;
CREATE INDEX resolutions_by_scan ON resolutions(scan_id);

-- Records still to deliver to head office, in commit order. A row is written in the same
-- transaction as its record and marked delivered only after head office acknowledged it.
CREATE TABLE outbox (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT NOT NULL CHECK (kind IN ('scan','resolution')),
    record_id       TEXT NOT NULL UNIQUE,
    created_at_ms   INTEGER NOT NULL,
    delivered_at_ms INTEGER
) STRICT;
CREATE INDEX outbox_pending ON outbox(seq) WHERE delivered_at_ms IS NULL;

-- Pre-advised orders from head office (CSV import or sync).
CREATE TABLE manifest (
    waybill              TEXT PRIMARY KEY,
    destination          TEXT NOT NULL,
    declared_weight_ug   INTEGER,
    declared_length_um   INTEGER,
    declared_width_um    INTEGER,
    declared_height_um   INTEGER,
    quoted_cents         INTEGER,
    consignee_id_on_file INTEGER NOT NULL CHECK (consignee_id_on_file IN (0,1)),
    duties               TEXT NOT NULL CHECK (duties IN ('paid','unpaid','n/a')),
    updated_at_ms        INTEGER NOT NULL,
    source               TEXT NOT NULL
) STRICT;

-- Every rate card version this station priced with, so a scan's price can be re-checked.
CREATE TABLE rate_cards (
    version      TEXT PRIMARY KEY,
    body         TEXT NOT NULL,
    loaded_at_ms INTEGER NOT NULL
) STRICT;

-- Who changed what, when: imports, resolutions, calibration.
CREATE TABLE audit (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms   INTEGER NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    detail  TEXT NOT NULL
) STRICT;
"#,
    ),
    (
        "v2: sync state (manifest cursor, rate card in force, last upload) for head-office sync",
        r#"
-- Small facts the head-office sync keeps between runs: the manifest cursor head office gave
-- out, the rate card version in force (a row of rate_cards), and when an upload last emptied
-- the outbox (so a station that was off at the nightly slot catches up at start).
CREATE TABLE sync_state (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;
-- The system's re-judging of a scan finds its earlier resolutions quickly.
CREATE INDEX resolutions_by_actor ON resolutions(scan_id, actor);
"#,
    ),
    (
        "v3: one ordered history (the store actor): numbered events, versions of what is in force",
        r#"
-- Everything the store actor committed, numbered without gaps in commit order, written in
-- the same transaction as the change it tells of. Subscribers that fell behind (the
-- dashboard's event stream, sync) catch up from here by number instead of losing events.
CREATE TABLE events (
    seq       INTEGER PRIMARY KEY,           -- 1, 2, 3, ... never reused
    at_ms     INTEGER NOT NULL,
    kind      TEXT NOT NULL,
    record_id TEXT,                          -- the scan or resolution it is about, if any
    detail    TEXT NOT NULL                  -- JSON
) STRICT;
CREATE INDEX events_by_record ON events(record_id);

-- What the station judges with (limits, destinations, rate card version, tolerance, waybill
-- formats), one row per change; the version only grows. Scans record the version.
CREATE TABLE in_force (
    version           INTEGER PRIMARY KEY,
    at_ms             INTEGER NOT NULL,
    rate_card_version TEXT NOT NULL REFERENCES rate_cards(version),
    body              TEXT NOT NULL,         -- JSON snapshot
    why               TEXT NOT NULL
) STRICT;
ALTER TABLE scans ADD COLUMN in_force_version INTEGER;
-- Re-judging finds the scans of a waybill whose manifest entry changed.
CREATE INDEX resolutions_by_time ON resolutions(created_at_ms);
"#,
    ),
    (
        "v4: the audit chain: each event keeps its canonical content and a SHA-256 chained to the one before",
        r#"
-- The alibi memory billing trusts: an entry's content (for a scan or a resolution, the whole
-- record) and SHA-256(previous hash, content). Editing, deleting, inserting or reordering
-- any covered row shows as a break (`intake audit verify`). Entries are never changed or
-- removed; rows written before this version are chained once, at the upgrade.
ALTER TABLE events ADD COLUMN content TEXT;
ALTER TABLE events ADD COLUMN hash TEXT;
CREATE TRIGGER events_are_immutable BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'audit entries are immutable'); END;
CREATE TRIGGER events_are_kept BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'audit entries are never deleted'); END;
"#,
    ),
    (
        "v5: calibrations and verifications in the store (issue 14): numbered, immutable, chained; scans record the calibration in force",
        r#"
-- Each calibration of the empty station: the range finders' baselines (median and spread of
-- the readings) and the empty scale's reading. The number only grows (1, 2, 3 ...); the row
-- is never changed or removed, and its content is in the audit chain.
CREATE TABLE calibrations (
    number        INTEGER PRIMARY KEY,
    at_ms         INTEGER NOT NULL,
    source        TEXT NOT NULL,
    samples       INTEGER NOT NULL,
    scale_zero_ug INTEGER,                   -- NULL: imported from the configuration
    sensors       TEXT NOT NULL              -- JSON: [{name, axis, baseline_um, spread_um}]
) STRICT;
CREATE TRIGGER calibrations_are_immutable BEFORE UPDATE ON calibrations
BEGIN SELECT RAISE(ABORT, 'calibrations are immutable; calibrate again instead'); END;
CREATE TRIGGER calibrations_are_kept BEFORE DELETE ON calibrations
BEGIN SELECT RAISE(ABORT, 'calibrations are never deleted'); END;

-- Each verification with a reference box (intake verify): the declared box and weight,
-- bias and spread per side and for the weight, and whether it passed.
CREATE TABLE verifications (
    id                 INTEGER PRIMARY KEY,
    at_ms              INTEGER NOT NULL,
    calibration_number INTEGER,
    passed             INTEGER NOT NULL CHECK (passed IN (0,1)),
    report             TEXT NOT NULL         -- JSON
) STRICT;
CREATE TRIGGER verifications_are_immutable BEFORE UPDATE ON verifications
BEGIN SELECT RAISE(ABORT, 'verifications are immutable'); END;
CREATE TRIGGER verifications_are_kept BEFORE DELETE ON verifications
BEGIN SELECT RAISE(ABORT, 'verifications are never deleted'); END;

-- The calibration in force when the scan was measured (NULL: none, or stored before v5).
ALTER TABLE scans ADD COLUMN calibration_number INTEGER;
"#,
    ),
    (
        "v6: billing: a billable flag and its reasons per scan; repricing after the fact as columns",
        r#"
-- Whether billing may charge on the scan's measurement (1/0; NULL for scans stored before
-- the flag existed) and why not (space-separated reason names).
ALTER TABLE scans ADD COLUMN billable INTEGER CHECK (billable IN (0, 1));
ALTER TABLE scans ADD COLUMN not_billable TEXT;
-- A resolution that priced the scan again (a repricing, a re-judge with a manifest entry)
-- carries the new price and adjustment as numbers; an operator's flag on a measurement
-- ('measurement') takes the scan out of billing.
ALTER TABLE resolutions ADD COLUMN price_cents INTEGER;
ALTER TABLE resolutions ADD COLUMN adjustment_cents INTEGER;
ALTER TABLE resolutions ADD COLUMN rate_card_version TEXT;
ALTER TABLE resolutions ADD COLUMN flag TEXT;
"#,
    ),
];
