// A federation gateway over a supergraph, as a company would run one in
// front of Trestle and its own services: Hive Gateway's runtime. A
// client's credentials are passed on to the subgraphs.
//
//   node gateway.mjs SUPERGRAPH.graphql PORT
//
// prints "ready URL" once it listens (PORT 0: any free port).
import { createServer } from "node:http";
import { readFileSync } from "node:fs";
import { createGatewayRuntime } from "@graphql-hive/gateway-runtime";

const [supergraphFile, port] = process.argv.slice(2);
const gateway = createGatewayRuntime({
  supergraph: readFileSync(supergraphFile, "utf8"),
  propagateHeaders: {
    fromClientToSubgraphs: ({ request }) => ({
      authorization: request.headers.get("authorization"),
      "x-api-key": request.headers.get("x-api-key"),
    }),
  },
});
const server = createServer(gateway);
server.listen(Number(port), "127.0.0.1", () => console.log(`ready http://127.0.0.1:${server.address().port}/graphql`));
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => server.close(() => gateway.dispose().then(() => process.exit(0))));
}
