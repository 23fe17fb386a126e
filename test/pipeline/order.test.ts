import t from 'tap';
import { compose } from '../../src/pipeline/build.js';
import { AttemptLedger } from '../../src/pipeline/exchange.js';
import { NO_ROUTE, type Exchange, type Layer, type ProxyResponse } from '../../src/pipeline/layer.js';
import { LAYER_ORDER } from '../../src/pipeline/layers.js';
import { CancelScope } from '../../src/pipeline/signal.js';
import { BufferedBody } from '../../src/http/buffered-body.js';

t.test('the one layer order, outermost first', async (t) => {
  t.same(LAYER_ORDER, ['observe', 'timeout', 'bufferBody', 'bulkhead', 'shadow', 'retry', 'hedge', 'circuitBreaker', 'perTryTimeout']);
});

t.test('compose runs layers outermost first and unwinds in reverse', async (t) => {
  const seen: string[] = [];
  const named =
    (name: string): Layer =>
    (next) =>
    async (exchange) => {
      seen.push(`${name} in`);
      const response = await next(exchange);
      seen.push(`${name} out`);
      return response;
    };
  const terminal = async (): Promise<ProxyResponse> => {
    seen.push('terminal');
    return { status: 200, headers: [], body: new BufferedBody(Buffer.alloc(0)) };
  };
  const handler = compose([named('outer'), named('middle'), named('inner')], terminal);
  const exchange = { route: NO_ROUTE, signal: new CancelScope(), ledger: new AttemptLedger(0) } as unknown as Exchange;
  await handler(exchange);
  t.same(seen, ['outer in', 'middle in', 'inner in', 'terminal', 'inner out', 'middle out', 'outer out']);
});

t.test('the forward terminal refuses a route whose upstream was not built', async (t) => {
  const { TERMINALS } = await import('../../src/pipeline/layers.js');
  const forward = TERMINALS.find((entry) => entry.name === 'forward');
  const context = { upstream: () => undefined } as unknown as Parameters<NonNullable<typeof forward>['factory']>[1];
  t.throws(() => forward?.factory({ name: 'r', upstream: 'missing' } as never, context), /route r: upstream missing was not built/);
  t.throws(() => forward?.factory({ name: 'r', upstream: undefined } as never, context), /upstream \(none\) was not built/);
});
