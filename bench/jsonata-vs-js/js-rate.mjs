// Evaluates the workload's expressions with the reference implementation (npm `jsonata`)
// and prints one JSON line: {"runner": "jsonata-js", "evaluations_per_second": ...}.
// Usage: node js-rate.mjs MODULE_DIR WORKLOAD SECONDS
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const [moduleDir, workloadFile, secondsText] = process.argv.slice(2);
const require = createRequire(path.join(moduleDir, 'package.json'));
const jsonata = require('jsonata');
const workload = JSON.parse(readFileSync(workloadFile, 'utf8'));
const seconds = Number(secondsText);
const compiled = workload.expressions.map((e) => jsonata(e));

// Check every expression evaluates, then warm up.
const results = [];
for (const c of compiled) results.push(await c.evaluate(workload.data));
for (let i = 0; i < 200; i++) for (const c of compiled) await c.evaluate(workload.data);

let evaluations = 0;
const start = process.hrtime.bigint();
let elapsed = 0;
while (elapsed < seconds) {
  for (const c of compiled) await c.evaluate(workload.data);
  evaluations += compiled.length;
  elapsed = Number(process.hrtime.bigint() - start) / 1e9;
}
console.log(JSON.stringify({ runner: 'jsonata-js', evaluations, seconds: elapsed, evaluations_per_second: evaluations / elapsed, results }));
