// Validate an AsyncAPI document with the official parser (JSON Schema of the
// AsyncAPI version plus its semantic rules) and print the findings as JSON, so
// the Python test can report them. Exit code 0 = valid, 1 = errors found.
import { readFileSync } from "node:fs";
import { Parser } from "@asyncapi/parser";

const path = process.argv[2];
const parser = new Parser();
const { document, diagnostics } = await parser.parse(readFileSync(path, "utf8"), {
  source: path,
});
const findings = diagnostics.map((d) => ({
  severity: ["error", "warning", "info", "hint"][d.severity],
  code: d.code,
  message: d.message,
  path: d.path.join("."),
}));
console.log(JSON.stringify({ valid: document !== undefined, findings }));
process.exit(document === undefined ? 1 : 0);
