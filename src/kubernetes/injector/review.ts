/**
 * An AdmissionReview (admission.k8s.io/v1) in, the AdmissionReview answer out: the mutation
 * core's patch for the Pod, base64 JSON Patch. What is not a well-formed review is a 400 (the
 * API server then applies the webhook's failurePolicy). A well-formed review the injector
 * cannot handle (not a Pod CREATE, a pod the core refuses) is allowed unchanged with a
 * warning, which kubectl shows: the Ignore failure policy's meaning, said to the user.
 */
import { AnnotationError } from '../inject/annotations.js';
import { planInjection, TemplateError, type InjectOptions } from '../inject/plan.js';

export type Answer =
  | { readonly status: 400; readonly message: string }
  | { readonly status: 200; readonly review: unknown; readonly outcome: Outcome };

/** What was done, for the log line. */
export interface Outcome {
  readonly uid: string;
  readonly pod: string;
  readonly injected: boolean;
  readonly reason?: string;
  readonly warning?: string;
}

const API_VERSION = 'admission.k8s.io/v1';
const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

export function answerReview(body: string, options: InjectOptions): Answer {
  let review: unknown;
  try {
    review = JSON.parse(body);
  } catch (err) {
    return { status: 400, message: `the body is not JSON: ${(err as Error).message}` };
  }
  if (!isObject(review) || review.apiVersion !== API_VERSION || review.kind !== 'AdmissionReview') {
    return { status: 400, message: `expected an AdmissionReview of apiVersion ${API_VERSION}` };
  }
  const request = review.request;
  if (!isObject(request) || typeof request.uid !== 'string' || request.uid === '') {
    return { status: 400, message: 'the AdmissionReview has no request.uid' };
  }
  const uid = request.uid;
  const pod = podName(request);
  const allow = (outcome: Omit<Outcome, 'uid' | 'pod'>, extra: Record<string, unknown> = {}): Answer => ({
    status: 200,
    review: { apiVersion: API_VERSION, kind: 'AdmissionReview', response: { uid, allowed: true, ...extra } },
    outcome: { uid, pod, ...outcome },
  });
  const warn = (warning: string): Answer => allow({ injected: false, warning }, { warnings: [`outrider-injector: ${warning}; allowed unchanged`] });

  const kind = isObject(request.kind) ? request.kind : {};
  if (kind.group !== '' || kind.version !== 'v1' || kind.kind !== 'Pod' || request.operation !== 'CREATE') {
    return warn(`expected a Pod CREATE, got ${String(request.operation)} of ${String(kind.kind)}`);
  }
  try {
    const plan = planInjection(request.object, options);
    if (!plan.inject) return allow({ injected: false, reason: plan.reason });
    const patch = Buffer.from(JSON.stringify(plan.patch)).toString('base64');
    return allow({ injected: true }, { patchType: 'JSONPatch', patch });
  } catch (err) {
    if (err instanceof AnnotationError || err instanceof TemplateError) return warn(`pod ${pod}: ${err.message}`);
    throw err;
  }
}

/** namespace/name, or namespace/generateName… for pods a controller is creating. */
function podName(request: Record<string, unknown>): string {
  const meta = isObject(request.object) && isObject(request.object.metadata) ? request.object.metadata : {};
  const name = typeof meta.name === 'string' && meta.name !== '' ? meta.name : typeof meta.generateName === 'string' ? `${meta.generateName}…` : '(no name)';
  return `${typeof request.namespace === 'string' ? request.namespace : '(no namespace)'}/${name}`;
}
