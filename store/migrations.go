package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// migrations are the SQLite schema's versions in order: migrations[i]
// takes a file from version i to i+1. Released entries never change; a
// change to the schema is a new entry (here and in pgMigrations).
//
// Amounts (*_e4) are INTEGER in 1/10000 of the currency unit, decimal
// quantities likewise; times (*_at, *_date) are UTC unix nanoseconds, NULL
// when unknown. modified_at is the upstream's modification time, read_at
// when Trestle read the row.
var migrations = []string{
	// 1: the records of the three systems and their deletions.
	`
CREATE TABLE orders (
	id                INTEGER PRIMARY KEY,
	number            TEXT    NOT NULL,
	status            TEXT    NOT NULL,
	currency          TEXT    NOT NULL,
	total_e4          INTEGER NOT NULL,
	total_tax_e4      INTEGER NOT NULL,
	shipping_total_e4 INTEGER NOT NULL,
	discount_total_e4 INTEGER NOT NULL,
	customer_id       INTEGER NOT NULL, -- the shop customer; 0 for a guest order
	billing_email     TEXT    NOT NULL,
	billing_name      TEXT    NOT NULL,
	created_at        INTEGER,
	paid_at           INTEGER,
	completed_at      INTEGER,
	modified_at       INTEGER NOT NULL,
	read_at           INTEGER NOT NULL
) STRICT;
CREATE INDEX orders_created_at ON orders (created_at);
CREATE INDEX orders_customer_id ON orders (customer_id);

CREATE TABLE order_lines (
	order_id     INTEGER NOT NULL,
	id           INTEGER NOT NULL,
	product_id   INTEGER NOT NULL,
	sku          TEXT    NOT NULL,
	name         TEXT    NOT NULL,
	currency     TEXT    NOT NULL,
	quantity     INTEGER NOT NULL,
	price_e4     INTEGER NOT NULL,
	subtotal_e4  INTEGER NOT NULL,
	total_e4     INTEGER NOT NULL,
	total_tax_e4 INTEGER NOT NULL,
	modified_at  INTEGER NOT NULL, -- the order's
	read_at      INTEGER NOT NULL,
	PRIMARY KEY (order_id, id)
) STRICT;
CREATE INDEX order_lines_sku ON order_lines (sku);

CREATE TABLE products (
	id               INTEGER PRIMARY KEY,
	sku              TEXT    NOT NULL,
	name             TEXT    NOT NULL,
	status           TEXT    NOT NULL,
	currency         TEXT    NOT NULL,
	price_e4         INTEGER NOT NULL,
	regular_price_e4 INTEGER NOT NULL,
	sale_price_e4    INTEGER,
	manage_stock     INTEGER NOT NULL,
	stock_quantity   INTEGER,
	stock_status     TEXT    NOT NULL,
	modified_at      INTEGER NOT NULL,
	read_at          INTEGER NOT NULL
) STRICT;
CREATE INDEX products_sku ON products (sku);

CREATE TABLE stock (
	sku          TEXT    NOT NULL,
	warehouse    TEXT    NOT NULL,
	on_hand_e4   INTEGER NOT NULL,
	reserved_e4  INTEGER NOT NULL,
	ordered_e4   INTEGER NOT NULL,
	projected_e4 INTEGER NOT NULL,
	modified_at  INTEGER NOT NULL,
	read_at      INTEGER NOT NULL,
	PRIMARY KEY (sku, warehouse)
) STRICT;

CREATE TABLE invoices (
	id                   TEXT    PRIMARY KEY,
	customer_id          TEXT    NOT NULL, -- the ERP customer
	status               TEXT    NOT NULL,
	doc_status           INTEGER NOT NULL,
	issue_date           INTEGER,
	due_date             INTEGER,
	currency             TEXT    NOT NULL,
	total_e4             INTEGER NOT NULL,
	outstanding_currency TEXT    NOT NULL,
	outstanding_e4       INTEGER NOT NULL,
	order_ref            TEXT    NOT NULL,
	sales_order          TEXT    NOT NULL,
	modified_at          INTEGER NOT NULL,
	read_at              INTEGER NOT NULL
) STRICT;
CREATE INDEX invoices_customer_id ON invoices (customer_id);
CREATE INDEX invoices_order_ref ON invoices (order_ref);

-- Each system's customer records carry the join key (computed by the
-- consolidation rule), the normalised e-mail address and, in the columns
-- customer_*, what the record gives each customer field it owns by
-- consolidate's rules (NULL where the system owns no such field); the
-- customers view joins them.
CREATE TABLE crm_contacts (
	id                       TEXT    PRIMARY KEY,
	email                    TEXT    NOT NULL,
	first_name               TEXT    NOT NULL,
	last_name                TEXT    NOT NULL,
	phone                    TEXT    NOT NULL,
	company                  TEXT    NOT NULL,
	lifecycle_stage          TEXT    NOT NULL,
	owner_id                 TEXT    NOT NULL,
	created_at               INTEGER,
	join_key                 TEXT    NOT NULL,
	email_normalized         TEXT    NOT NULL,
	customer_name            TEXT,
	customer_company         TEXT,
	customer_phone           TEXT,
	customer_lifecycle_stage TEXT,
	customer_owner           TEXT,
	modified_at              INTEGER NOT NULL,
	read_at                  INTEGER NOT NULL
) STRICT;
CREATE INDEX crm_contacts_join_key ON crm_contacts (join_key);

CREATE TABLE shop_customers (
	id                       INTEGER PRIMARY KEY,
	email                    TEXT    NOT NULL,
	first_name               TEXT    NOT NULL,
	last_name                TEXT    NOT NULL,
	company                  TEXT    NOT NULL,
	phone                    TEXT    NOT NULL,
	is_paying_customer       INTEGER NOT NULL,
	created_at               INTEGER,
	join_key                 TEXT    NOT NULL,
	email_normalized         TEXT    NOT NULL,
	customer_name            TEXT,
	customer_company         TEXT,
	customer_phone           TEXT,
	customer_lifecycle_stage TEXT,
	customer_owner           TEXT,
	modified_at              INTEGER NOT NULL,
	read_at                  INTEGER NOT NULL
) STRICT;
CREATE INDEX shop_customers_join_key ON shop_customers (join_key);

CREATE TABLE erp_customers (
	id                       TEXT    PRIMARY KEY,
	name                     TEXT    NOT NULL,
	email                    TEXT    NOT NULL,
	phone                    TEXT    NOT NULL,
	type                     TEXT    NOT NULL,
	customer_group           TEXT    NOT NULL,
	territory                TEXT    NOT NULL,
	currency                 TEXT    NOT NULL,
	credit_limit_currency    TEXT,
	credit_limit_e4          INTEGER,
	disabled                 INTEGER NOT NULL,
	created_at               INTEGER,
	join_key                 TEXT    NOT NULL,
	email_normalized         TEXT    NOT NULL,
	customer_name            TEXT,
	customer_company         TEXT,
	customer_phone           TEXT,
	customer_lifecycle_stage TEXT,
	customer_owner           TEXT,
	modified_at              INTEGER NOT NULL,
	read_at                  INTEGER NOT NULL
) STRICT;
CREATE INDEX erp_customers_join_key ON erp_customers (join_key);

-- Deletions, so that an older write never brings a deleted record back.
CREATE TABLE deletions (
	system     TEXT    NOT NULL,
	kind       TEXT    NOT NULL,
	key        TEXT    NOT NULL,
	deleted_at INTEGER NOT NULL,
	PRIMARY KEY (system, kind, key)
) STRICT;
`,
	// 2: the sync's marks.
	`
CREATE TABLE marks (
	system     TEXT    NOT NULL,
	kind       TEXT    NOT NULL,
	checkpoint TEXT    NOT NULL, -- the backfill's resume point, opaque
	done       INTEGER NOT NULL,
	total      INTEGER NOT NULL,
	watermark  INTEGER,          -- complete up to this upstream time
	updated_at INTEGER NOT NULL,
	PRIMARY KEY (system, kind)
) STRICT;
`,
	// 3: when each system and kind last caught up with its upstream.
	`
ALTER TABLE marks ADD COLUMN caught_up_at INTEGER; -- Trestle's clock; NULL until the first backfill caught up
`,
	// 4: the normalised billing address, which joins a guest's order to
	// its customer; the orders are read again to fill it.
	`
ALTER TABLE orders ADD COLUMN billing_email_normalized TEXT NOT NULL DEFAULT '';
CREATE INDEX orders_billing_email_normalized ON orders (billing_email_normalized);
DELETE FROM marks WHERE system = 'shop' AND kind = 'order';
`,
	// 5: the sync's state, which every replica reads: the last change each
	// kind had applied, and the replica that syncs and why it stopped.
	`
ALTER TABLE marks ADD COLUMN last_seq INTEGER;
ALTER TABLE marks ADD COLUMN last_change_at INTEGER;
ALTER TABLE marks ADD COLUMN last_applied_at INTEGER;
CREATE TABLE sync_state (
	id           INTEGER PRIMARY KEY CHECK (id = 1),
	leader       TEXT    NOT NULL, -- the replica that syncs
	heartbeat_at INTEGER NOT NULL,
	failure      TEXT    NOT NULL, -- why the sync stopped; '' while it runs
	failed_at    INTEGER
) STRICT;
`,
	// 6: when the running backfill of a kind began, and from how many
	// records read, for its rate.
	`
ALTER TABLE marks ADD COLUMN began_at INTEGER;
ALTER TABLE marks ADD COLUMN done_before INTEGER NOT NULL DEFAULT 0;
`,
	// 7: no sales order on invoices: ERPNext keeps it on their items,
	// which Trestle does not read (po_no names the shop order).
	`
ALTER TABLE invoices DROP COLUMN sales_order;
`,
	// 8: the customers view's rows kept as a table, which reports join
	// to, made again when a customer record has changed since.
	`
CREATE TABLE consolidated_customers (
	key             TEXT PRIMARY KEY,
	crm_id          TEXT,
	shop_id         INTEGER,
	erp_id          TEXT,
	email           TEXT,
	name            TEXT,
	company         TEXT,
	phone           TEXT,
	lifecycle_stage TEXT,
	owner           TEXT
) STRICT;
CREATE INDEX consolidated_customers_shop_id ON consolidated_customers (shop_id);
CREATE INDEX consolidated_customers_erp_id ON consolidated_customers (erp_id);
CREATE INDEX consolidated_customers_email ON consolidated_customers (email);
CREATE TABLE versions (
	id             INTEGER PRIMARY KEY CHECK (id = 1),
	customers      INTEGER NOT NULL, -- counts the writes of customer records
	consolidated   INTEGER NOT NULL  -- the customers' version consolidated_customers was made at
) STRICT;
INSERT INTO versions (id, customers, consolidated) VALUES (1, 1, 0);
`,
	// 9: the indexes reports group along.
	reportIndexes,
}

