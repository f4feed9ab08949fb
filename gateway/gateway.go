// Package gateway is Trestle's HTTP surface: the GraphQL endpoint with its
// transports, caches and per-operation loaders, the playground and the
// health check.
package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/coder/websocket"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/trestlehq/trestle/auth"
	"github.com/trestlehq/trestle/cache"
	"github.com/trestlehq/trestle/config"
	"github.com/trestlehq/trestle/events"
	"github.com/trestlehq/trestle/graph"
	"github.com/trestlehq/trestle/graph/model"
	"github.com/trestlehq/trestle/loaders"
	"github.com/trestlehq/trestle/metrics"
	"github.com/trestlehq/trestle/resolvers"
)

// Options configure New.
type Options struct {
	Directory resolvers.Directory
	// Store is the reporting store; nil when none is open.
	Store   Store
	Changes resolvers.Changes
	Loaders *loaders.Factory
	Logger  *slog.Logger
	// CollapseQueries runs identical queries in flight at the same time
	// once, sharing the response.
	CollapseQueries bool
	// Responses, when set, keeps whole answers to queries until a change
	// drops them (the entity cache's, which the change path invalidates).
	Responses *cache.Responses
	// Invalidations, when set, counts the changes told so far (the entity
	// cache's): a query never collapses into an execution begun before a
	// change it came after.
	Invalidations func() uint64
	// RequestTimeout bounds each query (a subscription lasts until its
	// client leaves).
	RequestTimeout time.Duration
	// Webhooks receives the upstreams' change notifications at /webhooks/;
	// nil for none.
	Webhooks http.Handler
	// Origins are the browser origins, besides the gateway's own, that may
	// call the gateway (CORS) and open WebSocket subscriptions: host
	// patterns such as app.example.com or *.example.com.
	Origins []string
	// TrustedProxies are the load balancers in front of the gateway: a
	// request from one is the client's that its X-Forwarded-For names,
	// for per-client rate limits.
	TrustedProxies []netip.Prefix
	// WebSocket tunes graphql-transport-ws connections.
	WebSocket WebSocketOptions
	// Limits bound what one request may ask for.
	Limits Limits
	// Trusted are operations registered ahead, run by hash; with Only,
	// nothing else runs.
	Trusted TrustedDocuments
	// Introspection answers __schema and __type queries and suggests field
	// names in validation errors; off, the schema stays private.
	Introspection bool
	// Subgraph serves _service and _entities to a federation router;
	// without it both are refused.
	Subgraph bool
	// DebugHeader lets a client ask, with X-Trestle-Debug: 1, for how its
	// operation was answered, in extensions.trestle.
	DebugHeader bool
	// Metrics, when set, counts operations and open subscriptions.
	Metrics *metrics.Metrics
	// Ready reports whether the gateway can answer (/readyz): each check
	// by name, "ok" or what is wrong.
	Ready func() map[string]string
	// Auth authenticates every request to /query (and WebSocket
	// connections in connection_init); fields marked @auth need the
	// principal's roles. Without it no request has a principal, and those
	// fields are forbidden to all.
	Auth *auth.Authenticator
}

// WebSocketOptions tune graphql-transport-ws connections; a zero value
// takes the config's default.
type WebSocketOptions struct {
	// InitTimeout is how long a client has to send connection_init.
	InitTimeout time.Duration
	// KeepAlive is how often an idle client is pinged.
	KeepAlive time.Duration
	// WriteTimeout is how long a message may wait for a client to read
	// before the connection is closed.
	WriteTimeout time.Duration
}

// markStale names in a response's extensions the entities it was served
// past their TTL because their upstream failed: never stale silently. It
// runs inside the collapser, so every caller of a collapsed execution sees
// them.
func markStale(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	r := next(ctx)
	l := loaders.Made(ctx)
	if r == nil || l == nil {
		return r
	}
	if stale := l.Stale(); stale != nil {
		if r.Extensions == nil {
			r.Extensions = map[string]any{}
		}
		r.Extensions["stale"] = stale
	}
	return r
}

