// Lint: typescript-eslint's recommended rules with type information off (fast, no project build).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'bench/out/', 'coverage/', '.tap/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Start-up memory (src/http/node-http.ts, src/observability/prom.ts,
    // src/policies/hedge/latency-window.ts): these entry points load far more than we use.
    files: ['src/**/*.ts'],
    ignores: ['src/http/node-http.ts', 'src/observability/prom.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [
            { name: 'node:http', allowTypeImports: true, message: 'import values from src/http/node-http.ts: an ESM import of node:http loads Node\'s bundled undici (14 MiB on Node 24)' },
            { name: 'http', allowTypeImports: true, message: 'use node:http types and src/http/node-http.ts' },
            { name: 'prom-client', allowTypeImports: true, message: 'import from src/observability/prom.ts: the index loads OpenTelemetry, cluster and Pushgateway' },
            { name: 'hdr-histogram-js', allowTypeImports: true, message: 'require hdr-histogram-js/dist/Int32Histogram.js: the index maps ICU data and loads WebAssembly' },
          ],
        },
      ],
    },
  },
  { files: ['bin/*', '**/*.cjs'], languageOptions: { sourceType: 'commonjs', globals: { console: 'readonly', process: 'readonly' } } },
);
