/**
 * Paths the docs name exist, and documents the code's comments name are in the repository:
 * a moved file or a document that lives elsewhere fails here, not in a reader's afternoon.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';

const root = new URL('..', import.meta.url).pathname;
const files = (dir: string, ext: string): string[] =>
  readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith(ext))
    .map((f) => join(dir, f));

t.test('every src/ path named in the docs exists', async (t) => {
  const docs = [...files('docs', '.md'), 'README.md', 'bench/README.md'];
  let named = 0;
  for (const doc of docs) {
    for (const [path] of readFileSync(join(root, doc), 'utf8').matchAll(/src\/[\w/.-]+\.ts/g)) {
      named += 1;
      t.ok(existsSync(join(root, path)), `${doc} names ${path}`);
    }
  }
  t.ok(named > 20, `${named} paths checked`);
});

t.test('every document a comment in src/ names is in the repository', async (t) => {
  for (const file of files('src', '.ts')) {
    for (const [path] of readFileSync(join(root, file), 'utf8').matchAll(/\b(?:docs|bench|config)\/[\w/.-]+\.(?:md|yaml)\b/g)) {
      t.ok(existsSync(join(root, path)), `${file} names ${path}`);
    }
  }
});