// subscriptionPaths puts a subscription's field at the head of the paths
// of each event's errors and stale notices. gqlgen resolves an event's
// fields in the event's context, without the subscription field's
// (graphql.ResolveFieldStream), so their paths would start below it:
// ["order"] for what is at ["orderChanged", "order"].
func subscriptionPaths(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	r := next(ctx)
	if r == nil || !graphql.HasOperationContext(ctx) {
		return r
	}
	op := graphql.GetOperationContext(ctx)
	if op.Operation == nil || op.Operation.Operation != ast.Subscription {
		return r
	}
	fields := graphql.CollectFields(op, op.Operation.SelectionSet, []string{"Subscription"})
	if len(fields) != 1 {
		return r // a subscription has one root field; a document that does not never ran
	}
	root := fields[0].Alias
	for _, e := range r.Errors {
		if len(e.Path) > 0 && e.Path[0] != ast.PathName(root) {
			e.Path = append(ast.Path{ast.PathName(root)}, e.Path...)
		}
	}
	if stale, ok := r.Extensions["stale"].([]loaders.StaleRead); ok {
		for i := range stale {
			for j, p := range stale[i].Paths {
				if p != root && !strings.HasPrefix(p, root+".") {
					stale[i].Paths[j] = root + "." + p
				}
			}
		}
	}
	return r
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// New builds the gateway's HTTP handler:
//
//	GET  /          the GraphQL playground
//	POST /query     GraphQL over HTTP (GET for queries too)
//	GET  /schema.graphql the schema (SDL), when introspection is on
//	GET  /export/NAME.csv, .ndjson the store's orders and order lines, and every report
//	POST /webhooks/ the upstreams' change notifications
//	GET  /healthz   liveness
func New(opts Options) *Gateway { return build(opts, true) }

// Gateway is Trestle's HTTP handler.
type Gateway struct {
	http.Handler
	close context.CancelFunc
}

// Close ends the WebSocket connections, going away: an HTTP server's
// Shutdown does not wait for them (serve registers it with the server).
func (g *Gateway) Close() { g.close() }

// build builds the handler; unguarded, without the query limits, client
// authentication and field authorization, only to measure what they cost.
func build(opts Options, guarded bool) *Gateway {
	registerCodes()
	closing, closeWS := context.WithCancel(context.Background())
	authorize := resolvers.Authorize
	if !guarded {
		authorize = func(ctx context.Context, _ any, next graphql.Resolver, _ model.Role) (any, error) { return next(ctx) }
	}
	r := &resolvers.Resolver{
		Directory: opts.Directory,
		Store:     opts.Store,
		Changes:   opts.Changes,
		Loaders:   opts.Loaders,
		Logger:    opts.Logger,
	}
	if opts.Metrics != nil {
		r.Delivered = func(c events.Change) {
			opts.Metrics.ChangeDelivered(string(c.System), string(c.Kind), time.Since(c.At))
		}
	}
	schema := graph.NewExecutableSchema(graph.Config{Resolvers: r, Directives: graph.DirectiveRoot{Auth: authorize}})
	srv := handler.New(schema)
	srv.AddTransport(transport.Options{})
	srv.AddTransport(transport.GET{})
	// Subscriptions: graphql-transport-ws (webSocket) and the older
	// graphql-ws (gqlgen's transport) over a WebSocket from the same origin
	// or an allowed one, and server-sent events.
	// Settings left zero take the config's defaults.
	defaults := config.Default()
	ws := WebSocketOptions{InitTimeout: orDefault(opts.WebSocket.InitTimeout, defaults.WebSocket.InitTimeout),
		KeepAlive:    orDefault(opts.WebSocket.KeepAlive, defaults.WebSocket.KeepAlive),
		WriteTimeout: orDefault(opts.WebSocket.WriteTimeout, defaults.WebSocket.WriteTimeout)}
	srv.AddTransport(&webSocket{Origins: opts.Origins, ReadLimit: 1 << 20, closing: closing,
		InitTimeout: ws.InitTimeout, KeepAlive: ws.KeepAlive, WriteTimeout: ws.WriteTimeout,
		Init: func(ctx context.Context, payload map[string]any, upgrade http.Header) (context.Context, error) {
			return authenticateInit(ctx, opts.Auth, payload, upgrade)
		}})
	srv.AddTransport(&transport.Websocket{KeepAlivePingInterval: ws.KeepAlive, InitTimeout: ws.InitTimeout,
		InitFunc: func(ctx context.Context, payload transport.InitPayload) (context.Context, *transport.InitPayload, error) {
			authed, err := authenticateInit(ctx, opts.Auth, payload, upgradeHeaders(ctx))
			if err != nil {
				// gqlgen closes with the code and reason of the context
				// returned: 4403, as graphql-transport-ws refuses.
				ctx = transport.WithWebsocketCloseCode(ctx, int(closeForbidden))
				return transport.AppendCloseReason(ctx, clip(err.Error())), nil, err
			}
			return resolvers.OverWebSocket(authed), nil, nil
		},
		Implementation: transport.CoderWebsocketImplementation{AcceptOptions: websocket.AcceptOptions{OriginPatterns: opts.Origins}}})
	srv.AddTransport(transport.SSE{KeepAlivePingInterval: ws.KeepAlive})
	srv.AddTransport(post{})
	// Parsed and validated documents are kept, so a repeated query skips
	// both; APQ lets clients send a query's hash instead of its text.
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	limits := opts.Limits.withDefaults()
	srv.SetParserTokenLimit(limits.Tokens)
	if guarded {
		srv.Use(newLimiter(limits))
	}
	srv.Use(subgraph{opts.Subgraph})
	if opts.Introspection {
		srv.Use(extension.Introspection{})
	} else {
		srv.Use(noIntrospection{opts.Logger})
		srv.SetDisableSuggestion(true)
	}
	// Persisted queries: clients send a hash instead of the text, of a
	// trusted document or (unless only those run) of one they registered.
	srv.Use(extension.AutomaticPersistedQuery{Cache: newPersisted(opts.Trusted)})
	if opts.Trusted.Only {
		srv.Use(allowList{opts.Trusted.Docs})
	}
	// Loaders are per response, made when first used: once for a query,
	// once for every event of a subscription, so no event reads another's
	// cached results. Each response has RequestTimeout to be made in.
	requestTimeout := orDefault(opts.RequestTimeout, defaults.RequestTimeout)
	srv.AroundResponses(observe(opts, requestTimeout))
	if opts.Metrics != nil {
		srv.AroundOperations(countSubscriptions(opts.Metrics))
	}
	// Identical subscriptions run once, their events handed to every
	// client.
	srv.AroundOperations((&sharer{}).aroundOperations)
	// Kept answers are looked up before identical queries collapse, and
	// an answer is kept once per execution, with the loaders that made it.
	if opts.Responses != nil || opts.CollapseQueries {
		srv.AroundOperations(keyQueries)
	}
	var answers *responseCache
	if opts.Responses != nil {
		answers = &responseCache{answers: opts.Responses, directory: opts.Directory.Version}
		srv.AroundResponses(answers.lookup)
	}
	if opts.CollapseQueries {
		// A collapsed execution runs with the loaders of the request that
		// runs it.
		c := &collapser{generation: opts.Invalidations}
		srv.AroundResponses(c.aroundResponses)
	}
	if answers != nil {
		srv.AroundResponses(answers.keep)
	}
	srv.AroundResponses(subscriptionPaths)
	srv.AroundResponses(markStale)
	srv.SetErrorPresenter(resolvers.ErrorPresenter(opts.Logger))
	srv.SetRecoverFunc(func(ctx context.Context, v any) error {
		opts.Logger.ErrorContext(ctx, "resolver panicked", "panic", v)
		return errors.New("internal error")
	})

	mux := http.NewServeMux()
	handlePlayground(mux)
	query := newClientLimits(limits.RequestsPerMinute, limits.ComplexityPerMinute, opts.TrustedProxies).middleware(srv)
	authenticated := query
	if opts.Auth != nil && guarded {
		authenticated = authenticate(opts.Auth, query)
	}
	mux.Handle("/query", withTraceContext(corsFor(opts.Origins, noCSRF(limitBody(limits.BodyBytes, graphQLOverHTTP(authenticated))))))
	sdl := schemaSDL(schema.Schema(), opts.Introspection)
	if opts.Auth != nil && guarded {
		sdl = authenticate(opts.Auth, sdl)
	}
	mux.Handle("GET /schema.graphql", corsFor(opts.Origins, sdl))
	export := exports(opts.Store, &reportExports{schema: schema.Schema(), query: query, logger: opts.Logger}, opts.Logger)
	if opts.Auth != nil && guarded {
		export = authenticate(opts.Auth, export)
	}
	mux.Handle("GET /export/{file}", corsFor(opts.Origins, export))
	if opts.Webhooks != nil {
		mux.Handle("/webhooks/", opts.Webhooks)
	}
	mux.Handle("GET /healthz", Healthz())
	mux.Handle("GET /readyz", Readyz(opts.Ready))
	return &Gateway{Handler: mux, close: closeWS}
}
