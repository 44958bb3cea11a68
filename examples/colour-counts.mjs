// The colours the probe saw in one eval-2d row (from `eval-2d --json`): [colour, images] pairs,
// most common first, summed over the row's generated attribute combinations; none when the
// combinations leave colour out (a set that does not constrain it). Used by results-2d.sh and
// chair-sweep.sh, whose README tables quote these counts.
export function colourCounts(row) {
  const counts = {};
  for (const [combo, share] of Object.entries(row.generated)) {
    const colour = combo.match(/color=([^ |]+)/)?.[1];
    if (colour === undefined) return [];
    counts[colour] = (counts[colour] ?? 0) + share * row.n;
  }
  return Object.entries(counts)
    .map(([colour, k]) => [colour, Math.round(k)])
    .sort((a, b) => b[1] - a[1]);
}
