// The second subgraph: support tickets, one for each customer id in a JSON
// file, each extending Trestle's Customer by key (tickets.graphql).
//
//   node tickets.mjs PORT IDS.json
//
// prints "ready URL" once it listens (PORT 0: any free port).
import { readFileSync } from "node:fs";
import { ApolloServer } from "@apollo/server";
import { startStandaloneServer } from "@apollo/server/standalone";
import { buildSubgraphSchema } from "@apollo/subgraph";
import { parse } from "graphql";

const [port, idsFile] = process.argv.slice(2);
const tickets = JSON.parse(readFileSync(idsFile, "utf8")).map((customer, i) => ({
  id: `T-${i + 1}`,
  subject: `Question ${i + 1}`,
  customer,
}));
const typeDefs = parse(readFileSync(new URL("./tickets.graphql", import.meta.url), "utf8"));
const resolvers = {
  Query: { tickets: (_, { first }) => (first == null ? tickets : tickets.slice(0, first)) },
  Ticket: { customer: (t) => ({ __typename: "Customer", id: t.customer }) },
  Customer: {
    __resolveReference: (ref) => ({ id: ref.id }),
    tickets: (c) => tickets.filter((t) => t.customer === c.id),
  },
};
const server = new ApolloServer({ schema: buildSubgraphSchema([{ typeDefs, resolvers }]) });
const { url } = await startStandaloneServer(server, { listen: { host: "127.0.0.1", port: Number(port) } });
console.log(`ready ${url}`);
