// Trestle's playground: GraphiQL over the gateway's /query, found relative
// to this page so it works behind any host, port or path prefix. Queries
// and mutations go over HTTP, subscriptions over a graphql-transport-ws
// WebSocket; both carry the headers of GraphiQL's headers editor.
(() => {
  'use strict';

  const examples = [
    `# The newest orders with who placed them, what they bought, live stock and the ERP invoices.
query NewestOrders {
  orders(first: 5) {
    totalCount
    edges { node {
      number status total { amount currency } createdAt
      customer { name email sourceIds { crm shop erp } }
      lines { sku quantity product { name stock { warehouse onHand available } } }
      invoices { number status outstanding { amount currency } dueDate }
    } }
  }
}
`,
    `# One customer as all three systems know them: the e-mail is matched the way
# the join key is (trimmed, lower case), whatever case each system stored.
query CustomerByEmail {
  customerByEmail(email: "  Dana.Hahn@EXAMPLE.com ") {
    name company lifecycleStage
    sourceIds { crm shop erp }
    lifetimeValue { amount currency }
    openBalance { amount currency }
    invoices(first: 3, filter: { outstanding: true }) { totalCount edges { node { number status outstanding { amount } dueDate } } }
  }
}
`,
    `# A receivables report: overdue invoices, newest first, with the customer.
query Receivables {
  invoices(first: 20, filter: { status: [OVERDUE], issueDate: { from: "2026-01-01" } }) {
    totalCount
    edges { node { number issueDate dueDate total { amount } outstanding { amount currency } customer { name email } } }
  }
}
`,
    `# Stock as the ERP changes it, per warehouse, until you press stop.
# The built-in demo moves some stock every few seconds.
subscription StockChanges {
  stockChanged {
    cursor sku at
    stock { warehouse onHand available }
  }
}
`,
  ];

  const endpoint = new URL('query', document.baseURI);
  const socketURL = new URL(endpoint);
  socketURL.protocol = endpoint.protocol === 'https:' ? 'wss:' : 'ws:';

  // The editor's headers, or null while they are not a JSON object.
  function parseHeaders(text) {
    if (!text || !text.trim()) return {};
    try {
      const v = JSON.parse(text);
      return v && typeof v === 'object' && !Array.isArray(v) ? v : null;
    } catch {
      return null;
    }
  }

  function isSubscription(params, opts) {
    try {
      const doc = (opts && opts.documentAST) || GraphiQL.GraphQL.parse(params.query);
      const op = GraphiQL.GraphQL.getOperationAST(doc, params.operationName || undefined);
      return op !== null && op.operation === 'subscription';
    } catch {
      return false; // the gateway explains what does not parse
    }
  }

  async function overHTTP(params, headers) {
    const res = await fetch(endpoint, {
      method: 'POST',
      headers: { Accept: 'application/graphql-response+json, application/json', 'Content-Type': 'application/json', ...headers },
      body: JSON.stringify(params),
    });
    const text = await res.text();
    try {
      return JSON.parse(text);
    } catch {
      return { errors: [{ message: `HTTP ${res.status}: ${text}` }] };
    }
  }

  // A client per set of headers, since they travel in connection_init.
  // Clients are lazy: one holds a connection only while it has
  // subscriptions running.
  const sockets = new Map();
  function socketFor(headers) {
    const key = JSON.stringify(headers);
    if (!sockets.has(key)) {
      sockets.set(key, graphqlWs.createClient({ url: socketURL.href, connectionParams: { headers }, retryAttempts: 0 }));
    }
    return sockets.get(key);
  }

  function overWebSocket(params, headers) {
    return {
      subscribe(sink) {
        const unsubscribe = socketFor(headers).subscribe(params, {
          next: (result) => sink.next(result),
          complete: () => sink.complete(),
          // A refused connection_init or a lost connection ends in a
          // CloseEvent, which GraphiQL cannot show by itself.
          error: (err) => sink.error(err instanceof Error || Array.isArray(err) ? err
            : new Error(err && 'code' in err ? `WebSocket closed: ${err.code} ${err.reason}`.trim() : String(err))),
        });
        return { unsubscribe };
      },
    };
  }

  function run(params, opts) {
    const headers = (opts && opts.headers) || {};
    return isSubscription(params, opts) ? overWebSocket(params, headers) : overHTTP(params, headers);
  }

  const h = React.createElement;

  function Playground() {
    // GraphiQL fetches the schema again when its fetcher changes: a new one
    // for new headers lets the key just added under Headers load the
    // schema that its absence kept back.
    const [headers, setHeaders] = React.useState('{}');
    const fetcher = React.useMemo(() => (params, opts) => run(params, opts), [headers]);
    const pending = React.useRef(0);
    const onEditHeaders = React.useCallback((text) => {
      clearTimeout(pending.current);
      pending.current = setTimeout(() => {
        const parsed = parseHeaders(text);
        if (parsed) setHeaders(JSON.stringify(parsed));
      }, 500);
    }, []);
    return h(GraphiQL, {
      fetcher,
      defaultTabs: examples.map((query) => ({ query })),
      defaultQuery: '# Write a query; the other tabs hold examples.\n{\n  \n}\n',
      defaultEditorToolsVisibility: 'headers',
      onEditHeaders,
    }, h(GraphiQL.Logo, null, 'Trestle'));
  }

  ReactDOM.createRoot(document.getElementById('graphiql')).render(h(Playground));
})();