// pgMigrations are the PostgreSQL schema's versions, as migrations are
// SQLite's: the same tables and columns in PostgreSQL's types.
var pgMigrations = []string{
	// 1: the schema of SQLite's version 5.
	`
CREATE TABLE orders (
	id                       BIGINT  PRIMARY KEY,
	number                   TEXT    NOT NULL,
	status                   TEXT    NOT NULL,
	currency                 TEXT    NOT NULL,
	total_e4                 BIGINT  NOT NULL,
	total_tax_e4             BIGINT  NOT NULL,
	shipping_total_e4        BIGINT  NOT NULL,
	discount_total_e4        BIGINT  NOT NULL,
	customer_id              BIGINT  NOT NULL,
	billing_email            TEXT    NOT NULL,
	billing_name             TEXT    NOT NULL,
	created_at               BIGINT,
	paid_at                  BIGINT,
	completed_at             BIGINT,
	modified_at              BIGINT  NOT NULL,
	read_at                  BIGINT  NOT NULL,
	billing_email_normalized TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX orders_created_at ON orders (created_at);
CREATE INDEX orders_customer_id ON orders (customer_id);
CREATE INDEX orders_billing_email_normalized ON orders (billing_email_normalized);

CREATE TABLE order_lines (
	order_id     BIGINT NOT NULL,
	id           BIGINT NOT NULL,
	product_id   BIGINT NOT NULL,
	sku          TEXT   NOT NULL,
	name         TEXT   NOT NULL,
	currency     TEXT   NOT NULL,
	quantity     BIGINT NOT NULL,
	price_e4     BIGINT NOT NULL,
	subtotal_e4  BIGINT NOT NULL,
	total_e4     BIGINT NOT NULL,
	total_tax_e4 BIGINT NOT NULL,
	modified_at  BIGINT NOT NULL,
	read_at      BIGINT NOT NULL,
	PRIMARY KEY (order_id, id)
);
CREATE INDEX order_lines_sku ON order_lines (sku);

CREATE TABLE products (
	id               BIGINT  PRIMARY KEY,
	sku              TEXT    NOT NULL,
	name             TEXT    NOT NULL,
	status           TEXT    NOT NULL,
	currency         TEXT    NOT NULL,
	price_e4         BIGINT  NOT NULL,
	regular_price_e4 BIGINT  NOT NULL,
	sale_price_e4    BIGINT,
	manage_stock     BOOLEAN NOT NULL,
	stock_quantity   BIGINT,
	stock_status     TEXT    NOT NULL,
	modified_at      BIGINT  NOT NULL,
	read_at          BIGINT  NOT NULL
);
CREATE INDEX products_sku ON products (sku);

CREATE TABLE stock (
	sku          TEXT   NOT NULL,
	warehouse    TEXT   NOT NULL,
	on_hand_e4   BIGINT NOT NULL,
	reserved_e4  BIGINT NOT NULL,
	ordered_e4   BIGINT NOT NULL,
	projected_e4 BIGINT NOT NULL,
	modified_at  BIGINT NOT NULL,
	read_at      BIGINT NOT NULL,
	PRIMARY KEY (sku, warehouse)
);

CREATE TABLE invoices (
	id                   TEXT   PRIMARY KEY,
	customer_id          TEXT   NOT NULL,
	status               TEXT   NOT NULL,
	doc_status           BIGINT NOT NULL,
	issue_date           BIGINT,
	due_date             BIGINT,
	currency             TEXT   NOT NULL,
	total_e4             BIGINT NOT NULL,
	outstanding_currency TEXT   NOT NULL,
	outstanding_e4       BIGINT NOT NULL,
	order_ref            TEXT   NOT NULL,
	sales_order          TEXT   NOT NULL,
	modified_at          BIGINT NOT NULL,
	read_at              BIGINT NOT NULL
);
CREATE INDEX invoices_customer_id ON invoices (customer_id);
CREATE INDEX invoices_order_ref ON invoices (order_ref);

CREATE TABLE crm_contacts (
	id                       TEXT   PRIMARY KEY,
	email                    TEXT   NOT NULL,
	first_name               TEXT   NOT NULL,
	last_name                TEXT   NOT NULL,
	phone                    TEXT   NOT NULL,
	company                  TEXT   NOT NULL,
	lifecycle_stage          TEXT   NOT NULL,
	owner_id                 TEXT   NOT NULL,
	created_at               BIGINT,
	join_key                 TEXT   NOT NULL,
	email_normalized         TEXT   NOT NULL,
	customer_name            TEXT,
	customer_company         TEXT,
	customer_phone           TEXT,
	customer_lifecycle_stage TEXT,
	customer_owner           TEXT,
	modified_at              BIGINT NOT NULL,
	read_at                  BIGINT NOT NULL
);
CREATE INDEX crm_contacts_join_key ON crm_contacts (join_key);

CREATE TABLE shop_customers (
	id                       BIGINT  PRIMARY KEY,
	email                    TEXT    NOT NULL,
	first_name               TEXT    NOT NULL,
	last_name                TEXT    NOT NULL,
	company                  TEXT    NOT NULL,
	phone                    TEXT    NOT NULL,
	is_paying_customer       BOOLEAN NOT NULL,
	created_at               BIGINT,
	join_key                 TEXT    NOT NULL,
	email_normalized         TEXT    NOT NULL,
	customer_name            TEXT,
	customer_company         TEXT,
	customer_phone           TEXT,
	customer_lifecycle_stage TEXT,
	customer_owner           TEXT,
	modified_at              BIGINT  NOT NULL,
	read_at                  BIGINT  NOT NULL
);
CREATE INDEX shop_customers_join_key ON shop_customers (join_key);

CREATE TABLE erp_customers (
	id                       TEXT    PRIMARY KEY,
	name                     TEXT    NOT NULL,
	email                    TEXT    NOT NULL,
	phone                    TEXT    NOT NULL,
	type                     TEXT    NOT NULL,
	customer_group           TEXT    NOT NULL,
	territory                TEXT    NOT NULL,
	currency                 TEXT    NOT NULL,
	credit_limit_currency    TEXT,
	credit_limit_e4          BIGINT,
	disabled                 BOOLEAN NOT NULL,
	created_at               BIGINT,
	join_key                 TEXT    NOT NULL,
	email_normalized         TEXT    NOT NULL,
	customer_name            TEXT,
	customer_company         TEXT,
	customer_phone           TEXT,
	customer_lifecycle_stage TEXT,
	customer_owner           TEXT,
	modified_at              BIGINT  NOT NULL,
	read_at                  BIGINT  NOT NULL
);
CREATE INDEX erp_customers_join_key ON erp_customers (join_key);

CREATE TABLE deletions (
	system     TEXT   NOT NULL,
	kind       TEXT   NOT NULL,
	key        TEXT   NOT NULL,
	deleted_at BIGINT NOT NULL,
	PRIMARY KEY (system, kind, key)
);

CREATE TABLE marks (
	system          TEXT   NOT NULL,
	kind            TEXT   NOT NULL,
	checkpoint      TEXT   NOT NULL,
	done            BIGINT NOT NULL,
	total           BIGINT NOT NULL,
	watermark       BIGINT,
	updated_at      BIGINT NOT NULL,
	caught_up_at    BIGINT,
	last_seq        BIGINT,
	last_change_at  BIGINT,
	last_applied_at BIGINT,
	PRIMARY KEY (system, kind)
);

CREATE TABLE sync_state (
	id           BIGINT PRIMARY KEY CHECK (id = 1),
	leader       TEXT   NOT NULL,
	heartbeat_at BIGINT NOT NULL,
	failure      TEXT   NOT NULL,
	failed_at    BIGINT
);
`,
	// 2: as SQLite's 6.
	`
ALTER TABLE marks ADD COLUMN began_at BIGINT;
ALTER TABLE marks ADD COLUMN done_before BIGINT NOT NULL DEFAULT 0;
`,
	// 3: as SQLite's 7.
	`
ALTER TABLE invoices DROP COLUMN sales_order;
`,
	// 4: as SQLite's 8.
	`
CREATE TABLE consolidated_customers (
	key             TEXT PRIMARY KEY,
	crm_id          TEXT,
	shop_id         BIGINT,
	erp_id          TEXT,
	email           TEXT,
	name            TEXT,
	company         TEXT,
	phone           TEXT,
	lifecycle_stage TEXT,
	owner           TEXT
);
CREATE INDEX consolidated_customers_shop_id ON consolidated_customers (shop_id);
CREATE INDEX consolidated_customers_erp_id ON consolidated_customers (erp_id);
CREATE INDEX consolidated_customers_email ON consolidated_customers (email);
CREATE TABLE versions (
	id             BIGINT PRIMARY KEY CHECK (id = 1),
	customers      BIGINT NOT NULL,
	consolidated   BIGINT NOT NULL
);
INSERT INTO versions (id, customers, consolidated) VALUES (1, 1, 0);
`,
	// 5: as SQLite's 9.
	reportIndexes,
}

