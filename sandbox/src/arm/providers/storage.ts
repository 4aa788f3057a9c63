// Microsoft.Storage/storageAccounts: create (LRO: 202 + Location, like the real RP) backed by
// storage.createAccount, get/list with primaryEndpoints.blob, delete, listKeys, checkNameAvailability.
import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import type { ContainerItem } from '@azure/storage-blob';
import type { ArmEngine, RequestContext, Target, TypeHandler } from '../engine.ts';
import { etag } from '../engine.ts';
import { ArmError, badRequest } from '../errors.ts';
import type { Json, StoredResource } from '../store.ts';
import { assertNotBusy, clone, isObj, trackedBody } from './common.ts';

export const STORAGE_ACCOUNT = 'Microsoft.Storage/storageAccounts';
export const BLOB_SERVICE = 'Microsoft.Storage/storageAccounts/blobServices';
export const CONTAINER = 'Microsoft.Storage/storageAccounts/blobServices/containers';
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

async function blobService(engine: ArmEngine, account: StoredResource): Promise<BlobServiceClient> {
  if (account.body.properties.provisioningState !== 'Succeeded') {
    throw new ArmError(409, 'StorageAccountIsNotProvisioned', `The storage account provisioning state must be 'Succeeded' before executing the operation.`);
  }
  const name: string = account.body.name;
  return new BlobServiceClient(engine.storage.blobEndpoint(name), new StorageSharedKeyCredential(name, await engine.storage.accountKey(name)));
}

const validContainerName = (n: string): boolean => /^(?=.{3,63}$)[a-z0-9](?:[a-z0-9]|-(?!-))*[a-z0-9]$/.test(n) || n === '$root';

function containerView(account: StoredResource, name: string, props: { lastModified?: Date; etag?: string; publicAccess?: string; metadata?: Record<string, string> }): StoredResource {
  const id = `${account.id}/blobServices/default/containers/${name}`;
  return {
    id,
    type: CONTAINER,
    resourceGroup: account.resourceGroup,
    body: {
      id,
      name,
      type: CONTAINER,
      etag: props.etag ?? etag(),
      properties: {
        publicAccess: props.publicAccess === 'blob' ? 'Blob' : props.publicAccess === 'container' ? 'Container' : 'None',
        leaseStatus: 'Unlocked',
        leaseState: 'Available',
        lastModifiedTime: (props.lastModified ?? new Date()).toISOString(),
        defaultEncryptionScope: '$account-encryption-key',
        denyEncryptionScopeOverride: false,
        hasImmutabilityPolicy: false,
        hasLegalHold: false,
        deleted: false,
        remainingRetentionDays: 0,
        ...(props.metadata && Object.keys(props.metadata).length ? { metadata: props.metadata } : {}),
      },
    },
    internal: {},
  };
}

/** Blob containers as ARM resources: the data plane (Azurite) is their only state. */
function containerHandlers(): TypeHandler[] {
  const service: TypeHandler = {
    type: BLOB_SERVICE,
    tracked: false,
    render: (_e, r) => clone(r.body),
    get(_e, _ctx, target: Target) {
      if (target.name.toLowerCase() !== 'default') return undefined;
      const id = `${target.parent!.id}/blobServices/default`;
      return {
        id,
        type: BLOB_SERVICE,
        resourceGroup: target.rg,
        body: { id, name: 'default', type: BLOB_SERVICE, sku: clone(target.parent!.body.sku), properties: { deleteRetentionPolicy: { enabled: false } } },
        internal: {},
      };
    },
  };
  const account = (svc: StoredResource, e: ArmEngine): StoredResource => e.store.get(svc.id.replace(/\/blobServices\/default$/i, ''))!;
  const container: TypeHandler = {
    type: CONTAINER,
    tracked: false,
    render: (_e, r) => clone(r.body),
    async get(e, _ctx, target) {
      const acct = account(target.parent!, e);
      if (acct.body.properties.provisioningState !== 'Succeeded') return undefined;
      const c = (await blobService(e, acct)).getContainerClient(target.name);
      try {
        const p = await c.getProperties();
        return containerView(acct, target.name, {
          ...(p.lastModified ? { lastModified: p.lastModified } : {}),
          ...(p.etag ? { etag: p.etag } : {}),
          ...(p.blobPublicAccess ? { publicAccess: p.blobPublicAccess } : {}),
          ...(p.metadata ? { metadata: p.metadata } : {}),
        });
      } catch (err) {
        if ((err as { statusCode?: number }).statusCode === 404 || (err as { statusCode?: number }).statusCode === 400) return undefined;
        throw err;
      }
    },
    async list(e, _ctx, parent) {
      const acct = account(parent!, e);
      const out: StoredResource[] = [];
      for await (const item of (await blobService(e, acct)).listContainers({ includeMetadata: true }) as AsyncIterable<ContainerItem>) {
        out.push(
          containerView(acct, item.name, {
            lastModified: item.properties.lastModified,
            etag: item.properties.etag,
            ...(item.properties.publicAccess ? { publicAccess: item.properties.publicAccess } : {}),
            ...(item.metadata ? { metadata: item.metadata } : {}),
          }),
        );
      }
      return out;
    },
    async put(e, ctx, target) {
      if (!validContainerName(target.name)) {
        throw badRequest(
          'ContainerOperationFailure',
          `The specified resource name '${target.name}' is not valid: container names have 3 to 63 lowercase letters, digits and single hyphens, and start and end with a letter or digit.`,
        );
      }
      const acct = account(target.parent!, e);
      const props = isObj(ctx.body?.properties) ? ctx.body.properties : {};
      if (props.publicAccess && props.publicAccess !== 'None' && !acct.body.properties.allowBlobPublicAccess) {
        throw new ArmError(409, 'PublicAccessNotPermitted', 'Public access is not permitted on this storage account.');
      }
      const c = (await blobService(e, acct)).getContainerClient(target.name);
      const metadata = isObj(props.metadata) ? (props.metadata as Record<string, string>) : undefined;
      const created = (await c.createIfNotExists(metadata ? { metadata } : {})).succeeded;
      if (!created && metadata) await c.setMetadata(metadata);
      const now = await container.get!(e, ctx, target);
      return { status: created ? 201 : 200, body: clone(now!.body) };
    },
    async delete(e, _ctx, res) {
      const acct = e.store.get(res.id.replace(/\/blobServices\/default\/containers\/[^/]+$/i, ''))!;
      await (await blobService(e, acct)).getContainerClient(res.body.name).deleteIfExists();
      return { status: 200 };
    },
  };
  return [service, container];
}

export function registerStorage(engine: ArmEngine): void {
  for (const h of containerHandlers()) engine.registerType(h);
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
