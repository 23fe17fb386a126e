import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import t from 'tap';
import { parse } from 'yaml';
import { loadPolicyText } from '../../src/config/load.js';
import { policyJsonSchema, policyJsonSchemaText } from '../../src/config/schema.js';
import { formatIssue } from '../../src/config/types.js';

const root = new URL('../../', import.meta.url);
const committedSchemaText = readFileSync(new URL('schema/policy.schema.json', root), 'utf8');

function yamlFilesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return yamlFilesUnder(path);
    return /\.ya?ml$/.test(name) ? [path] : [];
  });
}

const configFiles = yamlFilesUnder(new URL('config', root).pathname);

t.test('the committed schema/policy.schema.json is the generated one', async (t) => {
  t.equal(committedSchemaText, policyJsonSchemaText(), 'run `npm run build` (or `npx tsx src/config/write-schema.ts`) and commit the result');
});

t.test('every file under config/ is valid against the published JSON Schema', async (t) => {
  t.ok(configFiles.length >= 2, 'config/ holds the examples');
  // A plain strict Ajv, as a user would set one up; only the editor keyword `errorMessage` is declared.
  const ajv = new Ajv({ strict: true, allErrors: true });
  ajv.addKeyword('errorMessage');
  const validate = ajv.compile(JSON.parse(committedSchemaText) as object);
  for (const file of configFiles) {
    const valid = validate(parse(readFileSync(file, 'utf8'), { merge: true }));
    t.ok(valid, file, { errors: validate.errors });
  }
});

/** The TLS examples name files of a mounted Secret (/etc/outrider/tls/); the test fixtures stand in for them. */
const TLS_FIXTURES = new URL('../fixtures/tls/', import.meta.url).pathname;
const STAND_INS: Readonly<Record<string, string>> = { 'tls.crt': 'server.crt', 'tls.key': 'server.key', 'ca.crt': 'ca.crt' };

t.test('every file under config/ loads', async (t) => {
  t.ok(configFiles.length >= 12, `${configFiles.length} files`);
  for (const file of configFiles) {
    const text = readFileSync(file, 'utf8').replace(/\/etc\/outrider\/tls\/([\w.]+)/g, (_, name: string) => `${TLS_FIXTURES}${STAND_INS[name] ?? name}`);
    const result = loadPolicyText(text, file);
    t.same(result.ok ? [] : result.issues.map(formatIssue), [], file);
  }
});

type SchemaNode = Record<string, unknown>;

function objectNodes(node: unknown, path: string, out: [string, SchemaNode][] = []): [string, SchemaNode][] {
  if (typeof node !== 'object' || node === null) return out;
  const schema = node as SchemaNode;
  if (schema.type === 'object') out.push([path, schema]);
  for (const [key, child] of Object.entries(schema)) {
    if (key === 'default') continue;
    objectNodes(child, `${path}/${key}`, out);
  }
  return out;
}

t.test('the schema is closed and documented everywhere', async (t) => {
  for (const [path, node] of objectNodes(policyJsonSchema(), '#')) {
    const closed = node.additionalProperties === false || typeof node.additionalProperties === 'object';
    t.ok(closed, `${path} rejects unknown keys (or constrains them)`);
    t.type(node.description, 'string', `${path} has a description`);
    const properties = (node.properties ?? {}) as Record<string, SchemaNode>;
    for (const [name, property] of Object.entries(properties)) {
      t.type(property.description, 'string', `${path}/properties/${name} has a description`);
    }
  }
});

t.test('the JSON Schema is plain JSON with a draft-07 header', async (t) => {
  const schema = policyJsonSchema();
  t.equal(schema.$schema, 'http://json-schema.org/draft-07/schema#');
  t.same(JSON.parse(JSON.stringify(schema)), schema, 'no symbols, functions or undefined');
  t.ok(committedSchemaText.endsWith('}\n'));
});
