// esbuild's entry for the bundled harness (scripts/gpu/pack.sh): the same CLI as harness/bin.js,
// without tsx, so gpu-bundle/sidecar-bench.mjs runs on a bare `node`.
import { main } from '../../harness/cli/main.ts';

process.exitCode = await main(process.argv.slice(2));
