#!/usr/bin/env node
// Reads a TAP stream (tap --reporter=tap) on stdin, passes it through to stdout, and ends with the line
// "N passed, N failed[, N skipped]" counted from the leaf assertions of the real run. A subtest that failed without
// any failing assertion of its own (a test file that crashed, a timeout) counts as one failure.
// Exit code: 0 when nothing failed and something passed, 1 otherwise.
import { Parser } from "tap-parser";

const totals = { pass: 0, fail: 0, skip: 0 };
const failures = [];

function watch(parser, path) {
  let pendingChild = null;
  const own = { fail: 0 };
  parser.on("child", (child) => {
    const childOwn = watch(child, [...path, child.name]);
    pendingChild = childOwn;
  });
  parser.on("assert", (res) => {
    if (pendingChild) {
      const childOwn = pendingChild;
      pendingChild = null;
      if (!res.ok && childOwn.fail === 0 && !res.todo && !res.skip) {
        totals.fail++;
        own.fail++;
        failures.push([...path, res.name].join(" > ") + " (no assertion failed: crashed or timed out)");
      }
      own.fail += childOwn.fail;
      return;
    }
    if (res.skip || res.todo) totals.skip++;
    else if (res.ok) totals.pass++;
    else {
      totals.fail++;
      own.fail++;
      failures.push([...path, res.name].join(" > "));
    }
  });
  return own;
}

const parser = new Parser();
watch(parser, []);
process.stdin.on("data", (d) => {
  process.stdout.write(d);
});
process.stdin.pipe(parser);
parser.on("complete", () => {
  if (failures.length) {
    process.stdout.write(`\n# failed assertions:\n${failures.map((f) => `#   ${f}`).join("\n")}\n`);
  }
  process.stdout.write(`\n${totals.pass} passed, ${totals.fail} failed${totals.skip ? `, ${totals.skip} skipped` : ""}\n`);
  process.exitCode = totals.fail === 0 && totals.pass > 0 ? 0 : 1;
});
