import { configDefaults, defineConfig } from 'vitest/config';

// `ab --base REF` checks its worktrees out under .cache/ab/: their own tests are not this tree's.
export default defineConfig({
  test: { exclude: [...configDefaults.exclude, '.cache/**'] },
});
