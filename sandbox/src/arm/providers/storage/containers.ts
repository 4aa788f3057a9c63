// Microsoft.Storage/storageAccounts/blobServices (only `default`) and its containers: the data plane
// (Azurite) is their only state; ARM's view of a container is rendered from its properties there.
import type { ContainerItem } from '@azure/storage-blob';
import type { ArmEngine, Target, TypeHandler } from '../../engine.ts';
import { etag } from '../../engine.ts';
import { ArmError, badRequest } from '../../errors.ts';
import type { StoredResource } from '../../store.ts';
import { clone, isObj } from '../common.ts';
import { BLOB_SERVICE, CONTAINER, blobService } from './shared.ts';

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

export function registerContainers(engine: ArmEngine): void {
  for (const h of containerHandlers()) engine.registerType(h);
}
