// Package driverbench compares the pure-Go SQLite drivers on the store's
// workload: a bulk upsert of orders with their lines in transactions of 500,
// a revenue-per-month GROUP BY and the upsert of one changed order. It is a
// module of its own so that the gateway's go.mod keeps only the chosen
// driver. Run it with
//
//	cd store/driverbench && go test -run - -bench . -benchmem
//
// and the binary sizes with ./size.sh.
package driverbench
