// Lint: TypeScript rules, plus the house's import boundaries (docs/architecture.md), which
// tests/unit/architecture.test.ts also checks by resolving every import.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const forbid = (...parts) => ({
  patterns: parts.map((p) => ({
    group: [`**/${p}/**`, `../${p}/*`, `../../${p}/*`],
    message: `this part may not import ${p}/ (see docs/architecture.md)`,
  })),
});

export default tseslint.config(
  {
    ignores: [
      'node_modules/**',
      'dist/**',
      'tmp/**',
      'data/**',
      'dashboard/public/**',
      'dashboard/dist/**',
      'artifacts/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.tsx'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      'no-console': 'error',
    },
  },
  {
    files: ['protocol/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        forbid('firmware-config', 'edge', 'models', 'gateway', 'dashboard', 'runtime', 'sim', 'cli'),
      ],
    },
  },
  {
    files: ['runtime/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        forbid('firmware-config', 'edge', 'models', 'gateway', 'dashboard', 'sim', 'cli'),
      ],
    },
  },
  {
    files: ['firmware-config/**/*.ts', 'models/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', forbid('edge', 'gateway', 'dashboard', 'sim', 'cli')] },
  },
  {
    files: ['edge/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        forbid('firmware-config', 'gateway', 'dashboard', 'sim', 'cli', 'runtime'),
      ],
    },
  },
  {
    files: ['gateway/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', forbid('dashboard', 'sim', 'cli')] },
  },
  {
    files: ['dashboard/**/*.ts', 'dashboard/**/*.tsx'],
    rules: { 'no-restricted-imports': ['error', forbid('gateway', 'sim', 'cli')] },
  },
  {
    files: ['sim/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', forbid('gateway', 'dashboard', 'edge', 'cli')] },
  },
  { files: ['tests/**/*.ts', 'bench/**/*.ts', 'cli/**/*.ts'], rules: { 'no-console': 'off' } },
  {
    files: ['**/*.js'],
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        document: 'readonly',
        window: 'readonly',
        localStorage: 'readonly',
        sessionStorage: 'readonly',
        fetch: 'readonly',
        EventSource: 'readonly',
        FormData: 'readonly',
        CSS: 'readonly',
        setInterval: 'readonly',
        URL: 'readonly',
        performance: 'readonly',
      },
    },
  },
);
