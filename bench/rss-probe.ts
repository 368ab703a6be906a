/**
 * Preloaded into the measured process (`node --require`): on exit, writes the peak
 * resident set size and whether cdk8s was loaded to the file in BENCH_PROBE_OUT.
 */
import * as fs from 'node:fs';

process.on('exit', () => {
  const out = process.env.BENCH_PROBE_OUT;
  if (!out) return;
  const loaded = Object.keys(require.cache).some((m) => /[\\/]node_modules[\\/]cdk8s(-plus-28)?[\\/]lib[\\/]/.test(m));
  fs.writeFileSync(out, JSON.stringify({ maxRssKb: process.resourceUsage().maxRSS, cdk8sLoaded: loaded }));
});
