-- The CRM's own database (Acme Field Services CRM v3): the portal does not own these tables and never writes them.
-- Its conventions are not the portal's: integer keys, integer status codes, stage letters, amounts as decimal text.
-- Amounts are DECIMAL(12,3) in the CRM's PostgreSQL edition; SQLite would store a DECIMAL column as a float, so
-- this edition keeps them as TEXT ('1250.500'), which is exact.

CREATE TABLE firm (                       -- the one business running the CRM
    firm_id      INTEGER PRIMARY KEY CHECK (firm_id = 1),
    trading_name TEXT NOT NULL,
    email        TEXT NOT NULL,
    phone        TEXT,
    street       TEXT,
    city         TEXT,
    web          TEXT,
    brand_hex    TEXT
);

CREATE TABLE customers (
    customer_no  INTEGER PRIMARY KEY,
    account_code TEXT NOT NULL UNIQUE,    -- what staff type: 'GLOBEX'
    display_name TEXT NOT NULL,
    portal_flag  INTEGER NOT NULL DEFAULT 0 CHECK (portal_flag IN (0, 1)),
    portal_key   TEXT UNIQUE,             -- the secret in the portal link; NULL until set up for the portal
    created      TEXT NOT NULL
);

CREATE TABLE people (
    person_no    INTEGER PRIMARY KEY,
    customer_no  INTEGER NOT NULL REFERENCES customers (customer_no),
    full_name    TEXT NOT NULL,
    mail         TEXT,                    -- free text, as typed: may be NULL, padded, mixed case or not an address
    archived     INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE work_orders (
    wo_no        INTEGER PRIMARY KEY,
    customer_no  INTEGER NOT NULL REFERENCES customers (customer_no),
    wo_code      TEXT NOT NULL UNIQUE,    -- 'WO-501'
    summary      TEXT NOT NULL,
    stage        TEXT NOT NULL CHECK (stage IN ('NEW', 'WIP', 'HOLD', 'DONE', 'CXL')),
    starts       TEXT,                    -- ISO dates
    ends         TEXT
);

CREATE TABLE bills (
    bill_no      INTEGER PRIMARY KEY,
    customer_no  INTEGER NOT NULL REFERENCES customers (customer_no),
    bill_code    TEXT NOT NULL UNIQUE,    -- 'B-1001'
    state        INTEGER NOT NULL,        -- 0 draft, 1 issued, 2 part paid, 3 paid, 9 cancelled
    currency     TEXT NOT NULL,
    issued       TEXT,
    due          TEXT,
    amount       TEXT NOT NULL,           -- DECIMAL(12,3): net amount, when the bill has no items
    vat          TEXT NOT NULL DEFAULT '0',
    paid         TEXT NOT NULL DEFAULT '0',
    wo_no        INTEGER REFERENCES work_orders (wo_no)
);

CREATE TABLE bill_items (
    item_no      INTEGER PRIMARY KEY,
    bill_no      INTEGER NOT NULL REFERENCES bills (bill_no),
    descr        TEXT NOT NULL,
    qty          TEXT NOT NULL,           -- DECIMAL(12,3)
    unit_price   TEXT NOT NULL            -- DECIMAL(12,3)
);

CREATE TABLE estimates (
    estimate_no   INTEGER PRIMARY KEY,
    customer_no   INTEGER NOT NULL REFERENCES customers (customer_no),
    estimate_code TEXT NOT NULL UNIQUE,   -- 'E-301'
    state         INTEGER NOT NULL,       -- 0 draft, 1 sent, 2 won, 3 lost, 4 lapsed
    currency      TEXT NOT NULL,
    issued        TEXT,
    valid_to      TEXT,
    amount        TEXT NOT NULL           -- DECIMAL(12,3)
);

CREATE TABLE price_list (
    item_code    TEXT PRIMARY KEY,
    title        TEXT NOT NULL,
    blurb        TEXT,
    price        TEXT NOT NULL,           -- DECIMAL(12,3)
    currency     TEXT NOT NULL,
    active       INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE attachments (
    attachment_no INTEGER PRIMARY KEY,
    customer_no   INTEGER NOT NULL REFERENCES customers (customer_no),
    wo_no         INTEGER REFERENCES work_orders (wo_no),
    bill_no       INTEGER REFERENCES bills (bill_no),
    filename      TEXT NOT NULL,
    mime          TEXT NOT NULL,
    uploaded      TEXT NOT NULL,          -- ISO timestamp, UTC
    content       BLOB NOT NULL,          -- attachments never change: a new version is a new attachment
    CHECK ((wo_no IS NULL) <> (bill_no IS NULL))
);
