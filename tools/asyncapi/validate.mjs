// Validate an AsyncAPI document with the official parser and print every diagnostic.
// Usage: node validate.mjs FILE. Exit 1 when any diagnostic is an error, 2 on bad usage.
import { readFile } from "node:fs/promises";
import { Parser } from "@asyncapi/parser";

const SEVERITY = ["error", "warning", "information", "hint"];

const file = process.argv[2];
if (!file) {
  console.error("usage: node validate.mjs FILE");
  process.exit(2);
}
const parser = new Parser();
const { diagnostics } = await parser.parse(await readFile(file, "utf8"), { source: file });
for (const d of diagnostics) {
  const line = d.range ? d.range.start.line + 1 : "?";
  console.log(`${SEVERITY[d.severity]} ${d.code} at ${d.path.join(".") || "$"} (line ${line}): ${d.message}`);
}
const errors = diagnostics.filter((d) => d.severity === 0).length;
console.log(`${file}: ${errors} error(s), ${diagnostics.length - errors} other diagnostic(s)`);
process.exit(errors ? 1 : 0);
