// Runs a state machine repeatedly on aws-local-stepfunctions and prints its rate as one JSON
// line: {"runner": "node", "transitions_per_second": ...}.
// Usage: node node-rate.mjs MODULE_DIR DEFINITION INPUT TRANSITIONS_PER_RUN SECONDS
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import path from 'node:path';

const [moduleDir, definitionFile, inputFile, perRunText, secondsText] = process.argv.slice(2);
const entry = path.join(moduleDir, 'node_modules', 'aws-local-stepfunctions', 'build', 'main.node.esm.js');
const { StateMachine } = await import(pathToFileURL(entry).href);

const definition = JSON.parse(readFileSync(definitionFile, 'utf8'));
const input = JSON.parse(readFileSync(inputFile, 'utf8'));
const perRun = Number(perRunText);
const seconds = Number(secondsText);
const machine = new StateMachine(definition);

// Warm up, then measure whole runs for at least `seconds`.
for (let i = 0; i < 3; i++) await machine.run(input).result;
let runs = 0;
const start = process.hrtime.bigint();
let elapsed = 0;
while (elapsed < seconds) {
  await machine.run(input).result;
  runs++;
  elapsed = Number(process.hrtime.bigint() - start) / 1e9;
}
console.log(JSON.stringify({ runner: 'node', runs, seconds: elapsed, transitions_per_second: (runs * perRun) / elapsed }));
