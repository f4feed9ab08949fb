// Composes a supergraph from subgraph SDL files, as a federation router's
// tooling does, with @theguild/federation-composition:
//
//   node compose.mjs NAME URL FILE [NAME URL FILE ...]
//
// prints the supergraph SDL, or each composition error (its code and
// message) and exits 1.
import { readFileSync } from "node:fs";
import { parse } from "graphql";
import { composeServices, compositionHasErrors } from "@theguild/federation-composition";

const args = process.argv.slice(2);
if (args.length < 6 || args.length % 3 !== 0) {
  console.error("usage: node compose.mjs NAME URL FILE NAME URL FILE ...");
  process.exit(2);
}
const services = [];
for (let i = 0; i < args.length; i += 3) {
  const [name, url, file] = args.slice(i, i + 3);
  services.push({ name, url, typeDefs: parse(readFileSync(file, "utf8")) });
}
const result = composeServices(services);
if (compositionHasErrors(result)) {
  for (const e of result.errors) console.error(`${e.extensions?.code ?? "ERROR"}: ${e.message}`);
  process.exit(1);
}
process.stdout.write(result.supergraphSdl);
