// The operator's long-running operations polled as Azure says (src/azure/operation-polls.ts): the answer
// that starts an operation names its poll URL (Azure-AsyncOperation first, else a 202's Location) and
// Retry-After; no poll before that wait; each poll's answer sets the next wait; a terminal status, a
// finished Location or an error ends the following; Retry-After as seconds or an HTTP date.
import { createHttpHeaders, createPipelineRequest, type PipelineRequest, type PipelineResponse } from '@azure/core-rest-pipeline';
import { describe, expect, it } from 'vitest';
import { OperationPolls, operationTarget, retryAfterMs } from '../../src/azure/operation-polls.ts';

const VM = '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm';
const OP = 'https://arm/subscriptions/s/providers/Microsoft.Compute/locations/x/operations/1?api-version=1';

function answer(status: number, headers: Record<string, string>, body?: object): PipelineResponse {
  return { status, headers: createHttpHeaders(headers), request: createPipelineRequest({ url: OP }), ...(body ? { bodyAsText: JSON.stringify(body) } : {}) };
}

function clocked(): { polls: OperationPolls; advance: (ms: number) => void } {
  let now = 1_000_000;
  return { polls: new OperationPolls(() => now), advance: (ms) => (now += ms) };
}

describe('long-running operations polled as Azure says', () => {
  it('waits the Retry-After of the answer that started it, then polls the Azure-AsyncOperation URL until a terminal status', async () => {
    const { polls, advance } = clocked();
    polls.record(VM, answer(201, { 'azure-asyncoperation': OP, location: 'https://arm/monitor', 'retry-after': '10' }));
    const sent: PipelineRequest[] = [];
    let next = answer(200, { 'retry-after': '5' }, { status: 'InProgress' });
    const send = async (request: PipelineRequest) => (sent.push(request), next);
    expect(await polls.status(VM.toUpperCase(), send)).toEqual({ running: true, retryAfterMs: 10_000 });
    expect(sent).toHaveLength(0); // not before its Retry-After
    advance(10_000);
    expect(await polls.status(VM, send)).toEqual({ running: true, retryAfterMs: 5_000 });
    expect(sent.map((r) => [r.method, r.url])).toEqual([['GET', OP]]);
    advance(4_000);
    expect(await polls.status(VM, send)).toEqual({ running: true, retryAfterMs: 1_000 });
    advance(1_000);
    next = answer(200, {}, { status: 'Succeeded' });
    expect(await polls.status(VM, send)).toEqual({ running: false });
    expect(await polls.status(VM, send)).toBeUndefined();
    expect(sent).toHaveLength(2);
  });

  it('follows a 202 Location when there is no Azure-AsyncOperation, until the Location answers other than 202', async () => {
    const { polls, advance } = clocked();
    polls.record(VM, answer(202, { location: OP }));
    const responses = [answer(202, {}), answer(200, {})];
    const send = async () => responses.shift()!;
    expect(await polls.status(VM, send)).toEqual({ running: true }); // no Retry-After: the caller's own poll interval
    advance(1);
    expect(await polls.status(VM, send)).toEqual({ running: false });
  });

  it('stops following an operation whose poll fails, or that is never looked at again, and ignores answers that finished', async () => {
    const { polls, advance } = clocked();
    polls.record(VM, answer(200, {})); // finished at once: nothing to follow
    polls.record(VM, answer(200, { location: OP })); // a Location on a 200 is no operation in flight
    expect(polls.size).toBe(0);
    polls.record(VM, answer(201, { 'azure-asyncoperation': OP }));
    expect(await polls.status(VM, async () => answer(404, {}))).toEqual({ running: false });
    polls.record(VM, answer(201, { 'azure-asyncoperation': OP }));
    expect(await polls.status(VM, async () => answer(200, {}, { status: 'Failed' }))).toEqual({ running: false });
    polls.record(VM, answer(201, { 'azure-asyncoperation': OP }));
    advance(61 * 60_000);
    polls.record(`${VM}2`, answer(201, { 'azure-asyncoperation': OP }));
    expect(polls.size).toBe(1);
  });

  it('records what a pipeline sends: a POST action under its resource, reads never', async () => {
    const { polls } = clocked();
    const policy = polls.policy();
    const started = answer(202, { location: OP, 'retry-after': '3' });
    await policy.sendRequest(createPipelineRequest({ url: `https://arm${VM}/start?api-version=1`, method: 'POST' }), async () => started);
    await policy.sendRequest(createPipelineRequest({ url: `https://arm${VM}2?api-version=1`, method: 'GET' }), async () => started);
    expect(polls.size).toBe(1);
    expect(await polls.status(VM, async () => started)).toEqual({ running: true, retryAfterMs: 3_000 });
    expect(operationTarget({ url: `https://arm${VM}/?x=1`, method: 'DELETE' })).toBe(VM.toLowerCase());
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    expect(retryAfterMs('7')).toBe(7_000);
    expect(retryAfterMs(new Date(5_000).toUTCString(), 1_000)).toBe(4_000);
    expect(retryAfterMs('soon')).toBeUndefined();
    expect(retryAfterMs(undefined)).toBeUndefined();
  });
});
