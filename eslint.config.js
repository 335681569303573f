// Lint configuration: ESLint's recommended rules plus typescript-eslint's syntactic ones (no
// type information: type-checked rules would need parserOptions.projectService and make lint
// several times slower; `npm run typecheck` covers types).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/node_modules/**', 'crds/**', 'charts/**', 'test/control-plane/**', 'egress-pod/src/player/client.js', '**/dist/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      // `any` is allowed where a comment says why (werift internals, JSON trees).
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  // The fence around the fast path: werift's and Node's private internals are reached only inside
  // rtc-fastpath/ (its README lists each reach), and everything else uses its index alone.
  {
    files: ['**/*.ts', '**/*.js'],
    ignores: ['rtc-fastpath/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@corecast/rtc-fastpath/*', '**/rtc-fastpath/**', '!@corecast/rtc-fastpath/rtp-packet'],
              message:
                'Import @corecast/rtc-fastpath (its index) only, or its rtp-packet entry (werift’s RTP classes without werift’s bundle).',
            },
            { group: ['werift/*'], message: "werift's internals are reached only inside rtc-fastpath/." },
          ],
        },
      ],
    },
  },
  {
    files: ['egress-pod/**/*.ts', 'egress-pod/**/*.js'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: "CallExpression[callee.object.name='Object'][callee.property.name='getOwnPropertySymbols']",
          message: 'Looking up a private symbol belongs in rtc-fastpath/.',
        },
        {
          selector: 'MemberExpression[property.name=/^_[A-Za-z]/]',
          message: 'An underscored field is private to its library: reach it only inside rtc-fastpath/.',
        },
        {
          selector: "MemberExpression[property.name='description'][parent.type='BinaryExpression']",
          message: 'Finding a symbol by its description belongs in rtc-fastpath/.',
        },
      ],
    },
  },
);
