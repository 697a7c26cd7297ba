/** The valid name nearest a mistyped one, for "did you mean" hints on flags, config keys and commands. */

/** Levenshtein distance, case-insensitive (a key typed `blockms` is one edit from nothing, but meant `blockMs`). */
function distance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  let previous = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const current = [i];
    for (let j = 1; j <= y.length; j++) {
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + (x[i - 1] === y[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[y.length] ?? 0;
}

/**
 * The candidate nearest `name`, or undefined when none is near enough to be what was meant: within
 * a third of the name's length in edits (at least 2), or one that starts with the other.
 */
export function nearest(name: string, candidates: readonly string[]): string | undefined {
  let best: { candidate: string; d: number } | undefined;
  for (const candidate of candidates) {
    const d = distance(name, candidate);
    if (best === undefined || d < best.d) best = { candidate, d };
  }
  if (best === undefined) return undefined;
  const prefix = name.length >= 3 && (best.candidate.toLowerCase().startsWith(name.toLowerCase()) || name.toLowerCase().startsWith(best.candidate.toLowerCase()));
  return best.d <= Math.max(2, Math.floor(name.length / 3)) || prefix ? best.candidate : undefined;
}

/** ` Did you mean \`x\`?`, or '' when nothing is near. */
export function didYouMean(name: string, candidates: readonly string[], format: (c: string) => string = (c) => c): string {
  const near = nearest(name, candidates);
  return near === undefined ? '' : ` Did you mean \`${format(near)}\`?`;
}
