// Microsoft.Storage/storageAccounts: create (LRO: 202 + Location, like the real RP) backed by
// storage.createAccount, get/list with primaryEndpoints.blob, update of tags and sku, delete, listKeys.
import type { ArmEngine, Reply, RequestContext, Target, TypeHandler } from '../../engine.ts';
import { ArmError, badRequest } from '../../errors.ts';
import type { Json, StoredResource } from '../../store.ts';
import { assertNotBusy, clone, isObj, putCompleter, trackedBody } from '../common.ts';
import { NS, STORAGE_ACCOUNT, assertProvisioned, findByName, invalidNameMessage, render, takenMessage, validName } from './shared.ts';

const SKUS = ['Standard_LRS', 'Standard_GRS', 'Standard_RAGRS', 'Standard_ZRS', 'Premium_LRS', 'Premium_ZRS', 'Standard_GZRS', 'Standard_RAGZRS'];
const KINDS = ['Storage', 'StorageV2', 'BlobStorage', 'FileStorage', 'BlockBlobStorage'];

/** The name (valid, not taken by another account), sku.name and kind of a PUT, or 400 / 409. */
function validatePut(e: ArmEngine, req: Json, target: Target): { skuName: string; kind: string } {
  const name = target.name;
  if (!validName(name)) throw badRequest('AccountNameInvalid', invalidNameMessage(name));
  const other = findByName(e, name);
  if (other && other.id.toLowerCase() !== target.id.toLowerCase()) {
    throw new ArmError(409, 'StorageAccountAlreadyTaken', takenMessage(name));
  }
  const skuName = req.sku?.name;
  if (typeof skuName !== 'string' || !SKUS.includes(skuName)) {
    throw badRequest('InvalidRequestPropertyValue', `The value '${String(skuName)}' is not allowed for property sku.name.`, 'sku.name');
  }
  const kind = req.kind ?? target.existing?.body.kind;
  if (typeof kind !== 'string' || !KINDS.includes(kind)) {
    throw badRequest('InvalidRequestPropertyValue', `The value '${String(kind)}' is not allowed for property kind.`, 'kind');
  }
  return { skuName, kind };
}

const sku = (skuName: string): Json => ({ name: skuName, tier: skuName.startsWith('Premium') ? 'Premium' : 'Standard' });

/** A PUT on an existing account changes its tags and sku, synchronously. */
function updateAccount(e: ArmEngine, req: Json, existing: StoredResource, skuName: string): Reply {
  assertNotBusy(e, existing.id);
  existing.body.tags = isObj(req.tags) ? clone(req.tags) : undefined;
  existing.body.sku = sku(skuName);
  e.store.save();
  return { status: 200, body: render(e, existing) };
}

/** A new account is stored as Creating; the 'storageAccounts.put' operation creates it in the storage backend. */
async function createAccount(e: ArmEngine, ctx: RequestContext, target: Target, skuName: string, kind: string): Promise<Reply> {
  const req = ctx.body;
  const props = isObj(req.properties) ? req.properties : {};
  const body = trackedBody(target, STORAGE_ACCOUNT, req);
  body.sku = sku(skuName);
  body.kind = kind;
  body.properties = {
    provisioningState: 'Creating',
    creationTime: new Date().toISOString(),
    primaryLocation: body.location,
    statusOfPrimary: 'available',
    accessTier: props.accessTier ?? 'Hot',
    supportsHttpsTrafficOnly: props.supportsHttpsTrafficOnly ?? true,
    minimumTlsVersion: props.minimumTlsVersion ?? 'TLS1_2',
    allowBlobPublicAccess: props.allowBlobPublicAccess ?? false,
    allowSharedKeyAccess: props.allowSharedKeyAccess ?? true,
    encryption: { keySource: 'Microsoft.Storage', services: { blob: { enabled: true, keyType: 'Account' } } },
  };
  const res: StoredResource = { id: target.id, type: STORAGE_ACCOUNT, resourceGroup: target.rg, body, internal: {} };
  e.store.put(res);
  e.store.save();
  const op = await e.startOperation({
    kind: 'storageAccounts.put',
    ns: NS,
    location: body.location,
    resourceId: res.id,
    params: { resultIsResource: true },
  });
  if (op.status !== 'InProgress') {
    e.throwIfFailed(op);
    return { status: 200, body: render(e, res) };
  }
  return { status: 202, headers: e.asyncHeaders(op, ctx, { azureAsync: false, location: true }) };
}

/** POST listKeys: both keys are the account's one key in the storage backend. */
async function listKeys(e: ArmEngine, _ctx: RequestContext, res: StoredResource): Promise<Reply> {
  assertProvisioned(res);
  const value = await e.storage.accountKey(res.body.name);
  const creationTime = res.body.properties.creationTime;
  return {
    status: 200,
    body: {
      keys: [
        { keyName: 'key1', value, permissions: 'FULL', creationTime },
        { keyName: 'key2', value, permissions: 'FULL', creationTime },
      ],
    },
  };
}

function storageAccountHandler(): TypeHandler {
  const handler: TypeHandler = {
    type: STORAGE_ACCOUNT,
    tracked: true,
    subscriptionList: true,
    render,
    async put(e, ctx, target) {
      const { skuName, kind } = validatePut(e, ctx.body, target);
      if (target.existing) return updateAccount(e, ctx.body, target.existing, skuName);
      return createAccount(e, ctx, target, skuName, kind);
    },
    async delete(e, _ctx, res) {
      assertNotBusy(e, res.id);
      await e.storage.deleteAccount(res.body.name);
      e.store.delete(res.id);
      e.store.save();
      return { status: 200 };
    },
    actions: {
      listkeys: { method: 'POST', run: listKeys },
    },
  };
  handler.purge = async (e, res) => {
    await e.storage.deleteAccount(res.body.name);
  };
  return handler;
}

export function registerStorageAccounts(engine: ArmEngine): void {
  engine.registerType(storageAccountHandler());
  engine.registerCompleter(
    'storageAccounts.put',
    putCompleter(async (e, res) => {
      await e.storage.createAccount(res.body.name);
      applySharedKeyAccess(e, res);
    }),
  );
  // A restarted sandbox (persisted state): the accounts' settings again.
  for (const res of engine.store.ofType(STORAGE_ACCOUNT)) applySharedKeyAccess(engine, res);
}

/** The storage refuses the account key when the account says allowSharedKeyAccess: false. */
function applySharedKeyAccess(e: ArmEngine, res: StoredResource): void {
  e.storage.setSharedKeyAccess?.(res.body.name, res.body.properties?.allowSharedKeyAccess !== false);
}
