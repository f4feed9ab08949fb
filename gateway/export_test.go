package gateway

import "net/http"

// NewUnguarded builds the gateway without its query limits, client
// authentication and field authorization, for benchmarks to measure what
// those cost.
func NewUnguarded(opts Options) http.Handler { return build(opts, false) }
