/** Commands return data; these are the two views of it. */
export interface OutputParams {
  json: boolean;
  out?: NodeJS.WritableStream;
}

export function printResult<T>(data: T, p: OutputParams, human: (d: T) => string): void {
  const out = p.out ?? process.stdout;
  if (p.json) out.write(`${JSON.stringify(data, null, 2)}\n`);
  else {
    const text = human(data);
    if (text) out.write(text.endsWith("\n") ? text : `${text}\n`);
  }
}

/** A plain text table: columns padded to the widest cell. */
export function table(headers: string[], rows: (string | number | null | undefined)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (c === null || c === undefined ? "-" : String(c))))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  return cells
    .map((r) => r.map((c, i) => (i === r.length - 1 ? c : (c ?? "").padEnd(widths[i] as number))).join("  "))
    .join("\n");
}
