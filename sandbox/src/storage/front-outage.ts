// The storage front during a regional outage (../outages.ts explains the behaviour and its sources): a
// request on a storage account located in a down region, or on the page blob of a managed disk, snapshot
// or disk restore point located there (its SAS export), gets no answer: the connection is reset, or the
// request hangs until the client gives up. The sandbox's own "hypervisor" access to a down region's disks
// (shared key on the hidden managed-disk account: `sandbox workload`) is refused at once with
// SandboxRegionDown, so a workload on a VM there stops and says why.
import type { IncomingMessage } from 'node:http';
import { REGION_DOWN_CODE } from '../outages.ts';
import type { RegionOutages } from '../outages.ts';
import { HttpError, header } from './front-upstream.ts';

export interface FrontOutages {
  state: RegionOutages;
  /** The hidden account holding managed disks as page blobs (named by a hash of their resource id). */
  diskAccount: string;
}

const decode = (s: string | undefined): string | undefined => {
  try {
    return s ? decodeURIComponent(s) : undefined;
  } catch {
    return undefined;
  }
};

/** Acts out the outage a request falls in; false when its account or disk is not in a down region. */
export function stoppedByOutage(o: FrontOutages, req: IncomingMessage, sendError: (e: HttpError) => void): boolean {
  const segs = new URL(req.url ?? '/', 'https://front.invalid').pathname.split('/');
  const account = decode(segs[1]);
  if (!account) return false;
  const disk = account === o.diskAccount;
  const down = o.state.nextStorageFailure(account, o.diskAccount, disk ? decode(segs[3]) : undefined);
  if (!down) return false;
  if (disk && /^SharedKey\s/i.test(header(req.headers, 'authorization') ?? '')) {
    req.resume();
    sendError(new HttpError(409, REGION_DOWN_CODE, `The region ${down.outage.region} of this disk's VM is down (sandbox outage).`));
  } else if (down.failure === 'reset') {
    req.socket.destroy();
  } else {
    // A hang: the body is read, the answer never comes (until the client gives up or the front stops).
    req.resume();
  }
  return true;
}
