/** Levenshtein distance between two strings. */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur[j] = Math.min((prev[j] as number) + 1, (cur[j - 1] as number) + 1, (prev[j - 1] as number) + cost);
    }
    prev = cur;
  }
  return prev[b.length] as number;
}

const normalise = (s: string) => s.toLowerCase().replace(/[_\-.]/g, "");

/**
 * The candidate closest to `input` (case and `_`/`-` ignored), if it is close enough to be a plausible typo:
 * at most 2 edits, or a quarter of the length for long names.
 */
export function closestMatch(input: string, candidates: Iterable<string>, key: (c: string) => string = (c) => c): string | undefined {
  const n = normalise(input);
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(n, normalise(key(c)));
    if (d < bestDistance) {
      bestDistance = d;
      best = c;
    }
  }
  const limit = Math.max(2, Math.floor(n.length / 4));
  return bestDistance <= limit ? best : undefined;
}
