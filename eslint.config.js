// Lint configuration: ESLint's recommended rules plus typescript-eslint's syntactic ones (no
// type information: type-checked rules would need parserOptions.projectService and make lint
// several times slower; `npm run typecheck` covers types).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/node_modules/**', 'crds/**', 'charts/**', 'test/control-plane/**', 'egress-pod/src/player/client.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      // `any` is allowed where a comment says why (werift internals, JSON trees).
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
);
