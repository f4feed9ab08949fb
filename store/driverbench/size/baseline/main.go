// Command baseline is a database/sql program without a driver, the baseline
// for the drivers' binary size.
package main

import "database/sql"

func main() {
	db, err := sql.Open("none", "x.db")
	if err == nil {
		db.Close()
	}
}
