// Storage without shared keys (issue #16, item 3). The accounts the operator creates refuse the account
// key, allow no public blob access, need TLS 1.2 and HTTPS (src/azure/resources/storage-account.ts); the
// sandbox enforces allowSharedKeyAccess: false as Azure does (sandbox/src/storage/front-shared-key.ts):
// SharedKey and key-signed SAS get 403 KeyBasedAuthenticationNotPermitted, while Entra ID bearer tokens and
// user delegation SAS go on. An account left at the default still takes its key.
import { BlobSASPermissions, BlobServiceClient, generateBlobSASQueryParameters, RestError, StorageSharedKeyCredential, type ContainerClient } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AzureClients } from '../../src/azure/clients.ts';
import { storageAccountResource } from '../../src/azure/resources/storage-account.ts';
import { ResourceLedger } from '../../src/azure/resource-ledger.ts';
import { convergeResource } from '../../src/azure/external-resource.ts';
import { sandboxStorageCredential } from '../../sandbox/src/storage/token.ts';
import { startLocalAzure, type LocalAzure } from '../support/local-azure.ts';
import { randomName } from '../support/operator-fixtures.ts';

let azure: LocalAzure;
let az: AzureClients;
const rg = randomName('nokey');
const keyless = `nokey${Date.now().toString(36)}`.slice(0, 24);
const keyed = `keyed${Date.now().toString(36)}`.slice(0, 24);

const refusal = async (request: Promise<unknown>) => {
  try {
    await request;
    return 'accepted';
  } catch (error) {
    if (!(error instanceof RestError)) throw error;
    return `${error.statusCode} ${error.code ?? (error.details as { errorCode?: string } | undefined)?.errorCode}`;
  }
};
const keyClient = (account: string) => new BlobServiceClient(azure.storage.blobEndpoint(account), new StorageSharedKeyCredential(account, azure.storage.accountKey(account)));
const bearerClient = (account: string) => new BlobServiceClient(azure.storage.blobEndpoint(account), sandboxStorageCredential());

/** The container `c` of `account` through a read SAS: signed with the account key, or a user delegation SAS. */
async function sasContainer(account: string, kind: 'key' | 'userDelegation'): Promise<ContainerClient> {
  const startsOn = new Date(Date.now() - 60_000);
  const expiresOn = new Date(Date.now() + 600_000);
  const values = { containerName: 'box', permissions: BlobSASPermissions.parse('r'), startsOn, expiresOn };
  const sas = kind === 'key'
    ? generateBlobSASQueryParameters(values, new StorageSharedKeyCredential(account, azure.storage.accountKey(account)))
    : generateBlobSASQueryParameters(values, await bearerClient(account).getUserDelegationKey(startsOn, expiresOn), account);
  return new BlobServiceClient(`${azure.storage.blobEndpoint(account)}?${sas.toString()}`).getContainerClient('box');
}

beforeAll(async () => {
  azure = await startLocalAzure();
  az = new AzureClients(azure.azureConfig());
  await azure.clients.resources.resourceGroups.createOrUpdate(rg, { location: 'westeurope' });
  // The operator's own way of creating an account (as for a cache or target account), and one left at Azure's defaults.
  const ledger = new ResourceLedger(undefined);
  const resource = storageAccountResource(az, 'CacheStorageAccount', { resourceGroup: rg, name: keyless, location: 'westeurope', owner: 'ns/vm' });
  while ((await convergeResource(resource, ledger, async () => {})).state !== 'done') await azure.arm.idle();
  await az.storage.storageAccounts.beginCreateAndWait(rg, keyed, { location: 'westeurope', sku: { name: 'Standard_LRS' }, kind: 'StorageV2' }, { updateIntervalInMs: 20 });
  for (const account of [keyless, keyed]) {
    await bearerClient(account).createContainer('box');
    await bearerClient(account).getContainerClient('box').getBlockBlobClient('b').upload('data', 4);
  }
}, 120_000);

afterAll(async () => {
  await azure?.stop();
});

describe('storage accounts without shared keys', () => {
  it('the operator creates accounts that refuse their key, allow no public access, need TLS 1.2 and HTTPS', async () => {
    const account = await az.storage.storageAccounts.getProperties(rg, keyless);
    expect(account).toMatchObject({ allowSharedKeyAccess: false, allowBlobPublicAccess: false, minimumTlsVersion: 'TLS1_2', enableHttpsTrafficOnly: true });
  });

  it('refuses SharedKey and key-signed SAS on such an account with Azure\'s 403, with its XML body', async () => {
    expect(await refusal(keyClient(keyless).getContainerClient('box').getBlockBlobClient('b').downloadToBuffer())).toBe('403 KeyBasedAuthenticationNotPermitted');
    expect(await refusal(keyClient(keyless).createContainer('other'))).toBe('403 KeyBasedAuthenticationNotPermitted');
    expect(await refusal((await sasContainer(keyless, 'key')).getBlockBlobClient('b').downloadToBuffer())).toBe('403 KeyBasedAuthenticationNotPermitted');
    const raw = await fetch(`${azure.storage.blobEndpoint(keyless)}box/b`, { headers: { authorization: `SharedKey ${keyless}:AAAA`, 'x-ms-version': '2025-01-05' } });
    expect(raw.status).toBe(403);
    expect(raw.headers.get('x-ms-error-code')).toBe('KeyBasedAuthenticationNotPermitted');
    expect(await raw.text()).toMatch(/^<\?xml version="1.0" encoding="utf-8"\?><Error><Code>KeyBasedAuthenticationNotPermitted<\/Code><Message>Key based authentication is not permitted on this storage account.\nRequestId:[0-9a-f-]+\nTime:[0-9TZ:.-]+<\/Message><\/Error>$/);
  });

  it('serves Entra ID bearer tokens and user delegation SAS on it, and the key on an account at the defaults', async () => {
    expect((await bearerClient(keyless).getContainerClient('box').getBlockBlobClient('b').downloadToBuffer()).toString()).toBe('data');
    expect((await (await sasContainer(keyless, 'userDelegation')).getBlockBlobClient('b').downloadToBuffer()).toString()).toBe('data');
    expect((await keyClient(keyed).getContainerClient('box').getBlockBlobClient('b').downloadToBuffer()).toString()).toBe('data');
    expect((await (await sasContainer(keyed, 'key')).getBlockBlobClient('b').downloadToBuffer()).toString()).toBe('data');
  });

  it('lets Compute import a managed disk from a snapshot of a blob there (a failover\'s disks)', async () => {
    const blob = bearerClient(keyless).getContainerClient('box').getPageBlobClient('disk.vhd');
    await blob.create(1024 * 1024);
    await blob.uploadPages(Buffer.alloc(512, 7), 0, 512);
    const { snapshot } = await blob.createSnapshot();
    const sourceUri = `${blob.url}?snapshot=${encodeURIComponent(snapshot as string)}`;
    const storageAccountId = `/subscriptions/${azure.arm.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.Storage/storageAccounts/${keyless}`;
    const disk = await az.compute.disks.beginCreateOrUpdateAndWait(rg, 'imported', { location: 'westeurope', sku: { name: 'Standard_LRS' }, creationData: { createOption: 'Import', sourceUri, storageAccountId } }, { updateIntervalInMs: 20 });
    expect(disk.provisioningState).toBe('Succeeded');
  });
});
