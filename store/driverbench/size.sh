#!/bin/sh
# Prints the size of a static, cgo-free binary with each driver.
set -e
cd "$(dirname "$0")"
out=$(mktemp -d)
for p in baseline modernc ncruces; do
	CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$out/$p" ./size/$p
	printf '%s\t%s\n' "$p" "$(stat -c %s "$out/$p")"
done
rm -r "$out"