// reportIndexes are the indexes that reports group along (SQLite's 9,
// PostgreSQL's 5): the orders by account, which reports read to find
// their customers, from the index alone and in their groups' order rather
// than from every row and sorted. It takes the place of the index on its
// first column.
const reportIndexes = `
DROP INDEX orders_customer_id;
CREATE INDEX orders_accounts ON orders (customer_id, billing_email_normalized, currency,
	status, created_at, total_e4, total_tax_e4, shipping_total_e4, discount_total_e4);
`

var (
	sqlite = &dialect{name: "sqlite", driver: "sqlite3", migrations: migrations,
		versionTable: `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL) STRICT`,
		otherTables:  `SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'schema_version'`,
		// Immediate transactions (see openSQLite) serialise migrations.
	}
	postgres = &dialect{name: "postgres", driver: "pgx", migrations: pgMigrations, numbered: true,
		versionTable: `CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)`,
		otherTables:  `SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name <> 'schema_version'`,
		exclusive:    pgExclusive,
	}
)

// pgExclusive runs f while holding a PostgreSQL advisory lock of the
// store's, so that replicas starting together migrate one at a time.
func pgExclusive(ctx context.Context, db *sql.DB, f func() error) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, migrateLock); err != nil {
		return fmt.Errorf("lock for migration: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrateLock)
	return f()
}

// migrate brings the schema up to version, one transaction per migration,
// and returns how many it applied. A database at a newer version is
// refused.
func migrate(ctx context.Context, db db, version int) (applied int, err error) {
	if _, err := db.ExecContext(ctx, db.d.versionTable); err != nil {
		return 0, fmt.Errorf("create schema_version: %w", err)
	}
	for {
		done, err := step(ctx, db, version)
		if err != nil || done {
			return applied, err
		}
		applied++
	}
}

// step applies the next migration, if any, in one transaction; the version
// is read inside it, so two processes opening one file do not both apply it.
func step(ctx context.Context, db db, version int) (done bool, err error) {
	tx, err := db.BeginTx(ctx)
	if err != nil {
		return false, fmt.Errorf("begin migration: %w", err)
	}
	defer tx.Rollback()
	var current int
	switch err := tx.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&current); {
	case errors.Is(err, sql.ErrNoRows):
		var others int
		if err := tx.QueryRowContext(ctx, db.d.otherTables).Scan(&others); err != nil {
			return false, fmt.Errorf("read schema: %w", err)
		}
		if others > 0 {
			return false, ErrNotStore
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (0)`); err != nil {
			return false, fmt.Errorf("write schema_version: %w", err)
		}
	case err != nil:
		return false, fmt.Errorf("read schema_version: %w", err)
	}
	switch {
	case current > version:
		return false, fmt.Errorf("version %d, this binary knows up to %d: %w", current, version, ErrNewerSchema)
	case current == version:
		return true, tx.Commit()
	}
	if _, err := tx.ExecContext(ctx, db.d.migrations[current]); err != nil {
		return false, fmt.Errorf("migrate to version %d: %w", current+1, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE schema_version SET version = ?`, current+1); err != nil {
		return false, fmt.Errorf("migrate to version %d: %w", current+1, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("migrate to version %d: %w", current+1, err)
	}
	return false, nil
}
