// Command modernc is the baseline with modernc.org/sqlite, to measure what
// that driver adds to a binary.
package main

import (
	"database/sql"

	_ "modernc.org/sqlite"
)

func main() {
	db, err := sql.Open("sqlite", "x.db")
	if err == nil {
		db.Close()
	}
}
