// Command ncruces is the baseline with github.com/ncruces/go-sqlite3, to
// measure what that driver adds to a binary.
package main

import (
	"database/sql"

	_ "github.com/ncruces/go-sqlite3/driver"
)

func main() {
	db, err := sql.Open("sqlite3", "x.db")
	if err == nil {
		db.Close()
	}
}
