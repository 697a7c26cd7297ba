import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // `ab --base REF` checks its worktrees out under .cache/ab/: their own tests are not this tree's.
    exclude: [...configDefaults.exclude, '.cache/**'],
    // Two test files at once even on a 2-core machine (vitest's default there is one): most of a
    // file's time is spent waiting on the sidecars it starts, so the suite takes ~230 s instead of
    // ~410 s here. Tests assert codes and ratios, never absolute times, so the extra load is fine.
    maxWorkers: 2,
  },
});
