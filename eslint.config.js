// Lint rules: typescript-eslint's recommended set, plus rules the code already follows.
// `npm run lint` (part of `npm test`); layout is prettier's (`npm run format`).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', '**/node_modules/', '.data/', 'dist/', 'client/dist/', 'bench/results/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      // TypeScript checks names; this rule does not know Node's or the DOM's globals.
      'no-undef': 'off',
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      'no-var': 'error',
      'prefer-const': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/no-unused-expressions': ['error', { allowShortCircuit: true, allowTernary: true }],
      // postgres.js types rows and queryables with `{}` type parameters.
      '@typescript-eslint/no-empty-object-type': 'off',
    },
  },
  {
    // The processes log through pino; only tests, the bench and command-line tools print.
    files: ['gateway/**', 'worker/**', 'shared/**', 'standalone/**', 'client/**'],
    ignores: ['**/*.test.ts', '**/*-cli.ts', 'client/build.ts'],
    rules: { 'no-console': 'error' },
  },
  {
    // Tests, test fakes and the load generator read JSON replies loosely.
    files: ['**/*.test.ts', 'test/**', 'bench/**', 'gateway/delivery/fake-port.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
);
