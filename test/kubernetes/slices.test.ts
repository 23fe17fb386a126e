/**
 * EndpointSlices → endpoints (src/kubernetes/discovery/slices.ts), on objects shaped as the
 * API server sends them: ready pods only (absent `ready` counts as ready, as the API says), the
 * pod port under the Service port's name, one endpoint per pod across slices, one address
 * family, https:// with the Service's DNS name for TLS, and a Service port number mapped to
 * its name through the Service.
 */
import t from 'tap';
import { endpointsFromSlices, servicePortName, slicePortNames, type EndpointSliceLike } from '../../src/kubernetes/discovery/slices.js';

const HTTP = { scheme: 'http', tlsName: undefined } as const;

function slice(addressType: string, endpoints: [string, boolean | undefined][], ports: EndpointSliceLike['ports']): EndpointSliceLike {
  return {
    addressType,
    endpoints: endpoints.map(([address, ready]) => ({ addresses: [address], conditions: ready === undefined ? {} : { ready } })),
    ports,
  };
}

const origins = (slices: EndpointSliceLike[], port = 'http', form: { scheme: 'http' | 'https'; tlsName: string | undefined } = HTTP): string[] =>
  endpointsFromSlices(slices, port, form).map((e) => e.origin);

t.test('ready pods only, on the port named after the Service port', async (t) => {
  const s = slice('IPv4', [['10.0.0.3', true], ['10.0.0.1', undefined], ['10.0.0.2', false]], [
    { name: 'metrics', port: 9090, protocol: 'TCP' },
    { name: 'http', port: 8080, protocol: 'TCP' },
  ]);
  t.same(origins([s]), ['http://10.0.0.1:8080', 'http://10.0.0.3:8080'], 'ready and absent ready count; ready: false does not; sorted');
  t.same(origins([s], 'metrics'), ['http://10.0.0.1:9090', 'http://10.0.0.3:9090'], 'another Service port, another pod port');
  t.same(origins([s], 'grpc'), [], 'a port no slice has: none');
  t.same(slicePortNames([s]), ['http', 'metrics'], 'the names on offer, for the status note');
});

t.test('an unnamed single-port Service; UDP ports and slices without ports are skipped', async (t) => {
  t.same(origins([slice('IPv4', [['10.0.0.1', true]], [{ port: 80 }])], ''), ['http://10.0.0.1:80'], 'name absent: "" (protocol absent: TCP)');
  t.same(origins([slice('IPv4', [['10.0.0.1', true]], [{ name: 'dns', port: 53, protocol: 'UDP' }])], 'dns'), [], 'UDP is not HTTP');
  t.same(origins([slice('IPv4', [['10.0.0.1', true]], null)]), [], 'no ports');
  t.same(origins([{ addressType: 'IPv4', endpoints: null, ports: [{ name: 'http', port: 80 }] }]), [], 'no endpoints');
});

t.test('one endpoint per pod: duplicates across slices once; first address; odd entries skipped', async (t) => {
  const port = [{ name: 'http', port: 8080 }];
  const a = slice('IPv4', [['10.0.0.1', true], ['10.0.0.2', true]], port);
  const b = slice('IPv4', [['10.0.0.2', true], ['10.0.0.3', true]], port);
  t.same(origins([a, b]), ['http://10.0.0.1:8080', 'http://10.0.0.2:8080', 'http://10.0.0.3:8080']);
  const odd: EndpointSliceLike = {
    addressType: 'IPv4',
    endpoints: [{ addresses: ['10.0.0.5', '10.0.0.6'] }, { addresses: [] }, { addresses: null }, { addresses: ['not-an-ip'] }, {}],
    ports: port,
  };
  t.same(origins([odd]), ['http://10.0.0.5:8080'], 'the first address of each endpoint; none, null and non-IP entries skipped');
});

t.test('one address family: IPv4 when it has endpoints, else IPv6; FQDN skipped', async (t) => {
  const port = [{ name: 'http', port: 8080 }];
  const v4 = slice('IPv4', [['10.0.0.1', true]], port);
  const v6 = slice('IPv6', [['fd00::1', true]], port);
  t.same(origins([v6, v4]), ['http://10.0.0.1:8080'], 'dual stack: IPv4');
  t.same(origins([v6]), ['http://[fd00::1]:8080'], 'IPv6 only: bracketed');
  t.same(endpointsFromSlices([v6], 'http', HTTP)[0], { origin: 'http://[fd00::1]:8080', host: 'fd00::1', port: 8080 }, 'the host without brackets');
  t.same(origins([slice('IPv4', [['10.0.0.1', false]], port), v6]), ['http://[fd00::1]:8080'], 'no ready IPv4 pod: the IPv6 ones');
  t.same(origins([slice('FQDN', [['pod.example', true]], port)]), [], 'FQDN slices are skipped');
  t.same(origins([{ endpoints: [{ addresses: ['10.0.0.1'] }], ports: port }]), [], 'no addressType: skipped');
});

t.test('https://, with the name TLS expects', async (t) => {
  const s = slice('IPv4', [['10.0.0.1', true]], [{ name: 'https', port: 8443 }]);
  t.same(endpointsFromSlices([s], 'https', { scheme: 'https', tlsName: 'catalog.shop.svc' }), [
    { origin: 'https://10.0.0.1:8443', host: '10.0.0.1', port: 8443, tlsName: 'catalog.shop.svc' },
  ]);
});

t.test('servicePortName: a name is itself; a number is the name of that TCP Service port', async (t) => {
  const ports = [
    { name: 'http', port: 80, protocol: 'TCP' },
    { name: 'dns', port: 53, protocol: 'UDP' },
    { name: 'admin', port: 9000 },
  ];
  t.equal(servicePortName('http', undefined), 'http');
  t.equal(servicePortName(80, ports), 'http');
  t.equal(servicePortName(9000, ports), 'admin', 'protocol absent: TCP');
  t.equal(servicePortName(53, ports), undefined, 'a UDP port is not it');
  t.equal(servicePortName(81, ports), undefined, 'no such port');
  t.equal(servicePortName(80, [{ port: 80 }]), '', 'a single unnamed port: ""');
  t.equal(servicePortName(80, null), undefined, 'a Service without ports');
});
