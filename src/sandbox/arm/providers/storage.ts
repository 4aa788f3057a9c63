// Microsoft.Storage/storageAccounts: create (LRO: 202 + Location, like the real RP) backed by
// storage.createAccount, get/list with primaryEndpoints.blob, delete, listKeys, checkNameAvailability.
import type { ArmEngine, RequestContext, TypeHandler } from '../engine.ts';
import { ArmError, badRequest } from '../errors.ts';
import type { Json, StoredResource } from '../store.ts';
import { assertNotBusy, clone, isObj, trackedBody } from './common.ts';

export const STORAGE_ACCOUNT = 'Microsoft.Storage/storageAccounts';
const NS = 'Microsoft.Storage';
const SKUS = ['Standard_LRS', 'Standard_GRS', 'Standard_RAGRS', 'Standard_ZRS', 'Premium_LRS', 'Premium_ZRS', 'Standard_GZRS', 'Standard_RAGZRS'];
const KINDS = ['Storage', 'StorageV2', 'BlobStorage', 'FileStorage', 'BlockBlobStorage'];

const validName = (n: string): boolean => /^[a-z0-9]{3,24}$/.test(n);
const invalidNameMessage = (n: string): string =>
  `${n} is not a valid storage account name. Storage account name must be between 3 and 24 characters in length and use numbers and lower-case letters only.`;
const takenMessage = (n: string): string => `The storage account named ${n} is already taken.`;

function findByName(engine: ArmEngine, name: string): StoredResource | undefined {
  return engine.store.ofType(STORAGE_ACCOUNT).find((a) => a.body.name === name);
}

function render(engine: ArmEngine, r: StoredResource): Json {
  const out = clone(r.body);
  if (out.properties.provisioningState === 'Succeeded') {
    out.properties.primaryEndpoints = { blob: engine.storage.blobEndpoint(r.body.name) };
  }
  return out;
}

export function registerStorage(engine: ArmEngine): void {
  const handler: TypeHandler = {
    type: STORAGE_ACCOUNT,
    tracked: true,
    subscriptionList: true,
    render,
    async put(e, ctx, target) {
      const req = ctx.body;
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
      const props = isObj(req.properties) ? req.properties : {};
      const existing = target.existing;
      if (existing) {
        assertNotBusy(e, existing.id);
        existing.body.tags = isObj(req.tags) ? clone(req.tags) : undefined;
        existing.body.sku = { name: skuName, tier: skuName.startsWith('Premium') ? 'Premium' : 'Standard' };
        e.store.save();
        return { status: 200, body: render(e, existing) };
      }
      const body = trackedBody(target, STORAGE_ACCOUNT, req);
      body.sku = { name: skuName, tier: skuName.startsWith('Premium') ? 'Premium' : 'Standard' };
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
    },
    async delete(e, _ctx, res) {
      assertNotBusy(e, res.id);
      await e.storage.deleteAccount(res.body.name);
      e.store.delete(res.id);
      e.store.save();
      return { status: 200 };
    },
    actions: {
      listkeys: {
        method: 'POST',
        async run(e, _ctx: RequestContext, res) {
          if (res.body.properties.provisioningState !== 'Succeeded') {
            throw new ArmError(409, 'StorageAccountIsNotProvisioned', `The storage account provisioning state must be 'Succeeded' before executing the operation.`);
          }
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
        },
      },
    },
  };
  handler.purge = async (e, res) => {
    await e.storage.deleteAccount(res.body.name);
  };
  engine.registerType(handler);

  engine.registerCompleter('storageAccounts.put', async (e, op) => {
    const res = e.store.get(op.resourceId);
    if (!res) return;
    try {
      await e.storage.createAccount(res.body.name);
      res.body.properties.provisioningState = 'Succeeded';
    } catch (err) {
      res.body.properties.provisioningState = 'Failed';
      throw err;
    } finally {
      e.store.save();
    }
  });

  // Subscription-level actions of the namespace.
  engine.registerType({
    type: `${NS}/*`,
    tracked: false,
    render: (_e, r) => r.body,
    actions: {
      checknameavailability: {
        method: 'POST',
        async run(e, ctx) {
          const name = String(ctx.body?.name ?? '');
          if (!validName(name)) {
            return { status: 200, body: { nameAvailable: false, reason: 'AccountNameInvalid', message: invalidNameMessage(name) } };
          }
          if (findByName(e, name)) {
            return { status: 200, body: { nameAvailable: false, reason: 'AlreadyExists', message: takenMessage(name) } };
          }
          return { status: 200, body: { nameAvailable: true } };
        },
      },
    },
  });
}
